"""BayesOptSearch against the real bayesian-optimization package: the searcher suite,
the GP after the random steps, points and rewards, patience."""

from __future__ import annotations

import pytest

from tunefleet.search.base import FINISHED, Searcher
from tunefleet.testing.searchers import SearcherConformance

pytest.importorskip("bayes_opt")

from tunefleet.search.bayesopt import BayesOptSearch  # noqa: E402


class TestBayesOptSuite(SearcherConformance):
    supports_grid_search = False
    max_examples = 2

    def make_searcher(self) -> Searcher:
        return BayesOptSearch(random_search_steps=30)  # the GP: below (its fits cost ~0.3 s)


def test_the_gp_learns_and_rewards_are_registered() -> None:
    from tunefleet import choice, uniform

    space = {"x": uniform(-1.0, 1.0), "k": choice(["a", "b"])}
    searcher = BayesOptSearch(
        random_search_steps=2,
        points_to_evaluate=[{"x": 0.9, "k": "a"}],
        evaluated_rewards=[-0.81],
        utility_kwargs={"kind": "ei", "xi": 0.01},
    )
    searcher.setup(space, "score", "max", 0, 6)
    for i in range(6):
        config = searcher.suggest(f"t{i}")
        assert -1 <= config["x"] <= 1 and config["k"] in ("a", "b")
        searcher.on_complete(f"t{i}", {"score": -(config["x"] ** 2)})
    targets = list(searcher._opt.space.target)
    assert targets[0] == -0.81 and len(targets) == 7


def test_patience_ends_the_search() -> None:
    from tunefleet import choice

    searcher = BayesOptSearch(random_search_steps=100, patience=1)
    searcher.setup({"k": choice(["a"])}, "score", "max", 0, 10)
    assert searcher.suggest("t0") == {"k": "a"}
    assert searcher.suggest("t1") is FINISHED  # the only config, proposed a second time
    with pytest.raises(ValueError, match="kind"):
        BayesOptSearch(utility_kwargs={"kind": "best"})
