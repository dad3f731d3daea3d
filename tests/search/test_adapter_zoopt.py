"""ZOOptSearch against the real ZOOpt: the searcher suite (which also shows that its global
random state is kept apart per searcher), parallel_num and failures."""

from __future__ import annotations

import pytest

from tunefleet.search.base import Searcher
from tunefleet.testing.searchers import SearcherConformance

pytest.importorskip("zoopt")

from tunefleet.search.zoopt import ZOOptSearch  # noqa: E402


class TestZOOptSuite(SearcherConformance):
    supports_grid_search = False
    max_examples = 3

    def make_searcher(self) -> Searcher:
        return ZOOptSearch(budget=40)


def test_parallel_failures_and_the_global_generator_is_left_alone() -> None:
    import numpy as np

    from tunefleet import choice, randint, uniform

    space = {"x": uniform(-1.0, 1.0), "n": randint(1, 5), "k": choice(["a", "b"])}
    searcher = ZOOptSearch(budget=30, parallel_num=2, seed=4)
    searcher.setup(space, "acc", "max", 0, 30)
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    done = 0
    while done < 30:
        live = [f"t{done}", f"t{done + 1}"]
        configs = [searcher.suggest(t) for t in live]
        assert configs[0] is not None  # two may be in flight at once
        for tid, config in zip(live, configs, strict=True):
            if config is not None:
                assert -1 <= config["x"] <= 1 and 1 <= config["n"] <= 4 and config["k"] in "ab"
                failed = done % 5 == 0
                searcher.on_complete(tid, None if failed else {"acc": -(config["x"] ** 2)}, failed)
        done += 2
    assert (np.random.get_state()[1] == before).all()
    with pytest.raises(ValueError, match="algo"):
        ZOOptSearch(algo="bobyqa")
