"""The shared vocabulary of every layer: launches, resources, events, commands, records.

The engine, the executors, the workers and the store all speak in these types, so this
module sits on the ground floor: it imports nothing else of tunefleet, and anything may
import it. Keeping them here is what lets the engine import no executor and no store
module (the arrows point one way: engine → protocol ← executors, storage, worker).

* :class:`Resources` and :class:`Launch` – what one trial needs and how an attempt starts;
* :class:`Started`, :class:`Reported`, :class:`Finished`, :class:`Failed` – what executors
  report (the engine's input);
* :class:`LaunchTrial`, :class:`HaltTrial`, :class:`Reply` – what the engine asks for (its
  output; ``HaltTrial`` is the command, :class:`tunefleet.errors.StopTrial` the exception that
  unwinds a trial in its worker);
* :class:`DecisionPoints` – which reports must wait for the driver's decision;
* the record kinds of the experiment's event log and :class:`Record`;
* :func:`dumps` / :func:`loads` – the one JSON codec (NaN allowed) of results and records.
"""

from __future__ import annotations

import bisect
import json
import math
import os
from dataclasses import dataclass, field
from typing import Any


# ------------------------------------------------------------------------------ JSON codec
def _json_default(o: Any) -> Any:
    """Best effort for values json cannot encode: numpy values, paths, sets; else repr().

    A config may hold anything (Ray allows objects); the log keeps a readable stand-in
    rather than refusing the run or pickling it.
    """
    if hasattr(o, "tolist"):  # numpy arrays and scalars
        return o.tolist()
    if isinstance(o, os.PathLike):
        return os.fspath(o)
    if isinstance(o, set | frozenset):
        return sorted(o, key=repr)
    return repr(o)


_ENCODER = json.JSONEncoder(allow_nan=True, separators=(",", ":"), default=_json_default)


def dumps(data: Any) -> str:
    """JSON with NaN/Infinity allowed: a NaN metric is a valid result and must round-trip.

    One encoder is built once and reused: ``json.dumps`` with options builds a new one per
    call, which costs more than encoding a small result."""
    return _ENCODER.encode(data)


loads = json.loads  # accepts NaN / Infinity / -Infinity


# ------------------------------------------------------------------------------ launches
@dataclass(frozen=True, slots=True)
class Resources:
    """What one trial needs.

    ``workers`` > 1 makes a data-parallel trial: the function runs as that many processes
    joined by ``torch.distributed`` (:mod:`tunefleet.worker.data_parallel`), and ``cpu``,
    ``gpu`` and ``custom`` are amounts *per worker process*. Executors never see that
    split: the runner hands them :meth:`total`, what the trial's slot must reserve.
    """

    cpu: float = 1.0
    gpu: float = 0.0
    custom: dict[str, float] = field(default_factory=dict)
    workers: int = 1

    def total(self) -> Resources:
        """The whole trial's request (every amount times ``workers``), as a plain
        one-process request: what an executor reserves for the slot."""
        n = self.workers
        if n == 1:
            return self
        return Resources(
            cpu=self.cpu * n, gpu=self.gpu * n, custom={k: v * n for k, v in self.custom.items()}
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"cpu": self.cpu, "gpu": self.gpu, "custom": dict(self.custom)}
        if self.workers != 1:  # left out by default, so older specs and readers agree
            out["workers"] = self.workers
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Resources:
        return cls(
            cpu=float(data.get("cpu", 1.0)),
            gpu=float(data.get("gpu", 0.0)),
            custom={str(k): float(v) for k, v in (data.get("custom") or {}).items()},
            workers=int(data.get("workers", 1)),
        )


@dataclass(slots=True)
class Launch:
    """Start (or restart) one attempt of a trial."""

    trial_id: str
    config: dict[str, Any]
    attempt: int
    trial_dir: str  # where this trial's checkpoints and artifacts go (path or fsspec URL)
    checkpoint: str | None = None  # restore from this checkpoint (path or URL), if any
    start_iteration: int = 0  # training_iteration already done (when restoring)
    start_time_total: float = 0.0  # time_total_s already spent (when restoring)
    # Which reports wait for the driver's decision: True every one, False none, or the
    # scheduler's DecisionPoints (ASHA's rungs, PBT's perturbation interval...).
    sync_reports: bool | DecisionPoints = False
    resources: Resources = field(default_factory=Resources)
    # Copied onto the trial's Session, for trainables that checkpoint by themselves (the
    # class API wrapper): every N iterations, and/or at the end.
    checkpoint_frequency: int = 0
    checkpoint_at_end: bool = False
    # Dict stop criteria ({"training_iteration": 10}): checked by the worker itself after
    # each report, so a trial stops at exactly the result that meets them even when it
    # never waits for the driver.
    stop_criteria: dict[str, float] | None = None
    # fsspec options (endpoint_url, key, secret, ...) when trial_dir is a URL; set by the
    # runner, never recorded in the log.
    storage_options: dict[str, Any] | None = None
    # Seconds the processes the trial started get between SIGTERM and SIGKILL when the
    # attempt ends (worker/reaper.py); run(kill_grace_s=...).
    kill_grace_s: float = 5.0
    # Ray's chdir_to_trial_dir: the local directory the attempt runs in (created if
    # needed; the worker's own working directory comes back when the attempt ends), or
    # None to leave the worker's working directory as it is.
    working_dir: str | None = None

    def run_fields(self) -> tuple[Any, ...]:
        """What a worker needs to start this attempt, in the order of the worker-side
        ``TrialChannel``/actor ``run`` arguments; ``resources`` go as their JSON form, for
        Ray's ``get_context().get_trial_resources()``)."""
        return (
            self.trial_id,
            self.attempt,
            self.config,
            self.trial_dir,
            self.checkpoint,
            self.start_iteration,
            self.start_time_total,
            self.sync_reports,
            self.checkpoint_frequency,
            self.checkpoint_at_end,
            self.stop_criteria,
            self.storage_options,
            self.kill_grace_s,
            self.working_dir,
            self.resources.to_json(),
        )


