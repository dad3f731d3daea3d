"""tunefleet: hyperparameter search that runs unchanged on one machine or on a cluster.

``import tunefleet as tune`` and ``from tunefleet import tune`` both give Ray Tune's
names (``run``, ``report``, ``Tuner``, ``TuneConfig``, search-space functions, ...), so a
Ray Tune script migrates by changing its import line. Importing tunefleet stays light:
no pandas, ray, dask, pyspark or torch at import time.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_LAZY: dict[str, str] = {
    "Callback": "tunefleet.callbacks",
    "Checkpoint": "tunefleet.checkpoint",
    "TuneError": "tunefleet.errors",
    "TuneTypeError": "tunefleet.errors",
    "TuneValueError": "tunefleet.errors",
    "run": "tunefleet.runner",
    "resume": "tunefleet.restore",
    "Stopper": "tunefleet.stoppers",
    "Trainable": "tunefleet.trainable",
    "with_parameters": "tunefleet.trainable",
    "with_resources": "tunefleet.trainable",
    "Tuner": "tunefleet.tuner",
    "TuneConfig": "tunefleet.tuner",
    "RunConfig": "tunefleet.tuner",
    "FailureConfig": "tunefleet.tuner",
    "CheckpointConfig": "tunefleet.tuner",
    "report": "tunefleet.compat.legacy",  # Ray 1.x done= and tune.checkpoint_dir too
    "get_checkpoint": "tunefleet.worker.session",
    "get_context": "tunefleet.worker.session",
    "get_trial_dir": "tunefleet.worker.session",
    "get_trial_id": "tunefleet.worker.session",
    "Results": "tunefleet.results",
    "ResultGrid": "tunefleet.results",
    "Result": "tunefleet.results",
    "ExperimentAnalysis": "tunefleet.results",
    "init": "tunefleet.compat.ray_init",  # ray.init / shutdown / is_initialized
    "shutdown": "tunefleet.compat.ray_init",
    "is_initialized": "tunefleet.compat.ray_init",
}
for _name in [
    "choice",
    "grid_search",
    "lograndint",
    "loguniform",
    "qlograndint",
    "qloguniform",
    "qrandint",
    "qrandn",
    "quniform",
    "randint",
    "randn",
    "sample_from",
    "uniform",
]:
    _LAZY[_name] = "tunefleet.space"


# distributed: helpers for data-parallel trials; tune, train, air: Ray's namespaces
_SUBMODULES = ("distributed", "tune", "train", "air")


def __getattr__(name: str) -> Any:
    """Public names resolve on first use, so ``import tunefleet`` costs almost nothing."""
    if name in _SUBMODULES:
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    if name in _LAZY:
        import importlib

        module = importlib.import_module(_LAZY[name])
        value = getattr(module, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'tunefleet' has no attribute {name!r}")


__all__ = [
    "Callback",
    "Checkpoint",
    "CheckpointConfig",
    "ExperimentAnalysis",
    "FailureConfig",
    "Result",
    "ResultGrid",
    "Results",
    "RunConfig",
    "Stopper",
    "TuneConfig",
    "TuneError",
    "TuneTypeError",
    "TuneValueError",
    "Trainable",
    "Tuner",
    "choice",
    "distributed",
    "get_checkpoint",
    "get_context",
    "get_trial_dir",
    "get_trial_id",
    "grid_search",
    "init",
    "is_initialized",
    "lograndint",
    "loguniform",
    "qlograndint",
    "qloguniform",
    "qrandint",
    "qrandn",
    "quniform",
    "randint",
    "randn",
    "report",
    "resume",
    "run",
    "sample_from",
    "shutdown",
    "uniform",
    "with_parameters",
    "with_resources",
]
