"""The experiment's event log: record kinds and :class:`Record`.

They are defined in :mod:`tunefleet.protocol` (the vocabulary every layer shares, with the
table of kinds and payloads) and re-exported here for the store's readers and writers.
"""

from __future__ import annotations

from tunefleet.protocol import (
    CHECKPOINT,
    CHECKPOINT_DELETED,
    CHECKPOINT_INVALID,
    EXPERIMENT_FINISHED,
    EXPERIMENT_STARTED,
    KINDS,
    RESULT,
    STALE_RESULT,
    STATE,
    STATE_DELTA,
    TRIAL_COMPLETED,
    TRIAL_CREATED,
    TRIAL_FAILED,
    TRIAL_PAUSED,
    TRIAL_RESTARTED,
    TRIAL_STARTED,
    Record,
)

__all__ = [
    "CHECKPOINT",
    "CHECKPOINT_DELETED",
    "CHECKPOINT_INVALID",
    "EXPERIMENT_FINISHED",
    "EXPERIMENT_STARTED",
    "KINDS",
    "RESULT",
    "STALE_RESULT",
    "STATE",
    "STATE_DELTA",
    "TRIAL_COMPLETED",
    "TRIAL_CREATED",
    "TRIAL_FAILED",
    "TRIAL_PAUSED",
    "TRIAL_RESTARTED",
    "TRIAL_STARTED",
    "Record",
]
