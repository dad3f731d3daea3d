"""The names ``ray.train`` and ``ray.air`` give Tune scripts, defined once for both.

Ray moved ``RunConfig``, ``report`` and ``Checkpoint`` from ``ray.air`` (2.0-2.6) to
``ray.train`` (2.7-2.40) to ``ray.tune`` (2.41+); in tunefleet all three paths give the
same objects, each resolved on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

# ray.train / ray.air name -> (module, attribute)
SHARED: dict[str, tuple[str, str]] = {
    "RunConfig": ("tunefleet.tuner", "RunConfig"),
    "CheckpointConfig": ("tunefleet.tuner", "CheckpointConfig"),
    "FailureConfig": ("tunefleet.tuner", "FailureConfig"),
    "ScalingConfig": ("tunefleet.compat.scaling", "ScalingConfig"),
    "SyncConfig": ("tunefleet.compat.sync", "SyncConfig"),
    "Checkpoint": ("tunefleet.checkpoint", "Checkpoint"),
    "Result": ("tunefleet.results", "Result"),
    "report": ("tunefleet.compat.legacy", "report"),
    "get_checkpoint": ("tunefleet.worker.session", "get_checkpoint"),
    "get_context": ("tunefleet.worker.session", "get_context"),
    "TrainContext": ("tunefleet.worker.session", "Session"),
    "TuneError": ("tunefleet.errors", "TuneError"),
}


def resolve(name: str, owner: str) -> Any:
    """A module ``__getattr__``'s body: the shared name, or AttributeError naming owner."""
    if name not in SHARED:
        raise AttributeError(f"module {owner!r} has no attribute {name!r}")
    module, attr = SHARED[name]
    return getattr(importlib.import_module(module), attr)
