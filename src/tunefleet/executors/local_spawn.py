"""Starting a local worker process: a fresh interpreter that holds only its own socket.

Why not ``multiprocessing``: its ``spawn`` and ``forkserver`` children import the driver's
main module before anything else, which runs a script without a ``__main__`` guard again in
every worker (the sweep starts itself again and the worker dies with "exit code 1"); its
``fork`` children inherit every descriptor of the driver, the experiment's ``driver.lock``
included, and so does whatever a trial forks, which then blocks ``tunefleet resume`` for as
long as it lives. Here every worker is ``python -c <bootstrap> FD DRIVER_PID`` started by
:mod:`subprocess` with ``close_fds=True`` and only the worker's end of its socket pair in
``pass_fds`` (everything Python opens is also ``O_CLOEXEC``): nothing of the driver crosses
the ``exec``. The worker side is :mod:`tunefleet.worker.process`.

What it costs and the alternatives weighed are in docs/architecture.md ("Executors") and
docs/benchmarks.md (``benchmarks/worker_startup.py``).

A :class:`WorkerProcess` gives the executor what it needs of a process: its pid, the
driver's end of the socket (``fd``) and a ``sentinel`` that becomes readable when the
process ends, so the driver waits on sockets and deaths with one ``poll``. On Linux the
sentinel is a pidfd (exact: it fires when the worker itself ends, whatever its children
hold); elsewhere it is a pipe whose other end only the worker holds, which a process the
trial forks without ``exec`` would also hold (its death is then noticed when that process
ends, or by the lease).
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import subprocess
import sys
from typing import Any

from tunefleet.errors import TuneError
from tunefleet.worker.reaper import kill_descendants

_BOOTSTRAP = "import sys; sys.path[:] = {path!r}; from tunefleet.worker.process import main; main()"


def _interpreter_flags() -> list[str]:
    """The driver's ``-X``/``-W``/``-O``... options, as ``multiprocessing`` passes them on."""
    flags = getattr(subprocess, "_args_from_interpreter_flags", None)
    return list(flags()) if flags is not None else []


class WorkerProcess:
    """One worker process and the driver's ends of its socket and sentinel."""

    __slots__ = ("popen", "pid", "fd", "sentinel", "_pipe_sentinel")

    def __init__(self, popen: subprocess.Popen[bytes], fd: int, sentinel: int, pipe: bool) -> None:
        self.popen = popen
        self.pid = popen.pid
        self.fd = fd
        self.sentinel = sentinel
        self._pipe_sentinel = pipe

    @property
    def exitcode(self) -> int | None:
        """None while running; negative: killed by that signal (``multiprocessing``'s rule)."""
        return self.popen.poll()

    def is_alive(self) -> bool:
        return self.popen.poll() is None

    def join(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for the process to end (and reap it)."""
        if self.popen.poll() is not None:
            return
        p = select.poll()
        p.register(self.sentinel, select.POLLIN | select.POLLHUP)
        with contextlib.suppress(InterruptedError):
            p.poll(max(0, int(timeout * 1000)))
        if self._pipe_sentinel:  # its end may outlive the worker in a forked grandchild
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(0.05)
        else:
            self.popen.poll()

    def terminate(self) -> None:
        with contextlib.suppress(OSError):
            self.popen.terminate()  # the worker kills its descendants, then exits

    def kill(self) -> None:
        # The worker is its trials' subreaper, so everything they started is under it;
        # once it is killed they would go to init, out of reach (worker/reaper.py).
        if self.popen.poll() is None:
            kill_descendants(self.pid)
        with contextlib.suppress(OSError):
            self.popen.kill()

    def close(self) -> None:
        """Close the driver's ends (once the process is gone or given up)."""
        for fd in (self.fd, self.sentinel):
            with contextlib.suppress(OSError):
                os.close(fd)
        self.fd = self.sentinel = -1


_pidfds: bool | None = None


def _pidfds_work() -> bool:
    """Can this process open pidfds? (Linux >= 5.3, and no sandbox forbids it; once.)"""
    global _pidfds
    if _pidfds is None:
        _pidfds = False
        pidfd_open: Any = getattr(os, "pidfd_open", None)
        if pidfd_open is not None:
            with contextlib.suppress(OSError):
                os.close(pidfd_open(os.getpid()))
                _pidfds = True
    return _pidfds


#: Variables that cap a worker's native thread pools at its CPU share (LocalExecutor).
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")

# Workers started ahead of their executor (start_early): (what they were started with,
# the worker). Each waits for its BOOT frame; spawn_worker hands one out when it would have
# started the same process, and discard_early ends the ones nobody took.
_early: list[tuple[tuple[Any, ...], WorkerProcess]] = []


def _launch_key(env: dict[str, str]) -> tuple[Any, ...]:
    """Everything a worker process is started with, bar its socket."""
    return (sys.executable, tuple(sys.path), tuple(_interpreter_flags()), {**os.environ, **env})


def start_early(envs: list[dict[str, str]]) -> None:
    """Start one worker per ``env`` now, before the executor that will use them exists."""
    for env in envs:
        _early.append((_launch_key(env), _start(env)))


def discard_early() -> None:
    """End the early workers no executor took (their run ended or used other settings)."""
    while _early:
        _, proc = _early.pop()
        proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.popen.wait(5)
        proc.close()


def spawn_worker(env: dict[str, str], boot: bytes) -> WorkerProcess:
    """A worker with ``env`` added to this process's environment, started now or taken from
    the early ones, with its ``BOOT`` frame (``boot``, already encoded) written to it."""
    from tunefleet.worker import wire

    proc = None
    if _early:
        key = _launch_key(env)
        for i, (started_with, early) in enumerate(_early):
            if started_with == key and early.is_alive():
                proc = _early.pop(i)[1]
                break
    if proc is None:
        proc = _start(env)
    with contextlib.suppress(OSError):  # a worker that died at once shows up via its sentinel
        wire.write_frame(proc.fd, boot)
    return proc


def _start(env: dict[str, str]) -> WorkerProcess:
    """Start a worker process; it waits for its BOOT frame."""
    exe = sys.executable
    if not exe:
        raise TuneError(
            "the local engine cannot start worker processes: sys.executable is empty (an "
            "embedded interpreter); run the sweep from a python process, or use "
            "engine='ray', 'dask' or 'spark'"
        )
    mine, theirs = socket.socketpair()
    pidfd = _pidfds_work()
    pipe_r = pipe_w = -1
    try:
        pass_fds = [theirs.fileno()]
        if not pidfd:
            pipe_r, pipe_w = os.pipe()
            pass_fds.append(pipe_w)
        popen = subprocess.Popen(
            [
                exe,
                *_interpreter_flags(),
                "-c",
                _BOOTSTRAP.format(path=list(sys.path)),
                str(theirs.fileno()),
                str(os.getpid()),
            ],
            env={**os.environ, **env},
            stdin=subprocess.DEVNULL,
            close_fds=True,
            pass_fds=pass_fds,
        )
        sentinel = os.pidfd_open(popen.pid) if pidfd else pipe_r
    except BaseException:
        mine.close()
        for end in (pipe_r, pipe_w):
            if end >= 0:
                os.close(end)
        raise
    finally:
        theirs.close()
    if pipe_w >= 0:
        os.close(pipe_w)
    return WorkerProcess(popen, mine.detach(), sentinel, not pidfd)
