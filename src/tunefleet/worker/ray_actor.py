"""The Ray engine's worker side: the actor that runs one trial at a time in a Ray worker.

Each actor loads the trainable once (a reference to it in Ray's object store), runs every
attempt it is given through :func:`tunefleet.worker.trial.run_attempt` (the session and
outcome code of every engine) and is its trials' :class:`~tunefleet.worker.session.Channel`:
what a trial produces goes to an outbox that the driver's one outstanding long-poll call
collects. The driver's side is :mod:`tunefleet.executors.ray`.

The actor's process is a subreaper: when an attempt ends, the processes it started, even
in a session of their own or daemonised, get SIGTERM, the launch's ``kill_grace_s``, then
SIGKILL (:class:`tunefleet.worker.reaper.SharedReaper`: the process is Ray's, whose own
children are left alone). :meth:`_TrialActor.reap` does the same for a running trial before
the driver kills the actor.
"""

from __future__ import annotations

import os
import queue
import socket
import threading
import traceback
from collections.abc import Callable
from typing import Any

from tunefleet.errors import StopTrial
from tunefleet.protocol import dumps as _dumps
from tunefleet.worker.reaper import shared_reaper
from tunefleet.worker.session import Session
from tunefleet.worker.trial import describe, run_attempt
from tunefleet.worker.wire import launch_from_fields

# Items of an actor's outbox: (seq, op, a, b, c).
_READY = 0  # a: (pid, node_id, node_ip)
_REPORT = 1  # a: result as JSON text, b: checkpoint path or None, c: its content hash
_DONE = 2  # a: stopped
_FAIL = 3  # a: error, b: traceback


class _TrialActor:
    """Runs inside a Ray worker process: one trial at a time, in its own thread.

    Also the :class:`~tunefleet.worker.session.Channel` of the trials' sessions. All state
    shared between the trial thread and Ray's method threads is guarded by ``_cond``.
    """

    def __init__(self, payload: list[Any]) -> None:
        import ray

        self._cond = threading.Condition()
        self._out: list[tuple[Any, ...]] = []
        self._seq = -1  # seq of the running trial; -1 while idle
        self._stops: dict[int, bool] = {}  # stop requests by seq -> pause
        self._reply: tuple[int, bool, bool] | None = None  # (seq, proceed, pause)
        self._jobs: queue.SimpleQueue[tuple[int, tuple[Any, ...]]] = queue.SimpleQueue()
        self._fn: Callable[..., Any] | None = None
        self._load_error: tuple[str, str] | None = None
        self._reaper = shared_reaper()  # a subreaper from now on
        self._attempt: tuple[int, float] | None = None  # (reaper token, kill grace)
        try:
            self._fn = ray.get(payload[0])
        except BaseException as exc:
            self._load_error = (
                f"the trainable could not be loaded in the Ray actor: {describe(exc)}",
                traceback.format_exc(),
            )
        ctx = ray.get_runtime_context()
        try:
            ip = ray.util.get_node_ip_address()
        except Exception:
            ip = socket.gethostname()
        self._out.append((-1, _READY, (os.getpid(), ctx.get_node_id(), ip), None, None))
        threading.Thread(target=self._serve, name="tunefleet-trial", daemon=True).start()

    # ------------------------------------------------------------ called by the driver
    def poll(
        self, wait: float, control: tuple[int, bool, bool, bool] | None = None
    ) -> list[tuple[Any, ...]]:
        """Everything produced since the last call; waits up to ``wait`` s for something.

        ``control``: the arguments of a :meth:`control` call to apply first (the answer to
        a synchronous report rides on the next poll: one call per round trip, not two)."""
        if control is not None:
            self.control(*control)
        with self._cond:
            if not self._out:
                self._cond.wait(wait)
            out = self._out
            self._out = []
        return out

    def run(self, seq: int, args: tuple[Any, ...]) -> None:
        self._jobs.put((seq, args))

    def control(self, seq: int, is_stop: bool, proceed: bool, pause: bool) -> None:
        with self._cond:
            if is_stop:
                self._stops[seq] = pause
            else:
                self._reply = (seq, proceed, pause)
            self._cond.notify_all()

    def reap(self) -> int:
        """End the running attempt's processes now (the driver is about to kill this actor,
        which would orphan them); returns how many were signalled."""
        attempt = self._attempt
        if attempt is None:
            return 0
        return self._reaper.end(*attempt)

    # ------------------------------------------------------------ the trial thread
    def send_result(self, session: Session, result: dict[str, Any], checkpoint: str | None) -> None:
        """Channel: queue one result for the driver; raise StopTrial when asked to stop."""
        seq = self._seq
        stops = self._stops
        if seq in stops:
            raise StopTrial(stops[seq])
        text = _dumps(result)
        cond = self._cond
        with cond:
            digest = session.checkpoint_hash if checkpoint is not None else None
            self._out.append((seq, _REPORT, text, checkpoint, digest))
            cond.notify_all()
            if not session.sync:
                return
            while True:
                reply = self._reply
                if reply is not None and reply[0] == seq:
                    self._reply = None
                    break
                if seq in stops:
                    raise StopTrial(stops[seq])
                cond.wait()
        if not reply[1]:
            stops[seq] = reply[2]
            raise StopTrial(reply[2])

    def _serve(self) -> None:
        while True:
            seq, args = self._jobs.get()
            outcome = self._run(seq, args)
            with self._cond:
                self._seq = -1
                self._out.append((seq, *outcome, None))
                self._cond.notify_all()

    def _run(self, seq: int, args: tuple[Any, ...]) -> tuple[Any, Any, Any]:
        with self._cond:
            self._seq = seq
            for old in [s for s in self._stops if s < seq]:
                del self._stops[old]
        if seq in self._stops:  # stopped before it began
            return (_DONE, True, None)
        if self._fn is None:
            assert self._load_error is not None
            return (_FAIL, *self._load_error)
        launch = launch_from_fields(args)
        self._attempt = (self._reaper.begin(), launch.kill_grace_s)
        try:
            stopped, failure = run_attempt(self._fn, launch, self, lambda: seq in self._stops)
        finally:
            attempt, self._attempt = self._attempt, None
            self._reaper.end(*attempt)  # before the outcome goes out (worker/reaper.py)
        return (_DONE, stopped, None) if failure is None else (_FAIL, *failure)
