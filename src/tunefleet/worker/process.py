"""The loop that runs inside a local worker process.

A worker is started once, receives the pickled trainable once, then runs trials one after
the other as the driver sends them (see :mod:`tunefleet.worker.wire` for the messages). It
survives user exceptions; it exits on ``EXIT``, when its socket reaches end of file, when a
write finds the driver gone, or when a watchdog thread sees that its parent has died, so a
killed driver never leaves workers behind.

When the driver gives it a heartbeat interval (the executor's ``lease_ttl / 4``), a
heartbeat thread renews the lease of the running trial: every interval, if nothing was sent
to the driver during the last one, it sends ``HEARTBEAT``. It is a separate thread so that
it runs while the trial computes (a Python loop releases the GIL every few milliseconds); it
is idle between trials, and also renews while the trainable is being unpickled, since a
launch may already be waiting then.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import pickle
import signal
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable
from typing import Any, NoReturn

from tunefleet.errors import StopTrial
from tunefleet.storage.sqlite import dumps as _dumps
from tunefleet.worker import wire
from tunefleet.worker.generator import report_yielded
from tunefleet.worker.session import Session, set_session

# Reports closer together than this are batched; also the longest a report is held back.
FLUSH_AFTER_S = 0.001
MAX_BATCH = 1024
# How often the watchdog checks that the parent process is still there.
PARENT_CHECK_INTERVAL_S = 0.5
# Libraries whose thread pools were sized before we could set OMP_NUM_THREADS (fork).
_THREADED_LIBS = ("numpy", "scipy", "torch", "sklearn")


def _exit(code: int = 0) -> NoReturn:
    """Leave at once: no atexit handlers, no joining of threads the trainable left behind."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # a closed or broken stream must not block exit
            stream.flush()
    os._exit(code)


def _watch_parent(ppid: int) -> None:
    """Exit when re-parented: the driver (or the forkserver) is gone."""
    while True:
        time.sleep(PARENT_CHECK_INTERVAL_S)
        if os.getppid() != ppid:
            _exit(1)


def _limit_loaded_threadpools(threads: int) -> None:
    """Under fork, BLAS/OpenMP pools were sized in the driver; shrink them if we can."""
    if not any(name in sys.modules for name in _THREADED_LIBS):
        return
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(threads)
    except Exception:  # noqa: S110 - best effort; the environment variables still apply
        pass
    torch = sys.modules.get("torch")
    if torch is not None:
        with contextlib.suppress(Exception):  # best effort
            torch.set_num_threads(threads)


def _describe(exc: BaseException) -> str:
    try:
        return repr(exc)
    except Exception:
        return f"<{type(exc).__name__} (repr failed)>"


def _format_user_traceback(exc: BaseException) -> str:
    """The traceback without the worker's own frame, so it starts in the user's code."""
    tb = exc.__traceback__
    if tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    try:
        return "".join(traceback.format_exception(type(exc), exc, tb))
    except Exception:
        return traceback.format_exc()


