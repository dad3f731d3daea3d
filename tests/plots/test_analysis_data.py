"""The analysis functions: properties on generated data, and what they read back from
real sweeps (ASHA stops, ASHA promotion pauses, PBT exploits)."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tunefleet.analysis import (
    best_so_far,
    curves,
    history,
    importance,
    lineage,
    non_dominated,
    param_table,
    slices,
)
from tunefleet.analysis import source as src
from tunefleet.errors import TuneValueError
from tunefleet.results import Results
from tunefleet.storage import open_store
from tunefleet.storage import records as rk

values = st.lists(
    st.one_of(
        st.none(),
        st.floats(allow_nan=True, allow_infinity=True),
        st.integers(-100, 100),
    ),
    max_size=60,
)


@given(values, st.sampled_from(["min", "max"]))
def test_best_so_far_is_monotone_and_is_the_best_seen(xs: list[float | None], mode: str) -> None:
    out = best_so_far(xs, mode)
    assert len(out) == len(xs)
    pick = max if mode == "max" else min
    seen: list[float] = []
    for x, b in zip(xs, out, strict=True):
        if x is not None and math.isfinite(x):
            seen.append(float(x))
        assert b == (pick(seen) if seen else None)
    finite = [b for b in out if b is not None]
    for a, b in zip(finite, finite[1:], strict=False):
        assert (b >= a) if mode == "max" else (b <= a)


def points_and_modes() -> st.SearchStrategy[tuple[list[list[int]], list[str]]]:
    """1 to 3 objectives, small integer values so that ties and duplicates are common."""
    return st.integers(1, 3).flatmap(
        lambda k: st.tuples(
            st.lists(st.lists(st.integers(0, 12), min_size=k, max_size=k), min_size=1, max_size=40),
            st.lists(st.sampled_from(["min", "max"]), min_size=k, max_size=k),
        )
    )


@given(points_and_modes())
def test_non_dominated_is_exactly_the_front(case: tuple[list[list[int]], list[str]]) -> None:
    pts, modes = case
    front = non_dominated(pts, modes)
    assert front == sorted(set(front)), "indices once each, in input order"
    sign = [1 if m == "min" else -1 for m in modes]

    def dominates(q: list[int], p: list[int]) -> bool:
        a = [s * v for s, v in zip(sign, q, strict=True)]
        b = [s * v for s, v in zip(sign, p, strict=True)]
        return all(x <= y for x, y in zip(a, b, strict=True)) and a != b

    assert front, "a finite set always has a non-dominated point"
    for i, p in enumerate(pts):
        beaten = any(dominates(q, p) for q in pts)
        assert (i in front) == (not beaten)


def test_non_dominated_refuses_a_bad_mode() -> None:
    with pytest.raises(ValueError, match="mode"):
        non_dominated([[1.0, 2.0]], ["min", "up"])


@settings(max_examples=6, deadline=None)
@given(st.integers(0, 2**16))
def test_importance_ranks_the_influential_param_above_noise(seed: int) -> None:
    rng = random.Random(seed)
    trials = []
    for i in range(80):
        cfg = {"lr": rng.uniform(0, 1), "noise": rng.uniform(0, 1), "act": rng.choice("ab")}
        # lr's effect (variance 100/12) is twice act's (variance 4), and both stand well
        # clear of noise on 80 draws (0 failures in 63 seeds, incl. 29, 58 and 170 that
        # broke the earlier 40-draw, 5·lr² + 2 version)
        y = 10.0 * cfg["lr"] + (4.0 if cfg["act"] == "b" else 0.0)
        trials.append((f"t{i}", cfg, y))
    got = importance(param_table(trials, "y"), seed=seed)
    assert list(got)[0] == "lr"
    assert got["act"] > got["noise"]  # a 2-valued category that matters beats a noisy float
    assert sum(got.values()) == pytest.approx(1.0)


def test_param_table_columns() -> None:
    trials = [
        ("a", {"lr": 1e-4, "net": {"w": 8}, "c": 1, "opt": "sgd", "xs": [1]}, 1.0),
        ("b", {"lr": 1e-1, "net": {"w": 16}, "c": 1, "opt": "adam", "xs": [2]}, 2.0),
        ("c", {"lr": 1e-2, "net": {"w": 8}, "c": 1, "opt": None, "xs": [3]}, math.nan),
    ]
    table = param_table(trials, "score")
    assert table.trial_ids == ["a", "b"]  # NaN scores are left out
    assert table.names() == ["lr", "net/w", "opt"]  # constants and lists are not axes
    assert table.column("lr").log and not table.column("net/w").log
    assert table.column("opt").categories == ["sgd", "adam"]
    sl = {s.param: s for s in slices(table)}
    assert sl["opt"].x == ["sgd", "adam"] and sl["opt"].y == [1.0, 2.0]


# -- from real sweeps ---------------------------------------------------------------------


def test_history_from_an_asha_sweep(store_path: str) -> None:
    store = open_store(store_path)
    recs = list(store.read("asha"))
    h = history(recs, "score", "max")
    scores = [r.data["score"] for r in recs if r.kind == rk.RESULT]
    assert h.num_results == len(scores)
    assert h.best[-1] == max(scores)
    assert h.iterations == sorted(h.iterations) and h.iterations[-1] == len(scores)
    assert h.time_s == sorted(h.time_s)
    assert h.best == sorted(h.best)  # best-so-far of a max metric never drops
    assert all(t in {r.trial_id for r in recs} for t in h.trial_ids)
    low = history(recs, "loss", "min")
    assert low.best == sorted(low.best, reverse=True)


def test_curves_mark_asha_stops_at_their_rung(store_path: str) -> None:
    store = open_store(store_path)
    cs = curves(store.read("asha", kinds=src.CURVE_KINDS), "score")
    assert len(cs) == 12 and [c.index for c in cs] == list(range(12))
    stopped = [c for c in cs if any(m.kind == "stopped" for m in c.markers)]
    assert any(c.iterations[-1] < 9 for c in stopped)  # cut at a lower rung
    assert any(c.iterations[-1] == 9 for c in cs)
    for c in stopped:
        (m,) = [m for m in c.markers if m.kind == "stopped"]
        assert m.iteration == c.iterations[-1]  # the curve ends where it was cut
        assert m.value == c.values[-1]
    for c in cs:  # a trial that was not stopped ran to its own end
        assert c in stopped or c.iterations[-1] == 9


def test_curves_mark_pauses_and_promotions(store_path: str) -> None:
    store = open_store(store_path)
    cs = curves(store.read("promo", kinds=src.CURVE_KINDS), "acc")
    kinds = [m.kind for c in cs for m in c.markers]
    paused = len(list(store.read("promo", kinds=(rk.TRIAL_PAUSED,))))
    assert "resumed" in kinds
    # every pause is marked: either resumed later (a promotion) or the trial ended there
    assert (
        kinds.count("paused") + sum(1 for c in cs if c.markers and c.markers[-1].kind == "stopped")
        >= paused
    )
    for c in cs:
        for a, b in zip(c.markers, c.markers[1:], strict=False):
            if a.kind == "paused" and b.kind == "resumed":
                assert a.iteration == b.iteration  # it resumed where it paused


def test_lineage_and_exploit_markers_from_a_pbt_sweep(store_path: str) -> None:
    store = open_store(store_path)
    restarts = list(store.read("pbt", kinds=(rk.TRIAL_RESTARTED,)))
    assert restarts
    lin = lineage(store.read("pbt", kinds=src.LINEAGE_KINDS))
    assert [(e.child, e.parent) for e in lin.edges] == [
        (r.trial_id, r.data["from_trial"]) for r in restarts
    ]
    assert all(e.parent != e.child for e in lin.edges)
    assert set(lin.spans) == set(lin.order)
    child = lin.edges[-1].child
    assert lin.ancestors(child)[0] == lin.edges[-1].parent
    cs = curves(store.read("pbt", kinds=src.CURVE_KINDS), "acc")
    exploited = [(c.trial_id, m.detail) for c in cs for m in c.markers if m.kind == "exploited"]
    assert sorted(exploited) == sorted((r.trial_id, r.data["from_trial"]) for r in restarts)


def test_refusals_name_the_parameter(store_path: str) -> None:
    asha = Results.load("asha", store_path)
    with pytest.raises(TuneValueError, match=r"^kind: lineage needs PBT"):
        src.lineage_of(asha)
    with pytest.raises(TuneValueError, match=r"^metric: .*'nope'.*reported: cost, loss"):
        src.curves_of(asha, "nope")
    with pytest.raises(TuneValueError, match=r"^mode: "):
        src.history_of(asha, "score", "up")
    with pytest.raises(TuneValueError, match=r"^metric: the pareto kind needs two"):
        src.pareto_of(asha, "score", "max")
    with pytest.raises(TuneValueError, match=r"^mode: the pareto kind needs one"):
        src.pareto_of(asha, "score,cost", "max")
    names, modes, ids, pts, front = src.pareto_of(asha, "score,cost", "max,min")
    assert names == ["score", "cost"] and len(ids) == len(pts) == 12 and front
    shares = src.importance_of(asha)
    assert set(shares) == {"lr", "noise", "opt"} and sum(shares.values()) == pytest.approx(1.0)


def test_the_package_importance_function_survives_its_own_first_call() -> None:
    """The function and the module that implements it must not share a name: importing
    the module used to replace ``tunefleet.analysis.importance`` with the module."""
    import tunefleet.analysis as analysis

    table = analysis.param_table(
        [(f"t{i}", {"x": i / 20, "noise": (i * 7 % 20) / 20}, float(i)) for i in range(20)],
        "score",
    )
    for _ in range(2):
        assert callable(analysis.importance)
        assert set(analysis.importance(table)) == {"x", "noise"}
