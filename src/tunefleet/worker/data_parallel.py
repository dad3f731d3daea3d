"""Data-parallel trials: one trial run as N processes joined by ``torch.distributed``.

Why: a study compares (and combines) two ways to spend cores, many trials at once or one
trial across processes; ``resources_per_trial={"cpu": c, "workers": n}`` gives the second
without leaving the tool.

How: the runner wraps the user's function in a :class:`DataParallelTrainable` (the
*launcher*). Every executor runs it like any function trainable, in the process it gives the
trial's slot, which reserved ``c × n`` CPUs (:meth:`Resources.total`). There the launcher

1. writes the trial (function, config, the checkpoint to restore as a local directory) to a
   private temporary file and picks a free port on 127.0.0.1 (first removing the folders
   of launchers on this host that died without unwinding: see :func:`remove_stale_tempdirs`);
2. starts ``n`` rank processes, ``python -m tunefleet.worker.rank`` (:mod:`subprocess`, not
   :mod:`multiprocessing`: Dask workers are daemonic and may not have children of that
   kind), each with ``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``,
   ``MASTER_PORT`` and ``OMP_NUM_THREADS = c`` set, and with one end of a socket pair;
3. forwards rank 0's reports to the engine's real ``report()`` (which adds the automatic
   fields, persists the checkpoint, applies stop criteria and waits for synchronous
   decisions) and answers rank 0 once it returned;
4. returns when every rank exited with code 0.

Failure semantics: if the real ``report()`` raises (the scheduler stopped or paused the
trial, the driver is gone), the ranks are terminated (SIGTERM, SIGKILL after
:data:`TERM_GRACE_S`) and the exception goes on, exactly as in a one-process trial. If a
rank raises or exits with another code, the others are terminated and
:class:`DataParallelError` names the rank, with its traceback chained as the cause: the
attempt fails like any user error (counted against ``max_failures``, retried from the last
checkpoint). On every exit path the ranks (and what they started, in their process groups)
are reaped; a rank also dies with its launcher (see :mod:`tunefleet.worker.rank`).
"""

from __future__ import annotations

import contextlib
import math
import os
import pickle
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from multiprocessing.connection import Connection, wait
from typing import Any

from tunefleet.errors import ReportOutsideTrialError, TuneError, TuneValueError
from tunefleet.protocol import Resources
from tunefleet.worker import rank as _rank
from tunefleet.worker.session import Session, current_session

#: Seconds the ranks get to exit after SIGTERM before they are killed.
TERM_GRACE_S = 2.0
#: Seconds between two checks of the ranks' exit codes while none of them writes.
POLL_S = 0.1
#: Seconds to wait for the error message of a rank that exited with a failure code.
DRAIN_S = 1.0
#: Set (to "1") in a rank whose ``CUDA_VISIBLE_DEVICES`` holds only its own GPUs.
GPU_SPLIT_VAR = "TUNEFLEET_RANK_GPUS"
_THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


class DataParallelError(TuneError):
    """A rank of a data-parallel trial failed, so the attempt failed."""


