"""The Executor interface: the narrow boundary between the engine and every compute engine.

An executor runs trials and reports what happened as events. It knows nothing of
searchers, schedulers or the store. Pausing is "stop after the checkpoint that was already
reported"; resuming is a new :class:`Launch` whose ``checkpoint`` points at it. That is all
an engine needs to support ASHA promotion and PBT (Syne Tune's insight).

Protocol inside the worker: the user's function calls ``report()``; the worker sends a
:class:`Reported` event. When the report is a decision point (``Launch.sync_reports``: True
for every report, or the scheduler's :class:`~tunefleet.protocol.DecisionPoints`) the worker
then blocks until the driver answers with :meth:`Executor.reply`; otherwise it carries on
and picks up a stop/pause request at its next report. The data types live in
:mod:`tunefleet.protocol` and are re-exported here.
"""

from __future__ import annotations

import atexit
import contextlib
import weakref
from abc import ABC, abstractmethod
from collections.abc import Callable, Container, Mapping
from typing import Any, NamedTuple, Protocol, TypeVar

from tunefleet.errors import TuneValueError
from tunefleet.protocol import Event, Failed, Finished, Launch, Reported, Resources, Started

__all__ = ["Executor", "Start", "addressee", "close_at_exit"]
# The shared types of protocol.py, importable from here too.
__all__ += ["Event", "Failed", "Finished", "Launch", "Reported", "Resources", "Started"]


class Start(NamedTuple):
    """What :meth:`Executor.start` was given, as its engine's :meth:`Executor.open` gets it."""

    trainable: Callable[..., Any]
    resources: Resources
    max_concurrent: int | None
    experiment_dir: str


class Executor(ABC):
    """Runs trials. Implementations: local processes, simulated clock, Ray, Dask, Spark."""

    #: Name used in specs and the CLI ("local", "simulated", "ray", ...).
    name: str = "executor"
    #: The trainable travels to other processes (pickled): run() checks that it pickles
    #: before anything starts. False for engines that call it in the driver's process.
    ships_trainable: bool = True

    #: Set by :meth:`open` once the engine has started, and by :meth:`close`.
    _started = False
    _closed = False

    def start(
        self,
        trainable: Callable[..., Any],
        resources: Resources,
        max_concurrent: int | None,
        experiment_dir: str,
    ) -> None:
        """Start workers and ship the trainable to each of them once. What every engine
        refuses first (a second start, ``max_concurrent`` < 1) is refused here, in the same
        words on every engine; the rest is the engine's :meth:`open`."""
        if self._started:
            raise RuntimeError(f"{type(self).__name__}.start() was already called")
        if max_concurrent is not None and max_concurrent < 1:
            raise TuneValueError(f"max_concurrent must be >= 1, got {max_concurrent!r}")
        self.open(Start(trainable, resources, max_concurrent, experiment_dir))

    @abstractmethod
    def open(self, start: Start) -> None:
        """The engine's part of :meth:`start`; sets ``_started`` once it has started."""

    @abstractmethod
    def capacity(self) -> int:
        """How many more launches can be accepted right now."""

    @abstractmethod
    def submit(self, launch: Launch) -> None:
        """Start one attempt of a trial on a free slot."""

    def check_submit(self, launch: Launch, running: Container[str]) -> None:
        """What :meth:`submit` refuses first, in the same words on every engine: a call
        before ``start()`` or after ``close()``, and a trial that ``running`` already has."""
        if not self._started or self._closed:
            raise RuntimeError(f"{type(self).__name__}.submit() needs start() first and no close()")
        if launch.trial_id in running:
            raise RuntimeError(f"trial {launch.trial_id} is already running")

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

    def get_params(self) -> dict[str, Any]:
        """The constructor's arguments (scikit-learn's rule), so that an experiment run on
        an executor object is rebuilt with the same settings on resume. An executor that
        does not keep an argument under its own name is refused there, by name."""
        from tunefleet.params import get_params

        return get_params(self)

    def now(self) -> float:
        """The executor's clock: wall time, or virtual time for the simulator."""
        import time

        return time.time()

    def total_slots(self) -> int:
        """Slots when idle (for the progress display)."""
        return self.capacity()

    def validate_resources(self, resources: Resources) -> None:  # noqa: B027 - optional hook
        """Raise TuneValueError naming ``resources_per_trial`` if no slot can ever fit it."""


class _Decided(Protocol):
    stopping: bool


D = TypeVar("D", bound=_Decided)


def addressee(running: Mapping[str, D], trial_id: str, ending: bool) -> D | None:
    """The running worker that a reply or stop for ``trial_id`` goes to, or None when there
    is none to send (the trial is unknown, has ended, or is already being stopped).
    ``ending``: the engine has decided that the attempt ends (a stop, or a reply that does
    not proceed); the worker is marked ``stopping``, so that its later reports are dropped
    and its end counts as stopped. Shared by every executor's ``reply`` and ``stop``."""
    worker = running.get(trial_id)
    if worker is None or worker.stopping:
        return None
    if ending:
        worker.stopping = True
    return worker


# Executors whose workers outlive a forgotten close(): closed at interpreter exit. Their
# workers end with the driver anyway (end of stream, watchdog); this ends them at once.
_OPEN: weakref.WeakSet[Executor] = weakref.WeakSet()


def close_at_exit(executor: Executor, on: bool = True) -> None:
    """Close ``executor`` at interpreter exit if it is still open then; ``on=False``: not."""
    if on:
        _OPEN.add(executor)
    else:
        _OPEN.discard(executor)


@atexit.register
def _close_open() -> None:
    for ex in list(_OPEN):
        with contextlib.suppress(Exception):
            ex.close()
