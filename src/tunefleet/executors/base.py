"""The Executor interface: the narrow boundary between the engine and every compute engine.

An executor runs trials and reports what happened as events. It knows nothing of
searchers, schedulers or the store. Pausing is "stop after the checkpoint that was already
reported"; resuming is a new :class:`Launch` whose ``checkpoint`` points at it. That is all
an engine needs to support ASHA promotion and PBT (Syne Tune's insight).

Protocol inside the worker: the user's function calls ``report()``; the worker sends a
:class:`Reported` event. When ``Launch.sync_reports`` is true the worker then blocks until
the driver answers with :meth:`Executor.reply`; otherwise it carries on and picks up a
stop/pause request at its next report.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


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
    sync_reports: bool = False
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

    def run_fields(self) -> tuple[Any, ...]:
        """What a worker needs to start this attempt, in the order of the worker-side
        ``TrialChannel``/actor ``run`` arguments (``resources`` stay with the executor)."""
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


class Executor(ABC):
    """Runs trials. Implementations: local processes, simulated clock, Ray, Dask, Spark."""

    #: Name used in specs and the CLI ("local", "simulated", "ray", ...).
    name: str = "executor"

    @abstractmethod
    def start(
        self,
        trainable: Callable[..., Any],
        resources: Resources,
        max_concurrent: int | None,
        experiment_dir: str,
    ) -> None:
        """Start workers and ship the trainable to each of them once."""

    @abstractmethod
    def capacity(self) -> int:
        """How many more launches can be accepted right now."""

    @abstractmethod
    def submit(self, launch: Launch) -> None:
        """Start one attempt of a trial on a free slot."""

    @abstractmethod
    def poll(self, timeout: float) -> list[Event]:
        """Events since the last poll; waits up to ``timeout`` seconds for the first one."""

    @abstractmethod
    def reply(self, trial_id: str, proceed: bool) -> None:
        """Answer a synchronous report: ``proceed`` False means the trial is being stopped
        or paused (it unwinds through :class:`~tunefleet.errors.StopTrial`)."""

    @abstractmethod
    def stop(self, trial_id: str, pause: bool = False) -> None:
        """Ask a running trial to stop (or pause) at its next report; a :class:`Finished`
        event with ``stopped=True`` follows. Stopping an unknown or ended trial is a no-op."""

    @abstractmethod
    def close(self) -> None:
        """Stop every worker and release the engine's resources. Idempotent."""

    def now(self) -> float:
        """The executor's clock: wall time, or virtual time for the simulator."""
        import time

        return time.time()

    def total_slots(self) -> int:
        """Slots when idle (for the progress display)."""
        return self.capacity()

    def validate_resources(self, resources: Resources) -> None:  # noqa: B027 - optional hook
        """Raise TuneValueError naming ``resources_per_trial`` if no slot can ever fit it."""
