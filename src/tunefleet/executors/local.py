"""The default engine: a pool of persistent worker processes on this machine.

Workers are started once in :meth:`LocalExecutor.start` and reused for every trial; the
trainable is pickled once in the driver and unpickled once per worker (also for the
replacement of a worker that died). Each worker talks to the driver over its own socket pair
(:mod:`tunefleet.worker.wire`); the driver waits on all sockets and process sentinels with
one ``poll`` call and drains every pending message of a ready worker with one read.

How a worker starts (:mod:`tunefleet.executors.local_spawn`): as a fresh interpreter
running tunefleet's worker entry point (:mod:`tunefleet.worker.process`), never a
``multiprocessing`` child. So the user's script is never executed again (no ``if __name__ ==
"__main__":`` guard is needed, with or without threads in the driver), and no descriptor of
the driver (its lock, the store, other workers' sockets) reaches a worker or what a trial
starts. ``OMP_NUM_THREADS`` & co. and ``CUDA_VISIBLE_DEVICES`` are in the worker's
environment from its first instruction. :meth:`~LocalExecutor.start` returns once one worker
has loaded the trainable, so a trainable that cannot be loaded there is an error naming why
and what to change, before any trial starts.

Why ~750 lines: the pool, its one ``poll`` loop and the leases below all work on the same
per-worker state (``_Worker``), and most of the length is the lease rules' documentation;
starting a process lives in ``local_spawn.py``, the worker's side in ``tunefleet.worker``.

Trial leases
------------
Why: a worker can stop making progress without dying, so no process sentinel ever fires: it
was frozen (``SIGSTOP``, a debugger, a suspended container), its machine was cut off, or it
is swapping itself to death. Without a lease its trial would stay RUNNING for ever and hold
its slot (the zombie RUNNING trials of Optuna).

How: a running trial holds a lease that its worker renews. With ``lease_ttl`` (default 30 s;
``None`` disables leases) the worker sends a ``HEARTBEAT`` from a background thread every
``lease_ttl / 4`` seconds when it sent nothing else meanwhile; any message from the worker
renews the lease too, so busy trials pay nothing extra. The driver notes the time of each
read (O(1) per read, nothing per message) and scans the leases of busy workers at most a few
times per second (every ``lease_ttl / 4``, at most once a second), never per message. A
lease whose renewal is overdue is checked once more against the socket (a driver that was
itself busy for a while may simply not have read the renewal yet).

What happens when a lease expires: the executor emits ``Failed(..., worker_lost=True,
stale=True)`` with ``error="lease expired after X s (worker pid N stopped renewing it)"``;
the engine re-queues the trial from its last checkpoint like any failure counted against
``max_failures``. The stale worker stops counting towards capacity and a replacement is
started at once (the trainable is shipped to it as usual), so the relaunch need not wait. The
stale worker is not killed yet: if it wakes up, its reports still come out as ``Reported``
events with the *old* attempt number (the engine records them as ``stale_result`` and never
lets them overwrite the current attempt); its synchronous reports are answered so that it
never hangs; its end (done or failed) produces no event and frees no slot. When its attempt
ends it is told to exit, and if it is still there ``stale_grace_ttls * lease_ttl`` seconds
(10 × TTL) after the expiry it is killed, so no orphan remains. ``stop()`` and ``reply()``
always address the worker of the trial's current attempt, never a stale one.

Choosing the TTL: long enough that a healthy worker always renews in time. The heartbeat
thread needs the GIL for a moment every ``lease_ttl / 4``; a pure-Python loop lets it run,
but one C call that holds the GIL for longer than the TTL (rare: most numerical libraries
release it) would look like a frozen worker.
"""

from __future__ import annotations

import contextlib
import math
import os
import select
import signal
import sys
import tempfile
import time
import warnings
import weakref
from typing import Any