class WorkerLoop:
    """Runs trials sent by the driver; also the :class:`Channel` of their sessions.

    Asynchronous reports that come in bursts (less than ``FLUSH_AFTER_S`` after the previous
    send) are buffered and sent as one message by a flusher thread at most about
    ``FLUSH_AFTER_S`` later, or with the trial's outcome. This halves the cost per report on
    both sides (one pickle with shared keys, one write, one read) for trainables that report
    thousands of times a second; a report after a quiet spell is sent at once.
    """

    __slots__ = (
        "fd",
        "reader",
        "inbox",
        "seq",
        "stop_requested",
        "pause",
        "_poll",
        "fn",
        "_lock",
        "_buf",
        "_wake",
        "_flusher",
        "_last_send",
        "_last_check",
        "_active",
    )

    def __init__(self, fd: int, fn: Callable[..., Any] | None) -> None:
        import select

        self.fd = fd
        self.fn = fn
        self.reader = wire.FrameReader(fd)
        self.inbox: deque[tuple[Any, ...]] = deque()
        self.seq = -1
        self.stop_requested = False
        self.pause = False
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

    # ------------------------------------------------------------------ receiving
    def _next(self) -> tuple[Any, ...]:
        """The next message from the driver, blocking; exits at end of stream."""
        inbox = self.inbox
        while not inbox:
            try:
                more = self.reader.fill()
            except OSError:
                more = False
            if not more:
                _exit(0)
            inbox.extend(self.reader.messages())
        return inbox.popleft()

    def _check_control(self) -> None:
        """Apply a stop/exit that is waiting, without blocking (one poll syscall)."""
        if self._poll(0):
            try:
                more = self.reader.fill()
            except OSError:
                more = False
            if not more:
                _exit(0)
            self.inbox.extend(self.reader.messages())
        if not self.inbox:
            return
        keep: deque[tuple[Any, ...]] = deque()
        for msg in self.inbox:
            op = msg[0]
            if op == wire.STOP:
                if msg[1] == self.seq:
                    self.stop_requested = True
                    self.pause = bool(msg[2])
            elif op == wire.EXIT:
                _exit(0)
            elif op == wire.RUN:
                keep.append(msg)
            # anything else is a stale reply for an earlier trial: dropped
        self.inbox = keep

    # ------------------------------------------------------------------ sending
    def _write_locked(self, msgs: list[tuple[Any, ...]]) -> None:
        """Send the buffered reports, then ``msgs``, in one write. Caller holds ``_lock``."""
        frames = []
        if self._buf:
            frames.append(wire.encode((wire.REPORTS, self._buf)))
            self._buf = []
        for msg in msgs:
            frames.append(wire.encode(msg))
        if not frames:
            return
        try:
            wire.write_frames(self.fd, frames)
        except OSError:
            _exit(0)  # the driver is gone; nobody is left to read this
        self._last_send = time.monotonic()

    def _send(self, msg: tuple[Any, ...]) -> None:
        with self._lock:
            self._write_locked([msg])

    def _flush_loop(self) -> None:
        wake = self._wake
        while True:
            wake.wait()
            time.sleep(FLUSH_AFTER_S)
            with self._lock:
                wake.clear()
                self._write_locked([])

    def start_heartbeat(self, interval: float) -> None:
        """Renew the lease every ``interval`` seconds while :attr:`_active` is set."""
        threading.Thread(
            target=self._heartbeat_loop, args=(interval,), name="tunefleet-heartbeat", daemon=True
        ).start()

    def _heartbeat_loop(self, interval: float) -> None:
        active = self._active
        beat = (wire.HEARTBEAT,)
        while True:
            active.wait()
            time.sleep(interval)
            # Any message renews the lease: beat only after a quiet interval.
            if not active.is_set() or time.monotonic() - self._last_send < interval:
                continue
            with self._lock:
                if active.is_set():  # not after the trial's outcome went out
                    self._write_locked([beat])

    def send_result(self, session: Session, result: dict[str, Any], checkpoint: str | None) -> None:
        """Channel: ship one result; raise StopTrial if the driver asked this trial to stop."""
        now = time.monotonic()
        if now - self._last_check >= FLUSH_AFTER_S:  # a poll syscall at most once a ms
            self._last_check = now
            self._check_control()
        if self.stop_requested:
            raise StopTrial(self.pause)
        # The result travels as JSON text: the driver parses it for the engine and stores
        # the text as is, so encoding (the store's biggest per-result cost) happens here, in
        # parallel across workers, instead of in the single driver.
        result = _dumps(result)  # type: ignore[assignment]
        if checkpoint is not None and session.checkpoint_hash is not None:
            checkpoint = (checkpoint, session.checkpoint_hash)  # type: ignore[assignment]
        if session.sync:
            self._send((wire.REPORT, result, checkpoint))
            self._await_reply()
            return
        with self._lock:
            buf = self._buf
            if not buf and now - self._last_send >= FLUSH_AFTER_S:
                self._write_locked([(wire.REPORT, result, checkpoint)])
                return
            buf.append(result)
            buf.append(checkpoint)
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
            msg = self._next()
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
                _exit(0)
            if op == wire.RUN:  # cannot happen while busy; keep it rather than lose it
                self.inbox.append(msg)

    # ------------------------------------------------------------------ trials
    def serve(self, load_error: tuple[str, str] | None) -> NoReturn:
        while True:
            msg = self._next()
            op = msg[0]
            if op == wire.RUN:
                self._run(msg, load_error)
            elif op == wire.EXIT:
                _exit(0)

    def _run(self, msg: tuple[Any, ...], load_error: tuple[str, str] | None) -> None:
        (_, seq, trial_id, attempt, config, trial_dir, ckpt, start_iter, start_total, sync) = msg[
            :10
        ]
        self.seq = seq
        self.stop_requested = False
        self.pause = False
        self._last_check = time.monotonic()
        self._last_send = 0.0  # a trial's first report goes out at once
        self._check_control()  # a stop may have been sent right after the launch
        if self.stop_requested:
            self._send((wire.DONE, True))
            return
        if self.fn is None:
            assert load_error is not None
            self._send((wire.FAIL, load_error[0], load_error[1]))
            return
        self._active.set()
        session = Session(
            trial_id,
            attempt,
            trial_dir,
            self,
            config=config,
            restore_from=ckpt,
            start_iteration=start_iter,
            start_time_total=start_total,
            sync=sync,
        )
        session.checkpoint_frequency = msg[10]
        session.checkpoint_at_end = msg[11]
        session.stop_criteria = msg[12]
        session.storage_options = msg[13] if len(msg) > 13 else None
        set_session(session)
        outcome: tuple[Any, ...]
        try:
            ret = self.fn(config)
            if inspect.isgenerator(ret):  # a generator trainable: each item is a report
                report_yielded(ret, session)
        except StopTrial:
            outcome = (wire.DONE, True)
        except BaseException as exc:  # the user's error, SystemExit included: report it
            outcome = (wire.FAIL, _describe(exc), _format_user_traceback(exc))
        else:
            outcome = (wire.DONE, self.stop_requested)
        finally:
            set_session(None)
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):  # the user may have closed them
                stream.flush()
        self._active.clear()
        self._send(outcome)


