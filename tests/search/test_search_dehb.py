"""DEHB's searcher (differential evolution on Hyperband's budgets) and its scheduler: by
name, DE's moves stay in the space, it learns, its state resumes the population, and a
real run with scheduler="dehb" and search_alg="dehb" finishes."""

from __future__ import annotations

import json
from typing import Any

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
from tunefleet.simulation import simulate
from tunefleet.testing._property import property_settings
from tunefleet.worker.session import get_context

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


# --- the paper's subpopulations on Hyperband's ladder (max_t given) -------------------
def _ladder(seed: int) -> DEHBSearch:
    s = DEHBSearch(metric="loss", mode="min", seed=seed, max_t=27, reduction_factor=3)
    s.setup(dict(SPACE), None, None, None)
    return s


def test_ladder_slots_and_bracket_order() -> None:
    """max_t 27, η 3: Hyperband runs 27/9/3/1, 12/4/1, 6/2 and 4 configurations per rung,
    so the subpopulations hold 27, 12, 6 and 4, and new trials start at budget 1 (27 of
    them), then 3 (12), 9 (6) and 27 (4)."""
    s = DEHBSearch(max_t=27, reduction_factor=3)
    assert s._slots == {1.0: 27, 3.0: 12, 9.0: 6, 27.0: 4}
    assert s._starts == [1.0] * 27 + [3.0] * 12 + [9.0] * 6 + [27.0] * 4
    with pytest.raises(TuneValueError, match="max_t"):
        DEHBSearch(max_t=0.5)
    with pytest.raises(TuneValueError, match="reduction_factor"):
        DEHBSearch(max_t=27, reduction_factor=1)


@given(st.integers(0, 2**31), st.lists(st.tuples(st.integers(0, 3), st.floats(0, 10)), max_size=80))
@property_settings(max_examples=25)
def test_selection_never_makes_a_slot_worse(seed: int, results: list[tuple[int, float]]) -> None:
    """Whatever arrives at whatever budget: a subpopulation never exceeds its slots, and a
    slot's score never goes down (DE's greedy selection, the worst member for promoted
    trials)."""
    s = _ladder(seed)
    before: dict[float, list[float]] = {}
    for i, (rung, loss) in enumerate(results):
        cfg = s.suggest(f"t{i}")
        assert cfg is not None
        s.on_result(f"t{i}", {"loss": loss, "training_iteration": 3**rung})
        for b, pop in s._pop.items():
            assert len(pop) <= s._slots[b]
            scores = [m[1] for m in pop]
            old = before.get(b, [])
            assert all(new >= was for new, was in zip(scores, old, strict=False))
            before[b] = scores


def test_first_iteration_is_random_then_evolves_per_bracket_budget() -> None:
    """The lowest budget's 27 slots start random (the paper's initial population); after
    that every configuration is evolved for the budget of the bracket it starts in."""
    s = _ladder(3)
    for i in range(27):
        s.suggest(f"t{i}")
        s.on_result(f"t{i}", {"loss": _f(s_cfg(s, f"t{i}")), "training_iteration": 1})
    assert {src for _, src, _ in s.suggestion_log} == {"random"}
    s.suggest("t27")
    assert s.suggestion_log[-1][1:] == ("model", 3.0)
    assert s._target["t27"] == [3.0, 0]


def s_cfg(s: DEHBSearch, tid: str) -> dict:
    """The config of a suggested trial, decoded from the searcher's unit cube."""
    return {dim.path[-1]: dim.decode(u) for dim, u in zip(s._dims, s._x[tid], strict=True)}


def test_ladder_state_resumes_subpopulations() -> None:
    a = _ladder(11)
    for i in range(40):
        a.suggest(f"t{i}")
        a.on_result(f"t{i}", {"loss": float(i % 7), "training_iteration": 1 if i < 27 else 3})
    b = _ladder(11)
    b.load_state_dict(json.loads(json.dumps(a.state_dict())))
    assert b._pop == a._pop and b._target == a._target
    assert [a.suggest(f"n{i}") for i in range(5)] == [b.suggest(f"n{i}") for i in range(5)]


def test_predicted_bracket_matches_hyperband_for_dehb() -> None:
    """Through the real engine (simulated clock, 3 workers): every trial starts in a
    Hyperband bracket whose first rung is the budget DEHB evolved it for."""

    def trainable(config: dict) -> Any:
        for t in range(get_context().iteration + 1, 28):
            yield {"loss": _f(config) + 1.0 / t, "time_this_iter_s": 1.0}, True

    s = DEHBSearch(max_t=27, reduction_factor=3, seed=5)
    sched = HyperBandForDEHB(max_t=27, reduction_factor=3)
    simulate(
        trainable,
        config=dict(SPACE),
        num_samples=110,
        metric="loss",
        mode="min",
        scheduler=sched,
        search_alg=s,
        num_workers=3,
        seed=0,
        keep_records=False,
    )
    assert len(s.suggestion_log) == 110
    evolved = 0
    for i, (tid, source, budget) in enumerate(s.suggestion_log):
        first_rung = sched._brackets[sched._bracket_of[tid]].plan[0][1]
        assert s._starts[i % len(s._starts)] == first_rung
        if source == "model":
            evolved += 1
            assert budget == first_rung
    assert evolved >= 110 - 27 - 12  # random: the first 27, and budget-3 ones without parents
    assert {b: len(p) for b, p in s._pop.items()} == s._slots
