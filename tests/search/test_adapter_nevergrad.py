"""NevergradSearch against the real Nevergrad: the searcher suite, optimizers by class and
name, points and rewards, the refused conditional choice."""

from __future__ import annotations

import pytest

from tunefleet.search.base import Searcher
from tunefleet.testing.searchers import SearcherConformance

ng = pytest.importorskip("nevergrad")

from tunefleet.search.nevergrad import NevergradSearch  # noqa: E402


class TestNevergradSuite(SearcherConformance):
    supports_grid_search = False
    max_examples = 4

    def make_searcher(self) -> Searcher:
        return NevergradSearch(optimizer="OnePlusOne")


def _drive(searcher: Searcher, n: int, space: dict) -> list:
    searcher.setup(space, "loss", "max", 0, n)
    configs = []
    for i in range(n):
        config = searcher.suggest(f"t{i}")
        assert isinstance(config, dict)
        configs.append(config)
        searcher.on_complete(f"t{i}", {"loss": -((config["x"] - 0.7) ** 2)})
    return configs


def test_optimizer_class_default_and_rewards() -> None:
    from tunefleet import choice, uniform

    space = {"x": uniform(0.0, 1.0), "k": choice(["a", "b"])}
    for searcher in (
        NevergradSearch(optimizer=ng.optimizers.OnePlusOne),
        NevergradSearch(points_to_evaluate=[{"x": 0.7, "k": "a"}], evaluated_rewards=[0.0]),
    ):
        configs = _drive(searcher, 20, space)
        assert all(0 <= c["x"] <= 1 and c["k"] in ("a", "b") for c in configs)
        assert searcher._opt.num_tell >= 19
    assert searcher._opt.num_tell == 21  # the rewarded point was told as well


def test_conditional_choice_is_refused_naming_the_key() -> None:
    from tunefleet import choice, uniform

    space = {"m": {"inner": choice([{"a": uniform(0, 1)}, {"b": 1}])}}
    with pytest.raises(ValueError, match=r"config\['m'\]\['inner'\].*conditional"):
        NevergradSearch().setup(space, "loss", "min", 0, 4)
    with pytest.raises(ValueError, match="optimizer"):
        NevergradSearch(optimizer="NoSuchOptimizer").setup(
            space["m"]["inner"].categories[0], "l", "min", 0
        )
