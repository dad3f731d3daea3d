"""The trial: one configuration being evaluated, as the engine and schedulers see it."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class TrialStatus(StrEnum):
    """Lifecycle states. Values match Ray Tune's strings so dataframes look familiar."""

    PENDING = "PENDING"  # created, waiting for a slot
    RUNNING = "RUNNING"
    PAUSED = "PAUSED"  # checkpointed and off its slot; may be resumed by the scheduler
    TERMINATED = "TERMINATED"  # finished normally or stopped by a scheduler/stopper
    ERROR = "ERROR"  # raised, and its retry budget is spent

    @property
    def is_finished(self) -> bool:
        return self in (TrialStatus.TERMINATED, TrialStatus.ERROR)


# Checkpoints per trial the engine remembers for fallback (see Trial.checkpoint_history).
CHECKPOINT_HISTORY = 5

# Automatic fields added to every reported result (Ray Tune's names).
AUTO_RESULT_FIELDS = (
    "training_iteration",
    "time_total_s",
    "time_this_iter_s",
    "trial_id",
    "timestamp",
    "done",
)


@dataclass(slots=True, eq=False)
class Trial:
    """Engine-owned record of a trial. Schedulers and searchers must treat it as read-only."""

    trial_id: str
    config: dict[str, Any]
    index: int = 0
    status: TrialStatus = TrialStatus.PENDING
    last_result: dict[str, Any] | None = None
    checkpoint: str | None = None  # path/URL of the latest complete checkpoint
    checkpoint_iteration: int = 0  # training_iteration at which `checkpoint` was taken
    attempt: int = 0  # incremented on every (re)launch
    num_failures: int = 0
    error: str | None = None
    traceback: str | None = None
    parent_trial_id: str | None = None  # whose checkpoint this trial continued from (PBT)
    created_at: float = 0.0
    started_at: float | None = None
    worker: str | None = None  # where the current attempt runs, from the executor's Started
    finished_at: float | None = None
    pending_decision: str | None = None  # "stop" or "pause" sent, waiting for the worker
    restart_config: dict[str, Any] | None = None  # PBT: relaunch with this config ...
    restart_checkpoint: str | None = None  # ... from this checkpoint
    # Folder name under the experiment's trials/ (Ray's trial_dirname_creator); None: the id
    dirname: str | None = None
    checkpoint_hash: str | None = None  # content hash of `checkpoint` (None: unknown/marker)
    # The last CHECKPOINT_HISTORY (path, iteration, hash) of this trial, oldest first: what
    # a restore falls back to when the latest checkpoint fails verification.
    checkpoint_history: list[tuple[str, int, str | None]] = field(default_factory=list)

    @property
    def iteration(self) -> int:
        if self.last_result is None:
            return 0
        return int(self.last_result.get("training_iteration", 0))

    def __repr__(self) -> str:
        return f"Trial({self.trial_id}, {self.status.value}, iter={self.iteration})"
