"""The default engine: a pool of persistent worker processes on this machine.

Workers are started once in :meth:`LocalExecutor.start` and reused for every trial; the
trainable is pickled once in the driver and unpickled once per worker (also for the
replacement of a worker that died). Each worker talks to the driver over its own socket pair
(:mod:`tunefleet.worker.wire`); the driver waits on all sockets and process sentinels with
one ``poll`` call and drains every pending message of a ready worker with one read.

Start method (override with ``start_method``):

* ``fork`` when the driver has a single Python thread: the fastest start (a few ms per
  worker) and nothing to re-import. Forking a process that has other threads can copy a lock
  held by one of them (logging, import, a C library) into the child, where it stays locked
  for ever, so we do not fork then.
* ``forkserver`` on Linux when the driver has other threads: workers are forked from a
  single-threaded server process, which is safe and still cheaper than ``spawn``.
* ``spawn`` elsewhere (macOS, where forking is unsafe with system frameworks).

With ``fork`` and ``forkserver``, libraries imported before the worker started (by the
driver, or by the main module in the forkserver) sized their thread pools already; the
worker sets ``OMP_NUM_THREADS`` & co. before unpickling the trainable and also shrinks
loaded pools with ``threadpoolctl`` when it is installed. ``CUDA_VISIBLE_DEVICES`` is read at
CUDA initialisation, which frameworks delay until first use, so it takes effect in all modes.
"""

from __future__ import annotations

import atexit
import contextlib
import math
import multiprocessing
import multiprocessing.util  # noqa: F401 - registers its atexit hook before ours (see _atexit)
import os
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from json import loads as _loads
from typing import Any

from tunefleet.errors import TuneError, TuneValueError
from tunefleet.executors.base import (
    Event,
    Executor,
    Failed,
    Finished,
    Launch,
    Reported,
    Resources,
    Started,
)
from tunefleet.worker import wire
from tunefleet.worker.process import worker_main

_THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
_EPS = 1e-9
_POLLIN = select.POLLIN | select.POLLHUP | select.POLLERR


