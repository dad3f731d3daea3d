"""``ray.air.session`` (Ray 2.0-2.6): ``session.report(metrics, checkpoint=...)`` and the
trial's identity, as functions over tunefleet's worker session."""

from __future__ import annotations

from typing import Any

from tunefleet.compat.legacy import report
from tunefleet.worker.session import get_checkpoint, get_context
from tunefleet.worker.session import get_trial_dir as _trial_dir
from tunefleet.worker.session import get_trial_id as _trial_id

__all__ = [
    "get_checkpoint",
    "get_context",
    "get_experiment_name",
    "get_trial_dir",
    "get_trial_id",
    "get_trial_name",
    "get_trial_resources",
    "get_world_rank",
    "get_world_size",
    "get_local_rank",
    "report",
]


def get_trial_id() -> str:
    return _trial_id()


def get_trial_dir() -> str:
    return _trial_dir()


def get_experiment_name() -> str:
    return get_context().get_experiment_name()


def get_trial_name() -> str:
    """Ray's trial name; tunefleet names a trial by its id."""
    return _trial_id()


def get_trial_resources() -> Any:
    """Ray's ``session.get_trial_resources()``: the trial's request, a
    ``PlacementGroupFactory`` with one bundle per process."""
    return get_context().get_trial_resources()


def get_world_rank() -> int:
    return get_context().get_world_rank()


def get_world_size() -> int:
    return get_context().get_world_size()


def get_local_rank() -> int:
    return get_context().get_local_rank()
