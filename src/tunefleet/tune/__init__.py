"""``from tunefleet import tune``: Ray Tune's ``ray.tune`` namespace.

Every name of ``import tunefleet`` plus the Ray names scripts use beside them
(``CLIReporter``, ``PlacementGroupFactory``, ``SyncConfig``, ``checkpoint_dir``, ...).
Ray's module paths (``tunefleet.tune.schedulers.pb2``, ``tunefleet.tune.search.optuna``,
``tunefleet.tune.logger``, ``tunefleet.tune.suggest.*`` ...) are aliases of the modules
that define the names (:mod:`tunefleet.compat.aliases`): one module object per class.
Everything resolves on first use, so importing this package costs next to nothing.
"""

from __future__ import annotations

import importlib
from typing import Any

import tunefleet as _tf
from tunefleet import __all__ as _names
from tunefleet.compat.aliases import install as _install

_install()

# Ray names that are not top-level tunefleet names -> the module that defines them
_COMPAT: dict[str, str] = {
    "CLIReporter": "tunefleet.compat.reporters",
    "JupyterNotebookReporter": "tunefleet.compat.reporters",
    "ProgressReporter": "tunefleet.compat.reporters",
    "PlacementGroupFactory": "tunefleet.compat.placement",
    "SyncConfig": "tunefleet.compat.sync",
    "register_trainable": "tunefleet.compat.registry",
    "register_env": "tunefleet.compat.registry",
    "checkpoint_dir": "tunefleet.compat.legacy",
    "is_session_enabled": "tunefleet.compat.legacy",
    "get_trial_name": "tunefleet.compat.legacy",
    "TuneContext": "tunefleet.worker.session",
    "create_searcher": "tunefleet.search",
    "create_scheduler": "tunefleet.schedulers",
    "ResumeConfig": "tunefleet.compat.legacy",
    "get_trial_resources": "tunefleet.air.session",
}
_SUBPACKAGES = (
    "analysis",
    "callback",
    "execution",
    "experiment",
    "integration",
    "logger",
    "progress_reporter",
    "registry",
    "result_grid",
    "schedulers",
    "search",
    "stopper",
    "suggest",
    "syncer",
    "trainable",
    "tuner",
    "utils",
)


def __getattr__(name: str) -> Any:
    if name in _COMPAT:
        module = importlib.import_module(_COMPAT[name])
        value = getattr(module, "Session" if name == "TuneContext" else name)
    elif name in _SUBPACKAGES:
        value = importlib.import_module(f"{__name__}.{name}")
    else:
        return getattr(_tf, name)
    globals()[name] = value
    return value


__all__ = [*_names, *_COMPAT]
