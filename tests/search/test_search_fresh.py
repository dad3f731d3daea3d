"""The model-based searchers (TPE, Hyper-Tune, DEHB) never propose a configuration already
proposed or told while the space has one that was not: on small discrete spaces their
models and DE moves land on evaluated cells often, and each repeat is a wasted trial.
Also: chosen by name, DEHB's searcher takes the Hyperband scheduler's ladder."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from tunefleet import space as sp
from tunefleet.schedulers import create_scheduler
from tunefleet.schedulers.dehb import HyperBandForDEHB
from tunefleet.schedulers.hypertune import HyperTuneASHA
from tunefleet.search import create_searcher, pair_with_scheduler
from tunefleet.search.dehb import DEHBSearch
from tunefleet.search.hypertune import HyperTuneSearch
from tunefleet.search.tpe import TPESearch
from tunefleet.simulation import simulate
from tunefleet.testing._property import property_settings

BUDGETS = (1, 3, 9)


def _space(k_choice: int, k_int: int, k_q: int, with_float: bool) -> dict[str, Any]:
    space: dict[str, Any] = {
        "c": sp.choice([f"o{i}" for i in range(k_choice)]),
        "n": sp.randint(0, k_int),
        "q": sp.quniform(0.0, 1.0, 1.0 / (k_q - 1)),  # k_q values
        "k": 7,  # a constant rides along
    }
    if with_float:
        space["f"] = sp.uniform(0.0, 1.0)
    return space


def _make(kind: str, seed: int) -> Any:
    if kind == "tpe":
        return TPESearch(metric="loss", mode="min", seed=seed, n_startup_trials=3)
    if kind == "hypertune":
        return HyperTuneSearch(metric="loss", mode="min", seed=seed, n_startup_trials=3)
    if kind == "dehb":
        return DEHBSearch(metric="loss", mode="min", seed=seed, population_size=4)
    return DEHBSearch(metric="loss", mode="min", seed=seed, max_t=9, reduction_factor=3)


def _cell(cfg: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(cfg[k] for k in sorted(cfg) if k != "f")


@given(
    kind=st.sampled_from(["tpe", "hypertune", "dehb", "dehb_ladder"]),
    seed=st.integers(0, 2**31),
    k_choice=st.integers(1, 4),
    k_int=st.integers(1, 4),
    k_q=st.integers(2, 3),
    told=st.booleans(),
    pending=st.integers(0, 3),
    data=st.data(),
)
@property_settings(max_examples=40)
def test_no_repeat_while_new_cells_remain(
    kind: str,
    seed: int,
    k_choice: int,
    k_int: int,
    k_q: int,
    told: bool,
    pending: int,
    data: st.DataObject,
) -> None:
    space = _space(k_choice, k_int, k_q, with_float=False)
    cells = k_choice * k_int * k_q
    s = _make(kind, seed)
    s.setup(dict(space), None, None, None)
    seen: set[tuple[Any, ...]] = set()
    if told and cells > 1:
        point = {"c": "o0", "n": 0, "q": 0.0, "k": 7}
        s.add_evaluated_point(point, 1.0, 1)
        seen.add(_cell(point))
    rng = np.random.default_rng(seed)
    live: list[tuple[str, dict[str, Any]]] = []
    for i in range(cells - len(seen)):
        tid = f"t{i}"
        cfg = s.suggest(tid)
        assert cfg is not None
        assert _cell(cfg) not in seen, f"{kind} repeated {cfg} with {cells - len(seen)} new"
        seen.add(_cell(cfg))
        live.append((tid, cfg))
        # up to `pending` trials stay running (the constant liar's case); the rest report
        # at budgets a toy scheduler picks and complete
        while len(live) > pending:
            done, _ = live.pop(data.draw(st.integers(0, len(live) - 1)))
            top = data.draw(st.sampled_from(BUDGETS))
            for b in BUDGETS[: BUDGETS.index(top) + 1]:
                s.on_result(done, {"loss": float(rng.random()), "training_iteration": b})
            s.on_complete(done, {"loss": float(rng.random()), "training_iteration": top})
    assert len(seen) == cells
    again = s.suggest("one_more")  # every cell proposed: a repeat is all there is
    assert again is not None and _cell(again) in seen


@given(kind=st.sampled_from(["tpe", "hypertune", "dehb_ladder"]), seed=st.integers(0, 2**31))
@property_settings(max_examples=10)
def test_continuous_spaces_are_left_alone(kind: str, seed: int) -> None:
    """With a continuous dimension every configuration is new: no draw is redirected."""
    s = _make(kind, seed)
    s.setup(_space(2, 2, 2, with_float=True), None, None, None)
    for i in range(30):
        cfg = s.suggest(f"t{i}")
        assert cfg is not None
        s.on_complete(f"t{i}", {"loss": cfg["f"] + cfg["n"], "training_iteration": 1})
    assert all(source != "fresh" for _, source, _ in s.suggestion_log)


def test_model_proposals_are_new_cells_and_learn() -> None:
    """A 6 × 6 grid with one best cell: TPE reaches it within the 36 cells without a
    repeat, and its model made most of the proposals (its next-best candidate, not a
    random fallback)."""
    space = {"a": sp.randint(0, 6), "b": sp.randint(0, 6)}
    s = TPESearch(metric="loss", mode="min", seed=3, n_startup_trials=4)
    s.setup(space, None, None, None)
    cells = []
    for i in range(20):
        cfg = s.suggest(f"t{i}")
        assert cfg is not None
        cells.append((cfg["a"], cfg["b"]))
        loss = math.hypot(cfg["a"] - 4, cfg["b"] - 1)
        s.on_complete(f"t{i}", {"loss": loss, "training_iteration": 1})
    assert len(set(cells)) == 20 and (4, 1) in cells
    sources = [source for _, source, _ in s.suggestion_log]
    assert sources.count("model") > sources.count("fresh")


def test_dehb_by_name_takes_the_schedulers_ladder() -> None:
    searcher = create_searcher("dehb")
    sched = create_scheduler("dehb")
    assert isinstance(searcher, DEHBSearch) and isinstance(sched, HyperBandForDEHB)
    assert searcher.max_t is None
    pair_with_scheduler(searcher, sched)
    assert (searcher.max_t, searcher.reduction_factor) == (sched.max_t, sched.reduction_factor)
    assert searcher._ladder == [1.0, 3.0, 9.0, 27.0, 81.0]
    own = DEHBSearch(max_t=9, time_attr="epoch")
    pair_with_scheduler(own, HyperBandForDEHB(time_attr="budget", max_t=27))
    assert (own.max_t, own.time_attr) == (9, "epoch")  # what it was given stays
    left = DEHBSearch()
    pair_with_scheduler(left, HyperBandForDEHB(time_attr="budget", max_t=27))
    assert (left.max_t, left.time_attr, left._ladder[-1]) == (27, "budget", 27.0)


def test_by_name_in_a_run() -> None:
    """search_alg="dehb" with a Hyperband scheduler of max_t 9 on "budget": the searcher
    reads that field and evolves each configuration for the budget of the bracket it
    starts in (1, 3 or 9: only a searcher told the ladder knows it). Hyper-Tune's
    scheduler by name is the promotion variant."""

    def trainable(config: dict[str, Any]) -> Any:
        for i in range(1, 10):
            yield {"loss": (config["x"] - 0.3) ** 2 + 1.0 / i, "budget": i}, True

    res = simulate(
        trainable,
        config={"x": sp.uniform(0.0, 1.0)},
        num_samples=60,
        metric="loss",
        mode="min",
        scheduler=HyperBandForDEHB(time_attr="budget", max_t=9, reduction_factor=3),
        search_alg="dehb",
        seed=1,
    )
    searcher = res.engine.searcher
    assert isinstance(searcher, DEHBSearch)
    assert (searcher.max_t, searcher.time_attr, searcher._ladder) == (9, "budget", [1, 3, 9])
    evolved = {b for _, source, b in searcher.suggestion_log if source == "model"}
    assert evolved and evolved <= {1.0, 3.0, 9.0}
    assert searcher._pop  # results reached its subpopulations
    assert create_scheduler("hypertune").variant == "promotion"
    assert isinstance(create_scheduler("hypertune"), HyperTuneASHA)
