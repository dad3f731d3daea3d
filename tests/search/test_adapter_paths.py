"""The adapters under Ray's module paths and by name, imported lazily, rebuilt by resume
from their recorded arguments, and continuing a real sweep after an interruption."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import pytest

from tunefleet.components import describe, rebuild
from tunefleet.search import create_searcher

ADAPTERS = {
    "optuna": "OptunaSearch",
    "hyperopt": "HyperOptSearch",
    "nevergrad": "NevergradSearch",
    "bayesopt": "BayesOptSearch",
    "zoopt": "ZOOptSearch",
    "ax": "AxSearch",
}


def test_importing_tunefleet_search_imports_no_library() -> None:
    code = (
        "import sys, tunefleet.search, tunefleet.tune.search, tunefleet.search.optuna, "
        "tunefleet.search.hyperopt, tunefleet.search.nevergrad, tunefleet.search.bayesopt, "
        "tunefleet.search.zoopt, tunefleet.search.ax\n"
        "libs = ('optuna', 'hyperopt', 'nevergrad', 'bayes_opt', 'zoopt', 'ax', 'torch')\n"
        "print([m for m in libs if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


@pytest.mark.parametrize("lib", sorted(ADAPTERS))
def test_ray_paths_and_names(lib: str) -> None:
    ours = importlib.import_module(f"tunefleet.search.{lib}")
    assert importlib.import_module(f"tunefleet.tune.search.{lib}") is ours
    assert importlib.import_module(f"tunefleet.tune.suggest.{lib}") is ours
    cls = getattr(ours, ADAPTERS[lib])
    assert type(create_searcher(lib)) is cls
    assert type(create_searcher(lib, points_to_evaluate=[{"x": 1}])) is cls


def test_recorded_arguments_rebuild_each_adapter() -> None:
    from tunefleet.search.ax import AxSearch
    from tunefleet.search.bayesopt import BayesOptSearch
    from tunefleet.search.hyperopt import HyperOptSearch
    from tunefleet.search.nevergrad import NevergradSearch
    from tunefleet.search.optuna import OptunaSearch
    from tunefleet.search.zoopt import ZOOptSearch

    for searcher in (
        OptunaSearch(sampler="cmaes", seed=3, points_to_evaluate=[{"x": 1}]),
        HyperOptSearch(n_initial_points=4, random_state_seed=2, gamma=0.3),
        NevergradSearch(optimizer="TwoPointsDE", optimizer_kwargs={"num_workers": 2}),
        BayesOptSearch(utility_kwargs={"kind": "ei"}, random_state=5, patience=2),
        ZOOptSearch(budget=20, parallel_num=2, seed=9),
        AxSearch(outcome_constraints=["c <= 1"], choose_generation_strategy_kwargs={"a": 1}),
    ):
        desc = json.loads(json.dumps(describe(searcher, "search_alg")))
        again = rebuild(desc, "search_alg")
        assert type(again) is type(searcher) and again.get_params() == searcher.get_params()
        assert again._explicit_seed == searcher._explicit_seed  # the seed survives


def test_a_sweep_resumes_its_optuna_model(tmp_path: pytest.TempPathFactory) -> None:
    import tunefleet
    from tunefleet.search.optuna import OptunaSearch

    def objective(config: dict) -> None:
        tunefleet.report({"loss": (config["x"] - 0.2) ** 2})

    common = {
        "config": {"x": tunefleet.uniform(-1.0, 1.0)},
        "metric": "loss",
        "mode": "min",
        "storage_path": str(tmp_path),
        "name": "opt",
        "seed": 1,
    }
    tunefleet.run(objective, search_alg=OptunaSearch(sampler="tpe"), num_samples=4, **common)
    results = tunefleet.run(objective, num_samples=8, resume=True, **common)
    xs = [t.config["x"] for t in results.trials]
    assert len(xs) == 8 and len(set(xs)) == 8
    assert results.spec["searcher"] == "OptunaSearch"  # rebuilt from its recorded arguments


def test_hebo_says_why_it_is_missing_and_a_run_by_name_works(tmp_path) -> None:
    from tunefleet.tune.search.hebo import HEBOSearch

    import tunefleet

    with pytest.raises(ValueError, match="numpy < 2"):
        HEBOSearch(metric="loss", mode="min")

    def objective(config: dict) -> None:
        tunefleet.report({"loss": abs(config["x"] - 3)})

    results = tunefleet.run(
        objective,
        config={"x": tunefleet.randint(0, 10)},
        search_alg="hyperopt",
        metric="loss",
        mode="min",
        num_samples=5,
        storage_path=str(tmp_path),
    )
    assert results.spec["searcher"] == "HyperOptSearch" and len(results.trials) == 5
