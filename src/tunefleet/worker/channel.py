"""The worker side of a trial channel: a loop that serves trials sent by a driver.

One :class:`TrialChannel` owns one stream (a socket pair to a local worker process, or a TCP
connection from a Spark slot task back to the driver) and runs trials one after the other as
the driver sends them, in the framing of :mod:`tunefleet.worker.wire`:

* ``RUN`` starts a trial: the channel builds its :class:`~tunefleet.worker.session.Session`,
  calls the trainable (a generator's items are reports) and sends the outcome, ``DONE`` or
  ``FAIL`` with the user's traceback;
* the channel is the session's :class:`~tunefleet.worker.session.Channel`: results travel as
  JSON text; asynchronous reports closer together than ``flush_s`` are batched into one
  ``REPORTS`` frame by a flusher thread (or sent with the outcome), a report after a quiet
  spell goes at once; a synchronous report blocks until the driver's ``REPLY``; a report
  with a checkpoint is always written before ``report()`` returns, so a killed worker loses
  at most the reports of the last ``flush_s`` window and never a reported checkpoint;
* ``STOP`` (stop or pause) is picked up at the trial's next report, with one ``poll`` at most
  every ``flush_s``, and unwinds the trial through :class:`~tunefleet.errors.StopTrial`;
* with a heartbeat interval, a thread renews the running trial's lease (``HEARTBEAT``) when
  nothing else was sent during the last interval; it sleeps between trials.

How the loop ends is the caller's choice. With ``exit_now`` (a local worker process, which
exits at once with ``os._exit``) it is called on ``EXIT``, at end of stream and when a write
finds the driver gone. Without it (a Spark task, which must return to pyspark) the running
trial is unwound as stopped and :meth:`TrialChannel.serve` returns. An idle channel blocks
in a read of its socket: it costs no CPU.
"""

from __future__ import annotations

import select
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from tunefleet.errors import StopTrial
from tunefleet.protocol import dumps as _dumps
from tunefleet.worker import reaper, wire
from tunefleet.worker.session import Session
from tunefleet.worker.trial import run_attempt

#: Reports closer together than this are batched; also the longest a report is held back.
FLUSH_AFTER_S = 0.001
#: A batch is sent when it holds this many reports, however close together they came.
MAX_BATCH = 1024


