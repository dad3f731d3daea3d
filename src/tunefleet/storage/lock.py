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
import socket
import time
from typing import Any

from tunefleet.errors import TuneValueError


class DriverLock:
    def __init__(self, experiment_dir: str, name: str) -> None:
        self.path = os.path.join(experiment_dir, "driver.lock")
        self.name = name
        self._fd: int | None = None

    def acquire(self) -> None:
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
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
        info = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}
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


def _read_holder(fd: int) -> str:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        info = json.loads(os.read(fd, 4096) or b"{}")
        return f"pid {info.get('pid')} on {info.get('host')}"
    except (OSError, ValueError):
        return "another process"
