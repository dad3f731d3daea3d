"""DEHB's searcher (differential evolution on Hyperband's budgets) and its scheduler: by
name, DE's moves stay in the space, it learns, its state resumes the population, and a
real run with scheduler="dehb" and search_alg="dehb" finishes."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tunefleet
from tunefleet import space as sp
from tunefleet.errors import TuneValueError
from tunefleet.schedulers import create_scheduler
from tunefleet.schedulers.dehb import HyperBandForDEHB
from tunefleet.search import create_searcher
from tunefleet.search.dehb import DEHBSearch
from tunefleet.testing._property import property_settings

SPACE = {"x": sp.uniform(-5.0, 5.0), "y": sp.loguniform(1e-3, 1.0), "c": sp.choice([1, 2, 3])}


def _f(cfg: dict) -> float:
    return (cfg["x"] - 1.0) ** 2 + abs(np.log10(cfg["y"]) + 2) + (cfg["c"] != 2)


def _new(seed: int) -> DEHBSearch:
    s = DEHBSearch(metric="loss", mode="min", seed=seed, population_size=8)
    s.setup(dict(SPACE), None, None, None)
    return s


def _run(s: DEHBSearch, n: int) -> list[float]:
    out = []
    for i in range(n):
        cfg = s.suggest(f"t{i}")
        assert cfg is not None
        out.append(_f(cfg))
        s.on_complete(f"t{i}", {"loss": out[-1], "training_iteration": 1})
    return out


def test_by_name() -> None:
    assert isinstance(create_searcher("dehb"), DEHBSearch)
    assert isinstance(create_scheduler("dehb"), HyperBandForDEHB)
    with pytest.raises(TuneValueError, match="population_size"):
        DEHBSearch(population_size=2)
    with pytest.raises(TuneValueError, match="crossover_prob"):
        DEHBSearch(crossover_prob=1.5)


@given(st.integers(0, 2**31))
@property_settings(max_examples=5)
def test_evolution_stays_in_space_and_improves(seed: int) -> None:
    s = _new(seed)
    vals = _run(s, 60)
    assert sum(s.suggestion_log[i][1] == "model" for i in range(60)) >= 50
    assert sum(vals[40:]) / 20 < sum(vals[:10]) / 10
    for cfg_x in s._x.values():
        assert all(0.0 <= v <= 1.0 for v in cfg_x[:2]) and cfg_x[2] in (0.0, 1.0, 2.0)


def test_state_resumes_the_population() -> None:
    a = _new(7)
    _run(a, 15)
    b = _new(7)
    b.load_state_dict(a.state_dict())
    assert [a.suggest(f"n{i}") for i in range(3)] == [b.suggest(f"n{i}") for i in range(3)]


@pytest.mark.filterwarnings("ignore:HyperBandForDEHB paused")
def test_a_run_by_name() -> None:
    def trainable(config: dict) -> None:
        for i in range(1, 10):
            tunefleet.report({"loss": _f(config) / i})

    res = tunefleet.run(
        trainable,
        config=dict(SPACE),
        metric="loss",
        mode="min",
        num_samples=12,
        search_alg="dehb",
        scheduler=HyperBandForDEHB(max_t=9, reduction_factor=3),
        verbose=0,
    )
    assert len(res.trials) == 12