def detect_gpus() -> list[str]:
    """GPU ids this process may use: ``CUDA_VISIBLE_DEVICES`` if set, else ``nvidia-smi -L``."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        ids: list[str] = []
        for item in visible.split(","):
            item = item.strip()
            if not item or item.startswith("-"):  # CUDA stops at the first invalid id
                break
            ids.append(item)
        return ids
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return []
    try:
        out = subprocess.run([exe, "-L"], capture_output=True, text=True, timeout=15, check=False)
    except (OSError, subprocess.SubprocessError):
        return []
    if out.returncode != 0:
        return []
    count = sum(1 for line in out.stdout.splitlines() if line.startswith("GPU "))
    return [str(i) for i in range(count)]


def default_start_method() -> str:
    """``fork`` if safe (one Python thread, Linux), else ``forkserver``, else ``spawn``."""
    methods = multiprocessing.get_all_start_methods()
    if sys.platform.startswith("linux"):
        if "fork" in methods and threading.active_count() == 1:
            return "fork"
        if "forkserver" in methods:
            return "forkserver"
    return "spawn"


_environ_lock = threading.Lock()


@contextlib.contextmanager
def _environ_for_child(env: dict[str, str]) -> Iterator[None]:
    """``spawn`` execs a fresh interpreter that imports the main module before our code runs,
    so the variables must already be in the environment it inherits."""
    with _environ_lock:
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            yield
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


class _Worker:
    """Driver-side handle of one worker process."""

    __slots__ = (
        "slot",
        "name",
        "env",
        "proc",
        "conn",
        "fd",
        "sentinel",
        "reader",
        "eof",
        "seq",
        "trial_id",
        "attempt",
        "stopping",
    )

    def __init__(self, slot: int, env: dict[str, str], proc: Any, conn: Any) -> None:
        self.slot = slot
        self.name = f"local-{slot}"
        self.env = env
        self.proc = proc
        self.conn = conn
        self.fd: int = conn.fileno()
        self.sentinel: int = proc.sentinel
        self.reader = wire.FrameReader(self.fd)
        self.eof = False
        self.seq = 0
        self.trial_id = ""  # empty while idle
        self.attempt = 0
        self.stopping = False


def _shutdown_workers(workers: list[_Worker], grace: float) -> None:
    """EXIT to all, a short wait, then SIGTERM and SIGKILL for whoever is left."""
    exit_frame = wire.encode((wire.EXIT,))
    for w in workers:
        with contextlib.suppress(OSError):  # never block on a worker that stopped reading
            os.set_blocking(w.fd, False)
            wire.write_frame(w.fd, exit_frame)
    deadline = time.monotonic() + grace
    for w in workers:
        w.proc.join(max(0.0, deadline - time.monotonic()))
    for w in workers:
        if w.proc.is_alive():
            w.proc.terminate()
    deadline = time.monotonic() + 0.5
    for w in workers:
        w.proc.join(max(0.0, deadline - time.monotonic()))
        if w.proc.is_alive():
            w.proc.kill()
            w.proc.join(2.0)
    for w in workers:
        with contextlib.suppress(OSError):
            w.conn.close()
    workers.clear()


_LIVE: weakref.WeakSet[LocalExecutor] = weakref.WeakSet()


def _atexit() -> None:
    # multiprocessing joins non-daemonic children at exit; atexit runs handlers in reverse
    # order and multiprocessing.util registered its hook when imported above, so this runs
    # first and the join finds no worker still waiting for work.
    for ex in list(_LIVE):
        with contextlib.suppress(Exception):
            ex.close()


atexit.register(_atexit)


class LocalExecutor(Executor):
    """Runs trials in persistent worker processes on this machine.

    Parameters
    ----------
    num_cpus:
        CPUs to use (default ``os.cpu_count()``); workers = ``num_cpus // resources.cpu``.
    num_gpus:
        GPUs to use (default: detected). Workers get their own ``CUDA_VISIBLE_DEVICES``;
        a fractional ``gpu`` per trial packs several workers onto one device. When the trial
        asks for no GPU, ``CUDA_VISIBLE_DEVICES`` is left as the driver has it.
    start_method:
        ``"fork"``, ``"forkserver"`` or ``"spawn"``; default: see the module docstring.
    env:
        Extra environment variables for every worker.

    Workers are not daemonic, so trainables may start processes of their own (PyTorch data
    loaders, ``multiprocessing.Pool``).

    ``Started`` is emitted by the driver when a launch is handed to an idle worker (which
    begins at once): one message less per trial. After ``stop()`` (or ``reply(id, False)``)
    no more ``Reported`` events of that attempt come out, even ones already in flight, and
    its ``Finished`` has ``stopped=True``. Not thread-safe: one engine thread drives it.
    """

    name = "local"
    #: Seconds ``close()`` waits for busy workers before terminating them.
    close_grace_s = 1.0

    def __init__(
        self,
        num_cpus: float | None = None,
        num_gpus: int | None = None,
        start_method: str | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        if num_cpus is not None and (
            isinstance(num_cpus, bool) or not isinstance(num_cpus, (int, float)) or not num_cpus > 0
        ):
            raise TuneValueError(f"num_cpus must be a positive number, got {num_cpus!r}")
        if num_gpus is not None and (
            isinstance(num_gpus, bool) or not isinstance(num_gpus, int) or num_gpus < 0
        ):
            raise TuneValueError(f"num_gpus must be a non-negative integer, got {num_gpus!r}")
        methods = multiprocessing.get_all_start_methods()
        if start_method is not None and start_method not in methods:
            raise TuneValueError(
                f"start_method must be one of {', '.join(methods)}, got {start_method!r}"
            )
        if env is not None and (
            not isinstance(env, dict)
            or not all(isinstance(k, str) and isinstance(v, str) for k, v in env.items())
        ):
            raise TuneValueError("env must be a dict of str to str")
        self.num_cpus = num_cpus
        self.num_gpus = num_gpus
        self.start_method = start_method
        self.env = dict(env) if env else {}
        self._gpus: list[str] | None = None
        self._ctx: Any = None
        self._method = ""
        self._payload = b""
        self._workers: list[_Worker] = []
        self._idle: list[_Worker] = []
        self._running: dict[str, _Worker] = {}
        self._fdmap: dict[int, tuple[_Worker, bool]] = {}
        self._poller = select.poll()
        self._pending: list[Event] = []
        self._seq = 0
        self._idle_deaths = 0
        self._started = False
        self._closed = False
        self._finalizer: Any = None
        self.experiment_dir = ""

    # ------------------------------------------------------------------ resources
    def _cpus(self) -> float:
        return float(self.num_cpus) if self.num_cpus is not None else float(os.cpu_count() or 1)

    def gpu_ids(self) -> list[str]:
        """The GPU ids workers are spread over (detected once)."""
        if self._gpus is None:
            if self.num_gpus is None:
                self._gpus = detect_gpus()
            else:
                visible = (
                    detect_gpus() if os.environ.get("CUDA_VISIBLE_DEVICES") is not None else []
                )
                if len(visible) >= self.num_gpus:
                    self._gpus = visible[: self.num_gpus]
                else:
                    self._gpus = [str(i) for i in range(self.num_gpus)]
        return self._gpus

    def validate_resources(self, resources: Resources) -> None:
        cpu, gpu = resources.cpu, resources.gpu
        if not cpu > 0:
            raise TuneValueError(f"resources_per_trial: cpu must be > 0, got {cpu!r}")
        if not gpu >= 0:
            raise TuneValueError(f"resources_per_trial: gpu must be >= 0, got {gpu!r}")
        if cpu > self._cpus() + _EPS:
            raise TuneValueError(
                f"resources_per_trial: cpu={cpu:g} but the local engine has only "
                f"{self._cpus():g} CPUs (set num_cpus or ask for fewer)"
            )
        if gpu > 1 and abs(gpu - round(gpu)) > _EPS:
            raise TuneValueError(
                f"resources_per_trial: gpu={gpu:g}; above 1 it must be a whole number"
            )
        if gpu > 0:
            available = len(self.gpu_ids())
            if gpu > available + _EPS:
                raise TuneValueError(
                    f"resources_per_trial: gpu={gpu:g} but {available} GPU(s) are available "
                    "to the local engine (CUDA_VISIBLE_DEVICES / nvidia-smi; or set num_gpus)"
                )
        if resources.custom:
            raise TuneValueError(
                f"resources_per_trial: custom resources {sorted(resources.custom)} are not "
                "available on the local engine"
            )

    def _slot_envs(self, resources: Resources, max_concurrent: int | None) -> list[dict[str, str]]:
        n = int(math.floor(self._cpus() / resources.cpu + _EPS))
        if max_concurrent is not None:
            n = min(n, max_concurrent)
        devices: list[str] = []
        gpu = resources.gpu
        if gpu > 0:
            ids = self.gpu_ids()
            if gpu < 1:
                per_device = int(math.floor(1.0 / gpu + _EPS))
                devices = [ids[i // per_device] for i in range(len(ids) * per_device)]
            else:
                k = int(round(gpu))
                devices = [",".join(ids[i * k : (i + 1) * k]) for i in range(len(ids) // k)]
            n = min(n, len(devices))
        n = max(1, n)
        threads = str(max(1, int(resources.cpu)))
        envs = []
        for slot in range(n):
            env = dict(self.env)
            for var in _THREAD_VARS:
                env[var] = threads
            if devices:
                env["CUDA_VISIBLE_DEVICES"] = devices[slot]
            envs.append(env)
        return envs

    # ------------------------------------------------------------------ lifecycle
    def start(
        self,
        trainable: Callable[..., Any],
        resources: Resources,
        max_concurrent: int | None,
        experiment_dir: str,
    ) -> None:
        if self._started:
            raise RuntimeError("LocalExecutor.start() was already called")
        if max_concurrent is not None and max_concurrent < 1:
            raise TuneValueError(f"max_concurrent must be >= 1, got {max_concurrent!r}")
        self.validate_resources(resources)
        import cloudpickle

        self._payload = cloudpickle.dumps(trainable)
        self._method = self.start_method or default_start_method()
        self._ctx = multiprocessing.get_context(self._method)
        if self._method == "forkserver":
            self._ctx.set_forkserver_preload(["__main__", "tunefleet.worker.process"])
        self.experiment_dir = experiment_dir
        self._started = True
        _LIVE.add(self)
        self._finalizer = weakref.finalize(self, _shutdown_workers, self._workers, 0.2)
        self._finalizer.atexit = False  # _atexit() handles interpreter exit
        for slot, env in enumerate(self._slot_envs(resources, max_concurrent)):
            self._workers.append(self._spawn(slot, env))
        self._idle = list(reversed(self._workers))

    def _spawn(self, slot: int, env: dict[str, str]) -> _Worker:
        parent, child = self._ctx.Pipe(duplex=True)
        close_fds: list[int] = []
        if self._method == "fork":  # the child must not hold the driver's ends of any socket
            close_fds = [w.fd for w in self._workers if not w.eof] + [parent.fileno()]
        proc = self._ctx.Process(
            target=worker_main,
            args=(child, self._payload, env, close_fds, self._method),
            name=f"tunefleet-local-{slot}",
            daemon=False,
        )
        if self._method == "spawn":
            with _environ_for_child(env):
                proc.start()
        else:
            proc.start()
        child.close()
        w = _Worker(slot, env, proc, parent)
        self._fdmap[w.fd] = (w, False)
        self._fdmap[w.sentinel] = (w, True)
        self._poller.register(w.fd, _POLLIN)
        self._poller.register(w.sentinel, _POLLIN)
        return w

    def capacity(self) -> int:
        return len(self._idle)

    def total_slots(self) -> int:
        return len(self._workers)

    def worker_pids(self) -> list[int]:
        """Process ids of the current workers (for tests and diagnostics)."""
        return [w.proc.pid for w in self._workers]

    def submit(self, launch: Launch) -> None:
        if not self._started or self._closed:
            raise RuntimeError("LocalExecutor.submit() needs start() first and no close()")
        tid = launch.trial_id
        if tid in self._running:
            raise RuntimeError(f"trial {tid} is already running")
        if not self._idle:
            raise RuntimeError("no free worker: check capacity() before submit()")
        self._seq += 1
        msg = (
            wire.RUN,
            self._seq,
            tid,
            launch.attempt,
            launch.config,
            launch.trial_dir,
            launch.checkpoint,
            launch.start_iteration,
            launch.start_time_total,
            launch.sync_reports,
            launch.checkpoint_frequency,
            launch.checkpoint_at_end,
            launch.stop_criteria,
        )
        try:
            frame = wire.encode(msg)
        except Exception as exc:
            raise TuneValueError(
                f"config of trial {tid} cannot be sent to a worker process: {exc!r}"
            ) from exc
        w = self._idle.pop()
        w.seq = self._seq
        w.trial_id = tid
        w.attempt = launch.attempt
        w.stopping = False
        self._running[tid] = w
        with contextlib.suppress(OSError):  # a dead worker shows up through its sentinel
            wire.write_frame(w.fd, frame)
        self._pending.append(Started(tid, launch.attempt, w.name, time.time()))

    def _control(self, w: _Worker, msg: tuple[Any, ...]) -> None:
        with contextlib.suppress(OSError):
            wire.send(w.fd, msg)

    def reply(self, trial_id: str, proceed: bool) -> None:
        w = self._running.get(trial_id)
        if w is None or w.stopping:
            return
        if not proceed:
            w.stopping = True
        self._control(w, (wire.REPLY, w.seq, bool(proceed), False))

    def stop(self, trial_id: str, pause: bool = False) -> None:
        w = self._running.get(trial_id)
        if w is None or w.stopping:
            return
        w.stopping = True  # from now on its reports are dropped: the engine has decided
        self._control(w, (wire.STOP, w.seq, bool(pause)))

    # ------------------------------------------------------------------ events
    def poll(self, timeout: float) -> list[Event]:
        events = self._pending
        self._pending = []
        if not self._started or self._closed:
            return events
        deadline = None if events else time.monotonic() + max(0.0, timeout)
        poll = self._poller.poll
        fdmap = self._fdmap
        while True:
            if deadline is None:
                ms = 0
            else:
                ms = max(0, math.ceil((deadline - time.monotonic()) * 1000.0))
            ready = poll(ms)
            lost: list[_Worker] = []
            for fd, _ in ready:
                entry = fdmap.get(fd)
                if entry is None:
                    continue
                if entry[1]:
                    lost.append(entry[0])
                else:
                    self._read(entry[0], events)
            for w in lost:
                self._lost(w, events)
            if events or deadline is None or time.monotonic() >= deadline:
                return events

    def _read(self, w: _Worker, events: list[Event]) -> None:
        try:
            more = w.reader.fill()
        except OSError:
            more = False
        if not more:  # end of stream: the process is exiting; its sentinel will follow
            w.eof = True
            self._fdmap.pop(w.fd, None)
            with contextlib.suppress(KeyError, ValueError):
                self._poller.unregister(w.fd)
            return
        for msg in w.reader.messages():
            op = msg[0]
            if op == wire.REPORT:
                if not w.stopping:
                    events.append(Reported(w.trial_id, w.attempt, _loads(msg[1]), msg[2], msg[1]))
            elif op == wire.REPORTS:
                if not w.stopping:
                    items = msg[1]
                    tid, attempt = w.trial_id, w.attempt
                    for i in range(0, len(items), 2):
                        text = items[i]
                        events.append(Reported(tid, attempt, _loads(text), items[i + 1], text))
            elif op == wire.DONE:
                events.append(
                    Finished(w.trial_id, w.attempt, time.time(), bool(msg[1]) or w.stopping)
                )
                self._release(w)
            elif op == wire.FAIL:
                events.append(Failed(w.trial_id, w.attempt, msg[1], msg[2], time.time(), False))
                self._release(w)

    def _release(self, w: _Worker) -> None:
        self._running.pop(w.trial_id, None)
        w.trial_id = ""
        w.stopping = False
        self._idle.append(w)
        self._idle_deaths = 0

    def _lost(self, w: _Worker, events: list[Event]) -> None:
        """A worker process ended: report its trial as lost and start a replacement."""
        if not w.eof:  # take what it wrote before it died, without ever blocking
            os.set_blocking(w.fd, False)
            while not w.eof:
                try:
                    self._read(w, events)
                except BlockingIOError:
                    break
        for fd in (w.fd, w.sentinel):
            self._fdmap.pop(fd, None)
            with contextlib.suppress(KeyError, ValueError):
                self._poller.unregister(fd)
        w.proc.join(1.0)
        code = w.proc.exitcode
        with contextlib.suppress(OSError):
            w.conn.close()
        if code is not None and code < 0:
            try:
                how = f"was killed by {signal.Signals(-code).name}"
            except ValueError:
                how = f"was killed by signal {-code}"
        else:
            how = f"exited with code {code}"
        if w.trial_id:
            tid = w.trial_id
            self._running.pop(tid, None)
            msg = f"WorkerLost: worker {w.name} (pid {w.proc.pid}) {how} while running trial {tid}"
            events.append(Failed(tid, w.attempt, msg, msg, time.time(), True))
        else:
            with contextlib.suppress(ValueError):
                self._idle.remove(w)
            self._idle_deaths += 1
        if self._closed:
            return
        if self._idle_deaths > 2 * len(self._workers) + 2:
            raise TuneError(
                f"local worker processes keep dying before running a trial (last one {how}); "
                "check that the trainable can be unpickled and imported in a fresh process"
            )
        replacement = self._spawn(w.slot, w.env)
        self._workers[self._workers.index(w)] = replacement
        self._idle.append(replacement)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        _LIVE.discard(self)
        if self._finalizer is not None:
            self._finalizer.detach()
        _shutdown_workers(self._workers, self.close_grace_s)
        self._running.clear()
        self._idle.clear()
        self._fdmap.clear()
        self._pending = []
