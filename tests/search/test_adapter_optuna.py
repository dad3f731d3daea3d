"""OptunaSearch against the real Optuna: the searcher suite, every sampler, Optuna's own
spaces (distributions, define-by-run), conditional choices, points and rewards, resume."""

from __future__ import annotations

from typing import Any

import pytest

from tunefleet.search.base import Searcher
from tunefleet.testing.searchers import SearcherConformance

optuna = pytest.importorskip("optuna")

from tunefleet.search.optuna import OptunaSearch  # noqa: E402


class TestOptunaSuite(SearcherConformance):
    supports_grid_search = False
    max_examples = 4

    def make_searcher(self) -> Searcher:
        return OptunaSearch()


def _drive(searcher: Searcher, n: int, score: Any, space: dict[str, Any] | None = None) -> list:
    """n trials one after the other; returns their configs."""
    searcher.setup(space or {}, "loss", "min", 0, n)
    configs = []
    for i in range(n):
        config = searcher.suggest(f"t{i}")
        assert isinstance(config, dict)
        configs.append(config)
        searcher.on_complete(f"t{i}", {"loss": score(config)})
    return configs


@pytest.mark.parametrize("sampler", ["tpe", "cmaes", "gp", "nsgaii", "qmc"])
def test_every_sampler_suggests_inside_the_space(sampler: str) -> None:
    from tunefleet import loguniform, uniform

    space = {"x": uniform(-2.0, 2.0), "lr": loguniform(1e-4, 1e-1)}
    n = 4 if sampler == "gp" else 12
    configs = _drive(OptunaSearch(sampler=sampler), n, lambda c: c["x"] ** 2, space)
    assert all(-2 <= c["x"] <= 2 and 1e-4 <= c["lr"] <= 1e-1 for c in configs)
    assert len({c["x"] for c in configs}) == n


def test_sampler_object_is_used_and_copied() -> None:
    from tunefleet import uniform

    sampler = optuna.samplers.RandomSampler(seed=3)
    a = _drive(OptunaSearch(sampler=sampler), 5, lambda c: c["x"], {"x": uniform(0, 1)})
    b = _drive(OptunaSearch(sampler=sampler), 5, lambda c: c["x"], {"x": uniform(0, 1)})
    assert a == b  # each build starts from the object as given


def test_optuna_distributions_and_points_with_rewards() -> None:
    from optuna.distributions import CategoricalDistribution, FloatDistribution

    space = {"a/x": FloatDistribution(0.0, 1.0), "k": CategoricalDistribution(["p", "q"])}
    searcher = OptunaSearch(
        space=space,
        points_to_evaluate=[{"a": {"x": 0.5}, "k": "p"}],
        evaluated_rewards=[0.25],
    )
    configs = _drive(searcher, 3, lambda c: c["a"]["x"])
    assert all(0 <= c["a"]["x"] <= 1 and c["k"] in ("p", "q") for c in configs)
    trials = searcher.study.trials
    assert trials[0].params == {"a/x": 0.5, "k": "p"} and trials[0].value == 0.25


def test_define_by_run_space_with_constants() -> None:
    def space(trial: Any) -> dict[str, Any]:
        kind = trial.suggest_categorical("kind", ["lin", "rbf"])
        if kind == "rbf":
            trial.suggest_float("gamma", 1e-3, 1.0, log=True)
        return {"fixed": 7}

    configs = _drive(OptunaSearch(space=space), 8, lambda c: c.get("gamma", 1.0))
    for c in configs:
        assert c["fixed"] == 7
        assert ("gamma" in c) == (c["kind"] == "rbf")


def test_conditional_choice_is_modelled() -> None:
    from tunefleet import choice, loguniform, randint

    space = {
        "model": choice(
            [{"type": "svm", "c": loguniform(1e-3, 10)}, {"type": "knn", "k": randint(1, 9)}]
        )
    }
    searcher = OptunaSearch()
    configs = _drive(searcher, 12, lambda c: c["model"].get("c", 0.5), space)
    for c in configs:
        m = c["model"]
        assert (m["type"], set(m)) in (("svm", {"type", "c"}), ("knn", {"type", "k"}))
    names = {name for t in searcher.study.trials for name in t.params}
    assert names <= {"model", "model/0/c", "model/1/k"} and len(names) == 3


def test_points_are_told_to_optuna_and_save_restore(tmp_path: Any) -> None:
    from tunefleet import uniform

    space = {"x": uniform(0.0, 1.0)}
    first = OptunaSearch(points_to_evaluate=[{"x": 0.125}])
    configs = _drive(first, 6, lambda c: c["x"], space)
    assert configs[0] == {"x": 0.125}
    assert first.study.trials[0].params == {"x": 0.125}
    path = str(tmp_path / "searcher.json")
    first.save(path)
    nxt = [first.suggest(f"n{i}") for i in range(3)]
    second = OptunaSearch(points_to_evaluate=[{"x": 0.125}])
    second.restore(path)  # before setup, as Ray allows
    second.setup(space, "loss", "min", 0, 6)
    assert [second.suggest(f"n{i}") for i in range(3)] == nxt


def test_set_search_properties() -> None:
    from tunefleet import uniform

    searcher = OptunaSearch()
    assert searcher.set_search_properties("acc", "max", {"x": uniform(0, 1)})
    assert searcher.metric == "acc" and 0 <= searcher.suggest("t")["x"] <= 1
    assert not searcher.set_search_properties("acc", "max", {})
    assert not OptunaSearch(space={"x": uniform(0, 1)}).set_search_properties("a", "min", {})


def test_bad_arguments_are_named() -> None:
    from tunefleet import grid_search

    with pytest.raises(ValueError, match="sampler"):
        OptunaSearch(sampler="nope")
    with pytest.raises(ValueError, match="evaluated_rewards"):
        OptunaSearch(points_to_evaluate=[{"x": 1}], evaluated_rewards=[1, 2])
    with pytest.raises(ValueError, match=r"config\['g'\]"):
        OptunaSearch().setup({"g": grid_search([1, 2])}, "loss", "min", 0)


def test_study_name_and_storage_are_optunas(tmp_path: Any) -> None:
    from tunefleet import uniform

    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    searcher = OptunaSearch(study_name="mine", storage=url)
    _drive(searcher, 3, lambda c: c["x"], {"x": uniform(0.0, 1.0)})
    stored = optuna.load_study(study_name="mine", storage=url)
    assert [t.value for t in stored.trials] == [t.value for t in searcher.study.trials]
    assert len(stored.trials) == 3


def test_several_objectives_with_nsga2() -> None:
    from tunefleet import uniform

    searcher = OptunaSearch(
        metric=["loss", "acc"],
        mode=["min", "max"],
        sampler="nsgaii",
        points_to_evaluate=[{"x": 0.5}],
        evaluated_rewards=[[0.25, 0.5]],
    )
    searcher.setup({"x": uniform(0.0, 1.0)}, None, None, 0, 6)
    for i in range(6):
        x = searcher.suggest(f"t{i}")["x"]
        searcher.on_complete(f"t{i}", {"loss": x**2, "acc": x} if i != 2 else {"loss": 1.0})
    trials = searcher.study.trials
    assert trials[0].values == [0.25, -0.5]  # acc is maximised: told as -acc
    assert trials[3].state.name == "FAIL"  # a result without "acc"
    assert trials[1].values == [trials[1].params["x"] ** 2, -trials[1].params["x"]]
    with pytest.raises(ValueError, match="list of modes"):
        OptunaSearch(metric=["a", "b"], mode="min").setup({"x": uniform(0, 1)}, None, None, 0)
