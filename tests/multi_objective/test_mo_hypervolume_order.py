"""The hypervolume tie-break (greedy hypervolume subset selection) of MO-ASHA and the
hypervolume scalarizations of ScalarizedSearch (issue 16 pt 2)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tunefleet import tune
from tunefleet.errors import TuneValueError
from tunefleet.pareto import hypervolume, hypervolume_order, non_dominated_sort, rank_order
from tunefleet.schedulers import CONTINUE, STOP, MOASHAScheduler
from tunefleet.search.scalarized import ScalarizedSearch
from tunefleet.trial import Trial

pytestmark = pytest.mark.timeout(120)

vectors = st.lists(
    st.tuples(st.integers(0, 6), st.integers(0, 6), st.integers(0, 6)), min_size=1, max_size=12
)


def _default_reference(pts: list[tuple[float, ...]]) -> list[float]:
    """The documented default for all-minimised points: worst + a tenth of the range."""
    out = []
    for k in range(len(pts[0])):
        lo, hi = min(p[k] for p in pts), max(p[k] for p in pts)
        out.append(hi + 0.1 * ((hi - lo) or 1.0))
    return out


@given(vectors, st.sampled_from([2, 3]), st.booleans())
@settings(max_examples=80, deadline=None)
def test_order_is_front_by_front_and_each_pick_is_a_greedy_best(raw, m, given_ref) -> None:
    pts = [p[:m] for p in raw]
    modes = ["min"] * m
    ref = [3.5] * m if given_ref else _default_reference(pts)
    order = hypervolume_order(pts, modes, ref if given_ref else None)
    assert sorted(order) == list(range(len(pts)))
    pos = 0
    for front in non_dominated_sort(pts, modes):  # the same fronts as every other order
        seg = order[pos : pos + len(front)]
        assert sorted(seg) == front
        pos += len(front)
        taken: list[int] = []
        for i in seg:  # brute force: no other point of the front would have added more
            base = hypervolume([pts[j] for j in taken], ref, modes)
            gains = {
                j: hypervolume([pts[k] for k in [*taken, j]], ref, modes) - base
                for j in front
                if j not in taken
            }
            assert gains[i] >= max(gains.values()) - 1e-9
            taken.append(i)


def test_the_extreme_that_adds_little_goes_last_where_crowding_takes_it_first() -> None:
    # one front, both minimised: a fast inaccurate end, two good middles, a slow end
    pts = [(0.0, 10.0), (1.0, 3.0), (2.0, 2.0), (10.0, 1.9)]
    assert hypervolume_order(pts, ["min", "min"]) == [2, 1, 0, 3]
    assert set(rank_order(pts, ["min", "min"])[:2]) == {0, 3}  # crowding: the two extremes
    # a reference that makes the slow end worth most; points beyond it add nothing and
    # come last, lowest index first
    assert hypervolume_order(pts, ["min", "min"], [100.0, 2.5]) == [3, 2, 0, 1]
    # a maximised objective: its reference is a lower bound
    flipped = [(a, -b) for a, b in pts]
    assert hypervolume_order(flipped, ["min", "max"], [100.0, -2.5]) == [3, 2, 0, 1]


def test_large_fronts_two_objectives_fast_path_and_crowding_beyond_16_in_3d() -> None:
    # 2-D: the rectangle rule agrees with brute-force greedy volumes on a 60-point front
    front = [(i / 59, (1 - i / 59) ** 2) for i in range(60)]
    order = hypervolume_order(front, ["min", "min"])
    ref = _default_reference(front)
    taken: list[int] = []
    for i in order[:8]:
        base = hypervolume([front[j] for j in taken], ref, ["min", "min"])
        best = max(
            hypervolume([front[k] for k in [*taken, j]], ref, ["min", "min"]) - base
            for j in range(60)
            if j not in taken
        )
        assert hypervolume([front[k] for k in [*taken, i]], ref, ["min", "min"]) - base >= (
            best - 1e-12
        )
        taken.append(i)
    # 3-D, one front of 20 points: ordered by crowding (as rank_order)
    simplex = [(a / 10, b / 10, 1 - a / 10 - b / 10) for a in range(6) for b in range(5 - a)]
    simplex = simplex[:20] if len(simplex) >= 20 else simplex
    pts = [(a, b, c) for a, b, c in simplex] + [(0.05 * k, 0.9, 0.06 - 0.01 * k) for k in range(6)]
    assert len(non_dominated_sort(pts, ["min"] * 3)[0]) > 16
    assert hypervolume_order(pts, ["min"] * 3) == rank_order(pts, ["min"] * 3)


def test_mo_asha_defaults_to_the_hypervolume_order_and_checks_its_reference() -> None:
    sched = MOASHAScheduler(max_t=9, grace_period=1, reduction_factor=3)
    assert sched.tie_break == "hypervolume"
    sched.setup(["a", "b"], ["min", "min"])
    decisions = []
    for i, (a, b) in enumerate([(2.0, 2.0), (0.0, 10.0), (10.0, 1.9), (1.0, 3.0), (5, 5), (6, 6)]):
        trial = Trial(trial_id=f"t{i}", config={})
        sched.on_trial_added(trial)
        decisions.append(sched.on_result(trial, {"training_iteration": 1, "a": a, "b": b}))
    # the 6th result: quota 2 of 6; (6, 6) is dominated by the first two
    assert decisions[0] is CONTINUE and decisions[-1] is STOP
    with pytest.raises(TuneValueError, match="reference_point"):
        MOASHAScheduler(reference_point=[1.0, math.nan])
    bad = MOASHAScheduler(reference_point=[1.0, 2.0, 3.0])
    with pytest.raises(TuneValueError, match="reference_point"):
        bad.setup(["a", "b"], ["min", "min"])
    assert MOASHAScheduler(reference_point=[1, 2]).get_params()["reference_point"] == [1, 2]


def _searcher(scalarization: str) -> ScalarizedSearch:
    s = ScalarizedSearch(seed=3, scalarization=scalarization)
    s.setup({"x": tune.uniform(0, 1)}, ["f", "g", "h"], ["min", "max", "min"], 3)
    return s


def test_scalarization_weights_are_on_the_sphere_or_the_simplex() -> None:
    draws = _searcher("hypervolume")
    theta = np.array([1.0 / draws.draw_weights() for _ in range(400)])
    assert np.allclose(np.linalg.norm(theta, axis=1), 1.0) and (theta > 0).all()
    # uniform on the positive sphere: no objective favoured (equal means by symmetry)
    assert np.ptp(theta.mean(axis=0)) < 0.1
    cheb = _searcher("chebyshev")
    w = np.array([cheb.draw_weights() for _ in range(50)])
    assert np.allclose(w.sum(axis=1), 1.0) and (w >= 0).all()
    with pytest.raises(TuneValueError, match="scalarization"):
        ScalarizedSearch(scalarization="linear")
    assert ScalarizedSearch(scalarization="chebyshev").get_params()["scalarization"] == (
        "chebyshev"
    )


def test_scalarized_search_tries_every_cell_of_a_small_categorical_space(tmp_path) -> None:
    def fn(config: dict) -> None:
        tune.report(f1=config["a"] + config["b"], f2=(3 - config["a"]) * config["c"])

    results = tune.run(
        fn,
        config={"a": tune.choice([0, 1, 2, 3]), "b": tune.choice([0, 1]), "c": tune.choice([1, 2])},
        metric=["f1", "f2"],
        mode=["min", "min"],
        search_alg=ScalarizedSearch(n_startup_trials=4, seed=1),
        num_samples=16,
        storage_path=str(tmp_path),
        verbose=0,
    )
    cells = {(t.config["a"], t.config["b"], t.config["c"]) for t in results.trials}
    assert len(cells) == 16  # 16 trials, 16 cells: none repeated while one was left
