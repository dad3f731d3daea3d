"""HyperOptSearch against the real HyperOpt: the searcher suite, HyperOpt's own
expressions, conditional choices, points and rewards."""

from __future__ import annotations

import pytest

from tunefleet.search.base import Searcher
from tunefleet.testing.searchers import SearcherConformance

pytest.importorskip("hyperopt")

from tunefleet.search.hyperopt import HyperOptSearch  # noqa: E402


class TestHyperOptSuite(SearcherConformance):
    supports_grid_search = False
    max_examples = 4

    def make_searcher(self) -> Searcher:
        return HyperOptSearch(n_initial_points=5)


def _drive(searcher: Searcher, n: int, space: dict | None = None) -> list:
    searcher.setup(space or {}, "loss", "min", 0, n)
    configs = []
    for i in range(n):
        config = searcher.suggest(f"t{i}")
        assert isinstance(config, dict)
        configs.append(config)
        searcher.on_complete(f"t{i}", {"loss": float(len(str(config)))})
    return configs


def test_conditional_choice_becomes_hp_choice() -> None:
    from tunefleet import choice, loguniform, randint

    space = {
        "model": choice(
            [{"type": "svm", "c": loguniform(1e-3, 10)}, {"type": "knn", "k": randint(1, 9)}]
        )
    }
    searcher = HyperOptSearch(n_initial_points=3)
    configs = _drive(searcher, 10, space)
    for c in configs:
        m = c["model"]
        assert (m["type"], set(m)) in (("svm", {"type", "c"}), ("knn", {"type", "k"}))
    labels = {k for t in searcher._trials.trials for k, v in t["misc"]["vals"].items() if v}
    assert labels == {"model", "model/0/c", "model/1/k"}


def test_hyperopt_expressions_as_space() -> None:
    from hyperopt import hp

    searcher = HyperOptSearch(
        space={"x": hp.uniform("x", 2.0, 3.0), "k": hp.choice("k", ["a", "b"])}
    )
    configs = _drive(searcher, 4)
    assert all(2 <= c["x"] <= 3 and c["k"] in ("a", "b") for c in configs)


def test_points_with_rewards_are_observations() -> None:
    from tunefleet import uniform

    searcher = HyperOptSearch(
        points_to_evaluate=[{"x": 0.25}, {"x": 0.75}], evaluated_rewards=[1.0, 2.0]
    )
    configs = _drive(searcher, 2, {"x": uniform(0.0, 1.0)})
    assert {0.25, 0.75}.isdisjoint(c["x"] for c in configs)  # told, not run again
    done = [t for t in searcher._trials.trials if t["result"].get("status") == "ok"]
    assert [t["result"]["loss"] for t in done[:2]] == [1.0, 2.0]
    assert [t["misc"]["vals"]["x"] for t in done[:2]] == [[0.25], [0.75]]
