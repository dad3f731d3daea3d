"""Repeater and ConcurrencyLimiter around the library adapters (Ray's wrappers)."""

from __future__ import annotations

import json

import pytest

from tunefleet.search import ConcurrencyLimiter, Repeater
from tunefleet.search.base import FINISHED
from tunefleet.search.optuna import OptunaSearch
from tunefleet.space import uniform

pytest.importorskip("optuna")


def test_each_config_runs_repeat_times_and_the_mean_is_told() -> None:
    inner = OptunaSearch()
    rep = Repeater(inner, repeat=3)
    rep.setup({"x": uniform(0.0, 1.0)}, "loss", "min", 0, 6)
    configs = [rep.suggest(f"t{i}") for i in range(6)]
    assert [c["__trial_index__"] for c in configs] == [0, 1, 2, 0, 1, 2]
    assert configs[0]["x"] == configs[2]["x"] != configs[3]["x"]
    for i, score in enumerate([1.0, 2.0, float("nan")]):
        rep.on_complete(f"t{i}", {"loss": score})
    (trial,) = inner.study.trials[:1]
    assert trial.value == pytest.approx(1.5)  # NaN left out of the mean
    state = json.loads(json.dumps(rep.state_dict()))
    again = Repeater(OptunaSearch(), repeat=3)
    again.setup({"x": uniform(0.0, 1.0)}, "loss", "min", 0, 6)
    again.load_state_dict(state)
    rep.on_complete("t3", {"loss": 0.5})
    again.on_complete("t3", {"loss": 0.5})
    assert rep.suggest("t6") == again.suggest("t6")


def test_repeater_without_index_and_bad_repeat() -> None:
    rep = Repeater(OptunaSearch(), repeat=2, set_index=False)
    rep.setup({"x": uniform(0.0, 1.0)}, "loss", "min", 0, 2)
    assert set(rep.suggest("a")) == {"x"}
    with pytest.raises(ValueError, match="repeat"):
        Repeater(OptunaSearch(), repeat=0)


def test_limiter_holds_back_an_adapter() -> None:
    lim = ConcurrencyLimiter(OptunaSearch(), max_concurrent=2)
    lim.setup({"x": uniform(0.0, 1.0)}, "loss", "min", 0, 4)
    assert lim.suggest("a") and lim.suggest("b")
    assert lim.suggest("c") is None
    lim.on_complete("a", {"loss": 0.1})
    assert lim.suggest("c") not in (None, FINISHED)


def test_wrappers_forward_set_search_properties_and_every_searcher_saves(tmp_path) -> None:
    from tunefleet.search import RandomSearch

    lim = ConcurrencyLimiter(Repeater(OptunaSearch(), repeat=2), max_concurrent=1)
    assert lim.set_search_properties("acc", "max", {"x": uniform(0.0, 1.0)})
    assert (lim.metric, lim.mode, lim.searcher.searcher.metric) == ("acc", "max", "acc")
    assert not ConcurrencyLimiter(RandomSearch(), 1).set_search_properties("a", "min", {})

    first = RandomSearch()
    first.setup({"x": uniform(0.0, 1.0)}, "loss", "min", 3)
    first.suggest("a")
    first.save(str(tmp_path / "s.json"))
    second = RandomSearch()
    second.setup({"x": uniform(0.0, 1.0)}, "loss", "min", 3)
    second.restore(str(tmp_path / "s.json"))
    assert second.suggest("b") == first.suggest("b")