from tunefleet.errors import TuneError, TuneValueError
from tunefleet.executors.base import Executor, Start, close_at_exit
from tunefleet.executors.local_spawn import THREAD_VARS, WorkerProcess, spawn_worker
from tunefleet.executors.slots import (
    PoolControl,
    Slot,
    SlotPool,
    add_reports,
    check_lease_ttl,
    readable,
)
from tunefleet.protocol import Event, Failed, Launch, Resources
from tunefleet.worker import wire
from tunefleet.worker.gpus import detect_gpus
from tunefleet.worker.reaper import descendants

_EPS = 1e-9
_POLLIN = select.POLLIN | select.POLLHUP | select.POLLERR


#: Accepted for compatibility; every worker is a fresh interpreter whatever the value.
START_METHODS = ("fork", "forkserver", "spawn")


class _Worker(Slot):
    """Driver-side handle of one worker process."""

    __slots__ = (
        "slot",
        "name",
        "env",
        "proc",
        "fd",
        "sentinel",
        "reader",
        "eof",
        "heard",
        "stale_until",
    )

    def __init__(self, slot: int, env: dict[str, str], proc: WorkerProcess) -> None:
        super().__init__()
        self.slot = slot
        self.name = f"local-{slot}"
        self.env = env
        self.proc = proc
        self.fd = proc.fd
        self.sentinel = proc.sentinel
        self.reader = wire.FrameReader(self.fd)
        self.eof = False
        self.heard = False  # the process has sent something (it got as far as its main())
        self.stale_until = 0.0  # > 0: lease expired; killed if still alive at this time

    def place(self) -> str:
        return f"{self.name} (pid {self.proc.pid})"

    def write(self, frame: bytes) -> None:
        with contextlib.suppress(OSError):  # a dead worker shows up through its sentinel
            wire.write_frame(self.fd, frame)


#: Trainables up to this size travel in the BOOT frame (well under a socket's buffer, so
#: writing it never waits for the worker); larger ones through a file the worker reads.
_INLINE_PAYLOAD_BYTES = 64 * 1024


def _write_payload(payload: bytes, directory: str) -> str:
    """The pickled trainable in a private file that worker processes read at start."""
    os.makedirs(directory, exist_ok=True)
    fd, path = tempfile.mkstemp(prefix=".trainable-", suffix=".pkl", dir=directory)
    with os.fdopen(fd, "wb") as f:
        f.write(payload)
    return path


def _shutdown_workers(
    pool: list[_Worker], grace: float, stale: list[_Worker] | None = None, kill_grace: float = 0.0
) -> None:
    """EXIT to all, a short wait, then SIGTERM and SIGKILL for whoever is left. A worker
    whose trial started processes gets ``kill_grace`` more after SIGTERM: it spends it
    ending them (SIGTERM, grace, SIGKILL: worker/reaper.py)."""
    workers = pool + stale if stale else list(pool)
    for w in stale or ():  # their attempts were already given up: no need to wait
        with contextlib.suppress(Exception):
            w.proc.kill()
    exit_frame = wire.encode((wire.EXIT,))
    for w in workers:
        with contextlib.suppress(OSError):  # never block on a worker that stopped reading
            os.set_blocking(w.fd, False)
            wire.write_frame(w.fd, exit_frame)
    deadline = time.monotonic() + grace
    for w in workers:
        w.proc.join(max(0.0, deadline - time.monotonic()))
    extra = 0.0
    for w in workers:
        if w.proc.is_alive():
            if kill_grace > 0 and descendants(w.proc.pid):
                extra = kill_grace
            w.proc.terminate()
    deadline = time.monotonic() + 0.5 + extra
    for w in workers:
        w.proc.join(max(0.0, deadline - time.monotonic()))
        if w.proc.is_alive():
            w.proc.kill()
            w.proc.join(2.0)
    for w in workers:
        w.proc.close()
    pool.clear()
    if stale:
        stale.clear()