class TrialChannel:
    """Runs the trials a driver sends over ``fd``; the :class:`Channel` of their sessions.

    ``fn`` is the trainable (None until loaded: see :meth:`serve`). ``flush_s``: the batching
    window of asynchronous reports. ``exit_now``: called on ``EXIT``, end of stream or a failed
    write, and expected not to return (see the module docstring); None: unwind and return.
    ``reap``: True: this process runs nothing but these trials, one at a time, so every
    process left under it when an attempt ends is that attempt's and is ended (SIGTERM, the
    launch's ``kill_grace_s``, SIGKILL: worker/reaper.py); a
    :class:`~tunefleet.worker.reaper.SharedReaper`: the process is shared (a Dask worker),
    and only what the attempt started is ended.
    """

    __slots__ = (
        "fd",
        "fn",
        "reader",
        "inbox",
        "held",
        "seq",
        "stop_requested",
        "pause",
        "exiting",
        "gone",
        "flush_s",
        "exit_now",
        "reap",
        "_poll",
        "_lock",
        "_buf",
        "_wake",
        "_flusher",
        "_last_send",
        "_last_check",
        "_active",
        "_closed",
    )

    def __init__(
        self,
        fd: int,
        fn: Callable[..., Any] | None = None,
        *,
        flush_s: float = FLUSH_AFTER_S,
        exit_now: Callable[[], None] | None = None,
        reap: bool | reaper.SharedReaper = False,
    ) -> None:
        self.fd = fd
        self.fn = fn
        self.reader = wire.FrameReader(fd)
        self.inbox: deque[tuple[Any, ...]] = deque()
        self.held: deque[tuple[Any, ...]] = deque()  # RUN messages that came during a trial
        self.seq = -1
        self.stop_requested = False
        self.pause = False
        self.exiting = False  # EXIT arrived: end after the running trial unwinds
        self.gone = False  # end of stream or a failed write: the driver is not there
        self.flush_s = flush_s
        self.exit_now = exit_now
        self.reap = reap
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        self._poll = poller.poll
        self._lock = threading.Lock()
        self._buf: list[Any] = []  # flat: result, checkpoint, result, checkpoint, ...
        self._wake = threading.Event()
        self._flusher: threading.Thread | None = None
        self._last_send = 0.0
        self._last_check = 0.0
        self._active = threading.Event()  # set while the lease must be renewed
        self._closed = False

    # ------------------------------------------------------------------ the end
    def _lose_driver(self) -> None:
        """End of stream or a failed write."""
        self._end(gone=True)

    def _exit_requested(self) -> None:
        self._end(gone=False)

    def _end(self, gone: bool) -> None:
        """Leave at once (``exit_now``), or stop the running trial and end after it."""
        if self.exit_now is not None:
            self.exit_now()
        if gone:
            self.gone = True
        else:
            self.exiting = True
        self.stop_requested = True
        self.pause = False

    # ------------------------------------------------------------------ receiving
    def _fill(self) -> bool:
        """Read what the driver sent (blocks if nothing is there); False at end of stream."""
        try:
            more = self.reader.fill()
        except OSError:
            more = False
        if not more:
            self._lose_driver()
            return False
        self.inbox.extend(self.reader.messages())
        return True

    def next_message(self) -> tuple[Any, ...] | None:
        """The next message from the driver, blocking; None once the driver is gone."""
        inbox = self.inbox
        while not inbox:
            if self.gone or not self._fill():
                return None
        return inbox.popleft()

    def _check_control(self) -> None:
        """Apply a stop/exit that is waiting, without blocking (one poll syscall)."""
        if self._poll(0) and not self.gone:
            self._fill()
        if not self.inbox:
            return
        for msg in self.inbox:
            op = msg[0]
            if op == wire.STOP:
                if msg[1] == self.seq:
                    self.stop_requested = True
                    self.pause = bool(msg[2])
            elif op == wire.EXIT:
                self._exit_requested()
            elif op == wire.RUN:
                self.held.append(msg)
            # anything else is a stale reply for an earlier trial: dropped
        self.inbox.clear()

    # ------------------------------------------------------------------ sending
    def _write_locked(self, msgs: list[tuple[Any, ...]]) -> None:
        """Send the buffered reports, then ``msgs``, in one write. Caller holds ``_lock``."""
        frames = []
        if self._buf:
            frames.append(wire.encode((wire.REPORTS, self._buf)))
            self._buf = []
        for msg in msgs:
            frames.append(wire.encode(msg))
        if not frames or self.gone:
            return
        try:
            wire.write_frames(self.fd, frames)
        except OSError:
            self._lose_driver()  # nobody is left to read this
        self._last_send = time.monotonic()

    def send(self, msg: tuple[Any, ...]) -> None:
        """One message to the driver (after any buffered reports)."""
        with self._lock:
            self._write_locked([msg])

    def _flush_loop(self) -> None:
        wake = self._wake
        while True:
            wake.wait()
            if self._closed:
                return
            time.sleep(self.flush_s)
            with self._lock:
                wake.clear()
                self._write_locked([])

    def start_heartbeat(self, interval: float) -> None:
        """Renew the lease every ``interval`` seconds while a trial runs."""
        threading.Thread(
            target=self._heartbeat_loop, args=(interval,), name="tunefleet-heartbeat", daemon=True
        ).start()

    def _heartbeat_loop(self, interval: float) -> None:
        active = self._active
        beat = (wire.HEARTBEAT,)
        while True:
            active.wait()
            if self._closed:
                return
            time.sleep(interval)
            # Any message renews the lease: beat only after a quiet interval.
            if not active.is_set() or time.monotonic() - self._last_send < interval:
                continue
            with self._lock:
                if active.is_set() and not self._closed:  # not after the outcome went out
                    self._write_locked([beat])

    def renew_while(self, active: bool) -> None:
        """Switch lease renewal on or off (it is on while a trial runs)."""
        if active:
            self._active.set()
        else:
            self._active.clear()

    def send_result(self, session: Session, result: dict[str, Any], checkpoint: str | None) -> None:
        """Channel: ship one result; raise StopTrial if the driver asked this trial to stop."""
        now = time.monotonic()
        if now - self._last_check >= self.flush_s:  # a poll syscall at most once per window
            self._last_check = now
            self._check_control()
        if self.stop_requested:
            raise StopTrial(self.pause)
        # The result travels as JSON text: the driver parses it for the engine and stores
        # the text as is, so encoding (the store's biggest per-result cost) happens here, in
        # parallel across workers, instead of in the single driver.
        text = _dumps(result)
        ck: Any = checkpoint
        if checkpoint is not None and session.checkpoint_hash is not None:
            ck = (checkpoint, session.checkpoint_hash)
        if session.sync:
            self.send((wire.REPORT, text, ck))
            self._await_reply()
            return
        with self._lock:
            buf = self._buf
            # A report with a checkpoint is written to the socket before report() returns
            # (with the batch before it, in order): bytes written to a socket outlive the
            # writer, so a worker killed right after loses no checkpoint it reported.
            if ck is not None or (not buf and now - self._last_send >= self.flush_s):
                self._write_locked([(wire.REPORT, text, ck)])
                return
            buf.append(text)
            buf.append(ck)
            if len(buf) == 2:
                if self._flusher is None:
                    self._flusher = threading.Thread(
                        target=self._flush_loop, name="tunefleet-flusher", daemon=True
                    )
                    self._flusher.start()
                self._wake.set()
            elif len(buf) >= 2 * MAX_BATCH:
                self._write_locked([])

    def _await_reply(self) -> None:
        seq = self.seq
        while True:
            msg = self.next_message()
            if msg is None:
                raise StopTrial(False)
            op = msg[0]
            if op == wire.REPLY and msg[1] == seq:
                if msg[2]:
                    return
                self.stop_requested = True
                self.pause = bool(msg[3])
                raise StopTrial(self.pause)
            if op == wire.STOP and msg[1] == seq:
                self.stop_requested = True
                self.pause = bool(msg[2])
                raise StopTrial(self.pause)
            if op == wire.EXIT:
                self._exit_requested()
                raise StopTrial(False)
            if op == wire.RUN:  # cannot happen while busy; keep it rather than lose it
                self.held.append(msg)

    # ------------------------------------------------------------------ trials
    def serve(self, load_error: tuple[str, str] | None = None) -> None:
        """Run trials until ``EXIT`` or the end of the stream. ``load_error`` (message,
        traceback): the trainable could not be loaded; every trial fails with it."""
        try:
            while not (self.exiting or self.gone):
                msg = self.held.popleft() if self.held else self.next_message()
                if msg is None:
                    return
                op = msg[0]
                if op == wire.RUN:
                    self.run(msg, load_error)
                elif op == wire.EXIT:
                    self._exit_requested()
        finally:
            self.close()

    def close(self) -> None:
        """Stop the helper threads (they hold no resource but a wait)."""
        self._closed = True
        self._active.set()  # let the heartbeat thread see _closed
        self._wake.set()

    def run(self, msg: tuple[Any, ...], load_error: tuple[str, str] | None = None) -> None:
        """One trial: ``msg`` is its ``RUN`` message (see :mod:`tunefleet.worker.wire`)."""
        seq = msg[1]
        self.seq = seq
        self.stop_requested = False
        self.pause = False
        self._last_check = time.monotonic()
        self._last_send = 0.0  # a trial's first report goes out at once
        self._check_control()  # a stop may have been sent right after the launch
        if self.stop_requested:
            self.send((wire.DONE, True))
            return
        fn = self.fn
        if fn is None:
            err = load_error or ("the trainable was not loaded", "")
            self.send((wire.FAIL, err[0], err[1]))
            return
        self._active.set()
        launch = wire.launch_from_fields(msg[2:])
        shared = self.reap if isinstance(self.reap, reaper.SharedReaper) else None
        token = shared.begin() if shared is not None else 0
        if self.reap is True:  # a worker that exits mid-trial gives the same grace
            reaper.exit_grace_s = launch.kill_grace_s
        stopped, failure = run_attempt(fn, launch, self, lambda: self.stop_requested)
        self._active.clear()
        # Before DONE/FAIL: once the driver hears the end, nothing the trial started is left.
        if shared is not None:
            shared.end(token, launch.kill_grace_s)
        elif self.reap:
            reaper.kill_descendants(grace_s=launch.kill_grace_s)
        if failure is None:
            self.send((wire.DONE, stopped))
        else:
            self.send((wire.FAIL, *failure))
