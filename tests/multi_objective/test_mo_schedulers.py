"""MO-ASHA and the Pareto stopping rule decide by dominance at each rung (property tests)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tunefleet.errors import TuneValueError
from tunefleet.pareto import non_dominated_sort
from tunefleet.schedulers import CONTINUE, STOP, MOASHAScheduler, ParetoStoppingRule
from tunefleet.trial import Trial

vectors = st.lists(st.tuples(st.integers(0, 6), st.integers(0, 6)), min_size=1, max_size=14)


def _decide(sched: MOASHAScheduler, pts: list[tuple[int, int]]) -> list[object]:
    sched.setup(["a", "b"], ["min", "max"])
    out = []
    for i, (a, b) in enumerate(pts):
        trial = Trial(trial_id=f"t{i}", config={})
        sched.on_trial_added(trial)
        out.append(sched.on_result(trial, {"training_iteration": 1, "a": a, "b": b}))
    return out


def _dom(q: tuple[int, int], p: tuple[int, int]) -> bool:  # a min, b max
    return q[0] <= p[0] and q[1] >= p[1] and q != p


@given(vectors)
@settings(max_examples=80, deadline=None)
def test_mo_asha_stops_the_dominated_and_keeps_the_dominant(pts) -> None:
    decisions = _decide(MOASHAScheduler(max_t=9, grace_period=1, reduction_factor=3), pts)
    assert decisions[0] is CONTINUE  # the first result at a rung always goes on
    for n in range(2, len(pts) + 1):
        mine, before = pts[n - 1], pts[: n - 1]
        keep = max(1, n // 3)
        if sum(_dom(q, mine) for q in before) >= keep:
            assert decisions[n - 1] is STOP  # at least `keep` trials rank above it
        if all(_dom(mine, q) for q in before):
            assert decisions[n - 1] is CONTINUE  # alone on the first front


@given(vectors, st.integers(1, 3))
@settings(max_examples=80, deadline=None)
def test_pareto_rule_stops_exactly_beyond_the_kept_fronts(pts, keep) -> None:
    sched = ParetoStoppingRule(max_t=9, grace_period=1, keep_fronts=keep, min_samples_required=2)
    decisions = _decide(sched, pts)
    for n in range(1, len(pts) + 1):
        if n < 2:
            assert decisions[n - 1] is CONTINUE
            continue
        fronts = non_dominated_sort([list(p) for p in pts[:n]], ["min", "max"])
        kept = any(n - 1 in f for f in fronts[:keep])
        assert decisions[n - 1] is (CONTINUE if kept else STOP)


def test_state_round_trips_and_bad_arguments_name_themselves() -> None:
    a = MOASHAScheduler(max_t=9, grace_period=1, reduction_factor=3)
    _decide(a, [(1, 1), (2, 0), (0, 3)])
    b = MOASHAScheduler(max_t=9, grace_period=1, reduction_factor=3)
    b.setup(["a", "b"], ["min", "max"])
    b.load_state_dict(a.state_dict())
    t = Trial(trial_id="t9", config={})
    assert a.on_result(t, {"training_iteration": 1, "a": 5, "b": 0}) is b.on_result(
        t, {"training_iteration": 1, "a": 5, "b": 0}
    )
    with pytest.raises(TuneValueError, match="reduction_factor"):
        MOASHAScheduler(reduction_factor=1)
    with pytest.raises(TuneValueError, match="keep_fronts"):
        ParetoStoppingRule(keep_fronts=0)
    with pytest.raises(TuneValueError, match="metric"):
        MOASHAScheduler().setup(["a", "b"], ["min"])
