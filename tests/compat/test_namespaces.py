"""Ray Tune's public module paths under ``tunefleet.tune`` (and ``.air`` / ``.train``):
each imports, and each is the very module object that defines its names, never a copy.

``RAY_PATHS`` lists the module paths of Ray Tune's API reference and of the modules Tune
scripts import (read from ray 2.x's package tree: ``ray/tune/**``, ``ray/air/**``; and
from the reference pages docs.ray.io/en/latest/tune/api/{schedulers,logging,integration,
trainable}.html and train/api/api.html for the Ray Train paths Tune scripts import).
Names under them that tunefleet does not provide import too; using one raises
(``tests/compat/test_unprovided_names.py``).
"""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

from tunefleet.compat.aliases import ALIASES, target_of

RAY_PATHS = [
    "tune",
    "tune.schedulers",
    "tune.schedulers.trial_scheduler",
    "tune.schedulers.async_hyperband",
    "tune.schedulers.hyperband",
    "tune.schedulers.hb_bohb",
    "tune.schedulers.median_stopping_rule",
    "tune.schedulers.pbt",
    "tune.schedulers.pb2",
    "tune.search",
    "tune.search.basic_variant",
    "tune.search.variant_generator",
    "tune.search.concurrency_limiter",
    "tune.search.searcher",
    "tune.search.search_algorithm",
    "tune.search.sample",
    "tune.search.bohb",
    "tune.stopper",
    "tune.stopper.stopper",
    "tune.stopper.noop",
    "tune.stopper.function_stopper",
    "tune.stopper.maximum_iteration",
    "tune.stopper.timeout",
    "tune.stopper.trial_plateau",
    "tune.stopper.experiment_plateau",
    "tune.logger",
    "tune.logger.logger",
    "tune.logger.csv",
    "tune.logger.json",
    "tune.logger.tensorboardx",
    "tune.logger.mlflow",
    "tune.logger.wandb",
    "tune.integration",
    "tune.integration.xgboost",
    "tune.integration.lightgbm",
    "tune.integration.mlflow",
    "tune.integration.wandb",
    "tune.experiment",
    "tune.experiment.trial",
    "tune.callback",
    "tune.analysis",
    "tune.analysis.experiment_analysis",
    "tune.result_grid",
    "tune.tuner",
    "tune.tune_config",
    "tune.tune",
    "tune.trainable",
    "tune.trainable.trainable",
    "tune.trainable.function_trainable",
    "tune.trainable.util",
    "tune.error",
    "tune.result",
    "tune.progress_reporter",
    "tune.syncer",
    "tune.registry",
    "tune.execution",
    "tune.execution.placement_groups",
    "tune.utils",
    "tune.utils.util",
    "tune.utils.log",
    "tune.utils.mock_trainable",
    "tune.schedulers.resource_changing_scheduler",
    "tune.search.repeater",
    "tune.constants",
    "tune.context",
    "tune.logger.aim",
    "tune.integration.ray_train",
    "tune.integration.torch",
    "tune.integration.horovod",
    "tune.integration.tensorflow",
    "train.torch.xla",
    *(
        f"tune.{root}.{lib}"
        for root in ("search", "suggest")
        for lib in ("skopt", "dragonfly", "sigopt", "flaml")
    ),
    # Ray 1.x
    "tune.suggest",
    "tune.suggest.basic_variant",
    "tune.suggest.variant_generator",
    "tune.suggest.concurrency_limiter",
    "tune.suggest.suggestion",
    "tune.suggest.bohb",
    "tune.sample",
    "tune.session",
    "tune.trial",
    "tune.function_runner",
    # ray.air (2.0-2.6) and ray.train (2.7+)
    "air",
    "air.session",
    "air.config",
    "air.checkpoint",
    "air.result",
    "air.integrations",
    "air.integrations.mlflow",
    "air.integrations.wandb",
    "air.integrations.comet",
    "air.constants",
    "train",
    "train.session",
    "train.context",
    "train.xgboost",
    "train.lightgbm",
    "train.torch",
    "train.huggingface",
    "train.huggingface.transformers",
]
# written by the search-adapter work (tunefleet.search.<library>); checked once they exist
ADAPTER_PATHS = [
    f"tune.{root}.{lib}{leaf}"
    for root in ("search", "suggest")
    for lib in ("ax", "bayesopt", "hebo", "hyperopt", "nevergrad", "optuna", "zoopt")
    for leaf in ("", f".{lib}_search")
]
# framework callbacks: the module imports its framework (checked where it is installed)
FRAMEWORK_PATHS = {
    "tune.integration.pytorch_lightning": "lightning",
    "tune.integration.keras": "keras",
    "air.integrations.keras": "keras",
}


