"""Ray's module paths under ``tunefleet.tune`` / ``.air`` / ``.train`` as aliases.

A script's ``from ray.tune.schedulers.pb2 import PB2`` becomes
``from tunefleet.tune.schedulers.pb2 import PB2``. Each such path must give the *very
module object* that defines the class (``tunefleet.schedulers.pb2``), never a second copy
(a copy holds a different ``PB2`` class, so ``isinstance`` checks and pickles break). A
meta-path finder does it: for an aliased name it imports the target and hands that module
back to the import system, which then binds it under the alias in ``sys.modules``. Nothing
is imported until a script asks for the path, so ``import tunefleet.tune`` stays cheap.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import sys
from types import ModuleType
from typing import Any

_T = "tunefleet."
_ADAPTERS = ("ax", "bayesopt", "hebo", "hyperopt", "nevergrad", "optuna", "zoopt")

# alias (under tunefleet.) -> module that defines its names; a package alias also maps its
# children by prefix (tune.search.optuna.optuna_search -> search.optuna) when not listed.
ALIASES: dict[str, str] = {
    # schedulers
    "tune.schedulers": "schedulers",
    "tune.schedulers.trial_scheduler": "schedulers.base",
    "tune.schedulers.async_hyperband": "schedulers.asha",
    "tune.schedulers.hyperband": "schedulers.hyperband",
    "tune.schedulers.hb_bohb": "schedulers.bohb",
    "tune.schedulers.median_stopping_rule": "schedulers.median",
    "tune.schedulers.pbt": "schedulers.pbt",
    "tune.schedulers.pb2": "schedulers.pb2",
    "tune.schedulers.resource_changing_scheduler": "compat.resource_changing",
    # search (and Ray 1.x's tune.suggest, the same modules)
    "tune.search": "search",
    "tune.search.basic_variant": "search.variant",
    "tune.search.variant_generator": "search.variant",
    "tune.search.concurrency_limiter": "search.concurrency",
    "tune.search.searcher": "search.base",
    "tune.search.search_algorithm": "search.base",
    "tune.search.sample": "space",
    "tune.search.bohb": "search.bohb",
    "tune.suggest": "search",
    "tune.suggest.basic_variant": "search.variant",
    "tune.suggest.variant_generator": "search.variant",
    "tune.suggest.concurrency_limiter": "search.concurrency",
    "tune.suggest.suggestion": "search.base",
    "tune.suggest.search": "search.base",
    "tune.suggest.search_generator": "search.base",
    "tune.suggest.bohb": "search.bohb",
    "tune.sample": "space",
    # stoppers
    "tune.stopper": "stoppers",
    **{
        f"tune.stopper.{m}": "stoppers"
        for m in (
            "stopper",
            "noop",
            "function_stopper",
            "maximum_iteration",
            "timeout",
            "trial_plateau",
            "experiment_plateau",
        )
    },
    # the run API
    "tune.tune": "runner",
    "tune.tuner": "tuner",
    "tune.tune_config": "tuner",
    "tune.result_grid": "results",
    "tune.analysis": "results",
    "tune.analysis.experiment_analysis": "results",
    "tune.trainable": "trainable",
    "tune.trainable.trainable": "trainable",
    "tune.trainable.function_trainable": "trainable",
    "tune.trainable.util": "trainable",
    "tune.function_runner": "trainable",
    "tune.callback": "callbacks",
    "tune.error": "errors",
    "tune.experiment": "trial",
    "tune.experiment.trial": "trial",
    "tune.trial": "trial",
    "tune.checkpoint": "checkpoint",
    "tune.session": "compat.legacy",
    "tune.result": "compat.result",
    "tune.progress_reporter": "compat.reporters",
    "tune.syncer": "compat.sync",
    "tune.registry": "compat.registry",
    "tune.constants": "compat.constants",
    "tune.context": "compat.context",
    "tune.execution": "compat.placement",
    "tune.execution.placement_groups": "compat.placement",
    "tune.utils": "compat.utils",
    "tune.utils.util": "compat.utils",
    "tune.utils.log": "compat.utils",
    "tune.utils.placement_groups": "compat.placement",
    "tune.utils.mock_trainable": "compat.mock_trainable",
    "tune.utils.mock": "compat.mock_trainable",
    # loggers and integrations
    "tune.logger": "integrations.loggers",
    **{f"tune.logger.{m}": "integrations.loggers" for m in ("logger", "csv", "json")},
    "tune.logger.tensorboardx": "integrations.loggers",
    "tune.logger.mlflow": "integrations.mlflow",
    "tune.logger.wandb": "integrations.wandb",
    "tune.logger.aim": "compat.unprovided_loggers",
    "tune.integration": "integrations",
    "tune.integration.xgboost": "integrations.xgboost",
    "tune.integration.lightgbm": "integrations.lightgbm",
    "tune.integration.pytorch_lightning": "integrations.lightning",
    "tune.integration.keras": "integrations.keras",
    "tune.integration.mlflow": "integrations.mlflow",
    "tune.integration.wandb": "integrations.wandb",
    "tune.integration.ray_train": "compat.ray_train",
    # ray.air (2.0-2.6) and ray.train (2.7+)
    "air.config": "air",
    "air.constants": "compat.constants",
    "air.checkpoint": "checkpoint",
    "air.result": "results",
    "air.integrations": "integrations",
    "air.integrations.mlflow": "integrations.mlflow",
    "air.integrations.wandb": "integrations.wandb",
    "air.integrations.keras": "integrations.keras",
    "air.integrations.comet": "compat.unprovided_loggers",
    "air.callbacks": "integrations",
    "air.callbacks.mlflow": "integrations.mlflow",
    "air.callbacks.wandb": "integrations.wandb",
    "air.callbacks.keras": "integrations.keras",
    "train.session": "air.session",
    "train.context": "compat.context",
    "train.xgboost": "integrations.xgboost",
    "train.lightgbm": "integrations.lightgbm",
    "train.lightning": "integrations.lightning",
    "train.torch": "compat.train_torch",
    "train.huggingface": "compat.train_huggingface",
    "train.huggingface.transformers": "compat.train_huggingface",
}
for _a in _ADAPTERS:  # written beside the searchers by their own module
    for _root in ("tune.search", "tune.suggest"):
        ALIASES[f"{_root}.{_a}"] = f"search.{_a}"
# libraries with no adapter: their names import and raise when used (compat/unprovided.py)
for _a in ("skopt", "dragonfly", "sigopt", "flaml"):
    for _root in ("tune.search", "tune.suggest"):
        ALIASES[f"{_root}.{_a}"] = "compat.unprovided_searchers"
ALIASES["tune.integration.torch"] = "compat.unprovided_searchers"
for _path in ("tune.integration.horovod", "tune.integration.tensorflow", "train.torch.xla"):
    ALIASES[_path] = "compat.unprovided_integrations"


def target_of(fullname: str) -> str | None:
    """The tunefleet module an aliased path stands for, or None if it is not an alias.

    A child of an aliased package maps by prefix (``tune.search.grid`` -> ``search.grid``),
    so the ordinary finders never load a file of the target package a second time under
    the alias's name. An unlisted child of an adapter package
    (``tune.search.optuna.optuna_search``) is the adapter module itself.
    """
    if not fullname.startswith(_T):
        return None
    name = fullname[len(_T) :]
    if name in ALIASES:
        return _T + ALIASES[name]
    head, rest = name, ""
    while "." in head:
        head, _, last = head.rpartition(".")
        rest = f"{last}.{rest}" if rest else last
        if head in ALIASES:
            if head.rpartition(".")[2] in _ADAPTERS:
                return _T + ALIASES[head]
            return f"{_T}{ALIASES[head]}.{rest}"
    return None


def _has_children(fullname: str) -> bool:
    name = fullname[len(_T) :]
    if name.rpartition(".")[2] in _ADAPTERS:  # tune.search.optuna.optuna_search
        return True
    return any(k.startswith(name + ".") for k in ALIASES)


class _AliasLoader:
    """Returns the already-imported target; restores the target's own ``__spec__``.

    Plain classes (the import system duck-types finders and loaders): importlib.abc
    would pull in importlib.resources, tempfile and pathlib (~15 ms) at import time.
    """

    def __init__(self, target: str) -> None:
        self.target = target
        self._spec: Any = None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        module = importlib.import_module(self.target)
        self._spec = module.__spec__
        if _has_children(spec.name) and not hasattr(module, "__path__"):
            # a plain module standing for a Ray package (tune.stopper -> stoppers): the
            # import system only looks for children of something with a __path__
            module.__path__ = []
        return module

    def exec_module(self, module: ModuleType) -> None:
        # module_from_spec overwrote __spec__ with the alias's; the module is the target's
        module.__spec__ = self._spec


class AliasFinder:
    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        dest = target_of(fullname)
        if dest is None:
            return None
        if dest in sys.modules or importlib.util.find_spec(dest) is not None:
            loader: Any = _AliasLoader(dest)  # a Loader by duck typing
            return importlib.machinery.ModuleSpec(fullname, loader)
        return None


def install() -> None:
    """Put the finder first on ``sys.meta_path`` (once per interpreter)."""
    if not any(isinstance(f, AliasFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, AliasFinder())
