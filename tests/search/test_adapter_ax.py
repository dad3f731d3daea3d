"""AxSearch against the real Ax: the searcher suite on Ax's Sobol steps, then a few trials
of its BoTorch model with an outcome constraint, points and failures."""

from __future__ import annotations

import pytest

from tunefleet.search.base import Searcher
from tunefleet.testing.searchers import Factory, SearcherConformance

pytest.importorskip("ax")

#: Ax's own deprecation chatter (pandas, its Objective API): thousands of lines per run
pytestmark = pytest.mark.filterwarnings("ignore")

from tunefleet.search.ax import AxSearch  # noqa: E402

#: Sobol for every suite trial: the GP's fits would take minutes over the suite
SOBOL_ONLY = {"choose_generation_strategy_kwargs": {"num_initialization_trials": 1000}}


class TestAxSuite(SearcherConformance):
    supports_grid_search = False
    max_examples = 2

    def make_searcher(self) -> Searcher:
        return AxSearch(**SOBOL_ONLY)

    # Each Ax trial costs ~0.1 s: the suite's repeats that only vary what the shared base
    # (search/_adapter.py) does, and the other adapters' suites check, run once here.
    @pytest.mark.parametrize("mode", ["max"])
    def test_every_domain_type_is_respected(self, factory: Factory, mode: str) -> None:
        super().test_every_domain_type_is_respected(factory, mode)

    @pytest.mark.parametrize("cut", [12])
    def test_load_state_dict_continues_the_stream(self, factory: Factory, cut: int) -> None:
        super().test_load_state_dict_continues_the_stream(factory, cut)

    def test_min_and_max_modes_mirror_each_other(self, factory: Factory) -> None:
        pytest.skip("the base class maps max to -loss for every adapter; checked by the others")


def test_points_failures_and_outcome_constraints_reach_ax_then_its_gp() -> None:
    from tunefleet import choice, uniform

    space = {"x": uniform(0.0, 1.0), "k": choice(["a", "b"])}
    searcher = AxSearch(
        points_to_evaluate=[{"x": 0.5, "k": "b"}],
        outcome_constraints=["cost <= 0.8"],
        choose_generation_strategy_kwargs={"num_initialization_trials": 3},
    )
    searcher.setup(space, "acc", "max", 0, 5)
    for i in range(5):
        config = searcher.suggest(f"t{i}")
        assert 0 <= config["x"] <= 1 and config["k"] in ("a", "b")
        result = {"acc": config["x"], "cost": config["x"] ** 2}
        searcher.on_complete(f"t{i}", None if i == 1 else result, error=i == 1)
    trials = searcher.client.experiment.trials
    assert trials[0].arm.parameters == {"x": 0.5, "k": 1}
    assert trials[1].status.is_failed and trials[2].status.is_completed
    data = searcher.client.experiment.fetch_data().df
    assert set(data["metric_name"]) == {"acc", "cost"}
    assert data[data["metric_name"] == "acc"]["mean"].max() <= 0  # max: Ax minimises -acc
    assert len(trials) == 5  # the fifth came from the model after 3 Sobol + the point


def test_bad_constraints_are_named() -> None:
    with pytest.raises(TypeError, match="outcome_constraints"):
        AxSearch(outcome_constraints="acc >= 1")
