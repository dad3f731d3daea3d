"""Finding and ending the processes a test's trials started, by a marker in their command
line (shared by the process-tree tests: local, Dask, Ray, Spark, the kill grace)."""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

SLEEPER = "import time, sys; time.sleep(600)"


def with_marker(marker: str) -> list[int]:
    """Pids of living processes whose command line holds ``marker``."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            cmd = Path(f"/proc/{name}/cmdline").read_bytes()
            state = Path(f"/proc/{name}/stat").read_bytes().rsplit(b")", 1)[1].split()[0]
        except OSError:
            continue
        if marker.encode() in cmd and state != b"Z":
            found.append(int(name))
    return found


def kill_marked(marker: str) -> None:
    """SIGKILL whatever still runs with ``marker``: a test's teardown, whatever its outcome."""
    for pid in with_marker(marker):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
