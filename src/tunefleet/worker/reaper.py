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

The kill is graceful first: the tree gets SIGTERM, then ``kill_grace_s`` seconds (the
``run()`` argument, default :data:`DEFAULT_KILL_GRACE_S`) to exit, so that a child can
flush its files; whatever is left then (or forks meanwhile) gets SIGKILL. A tree that
exits at once on SIGTERM (the default action) costs a few milliseconds, not the grace.
The hard paths stay SIGKILL at once: a driver killing an unresponsive worker, and a worker
that is itself killed.

Dask and Ray workers are shared: a Dask worker runs several tasks in threads of one
process, and neither engine's worker process is ours to end. There the worker is a
subreaper too, and :class:`SharedReaper` tells whose a process is by when it started
(``/proc/PID/stat``'s start time): a process started while one attempt ran is that
attempt's and is ended when the attempt ends; one started while several attempts shared
the process is ended when the last of them ends; one started while no attempt ran (the
engine's own) is never touched.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

_PR_SET_CHILD_SUBREAPER = 36  # <linux/prctl.h>

#: Seconds a trial's processes get between SIGTERM and SIGKILL when its attempt ends.
DEFAULT_KILL_GRACE_S = 5.0
#: The grace of the last attempt this process ran: a worker that exits uses it.
exit_grace_s = DEFAULT_KILL_GRACE_S


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
    return {p: (ppid, state) for p, (ppid, state, _) in _stats().items()}


def _stats() -> dict[int, tuple[int, str, int]]:
    """``{pid: (parent pid, state, start time in clock ticks after boot)}`` of every
    process visible in ``/proc``."""
    out: dict[int, tuple[int, str, int]] = {}
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
        if len(fields) >= 20:  # state is field 3 of stat(5), starttime field 22
            out[int(name)] = (int(fields[1]), fields[0].decode(), int(fields[19]))
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


def kill_descendants(pid: int | None = None, rounds: int = 20, grace_s: float = 0.0) -> int:
    """End every descendant of ``pid`` (default: this process) and reap those that became
    our zombies. With ``grace_s`` > 0 they get SIGTERM first and up to ``grace_s`` seconds
    to exit; then (or at once) SIGKILL, until none is left (a process may fork while we
    walk the tree). Returns how many were signalled."""
    if not sys.platform.startswith("linux"):
        return 0
    if pid is None and not _has_children():  # the common case, in microseconds
        return 0
    return _end(lambda: descendants(pid), grace_s, rounds, reap=pid is None)


def _end(
    find: Callable[[], Iterable[int]], grace_s: float, rounds: int = 20, reap: bool = True
) -> int:
    """SIGTERM what ``find()`` returns, wait up to ``grace_s`` for it to go, then SIGKILL
    what it still returns, ``rounds`` times at most."""
    killed: set[int] = set()
    if grace_s > 0:
        found = list(find())
        if not found:  # nothing to end: one scan, not two
            if reap:
                _reap_zombies()
            return 0
        for p in found:
            with contextlib.suppress(OSError):
                os.kill(p, signal.SIGTERM)
                killed.add(p)
        deadline = time.monotonic() + grace_s
        pause = 0.005
        while found and time.monotonic() < deadline:
            time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
            pause = min(pause * 2, 0.1)
            if reap:  # a dead child of ours stays a zombie (and in the tree) until reaped
                _reap_zombies()
            found = list(find())
    for _ in range(rounds):
        found = list(find())
        if not found:
            break
        for p in found:
            with contextlib.suppress(OSError):
                os.kill(p, signal.SIGKILL)
                killed.add(p)
        time.sleep(0.01)  # let them die before the tree is read again
    if reap:  # our own tree only: a driver's zombies are its Popen objects' to reap
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


def _has_zombie() -> bool:
    """Has this process a dead child not yet reaped? (One syscall, no scan.)"""
    try:
        return os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return False


def _reap_zombies() -> None:
    """Collect the exit status of this process's dead children (orphans re-parented to a
    subreaper become its children), so that no zombie stays in the process table."""
    me = os.getpid()
    for p, (ppid, state) in _parents().items():
        if ppid == me and state == "Z":
            with contextlib.suppress(OSError):  # collected meanwhile by its Popen object
                os.waitpid(p, os.WNOHANG)


# ------------------------------------------------------------------ shared worker processes
def _now_ticks() -> int:
    """Clock ticks since boot, as ``/proc/PID/stat``'s start times count them."""
    with open("/proc/uptime", "rb") as f:
        return int(float(f.read().split()[0]) * os.sysconf("SC_CLK_TCK"))


class SharedReaper:
    """Ends the processes of attempts that share a worker process with other attempts
    (Dask's threads) or with the engine's own code (a Ray worker): see the module
    docstring. One per process (:func:`shared_reaper`); thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._next = 0
        # attempt token -> [first tick, last tick or None while it runs]
        self._windows: dict[int, list[Any]] = {}
        self.enabled = sys.platform.startswith("linux") and become_subreaper()

    def begin(self) -> int:
        """An attempt starts in this process; returns its token for :meth:`end`."""
        with self._lock:
            self._next += 1
            token = self._next
            # One tick of margin: a process started at the boundary counts as this
            # attempt's too, which only ever delays its end, never hastens it.
            self._windows[token] = [_now_ticks() - 1 if self.enabled else 0, None]
        return token

    def _snapshot(self) -> dict[int, tuple[int, int | None]]:
        with self._lock:
            return {k: (w[0], w[1]) for k, w in self._windows.items()}

    @staticmethod
    def _claimable(
        born: int, window: tuple[int, int | None], others: Iterable[tuple[int, int | None]]
    ) -> bool:
        """Started inside ``window``, and not while an attempt of ``others`` that still
        runs had begun (that one may own it: it is ended with the last of them)."""
        start, stop = window
        if born < start or (stop is not None and born > stop):
            return False
        return not any(s <= born and e is None for s, e in others)

    def _due(self, token: int) -> list[int]:
        """Living descendants that are due to end now that ``token``'s attempt ends: started
        during it or during an attempt that already ended, and not while an attempt that
        still runs had begun (see the module docstring). One scan of ``/proc``."""
        windows = self._snapshot()
        if token not in windows:
            return []
        ending = [w for k, w in windows.items() if k == token or w[1] is not None]
        running = [w for k, w in windows.items() if k != token and w[1] is None]
        stats = _stats()
        children: dict[int, list[int]] = {}
        for p, (ppid, _, _) in stats.items():
            children.setdefault(ppid, []).append(p)
        found: list[int] = []
        todo = list(children.get(os.getpid(), ()))
        while todo:
            p = todo.pop()
            todo.extend(children.get(p, ()))
            _, state, born = stats[p]
            if state != "Z" and any(self._claimable(born, w, running) for w in ending):
                found.append(p)
        return found

    def end(self, token: int, grace_s: float) -> int:
        """The attempt ``token`` ended: end the processes that are its alone, and those it
        shared with attempts that have all ended. Returns how many were signalled."""
        if not self.enabled or not _has_children():  # nothing under this process at all
            with self._lock:
                self._windows.pop(token, None)
                self._forget_locked()
            return 0
        # Its window stays open meanwhile: what its processes fork during the grace is its.
        n = _end(functools.partial(self._due, token), grace_s, reap=False)
        with self._lock:
            w = self._windows.get(token)
            if w is not None:
                w[1] = _now_ticks() + 1  # closed: what starts from now on is not its
        if _has_zombie():
            self._reap_owned()
        with self._lock:
            self._forget_locked()
        return n

    def _forget_locked(self) -> None:
        """Closed windows matter only while an open one overlaps them."""
        if all(w[1] is not None for w in self._windows.values()):
            self._windows.clear()

    def _reap_owned(self) -> None:
        """Collect our zombies that started during attempts that have ended (never the
        engine's own children, nor those of an attempt that runs: its Popen waits)."""
        me = os.getpid()
        windows = self._snapshot()
        closed = [w for w in windows.values() if w[1] is not None]
        for p, (ppid, state, born) in _stats().items():
            mine = ppid == me and state == "Z"
            if mine and any(self._claimable(born, w, windows.values()) for w in closed):
                with contextlib.suppress(OSError):
                    os.waitpid(p, os.WNOHANG)


_shared: SharedReaper | None = None
_shared_lock = threading.Lock()


def shared_reaper() -> SharedReaper:
    """This process's :class:`SharedReaper` (made a subreaper on first use)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = SharedReaper()
        return _shared