class RankTraceback(Exception):  # noqa: N818 - it carries text, it is never raised alone
    """The failed rank's traceback, chained as the cause so the trial's traceback shows it."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text

    def __str__(self) -> str:
        return "\n" + self.text.rstrip()


def data_parallel(fn: Callable[..., Any], resources: Resources) -> DataParallelTrainable:
    """Wrap a function trainable so each trial runs as ``resources.workers`` processes."""
    from tunefleet.trainable import _ClassRunner

    if isinstance(fn, _ClassRunner):
        raise TuneValueError(
            f"resources_per_trial['workers']: workers={resources.workers} runs a trial as "
            f"{resources.workers} processes, which only function trainables support; "
            f"{fn.__name__} is a class trainable (tunefleet.Trainable). Write it as a "
            "function that calls tunefleet.report(), or leave workers at 1"
        )
    return DataParallelTrainable(fn, resources)


class DataParallelTrainable:
    """The launcher: ``fn(config)`` for executors, N rank processes underneath.

    Pickles to the user's function as cloudpickled bytes: the engine's worker never
    unpickles (nor imports what) the function needs; only the ranks do.
    """

    def __init__(self, fn: Callable[..., Any] | None, resources: Resources) -> None:
        self.fn = fn
        self._payload: bytes | None = None
        self.workers = resources.workers
        self.cpu = resources.cpu
        self.gpu = resources.gpu
        self.__name__ = str(getattr(fn, "__name__", type(fn).__name__))
        self.__qualname__ = str(getattr(fn, "__qualname__", self.__name__))
        self.__module__ = str(getattr(fn, "__module__", __name__))

    def payload(self) -> bytes:
        """The user's function, cloudpickled once."""
        if self._payload is None:
            import cloudpickle

            self._payload = cloudpickle.dumps(self.fn)
        return self._payload

    def __getstate__(self) -> dict[str, Any]:
        return {
            "payload": self.payload(),
            "workers": self.workers,
            "cpu": self.cpu,
            "gpu": self.gpu,
            "name": (self.__name__, self.__qualname__, self.__module__),
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.fn = None
        self._payload = state["payload"]
        self.workers, self.cpu, self.gpu = state["workers"], state["cpu"], state["gpu"]
        self.__name__, self.__qualname__, self.__module__ = state["name"]

    def __call__(self, config: dict[str, Any]) -> None:
        session = current_session()
        if session is None:
            raise ReportOutsideTrialError(
                "a data-parallel trainable runs only inside a trial started by "
                "tunefleet.run() / Tuner"
            )
        run_ranks(self.payload(), config, session, self.workers, self.cpu, self.gpu)


def run_ranks(
    payload: bytes,
    config: dict[str, Any],
    session: Session,
    workers: int,
    cpu: float,
    gpu: float = 0.0,
) -> None:
    """Run one attempt as ``workers`` rank processes, forwarding rank 0's reports to
    ``session``; return when all exited with code 0, raise otherwise (see module doc)."""
    import cloudpickle

    threads = max(1, int(cpu))
    with contextlib.ExitStack() as stack:  # unwinds: ranks reaped, then files removed
        restore: str | None = None
        checkpoint = session.get_checkpoint()
        if checkpoint is not None:  # at a URL: downloaded once here, not once per rank
            restore = stack.enter_context(checkpoint.as_directory())
        remove_stale_tempdirs()
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix=_tempdir_prefix()))
        path = os.path.join(tmp, "trial.pkl")
        trial = {
            "fn": payload,
            "config": cloudpickle.dumps(config),
            "sys_path": list(sys.path),
            "trial_id": session.trial_id,
            "attempt": session.attempt,
            "trial_dir": session.get_trial_dir(),
            "restore_from": restore,
            "start_iteration": session.iteration,
            "start_time_total": session.time_total,
            "world_size": workers,
            "threads": threads,
            "resources": None
            if session.trial_resources is None
            else session.trial_resources.to_json(),
        }
        with open(path, "wb") as f:
            pickle.dump(trial, f, protocol=pickle.HIGHEST_PROTOCOL)
        ranks = _Ranks(workers)
        stack.callback(ranks.close)
        ranks.start(path, rank_environments(workers, cpu, gpu))
        ranks.serve(session)


# ------------------------------------------------------------------------ temporary folders
#: A launcher's private folder is ``tunefleet-dp-<host>-<pid>-<random>`` in the temp dir, so
#: that one left by a launcher killed with SIGKILL (its ``with`` never unwound) is known as
#: such by the next launcher on the host, which removes it.
_TEMP_PREFIX = "tunefleet-dp-"


def _tempdir_prefix() -> str:
    return f"{_TEMP_PREFIX}{socket.gethostname()}-{os.getpid()}-"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: someone else's process
        return True
    return True


