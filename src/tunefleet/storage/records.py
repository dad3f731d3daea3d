"""The experiment's event log: record kinds and their payloads (DESIGN.md §6).

The experiment *is* this log. Results, resume, the CLI and the dashboard are all rebuilt
from it. Payloads are JSON objects; nothing is ever pickled into the store.

=====================  =========  ===========================================================
kind                   trial_id   data
=====================  =========  ===========================================================
experiment_started     –          {"run": n}   (n = 0 first start, 1.. for each resume)
trial_created          id         {"config", "index", "parent": id|None, "checkpoint": path|None}
trial_started          id         {"attempt", "checkpoint": path|None}  (written at launch,
                                   before the executor has placed the attempt)
result                 id         the result dict (metrics + automatic fields)
checkpoint             id         {"path", "iteration", "hash"}  (hash: "sha256:<hex>" content
                                   hash; absent for simulated markers)
checkpoint_deleted     id         {"path"}  (removed by the checkpoint retention policy)
checkpoint_invalid     id         {"path", "reason", "fallback": path|None, "iteration"}  the
                                   checkpoint failed verification before a restore (missing,
                                   partial, corrupt); the trial restores from ``fallback``
                                   (at ``iteration``) or from scratch
trial_paused           id         {"checkpoint": path|None}
trial_restarted        id         {"config", "from_trial", "checkpoint"}  (PBT exploit)
trial_failed           id         {"attempt", "error", "traceback", "worker_lost", "will_retry",
                                   "stale", "worker"}  (stale: the attempt's lease expired;
                                   worker: where it ran, e.g. "local-0", None if unknown)
stale_result           id         {"attempt", "result"}  a result from an attempt that is no
                                   longer current (late report after its lease expired)
trial_completed        id         {"status": "TERMINATED"|"ERROR", "error", "traceback",
                                   "last_result"}
state                  –          {"searcher": {...}, "scheduler": {...}, "engine": {...}}
experiment_finished    –          {"status": "completed"|"stopped"|"failed"|"interrupted",
                                   "reason"}
=====================  =========  ===========================================================

Notes for readers and writers (tunefleet.storage.replay is the reference reader):

* Optional keys that replay also honours: ``checkpoint_iteration`` in trial_created,
  ``iteration`` in trial_paused and trial_restarted (the training_iteration of the
  checkpoint named there).
* A checkpoint ``path`` may be relative to the experiment directory (then the experiment
  can be moved); Results resolves it. Absolute paths and URLs are used as they are.
* The status of a trial as replayed: trial_created → PENDING, trial_started → RUNNING,
  trial_paused → PAUSED, trial_restarted → PENDING (until its next trial_started),
  trial_failed → PENDING if ``will_retry`` else ERROR, trial_completed → its ``status``.
* Unknown kinds are skipped by readers, so new kinds can be added without a schema bump.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

EXPERIMENT_STARTED = "experiment_started"
TRIAL_CREATED = "trial_created"
TRIAL_STARTED = "trial_started"
RESULT = "result"
CHECKPOINT = "checkpoint"
CHECKPOINT_DELETED = "checkpoint_deleted"
CHECKPOINT_INVALID = "checkpoint_invalid"
TRIAL_PAUSED = "trial_paused"
TRIAL_RESTARTED = "trial_restarted"
TRIAL_FAILED = "trial_failed"
STALE_RESULT = "stale_result"
TRIAL_COMPLETED = "trial_completed"
STATE = "state"
EXPERIMENT_FINISHED = "experiment_finished"

KINDS = (
    EXPERIMENT_STARTED,
    TRIAL_CREATED,
    TRIAL_STARTED,
    RESULT,
    CHECKPOINT,
    CHECKPOINT_DELETED,
    CHECKPOINT_INVALID,
    TRIAL_PAUSED,
    TRIAL_RESTARTED,
    TRIAL_FAILED,
    STALE_RESULT,
    TRIAL_COMPLETED,
    STATE,
    EXPERIMENT_FINISHED,
)


@dataclass(slots=True)
class Record:
    kind: str
    trial_id: str | None
    data: dict[str, Any]
    ts: float
    seq: int = 0  # assigned by the store on append (1, 2, ...)
    raw: str | None = None  # ``data`` already encoded as JSON (by a worker); stored as is