# ----------------------------------------------------------------------------- events
@dataclass(slots=True)
class Started:
    trial_id: str
    attempt: int
    worker: str  # e.g. "local-0" or a host:pid
    ts: float


@dataclass(slots=True)
class Reported:
    """One result. ``result`` already carries the automatic fields (training_iteration,
    time_total_s, time_this_iter_s, trial_id, timestamp, done=False)."""

    trial_id: str
    attempt: int
    result: dict[str, Any]
    checkpoint: str | None  # complete checkpoint saved with this result, if any
    raw: str | None = None  # the result as JSON text, when the worker already encoded it
    checkpoint_hash: str | None = None  # content hash of `checkpoint` (None: sim marker)


@dataclass(slots=True)
class Finished:
    """The attempt ended without error: the function returned, or it obeyed a stop/pause."""

    trial_id: str
    attempt: int
    ts: float
    stopped: bool = False  # True when it ended because the driver asked it to


@dataclass(slots=True)
class Failed:
    """The attempt ended with an error.

    ``worker_lost`` is True when the infrastructure failed (worker process died, node
    lost) rather than the user's code; ``stale`` when the attempt's lease expired (its
    worker stopped renewing it, e.g. frozen): the attempt may still be alive, and anything
    it reports later is recorded as stale and never overwrites the next attempt. Every
    failure counts against max_failures, as in Ray Tune.
    """

    trial_id: str
    attempt: int
    error: str
    traceback: str
    ts: float
    worker_lost: bool = False
    stale: bool = False


Event = Started | Reported | Finished | Failed


# ------------------------------------------------------------------------ decision points
@dataclass(frozen=True, slots=True)
class DecisionPoints:
    """The reports of a trial at which its scheduler may pause, stop or exploit it.

    A report waits for the driver's answer when its ``attr`` value (``training_iteration``
    by default) reaches or passes the next point after the previous report's value: one of
    ``at`` (ASHA's rungs, sorted) or a multiple of ``every`` (PBT's perturbation interval).
    Every other report goes on at once. The worker and the engine each apply the same rule
    to the same sequence of results (:class:`WaitRule`), so they always agree on which
    reports wait, without a flag on the wire.
    """

    attr: str = "training_iteration"
    at: tuple[float, ...] = ()
    every: float | None = None

    def next_after(self, value: float) -> float:
        """The first point strictly greater than ``value`` (inf when there is none)."""
        nxt = math.inf
        at = self.at
        i = bisect.bisect_right(at, value)
        if i < len(at):
            nxt = at[i]
        every = self.every
        if every:
            nxt = min(nxt, (math.floor(value / every) + 1) * every)
        return nxt

    def merge(self, other: DecisionPoints) -> DecisionPoints | bool:
        """Points of two components on one trial; True (every report) when one rule cannot
        hold both (different attrs, or two different periods)."""
        if other.attr != self.attr or (self.every and other.every and self.every != other.every):
            return True
        at = tuple(sorted(set(self.at) | set(other.at)))
        return DecisionPoints(self.attr, at, self.every or other.every)


def merge_sync(a: bool | DecisionPoints, b: bool | DecisionPoints) -> bool | DecisionPoints:
    """Combine two components' needs: True (every report) wins, False is neutral."""
    if a is True or b is True:
        return True
    if a is False:
        return b
    if b is False:
        return a
    assert isinstance(a, DecisionPoints) and isinstance(b, DecisionPoints)
    return a.merge(b)


class WaitRule:
    """Per attempt: does this report wait for the driver? O(1) per report.

    Built from the launch's ``sync_reports`` and start values; fed every result of the
    attempt in order. The first report's "previous value" is where the attempt starts
    (``start_iteration`` / ``start_time_total`` for those attrs, -inf for any other).
    """

    __slots__ = ("points", "attr", "next", "always")

    def __init__(
        self, sync: bool | DecisionPoints, start_iteration: int = 0, start_time: float = 0.0
    ) -> None:
        self.always = sync is True
        points = sync if isinstance(sync, DecisionPoints) else None
        self.points = points
        self.attr = points.attr if points is not None else ""
        self.next = math.inf  # the report reaching this value waits
        if points is not None:
            if self.attr == "training_iteration":
                self.next = points.next_after(float(start_iteration))
            elif self.attr == "time_total_s":
                self.next = points.next_after(float(start_time))
            elif points.every:
                self.next = -math.inf  # unknown origin: the attempt's first report waits
            elif points.at:
                self.next = points.at[0]

    def waits(self, result: dict[str, Any]) -> bool:
        if self.always:
            return True
        points = self.points
        if points is None:
            return False
        value = result.get(self.attr)
        if value.__class__ is not int and value.__class__ is not float:
            return False  # missing, bool or not a number: never a decision point
        if value >= self.next:
            self.next = points.next_after(value)
            return True
        return False


