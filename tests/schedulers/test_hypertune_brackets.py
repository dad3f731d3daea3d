"""Hyper-Tune's bracket selection in HyperTuneASHA: with low rungs that rank like the top
it is promotion ASHA, decision for decision; with low rungs that rank the other way its new
trials start at the top; the distribution is a distribution; state resumes the measurement;
it runs by name in a real sweep."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

import tunefleet
from tunefleet import space as sp
from tunefleet.errors import TuneValueError
from tunefleet.schedulers import create_scheduler
from tunefleet.schedulers.asha import ASHAScheduler
from tunefleet.schedulers.base import NewTrial, Resume, SchedulerView
from tunefleet.schedulers.hypertune import (
    MAX_SHARED,
    HyperTuneASHA,
    bracket_probabilities,
    rank_weight,
)
from tunefleet.storage.state_log import diff
from tunefleet.testing._property import property_settings
from tunefleet.trial import Trial

LADDER = (1, 3, 9, 27)
Value = Callable[[int, int], float]


def _sched(cls: type[ASHAScheduler] = HyperTuneASHA, **kw: object) -> ASHAScheduler:
    s = cls(max_t=27, grace_period=1, reduction_factor=3, variant="promotion", **kw)  # type: ignore[arg-type]
    s.setup("score", "max", 0)
    return s


def _drive(s: ASHAScheduler, value: Value, n_trials: int) -> list[tuple[str, int, str]]:
    """One worker: ask the scheduler what to do, run the trial rung by rung (reports at
    1, 3, 9, 27), and log every (trial, budget, decision)."""
    trials: dict[str, Trial] = {}
    at: dict[str, int] = {}  # index in LADDER of each trial's next report
    paused: list[str] = []
    log: list[tuple[str, int, str]] = []
    while True:
        view = SchedulerView(trials, paused, 0, 0, len(trials) < n_trials)
        action = s.next_action(view)
        if isinstance(action, NewTrial):
            i = len(trials)
            t = Trial(f"t{i}", {}, index=i)
            trials[t.trial_id], at[t.trial_id] = t, 0
            s.on_trial_added(t)
        elif isinstance(action, Resume):
            t = trials[action.trial_id]
            paused.remove(t.trial_id)
        else:
            return log
        while at[t.trial_id] < len(LADDER):
            b = LADDER[at[t.trial_id]]
            at[t.trial_id] += 1
            d = s.on_result(t, {"training_iteration": b, "score": value(t.index, b)})
            log.append((t.trial_id, b, d.name))
            if d.name == "PAUSE":
                paused.append(t.trial_id)
                break
            if d.name == "STOP":
                break


# 100 trials: ASHA (η = 3) takes 3 or more of them to the top rung
unique_scores = st.permutations(list(range(100))).map(lambda p: [x / 7.0 for x in p])


@given(unique_scores)
@property_settings(max_examples=25)
def test_rungs_that_rank_like_the_top_give_asha(base: list[float]) -> None:
    def value(i: int, b: int) -> float:  # every budget ranks the trials the same way
        return base[i] + b

    adaptive, asha = _sched(), _sched(ASHAScheduler)
    assert _drive(adaptive, value, len(base)) == _drive(asha, value, len(base))
    assert set(adaptive._bracket_of.values()) == {0}
    assert adaptive.bracket_probabilities[0] == 1.0


@given(unique_scores)
@property_settings(max_examples=25)
def test_rungs_that_rank_the_other_way_start_trials_at_the_top(base: list[float]) -> None:
    def value(i: int, b: int) -> float:  # every low rung ranks the trials backwards
        return base[i] if b == 27 else -base[i]

    s = _sched()
    assert isinstance(s, HyperTuneASHA)
    log = _drive(s, value, len(base))
    tops = [k for k, (_, b, _) in enumerate(log) if b == 27]
    assert len(tops) > s.min_shared  # promotions took some trials to the top
    # every trial first seen after the min_shared-th top result started at the top
    first: dict[str, int] = {}
    for k, (tid, _, _) in enumerate(log):
        first.setdefault(tid, k)
    later = [s._bracket_of[tid] for tid, k in first.items() if k > tops[s.min_shared - 1]]
    assert later and set(later) == {len(LADDER) - 1}
    assert s.rung_weights == {1: 0.0, 3: 0.0, 9: 0.0}
    assert s.bracket_probabilities == [0.0, 0.0, 0.0, 1.0]


@given(st.lists(st.floats(0.0, 1.0), min_size=0, max_size=6))
def test_bracket_probabilities_are_a_distribution(weights: list[float]) -> None:
    p = bracket_probabilities(weights)
    assert len(p) == len(weights) + 1
    assert all(x >= 0 for x in p)
    assert sum(p) == pytest.approx(1.0)
    # a trusted rung keeps what reaches it: nothing goes above a rung of weight 1
    if 1.0 in weights:
        assert sum(p[weights.index(1.0) + 1 :]) == 0.0


def test_rank_weight_reads_only_the_latest_shared_trials() -> None:
    # 2,000 trials at the top: the first ones ranked backwards, the latest MAX_SHARED alike;
    # the measure is bounded (n² pairs) and follows the latest
    n = 2000
    low = {f"t{i}": float(i) for i in range(n)}
    top = {f"t{i}": float(-i if i < n - MAX_SHARED else i) for i in range(n)}
    assert rank_weight(low, top) == 1.0
    top_reversed_late = {f"t{i}": float(i if i < n - MAX_SHARED else -i) for i in range(n)}
    assert rank_weight(low, top_reversed_late) == 0.0


@given(st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=2, max_size=30, unique=True))
def test_rank_weight_of_monotone_and_reversed_rankings(xs: list[float]) -> None:
    low = {f"t{i}": x for i, x in enumerate(xs)}
    order = {k: r for r, k in enumerate(sorted(low, key=low.__getitem__))}
    assert rank_weight(low, {k: 3.0 * r + 1 for k, r in order.items()}) == 1.0
    assert rank_weight(low, {k: -r for k, r in order.items()}) == 0.0
    assert 0.0 <= rank_weight(low, {k: (r * 7919) % 13 for k, r in order.items()}) <= 1.0
    # too few shared trials: no evidence, full trust
    assert rank_weight(low, {"t0": 1.0}) == 1.0
    assert rank_weight(low, {k: -v for k, v in low.items()}, min_shared=len(xs) + 1) == 1.0


def test_state_resumes_the_measurement() -> None:
    def value(i: int, b: int) -> float:
        return (i * 37 % 17) / 17 if b == 27 else (i * 11 % 7) / 7

    a = _sched(seed=3)
    _drive(a, value, 60)
    b = _sched(seed=3)
    b.load_state_dict(json.loads(json.dumps(a.state_dict())))
    assert isinstance(a, HyperTuneASHA) and isinstance(b, HyperTuneASHA)
    assert b._distribution() == a._distribution()
    for i in range(20):
        t = Trial(f"n{i}", {}, index=100 + i)
        a.on_trial_added(t)
        b.on_trial_added(t)
    assert {k: v for k, v in a._bracket_of.items()} == b._bracket_of


def test_a_new_result_is_a_small_delta() -> None:
    def value(i: int, b: int) -> float:
        return (i * 37 % 101) / 101 + b

    s = _sched()
    _drive(s, value, 300)
    before = json.loads(json.dumps(s.state_dict()))
    t = Trial("late", {}, index=999)
    s.on_trial_added(t)
    s.on_result(t, {"training_iteration": 1, "score": 0.5})
    after = json.loads(json.dumps(s.state_dict()))
    assert len(json.dumps(diff(before, after))) < 600 < len(json.dumps(after)) / 10


def test_a_state_without_the_measurement_loads() -> None:
    old = _sched(bracket_selection="fixed")
    s = _sched()
    s.load_state_dict(json.loads(json.dumps(old.state_dict())))
    t = Trial("x", {}, index=0)
    s.on_trial_added(t)
    assert s._bracket_of["x"] == 0


def test_by_name_and_params() -> None:
    s = create_scheduler("hypertune")
    assert isinstance(s, HyperTuneASHA)
    assert s.get_params()["bracket_selection"] == "adaptive"
    fixed = HyperTuneASHA(bracket_selection="fixed", brackets=2)
    assert fixed.get_params()["brackets"] == 2


@pytest.mark.parametrize(
    ("kw", "name"),
    [
        ({"bracket_selection": "bandit"}, "bracket_selection"),
        ({"brackets": 3}, "brackets"),
        ({"min_shared": 1}, "min_shared"),
    ],
)
def test_bad_arguments(kw: dict[str, object], name: str) -> None:
    with pytest.raises(TuneValueError, match=name):
        HyperTuneASHA(**kw)  # type: ignore[arg-type]


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_a_sweep_where_low_epochs_mislead_moves_to_the_top() -> None:
    """A real sweep (the threads engine): the loss at a low epoch ranks configurations
    backwards, so trials end up starting at max_t and the best one is found there."""
    sched = HyperTuneASHA(max_t=9, grace_period=1, reduction_factor=3)

    def trainable(config: dict) -> None:
        x = config["x"]
        for i in range(1, 10):
            tunefleet.report({"loss": (x - 0.8) ** 2 if i == 9 else -((x - 0.8) ** 2)})

    res = tunefleet.run(
        trainable,
        config={"x": sp.uniform(0.0, 1.0)},
        metric="loss",
        mode="min",
        num_samples=40,
        search_alg="hypertune",
        scheduler=sched,
        engine="threads",
        max_concurrent_trials=1,
        seed=0,
        verbose=0,
    )
    assert len(res.trials) == 40
    assert sched.bracket_probabilities[-1] == 1.0
    assert list(sched._bracket_of.values()).count(2) > 10