@pytest.mark.parametrize("path", RAY_PATHS)
def test_every_ray_path_imports_as_the_defining_module(path: str) -> None:
    module = importlib.import_module(f"tunefleet.{path}")
    target = target_of(f"tunefleet.{path}")
    if target is not None:
        assert module is importlib.import_module(target)
        assert module.__spec__ is not None and module.__spec__.name == target


@pytest.mark.parametrize("path", ADAPTER_PATHS)
def test_search_adapter_paths_alias_the_adapter(path: str) -> None:
    target = target_of(f"tunefleet.{path}")
    assert target is not None and target.startswith("tunefleet.search.")
    if importlib.util.find_spec(target) is None:
        pytest.skip(f"{target} is not written yet")
    assert importlib.import_module(f"tunefleet.{path}") is importlib.import_module(target)


@pytest.mark.parametrize("path", sorted(FRAMEWORK_PATHS))
def test_framework_callback_paths_alias_their_module(path: str) -> None:
    # importing keras or lightning takes seconds: the corpus scripts import these paths
    target = target_of(f"tunefleet.{path}")
    assert target is not None and importlib.util.find_spec(target) is not None
    assert f"{FRAMEWORK_PATHS[path]}.py" in (importlib.util.find_spec(target).origin or "")


def test_one_class_object_per_name_whatever_the_path() -> None:
    from tunefleet.tune.schedulers import PB2 as via_package
    from tunefleet.tune.schedulers.pb2 import PB2 as via_module

    from tunefleet.schedulers.pb2 import PB2 as direct

    assert direct is via_module is via_package
    from tunefleet.tune.stopper.trial_plateau import TrialPlateauStopper as aliased

    from tunefleet.stoppers import TrialPlateauStopper

    assert aliased is TrialPlateauStopper
    from tunefleet.tune.suggest import ConcurrencyLimiter as legacy

    from tunefleet.search.concurrency import ConcurrencyLimiter

    assert legacy is ConcurrencyLimiter


def test_a_file_of_an_aliased_package_is_never_loaded_twice() -> None:
    # tune.search is tunefleet.search: its files load under their own names only
    grid = importlib.import_module("tunefleet.tune.search.grid")
    assert grid is importlib.import_module("tunefleet.search.grid")
    assert "tunefleet.tune.search.grid" in sys.modules


def test_the_three_namespaces_share_their_objects() -> None:
    from tunefleet import air, train, tune
    from tunefleet.air import session

    for name in ("RunConfig", "CheckpointConfig", "FailureConfig", "Checkpoint"):
        assert getattr(air, name) is getattr(train, name) is getattr(tune, name)
    assert train.ScalingConfig is air.ScalingConfig
    assert train.report is tune.report is session.report
    assert train.get_checkpoint is tune.get_checkpoint is session.get_checkpoint
    with pytest.raises(AttributeError, match="tunefleet.train.*NoSuchThing"):
        _ = train.NoSuchThing  # type: ignore[attr-defined]


def test_every_listed_alias_has_a_target_module() -> None:
    missing = []
    for alias, target in ALIASES.items():
        name = f"tunefleet.{target}"
        if (
            target.startswith(("search.", "integrations."))
            and importlib.util.find_spec(name) is None
        ):
            continue  # adapters / frameworks written elsewhere or not installed
        if importlib.util.find_spec(name) is None:
            missing.append(alias)
    assert missing == []


def test_importing_the_namespaces_stays_light() -> None:
    code = (
        "import sys\n"
        "import tunefleet.tune, tunefleet.air, tunefleet.train\n"
        "from tunefleet import tune\n"
        "tune.run; tune.report; tune.CLIReporter\n"
        "heavy = ('numpy', 'pandas', 'ray', 'mlflow', 'wandb', 'xgboost', 'tensorboardX')\n"
        "print(' '.join(m for m in heavy if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.split() == []


def test_no_alias_child_shadows_a_name_of_its_parents_module() -> None:
    # importing tunefleet.tune.logger.json binds "json" on the module tune.logger stands
    # for: a global of that name there (the json library) would be replaced
    code = (
        "import importlib, types\n"
        "from tunefleet.compat.aliases import ALIASES, target_of\n"
        "bad = []\n"
        "for alias in ALIASES:\n"
        "    parent, _, child = alias.rpartition('.')\n"
        "    if parent not in ALIASES:\n"
        "        continue\n"
        "    try:\n"
        "        module = importlib.import_module(target_of('tunefleet.' + parent))\n"
        "    except ImportError:\n"
        "        continue\n"
        "    value = module.__dict__.get(child)\n"
        "    if value is not None and not (isinstance(value, types.ModuleType)\n"
        "            and value.__name__ == target_of('tunefleet.' + alias)):\n"
        "        bad.append(alias)\n"
        "print(' '.join(bad))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.split() == []