# ------------------------------------------------------------------------------ commands
@dataclass(slots=True)
class LaunchTrial:
    """Engine → runner: submit this launch to the executor."""

    launch: Launch


@dataclass(slots=True)
class HaltTrial:
    """Engine → runner: ask a running trial to stop (or pause) at its next report."""

    trial_id: str
    pause: bool = False


@dataclass(slots=True)
class Reply:
    """Engine → runner: answer a report that waits (``proceed`` False: it is halted)."""

    trial_id: str
    proceed: bool


Command = LaunchTrial | HaltTrial | Reply


# ------------------------------------------------------------------------------ records
# The experiment's event log (DESIGN.md §6). The experiment *is* this log: Results,
# resume, the CLI and the dashboard are all rebuilt from it. Payloads are JSON objects;
# nothing is ever pickled into the store.
#
# =====================  =========  ===========================================================
# kind                   trial_id   data
# =====================  =========  ===========================================================
# experiment_started     –          {"run": n}   (n = 0 first start, 1.. for each resume)
# trial_created          id         {"config", "index", "parent": id|None, "checkpoint": path|None,
#                                    "dirname": its folder under trials/ (only when not its id)}
# trial_started          id         {"attempt", "checkpoint": path|None}  (written at launch,
#                                    before the executor has placed the attempt)
# trial_placed           id         {"attempt", "worker"}  where the executor placed the attempt
#                                    (its Started event: "local-0 (pid n)", "host (pid n)", an
#                                    actor's name)
# result                 id         the result dict (metrics + automatic fields)
# checkpoint             id         {"path", "iteration", "hash"}  (hash: "sha256:<hex>" content
#                                    hash; absent for simulated markers)
# checkpoint_deleted     id         {"path"}  (removed by the checkpoint retention policy)
# checkpoint_invalid     id         {"path", "reason", "fallback": path|None, "iteration"}  the
#                                    checkpoint failed verification before a restore (missing,
#                                    partial, corrupt); the trial restores from ``fallback``
#                                    (at ``iteration``) or from scratch
# trial_paused           id         {"checkpoint": path|None}
# trial_restarted        id         {"config", "from_trial", "checkpoint"}  (PBT exploit)
# trial_failed           id         {"attempt", "error", "traceback", "worker_lost", "will_retry",
#                                    "stale", "worker"}  (stale: the attempt's lease expired;
#                                    worker: where it ran, e.g. "local-0", None if unknown)
# stale_result           id         {"attempt", "result"}  a result from an attempt that is no
#                                    longer current (late report after its lease expired)
# trial_completed        id         {"status": "TERMINATED"|"ERROR", "error", "traceback",
#                                    "last_result", "stopped": true}  (stopped, only when true:
#                                    it ended on a stop decision of the scheduler, the stopper
#                                    or the experiment, or paused until the sweep ended)
# state                  –          {"searcher": {...}, "scheduler": {...}, "engine": {...}}
#                                    a full snapshot of the components' state
# state_delta            –          a structural diff of the state since the previous state or
#                                    state_delta record (tunefleet.storage.state_log)
# experiment_finished    –          {"status": "completed"|"stopped"|"failed"|"interrupted",
#                                    "reason"}
# =====================  =========  ===========================================================
#
# Notes for readers and writers (tunefleet.storage.replay is the reference reader):
#
# * Optional keys that replay also honours: ``checkpoint_iteration`` in trial_created,
#   ``iteration`` in trial_paused and trial_restarted (the training_iteration of the
#   checkpoint named there).
# * A checkpoint ``path`` may be relative to the experiment directory (then the experiment
#   can be moved); Results resolves it. Absolute paths and URLs are used as they are.
# * The status of a trial as replayed: trial_created → PENDING, trial_started → RUNNING,
#   trial_paused → PAUSED, trial_restarted → PENDING (until its next trial_started),
#   trial_failed → PENDING if ``will_retry`` else ERROR, trial_completed → its ``status``.
# * Unknown kinds are skipped by readers, so new kinds can be added without a schema bump.

EXPERIMENT_STARTED = "experiment_started"
TRIAL_CREATED = "trial_created"
TRIAL_STARTED = "trial_started"
TRIAL_PLACED = "trial_placed"
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
STATE_DELTA = "state_delta"
EXPERIMENT_FINISHED = "experiment_finished"

KINDS = (
    EXPERIMENT_STARTED,
    TRIAL_CREATED,
    TRIAL_STARTED,
    TRIAL_PLACED,
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
    STATE_DELTA,
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
