"""Native TPE: the conformance suite (via the registry in test_searcher_suite), and what
sets it apart: it learns, the constant liar spreads pending trials, evaluated_rewards and
warm points reach the model, infeasible results count as worst, state resumes the model."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tunefleet import space as sp
from tunefleet.errors import TuneValueError
from tunefleet.search import create_searcher
from tunefleet.search.tpe import TPESearch
from tunefleet.testing._property import property_settings

SPACE = {"x": sp.uniform(-5.0, 5.0), "c": sp.choice(["a", "b", "c"])}


def _f(cfg: dict) -> float:
    return (cfg["x"] - 1.0) ** 2 + (0.0 if cfg["c"] == "b" else 4.0)


def _run(s: TPESearch, n: int, first: int = 0) -> list[float]:
    out = []
    for i in range(first, first + n):
        cfg = s.suggest(f"t{i}")
        assert cfg is not None
        v = _f(cfg)
        out.append(v)
        s.on_complete(f"t{i}", {"loss": v, "training_iteration": 1})
    return out


def _new(seed: int, **kw: object) -> TPESearch:
    s = TPESearch(metric="loss", mode="min", seed=seed, **kw)  # type: ignore[arg-type]
    s.setup(dict(SPACE), None, None, None)
    return s


def test_by_name() -> None:
    assert isinstance(create_searcher("tpe"), TPESearch)


@given(st.integers(0, 2**31))
@property_settings(max_examples=5)
def test_model_beats_its_random_startup(seed: int) -> None:
    vals = _run(_new(seed), 40)
    # the model phase (after 10 random) finds something better than all but the startup's
    # luckiest draws (its very best can be a lucky hit no model phase is sure to match)
    assert min(vals[10:]) <= sorted(vals[:10])[2]
    assert sum(vals[20:]) / 20 < sum(vals[:10]) / 10  # it concentrates on good regions


def test_constant_liar_spreads_pending_trials() -> None:
    def spread(liar: bool) -> float:
        s = _new(3, constant_liar=liar)
        _run(s, 15)
        xs = [s.suggest(f"p{i}")["x"] for i in range(8)]  # type: ignore[index]
        return max(xs) - min(xs)

    assert spread(True) > spread(False)


def test_evaluated_rewards_are_told_not_run() -> None:
    pts = [{"x": 1.0, "c": "b"}, {"x": 4.0, "c": "a"}]
    s = TPESearch(
        metric="loss", mode="min", seed=0, points_to_evaluate=pts, evaluated_rewards=[0.0, 13.0]
    )
    s.setup(dict(SPACE), None, None, None)
    assert len(s._obs[0.0]) == 2
    assert s.suggest("t0") not in pts
    with pytest.raises(TuneValueError, match="evaluated_rewards"):
        TPESearch(points_to_evaluate=pts, evaluated_rewards=[1.0])


def test_warm_points_and_infeasible_results() -> None:
    s = _new(0)
    s.add_evaluated_point({"x": 1.0, "c": "b"}, 0.0)
    assert s._obs[0.0] == {"__warm_0": -0.0}
    cfg = s.suggest("t1")
    assert cfg is not None
    s.on_complete("t1", {"loss": -100.0, "feasible": False})
    assert s._obs[0.0]["t1"] == -math.inf
    s2 = _new(0, constraints=["mem_over"])
    s2.suggest("t1")
    s2.on_complete("t1", {"loss": -100.0, "mem_over": 0.5})
    assert s2._obs[0.0]["t1"] == -math.inf


def test_state_resumes_the_model() -> None:
    a = _new(5)
    _run(a, 20)
    b = _new(5)
    b.load_state_dict(a.state_dict())
    assert [a.suggest(f"n{i}") for i in range(3)] == [b.suggest(f"n{i}") for i in range(3)]