def _release_forkserver() -> None:
    """A forkserver lives while any of its children holds its "alive" pipe; we would wait
    for it to die and it for us, so a killed driver would leave both behind. Let go."""
    forkserver = sys.modules.get("multiprocessing.forkserver")
    server = getattr(forkserver, "_forkserver", None)
    fd = getattr(server, "_forkserver_alive_fd", None)
    if server is not None and fd is not None:
        with contextlib.suppress(OSError):
            os.close(fd)
        server._forkserver_alive_fd = None


def worker_main(
    conn: Any,
    payload: bytes,
    env: dict[str, str],
    close_fds: list[int],
    start_method: str = "fork",
    heartbeat_s: float | None = None,
) -> None:
    """Entry point of a worker process (the ``target`` of its ``multiprocessing.Process``).

    The environment is set first, before the trainable is unpickled (which is where the
    user's heavy imports happen), so OMP/MKL/CUDA settings take effect. ``heartbeat_s``:
    interval of lease renewals (None: the driver keeps no lease).
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's to handle
    os.environ.update(env)
    for fd in close_fds:  # fork: the driver's ends of other workers' sockets
        with contextlib.suppress(OSError):
            os.close(fd)
    if start_method == "forkserver":
        _release_forkserver()
    threading.Thread(
        target=_watch_parent, args=(os.getppid(),), name="tunefleet-watchdog", daemon=True
    ).start()
    threads = env.get("OMP_NUM_THREADS")
    if threads:
        _limit_loaded_threadpools(int(threads))
    loop = WorkerLoop(conn.fileno(), None)
    if heartbeat_s is not None:
        loop._send((wire.HEARTBEAT,))  # "started": the driver's lease clock may begin
        loop._active.set()  # a launch may be waiting while the user's imports run
        loop.start_heartbeat(heartbeat_s)
    load_error: tuple[str, str] | None = None
    try:
        loop.fn = pickle.loads(payload)  # noqa: S301 - the driver's own trainable
    except BaseException as exc:
        load_error = (
            f"the trainable could not be loaded in the worker process: {_describe(exc)}",
            traceback.format_exc(),
        )
    loop._active.clear()
    loop.serve(load_error)
