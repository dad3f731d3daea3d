"""Rebuild an experiment from its event log alone (DESIGN.md §6: the experiment *is* its log).

One pass, O(records), constant work per record, and no per-result memory: a trial keeps only
its last result, so replaying 10⁷ results costs time but not RAM. ``ReplayedExperiment.apply``
can also be fed incrementally (``store.read(name, since=exp.last_seq)``) by a live view.

Trial status rules, the contract with the engine that writes the log:

* ``trial_created`` → PENDING; ``trial_started`` → RUNNING; ``trial_paused`` → PAUSED;
* ``trial_restarted`` (PBT exploit) → PENDING with the new config, until its next start;
* ``trial_failed`` → PENDING when ``will_retry``, else ERROR;
* ``trial_completed`` → its ``status`` (TERMINATED or ERROR).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from tunefleet.storage.base import DamagedStoreError
from tunefleet.storage.records import (
    CHECKPOINT,
    CHECKPOINT_INVALID,
    EXPERIMENT_FINISHED,
    EXPERIMENT_STARTED,
    RESULT,
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

PENDING, RUNNING, PAUSED, TERMINATED, ERROR = (
    "PENDING",
    "RUNNING",
    "PAUSED",
    "TERMINATED",
    "ERROR",
)
STATUSES = (PENDING, RUNNING, PAUSED, TERMINATED, ERROR)


@dataclass(slots=True)
class TrialSnapshot:
    """What the log says about one trial, as of the last record applied."""

    trial_id: str
    index: int = 0
    config: dict[str, Any] = field(default_factory=dict)
    status: str = PENDING
    last_result: dict[str, Any] | None = None
    num_results: int = 0
    checkpoint: str | None = None  # latest complete checkpoint
    checkpoint_iteration: int = 0
    attempt: int = 0
    num_failures: int = 0
    error: str | None = None
    traceback: str | None = None
    parent_trial_id: str | None = None
    created: float | None = None
    started: float | None = None  # first start
    finished: float | None = None
    dirname: str | None = None  # its folder under trials/ when not its id (trial_dirname)

    @property
    def iteration(self) -> int:
        if not self.last_result:
            return 0
        it = self.last_result.get("training_iteration", self.num_results)
        return int(it) if isinstance(it, int | float) else self.num_results


class ReplayedExperiment:
    """The experiment as rebuilt from its log; apply records in ``seq`` order."""

    __slots__ = (
        "trials",
        "state",
        "num_runs",
        "finished",
        "started",
        "finished_ts",
        "last_seq",
        "_state_record",
        "_handlers",
    )

    def __init__(self) -> None:
        self.trials: dict[str, TrialSnapshot] = {}
        self.state: dict[str, Any] | None = None  # data of the last `state` record
        self.num_runs = 0  # experiment_started records seen
        self.finished: dict[str, Any] | None = None  # experiment_finished data of latest run
        self.started: float | None = None  # first experiment_started ts
        self.finished_ts: float | None = None
        self.last_seq = 0
        self._state_record: Any = None
        self._handlers: dict[str, Callable[[Record], None]] = {
            RESULT: self._result,
            CHECKPOINT: self._checkpoint,
            CHECKPOINT_INVALID: self._invalid,
            TRIAL_CREATED: self._created,
            TRIAL_STARTED: self._started,
            TRIAL_PAUSED: self._paused,
            TRIAL_RESTARTED: self._restarted,
            TRIAL_FAILED: self._failed,
            TRIAL_COMPLETED: self._completed,
            STATE: self._state,
            STATE_DELTA: self._state_delta,
            EXPERIMENT_STARTED: self._exp_started,
            EXPERIMENT_FINISHED: self._exp_finished,
        }

    def apply(self, rec: Record) -> None:
        """Fold one record in; unknown kinds are skipped (logs from newer minor versions)."""
        handler = self._handlers.get(rec.kind)
        if handler is not None:
            try:
                handler(rec)
            except (AttributeError, IndexError, KeyError, TypeError, ValueError) as e:
                # a record that decoded but does not hold what its kind promises
                raise DamagedStoreError(
                    f"record {rec.seq} ({rec.kind}) of the experiment log is damaged: "
                    f"{type(e).__name__}: {e}. Run `tunefleet doctor NAME` to set it aside"
                ) from None
        if rec.seq > self.last_seq:
            self.last_seq = rec.seq

    def extend(self, records: Iterable[Record]) -> ReplayedExperiment:
        apply = self.apply
        for rec in records:
            apply(rec)
        return self

    # -- views ----------------------------------------------------------------------------

    @property
    def status(self) -> str:
        """created | running | completed | stopped | failed | interrupted.

        "running" means a run started and has not finished: the driver may be alive or may
        have crashed (then resume continues it).
        """
        if self.finished is not None:
            return str(self.finished.get("status", "completed"))
        return "running" if self.num_runs else "created"

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(STATUSES, 0)
        for t in self.trials.values():
            out[t.status] = out.get(t.status, 0) + 1
        return out

    def trials_in_order(self) -> list[TrialSnapshot]:
        return sorted(self.trials.values(), key=lambda t: t.index)

    # -- handlers -------------------------------------------------------------------------

    def _trial(self, rec: Record) -> TrialSnapshot:
        tid = rec.trial_id or ""
        snap = self.trials.get(tid)
        if snap is None:  # a record for a trial whose creation we did not see: be lenient
            snap = self.trials[tid] = TrialSnapshot(tid, index=len(self.trials), created=rec.ts)
        return snap

    def _result(self, rec: Record) -> None:
        snap = self._trial(rec)
        snap.last_result = rec.data
        snap.num_results += 1

    def _checkpoint(self, rec: Record) -> None:
        snap = self._trial(rec)
        snap.checkpoint = rec.data.get("path")
        snap.checkpoint_iteration = int(rec.data.get("iteration") or 0)

    def _invalid(self, rec: Record) -> None:
        """A checkpoint found missing or corrupt before a restore: the trial went on from
        its fallback, so a later resume starts there too (and does not warn again)."""
        snap = self._trial(rec)
        if snap.checkpoint == rec.data.get("path"):
            snap.checkpoint = rec.data.get("fallback")
            snap.checkpoint_iteration = int(rec.data.get("iteration") or 0)

    def _created(self, rec: Record) -> None:
        d = rec.data
        tid = rec.trial_id or ""
        snap = self.trials.get(tid)
        if snap is None:
            snap = self.trials[tid] = TrialSnapshot(tid)
        snap.index = int(d.get("index", len(self.trials) - 1))
        snap.config = d.get("config") or {}
        snap.parent_trial_id = d.get("parent")
        dirname = d.get("dirname")
        snap.dirname = dirname if isinstance(dirname, str) and dirname else None
        if d.get("checkpoint"):
            snap.checkpoint = d["checkpoint"]
            snap.checkpoint_iteration = int(d.get("checkpoint_iteration") or 0)
        snap.created = rec.ts

    def _started(self, rec: Record) -> None:
        snap = self._trial(rec)
        snap.status = RUNNING
        snap.attempt = int(rec.data.get("attempt", snap.attempt + 1))
        if snap.started is None:
            snap.started = rec.ts
        snap.finished = None

    def _paused(self, rec: Record) -> None:
        snap = self._trial(rec)
        snap.status = PAUSED
        if rec.data.get("checkpoint"):
            snap.checkpoint = rec.data["checkpoint"]
            if "iteration" in rec.data:
                snap.checkpoint_iteration = int(rec.data["iteration"] or 0)

    def _restarted(self, rec: Record) -> None:
        snap = self._trial(rec)
        d = rec.data
        if d.get("config") is not None:
            snap.config = d["config"]
        if d.get("from_trial") is not None:
            snap.parent_trial_id = d["from_trial"]
        if d.get("checkpoint"):
            snap.checkpoint = d["checkpoint"]
            snap.checkpoint_iteration = int(d.get("iteration") or 0)
        snap.status = PENDING

    def _failed(self, rec: Record) -> None:
        snap = self._trial(rec)
        d = rec.data
        snap.num_failures += 1
        snap.error = d.get("error")
        snap.traceback = d.get("traceback")
        if d.get("will_retry"):
            snap.status = PENDING
        else:
            snap.status = ERROR
            snap.finished = rec.ts

    def _completed(self, rec: Record) -> None:
        snap = self._trial(rec)
        d = rec.data
        if d.get("status") == ERROR:  # keep the failure's message if completion omits it
            snap.status = ERROR
            snap.error = d.get("error") or snap.error
            snap.traceback = d.get("traceback") or snap.traceback
        else:
            snap.status = TERMINATED
            snap.error = d.get("error")
            snap.traceback = d.get("traceback")
        if d.get("last_result") is not None:
            snap.last_result = d["last_result"]
        snap.finished = rec.ts

    def _state(self, rec: Record) -> None:
        self.state = self._state_record = rec.data

    def _state_delta(self, rec: Record) -> None:
        if self.state is not None:
            import copy

            from tunefleet.storage.state_log import patch

            if self.state is self._state_record:  # patch a copy, never the record itself
                self.state = copy.deepcopy(self.state)
            self.state = patch(self.state, rec.data)

    def _exp_started(self, rec: Record) -> None:
        self.num_runs += 1
        if self.started is None:
            self.started = rec.ts
        self.finished = None  # a new run: an earlier run's end no longer describes the state
        self.finished_ts = None

    def _exp_finished(self, rec: Record) -> None:
        self.finished = rec.data
        self.finished_ts = rec.ts


def replay(records: Iterable[Record]) -> ReplayedExperiment:
    """Rebuild an experiment from records in ``seq`` order."""
    return ReplayedExperiment().extend(records)
