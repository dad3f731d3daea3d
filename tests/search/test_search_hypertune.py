"""Hyper-Tune's multi-fidelity TPE ensemble with ASHA: by name, every rung's results reach
the model, weights follow how well a low rung ranks like the top one, it learns, state
resumes the model, and a real run with ASHA finishes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

import tunefleet
from tunefleet import space as sp
from tunefleet.schedulers import create_scheduler
from tunefleet.schedulers.hypertune import HyperTuneASHA
from tunefleet.search import create_searcher
from tunefleet.search.hypertune import HyperTuneSearch
from tunefleet.testing._property import property_settings

SPACE = {"x": sp.uniform(-5.0, 5.0), "c": sp.choice(["a", "b"])}


def _f(cfg: dict, budget: int) -> float:
    return (cfg["x"] - 1.0) ** 2 + (cfg["c"] == "a") + 10.0 / budget


def _new(seed: int) -> HyperTuneSearch:
    s = HyperTuneSearch(metric="loss", mode="min", seed=seed, n_startup_trials=4)
    s.setup(dict(SPACE), None, None, None)
    return s


def _run(s: HyperTuneSearch, n: int, promote_every: int = 3) -> list[float]:
    """Each trial reports at budgets 1 and 3; every third also reaches 9 (a toy ASHA)."""
    out = []
    for i in range(n):
        tid = f"t{i}"
        cfg = s.suggest(tid)
        assert cfg is not None
        budgets = [1, 3, 9] if i % promote_every == 0 else [1, 3]
        for b in budgets:
            s.on_result(tid, {"loss": _f(cfg, b), "training_iteration": b})
        out.append(_f(cfg, 9))
        s.on_complete(tid, {"loss": _f(cfg, budgets[-1]), "training_iteration": budgets[-1]})
    return out


def test_by_name() -> None:
    assert isinstance(create_searcher("hypertune"), HyperTuneSearch)
    assert isinstance(create_scheduler("hypertune"), HyperTuneASHA)


def test_every_rung_feeds_the_model() -> None:
    s = _new(0)
    _run(s, 12)
    assert set(s._obs) == {1.0, 3.0, 9.0}
    s.suggest("next")
    # budget 9 has 4 trials, rungs 1 and 3 rank them like 9 does (same order): all weigh 1
    assert s.fidelity_weights == {1.0: 1.0, 3.0: 1.0, 9.0: 1.0}


def test_a_rung_that_disagrees_is_ignored() -> None:
    s = _new(0)
    for i in range(6):
        tid = f"t{i}"
        s.suggest(tid)
        s.on_result(tid, {"loss": float(i), "training_iteration": 1})
        s.on_result(tid, {"loss": float(-i), "training_iteration": 9})
    s.suggest("next")
    assert s.fidelity_weights == {9.0: 1.0}


@given(st.integers(0, 2**31))
@property_settings(max_examples=5)
def test_it_learns(seed: int) -> None:
    vals = _run(_new(seed), 40)
    assert sum(vals[25:]) / 15 < sum(vals[:8]) / 8


def test_state_resumes_the_model() -> None:
    a = _new(5)
    _run(a, 12)
    b = _new(5)
    b.load_state_dict(a.state_dict())
    assert [a.suggest(f"n{i}") for i in range(3)] == [b.suggest(f"n{i}") for i in range(3)]


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_a_run_with_asha() -> None:
    def trainable(config: dict) -> None:
        for i in range(1, 10):
            tunefleet.report({"loss": _f(config, i)})

    res = tunefleet.run(
        trainable,
        config=dict(SPACE),
        metric="loss",
        mode="min",
        num_samples=14,
        search_alg="hypertune",
        scheduler=HyperTuneASHA(max_t=9, grace_period=1, reduction_factor=3),
        verbose=0,
    )
    assert len(res.trials) == 14
