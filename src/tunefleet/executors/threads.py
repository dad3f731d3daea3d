"""Trials as threads of the driver process: Optuna's ``n_jobs`` model, as an engine.

``engine="threads"`` runs each trial in one of a fixed set of threads inside the driver,
so a sweep starts nothing: no interpreter boots, nothing is pickled, a result reaches the
engine as the dict the trial reported. What that buys is start-up and per-trial cost, for
trials too short to be worth a process (an objective that takes milliseconds, a simulator
of a cost model, a unit test of a search space) and for trainables that spend their time in
code that releases the GIL (numpy, PyTorch, LightGBM and XGBoost all do).

What it gives up, on purpose, and why the local engine stays the default:

* **no isolation** — a trial that crashes the interpreter (a segfault, ``os._exit``) takes
  the driver with it, and a pure-Python trial holds the GIL, so threads of such trials do
  not run in parallel;
* **no forced stop** — a thread cannot be killed: a trial is stopped or paused at its next
  ``report()`` (as on every engine), and ``close()`` leaves a trial that never reports
  running in its daemon thread until the interpreter exits;
* **one working directory** — a process has one, so ``chdir_to_trial_dir`` is not applied:
  trials run in the driver's directory and find their own with ``get_trial_dir()``, which
  makes it on the first call (a checkpoint makes it too); a trial that asks for neither
  leaves no empty directory behind (its ``mkdir`` was a third of a trivial trial's cost);
* **no GPUs or custom resources per trial** — a thread cannot have its own
  ``CUDA_VISIBLE_DEVICES``; such a request is refused before anything runs.

The reports of one attempt reach the engine in order, and after ``stop()`` (or a
``reply(id, False)``) none of that attempt's later reports come out, as on the other
engines; its ``Finished`` then has ``stopped=True``.
"""

from __future__ import annotations

import dataclasses
import os
import queue
import threading
import time
import warnings
from collections.abc import Callable
from typing import Any

from tunefleet.errors import StopTrial, TuneValueError
from tunefleet.executors.base import Executor, Start, addressee, close_at_exit
from tunefleet.protocol import Event, Failed, Finished, Launch, Reported, Resources, Started
from tunefleet.worker.session import Session
from tunefleet.worker.trial import run_attempt

_EPS = 1e-9


class _ThreadSlot:
    """One trial thread; also the :class:`~tunefleet.worker.session.Channel` of the
    sessions it runs."""

    __slots__ = (
        "index",
        "name",
        "inbox",
        "replies",
        "events",
        "trial_id",
        "attempt",
        "stopping",
        "stop_requested",
        "pause",
        "thread",
    )

    def __init__(self, index: int, events: queue.SimpleQueue[Event]) -> None:
        self.index = index
        self.name = f"thread-{index}"
        self.inbox: queue.SimpleQueue[Launch | None] = queue.SimpleQueue()
        self.replies: queue.SimpleQueue[bool] = queue.SimpleQueue()
        self.events = events
        self.trial_id = ""  # empty while idle (driver side)
        self.attempt = 0
        self.stopping = False  # the engine decided the attempt ends (driver side)
        self.stop_requested = False  # seen by the trial at its next report
        self.pause = False
        self.thread: threading.Thread | None = None

    # ------------------------------------------------------------ the trial's side
    def send_result(self, session: Session, result: dict[str, Any], checkpoint: str | None) -> None:
        if self.stop_requested:
            raise StopTrial(self.pause)
        self.events.put(
            Reported(
                session.trial_id, session.attempt, result, checkpoint, None, session.checkpoint_hash
            )
        )
        if session.sync and not self.replies.get():
            raise StopTrial(self.pause)
        if self.stop_requested:
            raise StopTrial(self.pause)

    def serve(self, fn: Callable[..., Any]) -> None:
        """The thread's loop: run each launch the driver hands over until it sends None."""
        while True:
            launch = self.inbox.get()
            if launch is None:
                return
            if launch.working_dir is not None:  # one working directory per process
                launch = dataclasses.replace(launch, working_dir=None)
            stopped, error = run_attempt(
                fn, launch, self, lambda: self.stop_requested, eager_dir=False
            )
            if error is None:
                self.events.put(Finished(launch.trial_id, launch.attempt, time.time(), stopped))
            else:
                self.events.put(
                    Failed(launch.trial_id, launch.attempt, error[0], error[1], time.time())
                )


