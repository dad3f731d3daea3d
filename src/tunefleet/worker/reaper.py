"""Nothing a trial starts outlives it: the worker is a subreaper and kills its descendants.

A trainable may start processes of its own, and some leave the worker's process group
(``subprocess.Popen(..., start_new_session=True)``, ``setsid``, a daemon that forks twice):
killing a process group, or the worker, would miss them, and a daemonised one would be
re-parented to init and run forever. So a worker process that runs one trial at a time
(the local engine's, a Spark slot task's) marks itself a *child subreaper* (Linux
``prctl(PR_SET_CHILD_SUBREAPER)``): every orphan among its descendants is re-parented to
it instead of to init, so the process tree under the worker is exactly what its trials
started, however they detached. When an attempt ends (returned, stopped, failed), when the
worker exits (the driver asked, or is gone), and before the driver kills a worker, that
tree is killed with SIGKILL: a trial's processes end with the trial, not later.

The tree is read from ``/proc/*/stat`` (each process's parent), which needs no optional
kernel feature nor a dependency; a worker with no child at all (``waitid``, no scan) skips
it, so a trial that starts nothing pays microseconds. Elsewhere than Linux both functions
do nothing.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import time

_PR_SET_CHILD_SUBREAPER = 36  # <linux/prctl.h>


def become_subreaper() -> bool:
    """Make this process its descendants' subreaper; False where that is not possible."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


def _parents() -> dict[int, tuple[int, str]]:
    """``{pid: (parent pid, state)}`` of every process visible in ``/proc``."""
    out: dict[int, tuple[int, str]] = {}
    try:
        names = os.listdir("/proc")
    except OSError:
        return out
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                raw = f.read()
        except OSError:  # it ended meanwhile
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        fields = raw[raw.rfind(b")") + 2 :].split()
        if len(fields) >= 2:
            out[int(name)] = (int(fields[1]), fields[0].decode())
    return out


def descendants(pid: int | None = None) -> list[int]:
    """Living (not zombie) descendants of ``pid`` (default: this process)."""
    root = os.getpid() if pid is None else pid
    children: dict[int, list[int]] = {}
    states: dict[int, str] = {}
    for p, (ppid, state) in _parents().items():
        children.setdefault(ppid, []).append(p)
        states[p] = state
    found: list[int] = []
    todo = list(children.get(root, ()))
    while todo:
        p = todo.pop()
        if states.get(p) != "Z":
            found.append(p)
        todo.extend(children.get(p, ()))
    return found


def kill_descendants(pid: int | None = None, rounds: int = 20) -> int:
    """SIGKILL every descendant of ``pid`` (default: this process) until none is left (a
    process may fork while we walk the tree), and reap those that became our zombies.
    Returns how many were killed."""
    if not sys.platform.startswith("linux"):
        return 0
    if pid is None and not _has_children():  # the common case, in microseconds
        return 0
    killed: set[int] = set()
    for _ in range(rounds):
        found = descendants(pid)
        if not found:
            break
        for p in found:
            with contextlib.suppress(OSError):
                os.kill(p, signal.SIGKILL)
                killed.add(p)
        time.sleep(0.01)  # let them die before the tree is read again
    if pid is None:  # our own tree only: a driver's zombies are its Popen objects' to reap
        _reap_zombies()
    return len(killed)


def _has_children() -> bool:
    """Does this process have a child, living or dead? As a subreaper, none means no
    descendant at all: an orphan below would have been re-parented to us."""
    try:
        os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return False
    return True


def _reap_zombies() -> None:
    """Collect the exit status of this process's dead children (orphans re-parented to a
    subreaper become its children), so that no zombie stays in the process table."""
    me = os.getpid()
    for p, (ppid, state) in _parents().items():
        if ppid == me and state == "Z":
            with contextlib.suppress(OSError):  # collected meanwhile by its Popen object
                os.waitpid(p, os.WNOHANG)