def remove_stale_tempdirs(root: str | None = None) -> int:
    """Remove the launcher folders in ``root`` (the temp dir) whose launcher on this host
    is dead; how many. (A live pid reused by another process keeps its folder until then.)"""
    import shutil

    root = tempfile.gettempdir() if root is None else root
    mine = f"{_TEMP_PREFIX}{socket.gethostname()}-"
    removed = 0
    try:
        names = os.listdir(root)
    except OSError:
        return 0
    for name in names:
        pid = name[len(mine) :].split("-", 1)[0]
        if not name.startswith(mine) or not pid.isdigit() or _pid_alive(int(pid)):
            continue
        shutil.rmtree(os.path.join(root, name), ignore_errors=True)
        removed += 1
    return removed


# ------------------------------------------------------------------------ environment
def _free_port() -> int:
    """A port no one listens on now; rank 0's TCP store binds it moments later."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _loopback_interface() -> str | None:
    """All ranks share a host: gloo should use loopback, not resolve the host name."""
    with contextlib.suppress(OSError, AttributeError):
        names = {name for _, name in socket.if_nameindex()}
        for name in ("lo", "lo0"):
            if name in names:
                return name
    return None


def split_gpus(ids: list[str], workers: int, gpu: float) -> list[str] | None:
    """Each rank's ``CUDA_VISIBLE_DEVICES`` out of the slot's GPU ``ids``, for ``gpu`` per
    rank; None when the slot's GPUs cannot be split that way (ranks then see them all)."""
    if gpu <= 0 or not ids:
        return None
    if gpu >= 1:
        k = int(round(gpu))
        if k * workers > len(ids):
            return None
        return [",".join(ids[r * k : (r + 1) * k]) for r in range(workers)]
    per_device = max(1, int(math.floor(1.0 / gpu + 1e-9)))
    if (workers - 1) // per_device >= len(ids):
        return None
    return [ids[r // per_device] for r in range(workers)]


def rank_environments(workers: int, cpu: float, gpu: float = 0.0) -> list[dict[str, str]]:
    """The environment of each rank: torch's ``env://`` variables, thread limits, GPUs."""
    threads = str(max(1, int(cpu)))
    base = dict(os.environ)
    base.update(
        {
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(_free_port()),
            "WORLD_SIZE": str(workers),
            "LOCAL_WORLD_SIZE": str(workers),
            "NODE_RANK": "0",
            "GROUP_RANK": "0",
        }
    )
    base.pop(GPU_SPLIT_VAR, None)
    for var in _THREAD_VARS:
        base[var] = threads
    loopback = _loopback_interface()
    if loopback is not None:
        base.setdefault("GLOO_SOCKET_IFNAME", loopback)
    devices: list[str] | None = None
    if gpu > 0:
        from tunefleet.worker.gpus import detect_gpus

        devices = split_gpus(detect_gpus(), workers, gpu)
    envs = []
    for r in range(workers):
        env = dict(base)
        env["RANK"] = env["LOCAL_RANK"] = str(r)
        if devices is not None:
            env["CUDA_VISIBLE_DEVICES"] = devices[r]
            env[GPU_SPLIT_VAR] = "1"
        envs.append(env)
    return envs


# ------------------------------------------------------------------------ the ranks
def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    """Signal a rank and everything it started (its own process group)."""
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        # The group is gone (its pid cannot have been reused while the group lived).
        if proc.poll() is None:
            with contextlib.suppress(OSError):
                proc.send_signal(sig)


def _how(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


class _Ranks:
    """The rank processes of one attempt and the launcher's ends of their sockets."""

    def __init__(self, world_size: int) -> None:
        self.world_size = world_size
        self.procs: list[subprocess.Popen[bytes]] = []
        self.conns: dict[int, Connection] = {}  # open connections, by rank
        # (unix time, rank, description, traceback) of each failure seen
        self.errors: list[tuple[float, int, str, str]] = []

    def start(self, payload_path: str, envs: list[dict[str, str]]) -> None:
        for r, env in enumerate(envs):
            mine, theirs = socket.socketpair()
            try:
                proc = subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "tunefleet.worker.rank",
                        str(r),
                        str(theirs.fileno()),
                        payload_path,
                        str(os.getpid()),
                    ],
                    env=env,
                    stdin=subprocess.DEVNULL,
                    pass_fds=(theirs.fileno(),),
                    start_new_session=True,  # its own group: killed with what it started
                )
            except BaseException:
                mine.close()
                raise
            finally:
                theirs.close()
            self.procs.append(proc)
            self.conns[r] = Connection(mine.detach())

    def serve(self, session: Session) -> None:
        """Forward rank 0's reports until every rank has exited; raise if one failed."""
        running = set(range(self.world_size))
        while running and not self.errors:
            conns = list(self.conns.values())
            ready = wait(conns, timeout=POLL_S) if conns else []
            if not conns:
                time.sleep(POLL_S)
            for conn in ready:
                r = next(k for k, c in self.conns.items() if c is conn)
                self._receive(r, session)
            if self.errors:
                break
            for r in sorted(running):
                code = self.procs[r].poll()
                if code is None:
                    continue
                running.discard(r)
                if code != 0:
                    self._drain(r)  # its error message may still be in the socket
                    if not any(e[1] == r for e in self.errors):
                        self.errors.append((time.time(), r, _how(code), ""))
        if self.errors:
            err, cause = self._error()
            raise err from cause

    def _receive(self, r: int, session: Session) -> None:
        conn = self.conns[r]
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            self._forget(r)
            return
        if msg[0] == _rank.REPORT and r == 0:
            # The engine's own report(): automatic fields, checkpoint persisted, stop
            # criteria, synchronous decisions. Whatever it raises ends the ranks.
            session.report(msg[1], msg[2])
            with contextlib.suppress(OSError):
                conn.send((_rank.OK, session.iteration))
        elif msg[0] == _rank.ERROR:
            self.errors.append((float(msg[1]), r, str(msg[2]), str(msg[3])))

    def _drain(self, r: int) -> None:
        """Read what an exited rank still has in its socket (its error message)."""
        deadline = time.monotonic() + DRAIN_S
        while r in self.conns:
            conn = self.conns[r]
            try:
                if not conn.poll(max(0.0, deadline - time.monotonic())):
                    return
                msg = conn.recv()
            except (EOFError, OSError):
                self._forget(r)
                return
            if msg[0] == _rank.ERROR:
                self.errors.append((float(msg[1]), r, str(msg[2]), str(msg[3])))

    def _forget(self, r: int) -> None:
        conn = self.conns.pop(r, None)
        if conn is not None:
            with contextlib.suppress(OSError):
                conn.close()

    def _error(self) -> tuple[DataParallelError, RankTraceback | None]:
        """The first failure, with its rank's traceback: later ones are usually its echo
        in the other ranks (a collective whose peer went away)."""
        _, r, what, tb = min(self.errors)
        n = self.world_size
        if tb:
            return DataParallelError(f"rank {r} of {n} failed: {what}"), RankTraceback(tb)
        return DataParallelError(
            f"rank {r} of {n} {what} without reporting an error (its output went to the "
            "worker's stderr)"
        ), None

    def close(self) -> None:
        """Reap every rank: SIGTERM, SIGKILL after :data:`TERM_GRACE_S`; then kill what
        they left behind in their process groups."""
        alive = [p for p in self.procs if p.poll() is None]
        for p in alive:
            _signal_group(p, signal.SIGTERM)
        deadline = time.monotonic() + TERM_GRACE_S
        for p in alive:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(max(0.0, deadline - time.monotonic()))
        for p in self.procs:
            if p.poll() is None:
                _signal_group(p, signal.SIGKILL)
                p.wait()
            _signal_group(p, signal.SIGKILL)
        for r in list(self.conns):
            self._forget(r)
