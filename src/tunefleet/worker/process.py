"""The entry point of a local worker process.

Why a fresh interpreter: a worker must never execute the user's script again. A
``multiprocessing`` child started by ``spawn`` or ``forkserver`` imports the driver's main
module first, so a script without ``if __name__ == "__main__":`` started its sweep again in
every worker; a ``fork`` child inherits every file descriptor of the driver (the
experiment's lock, the SQLite store, the other workers' sockets) and hands them on to what
the trial forks. So the driver (:mod:`tunefleet.executors.local_spawn`) starts each worker
as ``python -c <bootstrap> FD DRIVER_PID`` with ``close_fds`` and only its own socket in
``pass_fds``: the worker holds nothing of the driver's, and the trainable reaches it
pickled (functions and classes of the script travel by value, through cloudpickle).

The bootstrap sets ``sys.path`` to the driver's before importing tunefleet, so the worker
imports the same tunefleet and the same user modules as the driver, then calls
:func:`main`. The first frame on the socket is ``BOOT`` (see :mod:`tunefleet.worker.wire`):
the driver's ``sys.argv`` and the trainable (inline, or a file for a large one). Once the
trainable is loaded the worker answers ``READY`` (with the error if it could not be
loaded), then runs trials one after the other as the driver sends them: the loop is
:class:`tunefleet.worker.channel.TrialChannel` (shared with the Spark engine's slot tasks).
It survives user exceptions; it exits on ``EXIT``, when its socket reaches end of file,
when a write finds the driver gone, or when a watchdog thread sees that the driver is no
longer its parent, so a killed driver never leaves workers behind. It is a subreaper: what
a trial starts, even in a session of its own, is killed when the attempt ends and when the
worker exits (:mod:`tunefleet.worker.reaper`).

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

from tunefleet.worker import reaper, wire
from tunefleet.worker.channel import FLUSH_AFTER_S, TrialChannel
from tunefleet.worker.reaper import become_subreaper, kill_descendants
from tunefleet.worker.trial import describe

# How often the watchdog checks that the driver is still the parent process.
PARENT_CHECK_INTERVAL_S = 0.5


_exiting = threading.Lock()


def _exit(code: int = 0) -> NoReturn:
    """Leave at once: no atexit handlers, no joining of threads the trainable left behind,
    and nothing the trials started left running (worker/reaper.py: SIGTERM, the running
    trial's ``kill_grace_s``, SIGKILL). A second call (the driver's SIGTERM, the watchdog)
    while the first one waits out the grace changes nothing."""
    if not _exiting.acquire(blocking=False):
        if threading.current_thread() is threading.main_thread():
            return  # type: ignore[misc]  # a signal handler: the interrupted _exit goes on
        while True:  # another thread: the first caller exits the process
            time.sleep(60)
    kill_descendants(grace_s=reaper.exit_grace_s)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # a closed or broken stream must not block exit
            stream.flush()
    os._exit(code)


def _watch_parent(driver_pid: int) -> None:
    """Exit when the driver is no longer the parent: it died and we were re-parented."""
    while True:
        if os.getppid() != driver_pid:
            _exit(1)
        time.sleep(PARENT_CHECK_INTERVAL_S)


def load_error(exc: BaseException) -> tuple[str, str]:
    """What the driver shows when the trainable cannot be loaded: the error, why a worker
    might not see what the driver sees, and what to change."""
    hint = (
        "A local worker is a fresh Python interpreter started with the driver's sys.path, "
        "working directory and environment; it does not run the driver's script, so "
        "everything the trainable refers to by name must be importable there (functions "
        "and classes defined in the script itself are shipped by value)."
    )
    if isinstance(exc, ModuleNotFoundError) and exc.name:
        hint += (
            f" Module {exc.name!r} is not importable in it: install it, put its directory on "
            "sys.path before calling run(), or ship it by value with "
            f"cloudpickle.register_pickle_by_value({exc.name.split('.')[0]})."
        )
    else:
        hint += (
            " Fix that error so that pickle.loads(cloudpickle.dumps(trainable)) works "
            "in a fresh interpreter."
        )
    return (
        f"the trainable could not be loaded in the worker process: {describe(exc)}. {hint}",
        traceback.format_exc(),
    )


def _load(payload: bytes | str) -> Any:
    if isinstance(payload, str):  # a file the driver wrote (a large trainable)
        with open(payload, "rb") as f:
            payload = f.read()
    return pickle.loads(payload)  # noqa: S301 - the driver's own trainable


def main() -> NoReturn:
    """Run as ``python -c <bootstrap> FD DRIVER_PID`` (see the module docstring)."""
    fd, driver_pid = int(sys.argv[1]), int(sys.argv[2])
    os.set_inheritable(fd, False)  # pass_fds made it inheritable: not for the trial's children
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's to handle
    signal.signal(signal.SIGTERM, lambda *_: _exit(1))  # the driver's terminate(): reap first
    become_subreaper()  # what trials start, even detached, stays under us (reaper.py)
    threading.Thread(
        target=_watch_parent, args=(driver_pid,), name="tunefleet-watchdog", daemon=True
    ).start()
    # The trainable arrives cloudpickled: load that while the BOOT frame is on its way (an
    # early worker waits for it while the driver imports; executors/early.py).
    with contextlib.suppress(ImportError):
        import cloudpickle  # noqa: F401
    frame = wire.read_frame(fd)
    if frame is None:  # the driver is gone already
        _exit(0)
    op, argv, payload, heartbeat_s = pickle.loads(frame)  # noqa: S301 - the driver's frame
    assert op == wire.BOOT
    sys.argv[:] = argv  # as the driver sees it (user code may read it)
    # The loop exits the process at once on EXIT, at end of stream and when a write finds
    # the driver gone (a trial that does not report is not waited for).
    loop = TrialChannel(fd, None, flush_s=FLUSH_AFTER_S, exit_now=_exit, reap=True)
    if heartbeat_s is not None:
        loop.send((wire.HEARTBEAT,))  # "started": the driver's lease clock may begin
        loop.renew_while(True)  # a launch may be waiting while the user's imports run
        loop.start_heartbeat(heartbeat_s)
    error: tuple[str, str] | None = None
    try:
        loop.fn = _load(payload)
    except BaseException as exc:
        error = load_error(exc)
    del payload
    loop.renew_while(False)
    loop.send((wire.READY, error))
    loop.serve(error)
    _exit(0)
