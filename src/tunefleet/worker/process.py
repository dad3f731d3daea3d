"""The entry point of a local worker process.

A worker is started once, receives the pickled trainable once, then runs trials one after
the other as the driver sends them: the loop is :class:`tunefleet.worker.channel.TrialChannel`
(shared with the Spark engine's slot tasks; see :mod:`tunefleet.worker.wire` for the
messages). It survives user exceptions; it exits on ``EXIT``, when its socket reaches end of
file, when a write finds the driver gone, or when a watchdog thread sees that its parent has
died, so a killed driver never leaves workers behind.

When the driver gives it a heartbeat interval (the executor's ``lease_ttl / 4``), a
heartbeat thread renews the lease of the running trial: every interval, if nothing was sent
to the driver during the last one, it sends ``HEARTBEAT``. It is a separate thread so that
it runs while the trial computes (a Python loop releases the GIL every few milliseconds); it
is idle between trials, and also renews while the trainable is being unpickled, since a
launch may already be waiting then.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import sys
import threading
import time
import traceback
from typing import Any, NoReturn

from tunefleet.worker import wire
from tunefleet.worker.channel import FLUSH_AFTER_S, TrialChannel, describe

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
    payload: bytes | str,
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
    # The loop exits the process at once on EXIT, at end of stream and when a write finds
    # the driver gone (a trial that does not report is not waited for).
    loop = TrialChannel(conn.fileno(), None, flush_s=FLUSH_AFTER_S, exit_now=_exit)
    if heartbeat_s is not None:
        loop.send((wire.HEARTBEAT,))  # "started": the driver's lease clock may begin
        loop.renew_while(True)  # a launch may be waiting while the user's imports run
        loop.start_heartbeat(heartbeat_s)
    load_error: tuple[str, str] | None = None
    try:
        if isinstance(payload, str):  # a file the driver wrote (non-fork start methods)
            with open(payload, "rb") as f:
                payload = f.read()
        loop.fn = pickle.loads(payload)  # noqa: S301 - the driver's own trainable
    except BaseException as exc:
        load_error = (
            f"the trainable could not be loaded in the worker process: {describe(exc)}",
            traceback.format_exc(),
        )
    loop.renew_while(False)
    loop.serve(load_error)
    _exit(0)