class LocalExecutor(PoolControl, Executor):
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
        Accepted for compatibility (``"fork"``, ``"forkserver"`` or ``"spawn"``) and ignored
        with a ``DeprecationWarning``: every worker is a fresh interpreter (see the module
        docstring), which none of the three gave.
    env:
        Extra environment variables for every worker.
    lease_ttl:
        Seconds a running trial's lease lasts without renewal (default 30; ``None``: no
        leases). See "Trial leases" in the module docstring.

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
    #: A worker whose lease expired is killed this many TTLs later if it is still alive.
    stale_grace_ttls = 10.0
    #: Seconds a stale worker whose attempt ended has to exit before it is killed.
    stale_exit_s = 5.0
    #: A worker that has not sent its first message yet (a fresh interpreter importing
    #: tunefleet) may take this long, if more than the TTL, before its lease expires.
    startup_grace_s = 60.0

    def __init__(
        self,
        num_cpus: float | None = None,
        num_gpus: int | None = None,
        start_method: str | None = None,
        env: dict[str, str] | None = None,
        lease_ttl: float | None = 30.0,
    ) -> None:
        if num_cpus is not None and (
            isinstance(num_cpus, bool) or not isinstance(num_cpus, (int, float)) or not num_cpus > 0
        ):
            raise TuneValueError(f"num_cpus must be a positive number, got {num_cpus!r}")
        if num_gpus is not None and (
            isinstance(num_gpus, bool) or not isinstance(num_gpus, int) or num_gpus < 0
        ):
            raise TuneValueError(f"num_gpus must be a non-negative integer, got {num_gpus!r}")
        if start_method is not None:
            if start_method not in START_METHODS:
                raise TuneValueError(
                    f"start_method must be one of {', '.join(START_METHODS)}, got {start_method!r}"
                )
            warnings.warn(
                f"LocalExecutor(start_method={start_method!r}) has no effect: every local "
                "worker is a fresh interpreter that never runs the main script again; "
                "remove the argument",
                DeprecationWarning,
                stacklevel=2,
            )
        if env is not None and (
            not isinstance(env, dict)
            or not all(isinstance(k, str) and isinstance(v, str) for k, v in env.items())
        ):
            raise TuneValueError("env must be a dict of str to str")
        check_lease_ttl(lease_ttl)
        self.num_cpus = num_cpus
        self.num_gpus = num_gpus
        self.start_method = start_method
        self.env = dict(env) if env else {}
        self.lease_ttl = float(lease_ttl) if lease_ttl is not None else None
        self._heartbeat_s = self.lease_ttl / 4.0 if self.lease_ttl is not None else None
        self._scan_every = (
            max(0.05, min(1.0, self.lease_ttl / 4.0)) if self.lease_ttl is not None else math.inf
        )
        self._next_scan = 0.0
        self._stale: list[_Worker] = []  # workers whose lease expired, until they are gone
        self._gpus: list[str] | None = None
        self._boot = b""  # the BOOT frame every worker gets first
        self._payload_file: str | None = None  # the pickled trainable, when it is large
        self._loaded_once = False  # a worker answered READY
        self._load_error: tuple[str, str] | None = None  # ... and the trainable did not load
        self._workers: list[_Worker] = []
        self._pool: SlotPool[_Worker] = SlotPool("a worker process")
        self._idle = self._pool.idle  # the same list and dict as the pool's
        self._running = self._pool.running
        self._fdmap: dict[int, tuple[_Worker, bool]] = {}
        self._poller = select.poll()
        self._pending: list[Event] = []
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
            for var in THREAD_VARS:
                env[var] = threads
            if devices:
                env["CUDA_VISIBLE_DEVICES"] = devices[slot]
            envs.append(env)
        return envs

    # ------------------------------------------------------------------ lifecycle
    def open(self, start: Start) -> None:
        trainable, resources, max_concurrent, experiment_dir = start
        self.validate_resources(resources)
        import cloudpickle

        pickled = cloudpickle.dumps(trainable)
        payload: bytes | str = pickled
        if len(pickled) > _INLINE_PAYLOAD_BYTES:
            payload = self._payload_file = _write_payload(pickled, experiment_dir)
        self._boot = wire.encode((wire.BOOT, list(sys.argv), payload, self._heartbeat_s))
        self.experiment_dir = experiment_dir
        self._started = True
        close_at_exit(self)
        self._finalizer = weakref.finalize(self, _shutdown_workers, self._workers, 0.2, self._stale)
        self._finalizer.atexit = False  # close_at_exit() handles interpreter exit
        for slot, env in enumerate(self._slot_envs(resources, max_concurrent)):
            self._workers.append(self._spawn(slot, env))
        self._idle[:] = reversed(self._workers)
        self._await_loaded()

    def _await_loaded(self) -> None:
        """Wait until a worker has loaded the trainable: if it could not, no trial can run,
        so say why now (before any trial starts) rather than once per trial."""
        events: list[Event] = []
        while not self._loaded_once:
            now = time.monotonic()
            self._handle(self._poller.poll(100), now, events)
        self._pending.extend(events)  # none expected: no trial was submitted yet
        if self._load_error is not None:
            message, tb = self._load_error
            self.close()
            raise TuneError(f"{message}\n\nIn the worker process:\n{tb}")

    def _spawn(self, slot: int, env: dict[str, str]) -> _Worker:
        w = _Worker(slot, env, spawn_worker(env, self._boot))
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

    def stale_worker_pids(self) -> list[int]:
        """Process ids of workers whose lease expired and that are not gone yet."""
        return [w.proc.pid for w in self._stale]

    def submit(self, launch: Launch) -> None:
        if not self._started or self._closed:
            raise RuntimeError("LocalExecutor.submit() needs start() first and no close()")
        self._pending.append(self._pool.launch(launch))
        # close() waits this much longer for busy workers: their trials' processes get it
        # between SIGTERM and SIGKILL (worker/reaper.py).
        self._kill_grace_s = max(getattr(self, "_kill_grace_s", 0.0), launch.kill_grace_s)

    def _control(self, w: _Worker, msg: tuple[Any, ...]) -> None:
        with contextlib.suppress(OSError):
            wire.send(w.fd, msg)

    # ------------------------------------------------------------------ events
    def poll(self, timeout: float) -> list[Event]:
        events = self._pending
        self._pending = []
        if not self._started or self._closed:
            return events
        deadline = None if events else time.monotonic() + max(0.0, timeout)
        poll = self._poller.poll
        leases = self.lease_ttl is not None
        while True:
            if deadline is None:
                ms = 0
            else:
                until = deadline
                if leases and (self._running or self._stale) and self._next_scan < until:
                    until = self._next_scan  # wake up for the lease scan
                ms = max(0, math.ceil((until - time.monotonic()) * 1000.0))
            ready = poll(ms)
            now = time.monotonic()
            if ready:
                self._handle(ready, now, events)
            if leases and now >= self._next_scan:
                self._next_scan = now + self._scan_every
                if self._running or self._stale:
                    self._scan(now, events)
            if events or deadline is None or time.monotonic() >= deadline:
                return events

    def _handle(self, ready: list[tuple[int, int]], now: float, events: list[Event]) -> None:
        """Read the workers whose sockets are ready, then deal with the ones that ended."""
        fdmap = self._fdmap
        lost: list[_Worker] = []
        for fd, _ in ready:
            entry = fdmap.get(fd)
            if entry is None:
                continue
            w = entry[0]
            if entry[1]:
                lost.append(w)
            else:
                w.renewed = now  # any message renews the lease
                w.heard = True
                self._read(w, events)
        for w in lost:
            self._lost(w, events)

    def _fill(self, w: _Worker) -> bool:
        """Read what the worker sent; False at end of stream."""
        try:
            more = w.reader.fill()
        except OSError:
            more = False
        if not more:  # end of stream: the process is exiting; its sentinel will follow
            w.eof = True
            self._fdmap.pop(w.fd, None)
            with contextlib.suppress(KeyError, ValueError):
                self._poller.unregister(w.fd)
        return more

    def _read(self, w: _Worker, events: list[Event]) -> None:
        if w.stale_until:
            self._read_stale(w, events)
            return
        if not self._fill(w):
            return
        running = bool(w.trial_id)
        for msg in self._pool.take(w, w.reader.messages(), events, True):
            if msg[0] == wire.READY and not self._loaded_once:
                # the first worker's answer decides whether start() fails
                self._loaded_once = True
                self._load_error = msg[1]
        if running and not w.trial_id:  # its attempt ended: the worker serves trials
            self._idle_deaths = 0
            # HEARTBEAT: the renewal was noted by poll()

    # ------------------------------------------------------------------ leases
    def _scan(self, now: float, events: list[Event]) -> None:
        """Expire the leases that were not renewed for ``lease_ttl``; kill overdue stale
        workers. Runs every ``_scan_every`` seconds, not per message."""
        assert self.lease_ttl is not None
        cutoff = now - self.lease_ttl
        overdue = self._pool.overdue(cutoff)
        for w in overdue:
            if readable(w.fd):  # it did renew; the driver had not read it yet
                w.renewed = now
                w.heard = True
                self._read(w, events)
            elif not w.heard and now - w.renewed < self.startup_grace_s:
                continue  # still starting: its heartbeat thread does not run yet
            else:
                self._expire(w, now, events)
        for w in self._stale:
            if 0 < w.stale_until <= now and w.proc.is_alive():
                with contextlib.suppress(OSError):
                    w.proc.kill()  # SIGKILL also ends a stopped process; the sentinel follows
                w.stale_until = math.inf  # killed once; reaped through its sentinel

    def _expire(self, w: _Worker, now: float, events: list[Event]) -> None:
        """The lease of ``w``'s attempt expired: fail it as stale and replace the worker."""
        assert self.lease_ttl is not None
        tid = w.trial_id
        self._running.pop(tid, None)
        msg = (
            f"lease expired after {now - w.renewed:.1f} s "
            f"(worker pid {w.proc.pid} stopped renewing it)"
        )
        events.append(Failed(tid, w.attempt, msg, "", time.time(), True, True))
        replacement = self._spawn(w.slot, w.env)
        self._workers[self._workers.index(w)] = replacement
        self._idle.append(replacement)
        w.stale_until = now + self.stale_grace_ttls * self.lease_ttl
        self._stale.append(w)

    def _read_stale(self, w: _Worker, events: list[Event]) -> None:
        """Messages of a worker whose lease expired: late reports of its old attempt go to
        the engine (which records them as stale); its end only makes it exit."""
        if not self._fill(w):
            return
        for msg in w.reader.messages():
            op = msg[0]
            if op == wire.REPORT or op == wire.REPORTS:
                if not w.stopping:
                    add_reports(w.trial_id, w.attempt, msg, events)
                if op == wire.REPORT:
                    # It may wait for an answer (a decision point) that nobody else will
                    # give; one it does not wait for is ignored by the worker.
                    self._control(w, (wire.REPLY, w.seq, not w.stopping, False))
            elif op == wire.DONE or op == wire.FAIL:
                self._control(w, (wire.EXIT,))
                w.stale_until = min(w.stale_until, time.monotonic() + self.stale_exit_s)

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
        w.proc.close()
        if w.stale_until:  # its attempt was already failed as stale and it was replaced
            with contextlib.suppress(ValueError):
                self._stale.remove(w)
            return
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
                "their error output is above. A worker is a fresh interpreter started as "
                f"{sys.executable} -c ... with this process's sys.path and environment"
            )
        replacement = self._spawn(w.slot, w.env)
        self._workers[self._workers.index(w)] = replacement
        self._idle.append(replacement)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        close_at_exit(self, on=False)
        if self._finalizer is not None:
            self._finalizer.detach()
        _shutdown_workers(
            self._workers, self.close_grace_s, self._stale, getattr(self, "_kill_grace_s", 0.0)
        )
        if self._payload_file is not None:
            with contextlib.suppress(OSError):
                os.unlink(self._payload_file)
        self._running.clear()
        self._idle.clear()
        self._fdmap.clear()
        self._pending = []