class ThreadExecutor(Executor):
    """Runs trials in threads of the driver process (see the module docstring for what
    that gives up against the default local engine).

    Parameters
    ----------
    num_threads:
        Trials that may run at once when each asks for one CPU (default ``os.cpu_count()``);
        a trial asking for ``cpu=c`` takes ``c`` of them, as on the local engine.
        ``max_concurrent_trials`` caps it further.
    """

    name = "threads"
    ships_trainable = False  # called in the driver's own threads
    #: Seconds ``close()`` waits for running trials to reach a report and unwind.
    close_grace_s = 1.0

    def __init__(self, num_threads: float | None = None) -> None:
        if num_threads is not None and (
            isinstance(num_threads, bool)
            or not isinstance(num_threads, (int, float))
            or not num_threads > 0
        ):
            raise TuneValueError(f"num_threads must be a positive number, got {num_threads!r}")
        self.num_threads = num_threads
        self._events: queue.SimpleQueue[Event] = queue.SimpleQueue()
        self._pending: list[Event] = []
        self._slots: list[_ThreadSlot] = []
        self._idle: list[_ThreadSlot] = []
        self._running: dict[str, _ThreadSlot] = {}

    def _threads(self) -> float:
        if self.num_threads is not None:
            return float(self.num_threads)
        return float(os.cpu_count() or 1)

    def validate_resources(self, resources: Resources) -> None:
        if not resources.cpu > 0:
            raise TuneValueError(f"resources_per_trial: cpu must be > 0, got {resources.cpu!r}")
        if resources.cpu > self._threads() + _EPS:
            raise TuneValueError(
                f"resources_per_trial: cpu={resources.cpu:g} but the threads engine has "
                f"{self._threads():g} (set num_threads or ask for fewer)"
            )
        if resources.gpu or resources.custom:
            asked = "gpu" if resources.gpu else ", ".join(sorted(resources.custom))
            raise TuneValueError(
                f"resources_per_trial: {asked} cannot be given to a thread of the driver "
                "(it shares the process's devices); use engine='local' for per-trial GPUs "
                "and custom resources"
            )

    def open(self, start: Start) -> None:
        self.validate_resources(start.resources)
        n = max(1, int(self._threads() / start.resources.cpu + _EPS))
        if start.max_concurrent is not None:
            n = min(n, start.max_concurrent)
        for i in range(n):
            slot = _ThreadSlot(i, self._events)
            slot.thread = threading.Thread(
                target=slot.serve,
                args=(start.trainable,),
                name=f"tunefleet-{slot.name}",
                daemon=True,
            )
            slot.thread.start()
            self._slots.append(slot)
        self._idle = list(reversed(self._slots))
        self._started = True
        close_at_exit(self)

    def capacity(self) -> int:
        return len(self._idle) if not self._closed else 0

    def total_slots(self) -> int:
        return len(self._slots)

    def submit(self, launch: Launch) -> None:
        self.check_submit(launch, self._running)
        if not self._idle:
            raise RuntimeError("no free slot: check capacity() before submit()")
        slot = self._idle.pop()
        slot.trial_id = launch.trial_id
        slot.attempt = launch.attempt
        slot.stopping = False
        slot.stop_requested = False
        slot.pause = False
        slot.replies = queue.SimpleQueue()  # nothing left over from the slot's last attempt
        self._running[launch.trial_id] = slot
        self._pending.append(Started(launch.trial_id, launch.attempt, slot.name, time.time()))
        slot.inbox.put(launch)

    def poll(self, timeout: float) -> list[Event]:
        out, self._pending = self._pending, []
        events = self._events
        if not out:
            try:
                self._take(events.get(timeout=max(0.0, timeout)), out)
            except queue.Empty:
                return out
        while True:
            try:
                event = events.get_nowait()
            except queue.Empty:
                return out
            self._take(event, out)

    def _take(self, event: Event, out: list[Event]) -> None:
        slot = self._running.get(event.trial_id)
        if slot is None or slot.attempt != event.attempt:
            return  # nothing of an attempt that was given up (close) comes out
        if event.__class__ is Reported:
            if not slot.stopping:
                out.append(event)
            return
        if isinstance(event, Finished) and slot.stopping:
            event.stopped = True
        del self._running[slot.trial_id]
        slot.trial_id = ""
        self._idle.append(slot)
        out.append(event)

    def reply(self, trial_id: str, proceed: bool) -> None:
        slot = addressee(self._running, trial_id, ending=not proceed)
        if slot is not None:
            if not proceed:
                slot.stop_requested = True
            slot.replies.put(bool(proceed))

    def stop(self, trial_id: str, pause: bool = False) -> None:
        slot = addressee(self._running, trial_id, ending=True)
        if slot is not None:
            slot.pause = bool(pause)
            slot.stop_requested = True
            slot.replies.put(False)  # a trial waiting for a reply unwinds now

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        close_at_exit(self, on=False)
        for slot in self._slots:
            slot.stop_requested = True
            slot.replies.put(False)
            slot.inbox.put(None)
        deadline = time.monotonic() + self.close_grace_s
        stuck = []
        for slot in self._slots:
            assert slot.thread is not None
            slot.thread.join(max(0.0, deadline - time.monotonic()))
            if slot.thread.is_alive():
                stuck.append(slot.name)
        self._running.clear()
        self._idle.clear()
        if stuck:
            warnings.warn(
                f"threads engine: {len(stuck)} trial thread(s) did not reach a report within "
                f"{self.close_grace_s:g} s of close() and keep running in the background "
                "(a thread cannot be killed; use engine='local' for trials that must be)",
                RuntimeWarning,
                stacklevel=2,
            )
