"""One writer per experiment: an advisory lock held by the driver for the whole run.

``fcntl.flock`` on ``<experiment dir>/driver.lock``: the kernel releases it when the
process dies, even by kill -9, so a crashed driver never blocks the resume that follows,
and there is no stale lock file to clean up (the NFS lock problem of USERS.md B11).
Readers (CLI, dashboard, Results) never take it.

A flock belongs to the open file, not to the process: every process that holds a
descriptor of it keeps the lock, so a trial's child that outlived a crashed driver would
refuse the resume for its whole life. The descriptor is opened ``O_CLOEXEC`` (explicitly,
whatever the platform's default), and local workers are fresh interpreters started with
``close_fds`` (see :mod:`tunefleet.executors.local_spawn`), so no worker and nothing a trial
starts ever holds it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from typing import Any

from tunefleet.errors import TuneValueError
from tunefleet.storage.trust import file_mode, makedirs_private, storage_umask


def hostname() -> str:
    """``socket.gethostname()`` without importing socket (its import is a few ms of every
    sweep's start-up): the kernel's node name, which is what gethostname(2) returns."""
    uname = getattr(os, "uname", None)
    if uname is not None:
        return str(uname().nodename)
    import socket

    return socket.gethostname()


LOCK_FILE = "driver.lock"


class DriverLock:
    def __init__(self, experiment_dir: str, name: str, umask: int | None = None) -> None:
        self.path = os.path.join(experiment_dir, LOCK_FILE)
        self.name = name
        self.umask = storage_umask(umask)
        self._fd: int | None = None

    def acquire(self) -> None:
        makedirs_private(os.path.dirname(self.path), self.umask)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, file_mode(self.umask))
        with contextlib.suppress(OSError):  # the store's setting, not the process umask
            os.fchmod(fd, file_mode(self.umask))
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise TuneValueError(
                f"name: experiment {self.name!r} is being written by another driver "
                f"({holder}); only one driver may write an experiment at a time. Readers "
                "(tunefleet show/ls/export, the dashboard) can open it while it runs"
            ) from None
        os.ftruncate(fd, 0)
        info = {"pid": os.getpid(), "host": hostname(), "since": time.time()}
        os.write(fd, json.dumps(info).encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._fd, fcntl.LOCK_UN)
                os.close(self._fd)
            self._fd = None

    def __enter__(self) -> DriverLock:
        self.acquire()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()


def lock_held(experiment_dir: str) -> bool:
    """Whether a driver holds the experiment's lock now (for ``tunefleet ls``).

    Probed with a non-blocking shared flock, released at once: it never waits, and a
    driver racing to acquire in that same microsecond is the only one that could notice.
    """
    try:
        fd = os.open(os.path.join(experiment_dir, LOCK_FILE), os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False  # no lock file: no driver ever ran, or it was removed with the run
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        os.close(fd)  # closing releases the probe's shared lock
    return False


def _read_holder(fd: int) -> str:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        info = json.loads(os.read(fd, 4096) or b"{}")
        return f"pid {info.get('pid')} on {info.get('host')}"
    except (OSError, ValueError):
        return "another process"
