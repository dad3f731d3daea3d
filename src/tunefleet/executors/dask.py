"""The Dask engine: trials run as long-lived tasks on ``dask.distributed`` workers.

``DaskExecutor()`` starts a :class:`distributed.LocalCluster` of worker processes whose
Nannies are fresh processes, so that no worker runs the user's script again
(:mod:`tunefleet.executors.dask_cluster`), and shuts it down at
:meth:`~DaskExecutor.close`; ``DaskExecutor(address="tcp://host:8786")`` (or
``engine="dask://host:8786"``) connects to a running scheduler; ``DaskExecutor(client=c)``
uses the caller's :class:`distributed.Client`, which it never closes.

How a trial runs
----------------
One attempt is one Dask task (``client.submit(..., pure=False, resources=...)``) that holds
its slot for the whole attempt, in the worker's persistent process: workers are reused, as
with the local engine. The trainable is cloudpickled once in the driver and installed on
every worker by a worker plugin; Dask sends the plugin to each worker once when it is
registered, and again to each worker that joins later (a replacement started by a Nanny
after a crash, or a scaled-up worker). The worker unpickles the trainable at once, in a
background thread (so the user's imports are done before its first trial), and keeps it: the
trainable (and what :func:`tunefleet.with_parameters` put inside it) crosses the network and
is unpickled once per worker, never once per trial. A task carries only the driver's
address, its attempt's id and the key; the :class:`Launch` is the first frame the driver
sends on its connection. The worker's side (the plugin, the task, its end of the connection) is
:mod:`tunefleet.worker.dask_task`; this module is the driver's.

Report channel
--------------
Each running task opens one TCP connection back to a listener in the driver (on 127.0.0.1
for a local cluster, otherwise on the interface that reaches the scheduler, or
``listen_host``) and greets it with a JSON frame naming its attempt and the executor's
random key. From then on the connection is the one trial link of every engine: the frames
of :mod:`tunefleet.worker.wire`, a :class:`~tunefleet.worker.channel.TrialChannel` in the
task and a slot of the driver's :class:`~tunefleet.executors.slots.SlotPool` here, which
sends the ``RUN``, replies and stop/pause requests and turns reports and the outcome into
events. Dask's own queues and pub/sub go through the scheduler and cost a round trip of a
millisecond or more per message; a direct socket costs a few microseconds and also tells
each side at once when the other one dies:

* the worker process is killed: the kernel closes its socket, the driver reads end of file
  and emits ``Failed(worker_lost=True)`` within milliseconds; the engine relaunches the
  trial from its latest checkpoint, counted against ``max_failures``. We, not Dask, retry,
  because a retry must start from the latest checkpoint, not from the launch: the
  executor's own cluster sets ``distributed.scheduler.allowed-failures`` to 0, and on other
  clusters a task that Dask re-runs by itself is refused when it connects and returns at
  once. The dead attempt's future is held until Dask has noticed the death, so that the
  relaunch never goes to the dead worker. A machine that vanishes without closing its
  sockets is caught by the task's future instead (``KilledWorker``).
* the driver is gone (closed, crashed): each task sees end of file at its next report and
  unwinds through :class:`~tunefleet.errors.StopTrial`, freeing its worker.

Trust: the greeting is read as JSON; only a connection that carried the executor's random
key (sent to the tasks through the Dask scheduler) has its later frames unpickled, as the
Spark engine does with its slots' tokens. The workers are the user's own cluster, which
runs the user's pickled trainable anyway (see docs/architecture.md).

Resources: what a trial asks Dask for and how many trials a worker holds are
:mod:`tunefleet.executors.dask_capacity`'s rules. A new launch prefers the worker whose
trial ended last, so trials reuse warm workers.

A trainable that never reports cannot be interrupted: Dask cannot stop a running task, so
after ``close()`` it runs to its end. Dask workers are daemonic processes by default; set
the Dask config ``distributed.worker.daemon: false`` if trainables start processes.

Why ~650 lines: one class is the driver's side of the engine (cluster or client, the plugin,
the listener and a slot per task, failures), which all act on the same running tasks; the
cluster (dask_cluster.py) and the worker's side (worker/dask_task.py) are modules of their own.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import os
import secrets
import selectors
import socket
import time
import traceback
import uuid
from collections import deque
from typing import Any

from tunefleet.errors import TuneValueError
from tunefleet.executors.base import Executor, Start
from tunefleet.executors.dask_capacity import (
    WorkerInfo,
    cluster_slots,
    dask_resources,
    fetch_workers,
    listen_host,
    planned_workers,
    scheduler_address,
    worker_slots,
)
from tunefleet.executors.dask_cluster import connect_scheduler, start_local_cluster
from tunefleet.executors.slots import Slot, SlotPool, accept_all, open_listener, send_frame
from tunefleet.protocol import Event, Failed, Finished, Launch, Resources
from tunefleet.worker import wire
from tunefleet.worker.dask_task import _plugin_class, _run_trial
from tunefleet.worker.import_paths import driver_import_paths
from tunefleet.worker.trial import describe

# dask_resources and worker_slots are part of this module's interface.
__all__ = ["DaskExecutor", "dask_resources", "worker_slots"]

# A first message larger than this is not a greeting: the connection is dropped.
_MAX_HELLO = 4096


def _require_distributed() -> None:
    try:
        import distributed  # noqa: F401
    except ImportError as exc:
        raise ImportError(
            "the Dask engine needs dask.distributed, which is not installed: "
            "pip install tunefleet[dask]"
        ) from exc


# ------------------------------------------------------------------------- driver side
class _Run(Slot):
    """Driver-side state of one submitted attempt; once its task has connected, a slot of
    the pool (which then owns ``trial_id``, ``seq`` and ``stopping``)."""

    __slots__ = ("run_id", "launch", "future", "sock", "reader", "worker", "pid", "ended")

    def __init__(self, run_id: str, launch: Launch) -> None:
        super().__init__()
        self.run_id = run_id
        self.launch = launch
        self.future: Any = None
        self.sock: socket.socket | None = None
        self.reader: wire.FrameReader | None = None
        self.worker = ""
        self.pid = 0
        self.ended = False

    def place(self) -> str:
        return f"{self.worker} (pid {self.pid})"

    def write(self, frame: bytes) -> None:
        send_frame(self.sock, frame)


_LISTENER = object()
_WAKE = object()


class DaskExecutor(Executor):
    """Runs trials as tasks on a Dask cluster (see the module docstring).

    Parameters
    ----------
    client:
        A connected :class:`distributed.Client` to use; it is not closed by :meth:`close`.
    address:
        Scheduler to connect to: ``"tcp://host:8786"``, ``"host:8786"`` or
        ``"dask://host:8786"`` (what ``engine="dask://host:8786"`` passes).
    n_workers, threads_per_worker, resources:
        The local cluster started when neither ``client`` nor ``address`` is given: worker
        processes, threads (= trial slots with one CPU each) and extra Dask resources per
        worker, e.g. ``{"GPU": 1}``. Each worker also declares ``CPU = threads_per_worker``.
    listen_host:
        Address of this machine that the workers connect back to (default: 127.0.0.1 for a
        local scheduler, else the interface that reaches the scheduler).
    connect_timeout:
        Seconds to wait for the scheduler and for its first worker.
    cluster_kwargs:
        More arguments for :class:`distributed.LocalCluster`. ``worker_class`` replaces
        tunefleet's fresh-process Nanny (``distributed.Nanny``: Dask's own, faster to start,
        but the script then needs its ``if __name__ == "__main__":`` guard).

    Not thread-safe: one engine thread drives it.
    """

    name = "dask"
    #: Seconds the cluster's worker list (for capacity) is cached.
    refresh_s = 1.0
    #: Longest a write to a task's connection may block before it counts as lost.
    send_timeout_s = 30.0

    def __init__(
        self,
        client: Any = None,
        address: str | None = None,
        n_workers: int = 2,
        threads_per_worker: int = 1,
        resources: dict[str, float] | None = None,
        listen_host: str | None = None,
        connect_timeout: float = 30.0,
        cluster_kwargs: dict[str, Any] | None = None,
    ) -> None:
        _require_distributed()
        if client is not None and address is not None:
            raise TuneValueError("pass either client or address to DaskExecutor, not both")
        if address is not None and (not isinstance(address, str) or not address.strip()):
            raise TuneValueError(f"address must be a scheduler address string, got {address!r}")
        for label, value in (("n_workers", n_workers), ("threads_per_worker", threads_per_worker)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise TuneValueError(f"{label} must be a positive integer, got {value!r}")
        if resources is not None and (
            not isinstance(resources, dict)
            or not all(
                isinstance(k, str)
                and not isinstance(v, bool)
                and isinstance(v, (int, float))
                and v >= 0
                for k, v in resources.items()
            )
        ):
            raise TuneValueError(
                f"resources must map names to non-negative numbers, got {resources!r}"
            )
        if isinstance(connect_timeout, bool) or not (
            isinstance(connect_timeout, (int, float)) and connect_timeout > 0
        ):
            raise TuneValueError(
                f"connect_timeout must be a positive number, got {connect_timeout!r}"
            )
        self.address = scheduler_address(address) if address is not None else None
        self.n_workers = n_workers
        self.threads_per_worker = threads_per_worker
        self.resources = {k: float(v) for k, v in (resources or {}).items()}
        self.listen_host = listen_host
        self.connect_timeout = float(connect_timeout)
        self.cluster_kwargs = dict(cluster_kwargs or {})
        self._user_client = client
        self._client: Any = None
        self._cluster: Any = None
        self._owns_client = False
        self._started = False
        self._closed = False
        self._trial_resources = Resources()
        self._request: dict[str, float] = {}
        self._max_concurrent: int | None = None
        self._workers: list[WorkerInfo] = []
        self._limit = 0
        self._refreshed = -1e18
        self._key = secrets.token_hex(16)
        self._plugin_name = ""
        self._driver: tuple[str, int] = ("", 0)
        self._listener: socket.socket | None = None
        self._sel: selectors.BaseSelector | None = None
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None
        self._done: deque[str] = deque()  # run ids whose Dask future finished
        # Futures of ended attempts whose tasks Dask still counts as running. We hold them
        # until they finish: releasing a task that sits on a dead worker the scheduler has
        # not noticed yet would free that worker's resources, and Dask would send the next
        # launch to the dead worker.
        self._ending: dict[str, Any] = {}
        self._runs: dict[str, _Run] = {}  # active attempts by run id
        self._running: dict[str, _Run] = {}  # active attempts by trial id
        self._greeting: dict[socket.socket, wire.FrameReader] = {}
        self._pool: SlotPool[_Run] = SlotPool("a Dask worker")
        self._hints: list[str] = []  # workers whose trial ended last (reused first)
        self._pending: list[Event] = []
        self.experiment_dir = ""

    # ------------------------------------------------------------------ cluster
    @property
    def client(self) -> Any:
        """The :class:`distributed.Client` in use (None before it is connected)."""
        return self._client

    def _connect(self) -> Any:
        if self._client is not None:
            return self._client
        if self._closed:
            raise RuntimeError("DaskExecutor was closed")
        _require_distributed()
        if self._user_client is not None:
            self._client = self._user_client
        elif self.address is not None:
            self._client = connect_scheduler(self.address, self.connect_timeout)
            self._owns_client = True
        else:
            self._cluster, self._client = start_local_cluster(
                self.n_workers,
                self.threads_per_worker,
                self.resources,
                self.cluster_kwargs,
                self.connect_timeout,
            )
            self._owns_client = True
        return self._client

    def _disconnect(self) -> None:
        client, cluster = self._client, self._cluster
        self._client = self._cluster = None
        if self._owns_client and client is not None:
            with contextlib.suppress(Exception):
                client.close()
        if cluster is not None:
            with contextlib.suppress(Exception):
                cluster.close()
        self._owns_client = False

    def _refresh(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._refreshed < self.refresh_s:
            return
        self._refreshed = now
        with contextlib.suppress(Exception):  # keep the last known cluster if the RPC fails
            self._workers = fetch_workers(self._client)
        slots, _ = cluster_slots(self._workers, self._trial_resources)
        if self._max_concurrent is not None:
            slots = min(slots, self._max_concurrent)
        self._limit = slots

    def validate_resources(self, resources: Resources) -> None:
        if self._client is None and self._user_client is None and self.address is None:
            workers = planned_workers(
                self.n_workers, self.threads_per_worker, self.resources, self.cluster_kwargs
            )
        else:
            self._connect()
            workers = fetch_workers(self._client)
        slots, cpu_resource = cluster_slots(workers, resources)
        if slots > 0:
            return
        from tunefleet.executors.gpu_requests import dask_gpu_refusal

        offered = sorted({f"{w.nthreads} threads, resources {w.resources or {}}" for w in workers})
        if not self._started:
            self._disconnect()
        raise TuneValueError(
            f"resources_per_trial={resources.to_json()} fits on no Dask worker: "
            f"Dask resources asked per trial {dask_resources(resources, cpu_resource)}; "
            f"the workers offer {'; '.join(offered) or 'nothing (no worker)'}"
            + dask_gpu_refusal(resources, [w.resources for w in workers])
        )

    def worker_pids(self) -> dict[str, int]:
        """``{worker address: process id}`` of the cluster's workers (tests, diagnostics)."""
        if self._client is None:
            return {}
        return dict(self._client.run(os.getpid))

    # ------------------------------------------------------------------ lifecycle
    def open(self, start: Start) -> None:
        trainable, resources, max_concurrent, experiment_dir = start
        if self._closed:
            raise RuntimeError("DaskExecutor was closed")
        import cloudpickle

        payload = cloudpickle.dumps(trainable)
        client = self._connect()
        self.validate_resources(resources)
        self.experiment_dir = experiment_dir
        self._trial_resources = resources
        self._max_concurrent = max_concurrent
        self._refresh(force=True)
        _, cpu_resource = cluster_slots(self._workers, resources)
        self._request = dask_resources(resources, cpu_resource)

        if self.listen_host:
            host = self.listen_host
        elif self._cluster is not None:
            host = "127.0.0.1"
        else:
            host = listen_host(str(client.scheduler.address))
        listener, self._wake_r, self._wake_w = open_listener(host)
        self._listener = listener
        self._driver = (host, int(listener.getsockname()[1]))
        self._sel = selectors.DefaultSelector()
        self._sel.register(listener, selectors.EVENT_READ, _LISTENER)
        self._sel.register(self._wake_r, selectors.EVENT_READ, _WAKE)
        self._started = True
        # Ship the trainable: once to every worker now, and to each worker that joins later.
        self._plugin_name = f"tunefleet-trainable-{uuid.uuid4().hex[:12]}"
        plugin = _plugin_class()(payload, driver_import_paths())
        client.register_plugin(plugin, name=self._plugin_name)

    def capacity(self) -> int:
        if not self._started or self._closed:
            return 0
        self._refresh()
        return max(0, self._limit - len(self._running))

    def total_slots(self) -> int:
        if not self._started or self._closed:
            return 0
        self._refresh()
        return self._limit

    def submit(self, launch: Launch) -> None:
        self.check_submit(launch, self._running)
        tid = launch.trial_id
        # No capacity check here: if the cluster shrank since capacity() was asked, Dask
        # holds the task until a worker fits it.
        wire.encode_run(0, launch, "a Dask worker")  # its config must be picklable: say so now
        run = _Run(uuid.uuid4().hex, launch)
        kwargs: dict[str, Any] = {
            "key": f"tunefleet-{tid}-{launch.attempt}-{run.run_id[:8]}",
            "pure": False,
        }
        if self._request:
            kwargs["resources"] = self._request
        live = {w.address for w in self._workers}
        while self._hints:
            hint = self._hints.pop()
            if hint in live:  # prefer the worker that just finished a trial
                kwargs["workers"] = [hint]
                kwargs["allow_other_workers"] = True
                break
        args = (self._plugin_name, self._driver, self._key, run.run_id)
        future = self._client.submit(_run_trial, *args, **kwargs)
        run.future = future
        self._runs[run.run_id] = run
        self._running[tid] = run
        done, wake = self._done, self._wake_w
        rid = run.run_id

        def on_done(_: Any) -> None:  # runs in a thread of the Dask client
            done.append(rid)
            if wake is not None:
                with contextlib.suppress(OSError):
                    wake.send(b"x")

        future.add_done_callback(on_done)

    def reply(self, trial_id: str, proceed: bool) -> None:
        self._pool.reply(trial_id, proceed)

    def stop(self, trial_id: str, pause: bool = False) -> None:
        if trial_id in self._pool.running:
            self._pool.stop(trial_id, pause)
            return
        run = self._running.get(trial_id)
        if run is None:
            return
        # Not connected yet: take the task back; if it starts anyway, it is refused.
        self._pending.append(Finished(trial_id, run.launch.attempt, time.time(), True))
        self._end(run, reuse=False, cancel=True)

    # ------------------------------------------------------------------ events
    def poll(self, timeout: float) -> list[Event]:
        events = self._pending
        self._pending = []
        if not self._started or self._closed or self._sel is None:
            return events
        deadline = time.monotonic() + max(0.0, timeout)
        select = self._sel.select
        while True:
            wait = 0.0 if events else max(0.0, deadline - time.monotonic())
            for key, _ in select(wait):
                data = key.data
                if type(data) is _Run:
                    self._read(data, events)
                elif type(data) is wire.FrameReader:
                    self._read_greeting(key.fileobj, data, events)  # type: ignore[arg-type]
                elif data is _LISTENER:
                    self._accept()
                else:
                    self._drain_wake()
            while self._done:
                self._future_done(self._done.popleft(), events)
            if events or time.monotonic() >= deadline:
                return events

    def _drain_wake(self) -> None:
        assert self._wake_r is not None
        with contextlib.suppress(OSError):
            while self._wake_r.recv(4096):
                pass

    def _accept(self) -> None:
        assert self._listener is not None and self._sel is not None
        for conn in accept_all(self._listener, self.send_timeout_s):
            greeting = wire.FrameReader(conn.fileno())
            self._greeting[conn] = greeting
            self._sel.register(conn, selectors.EVENT_READ, greeting)

    def _drop(self, sock: socket.socket) -> None:
        assert self._sel is not None
        self._greeting.pop(sock, None)
        with contextlib.suppress(KeyError, ValueError, OSError):
            self._sel.unregister(sock)
        with contextlib.suppress(OSError):
            sock.close()

    def _read_greeting(
        self, sock: socket.socket, greeting: wire.FrameReader, events: list[Event]
    ) -> None:
        """The first frame of a connection: which attempt it runs, with our key, as JSON
        (nothing from a peer that has not shown the key is unpickled)."""
        try:
            more = greeting.fill()
        except BlockingIOError:
            return
        except OSError:
            more = False
        buf = greeting.buf
        if len(buf) >= 4 and int.from_bytes(buf[:4], "little") > _MAX_HELLO:
            self._drop(sock)
            return
        if not greeting.has_frame():
            if not more:
                self._drop(sock)
            return
        frames = greeting.messages(bytes)
        try:
            msg = json.loads(frames[0])
            key, run_id = msg["key"], msg["run"]
            ok = isinstance(key, str) and hmac.compare_digest(key.encode(), self._key.encode())
        except (ValueError, TypeError, KeyError, AttributeError):
            ok = False
        run = self._runs.get(run_id) if ok else None
        # A stranger, an attempt already given up, or a task that did not wait for its RUN.
        if run is None or run.sock is not None or len(frames) > 1 or not more:
            self._drop(sock)
            return
        assert self._sel is not None
        self._greeting.pop(sock, None)
        self._sel.modify(sock, selectors.EVENT_READ, run)
        run.sock = sock
        run.reader = greeting
        run.worker = str(msg.get("worker", ""))
        pid = msg.get("pid")
        run.pid = pid if isinstance(pid, int) else 0
        self._pool.idle.append(run)
        events.append(self._pool.launch(run.launch))

    def _read(self, run: _Run, events: list[Event], drain: bool = False) -> None:
        """Turn what the task sent into events; with ``drain``, read until nothing is
        left (never blocks: the socket has a timeout, hence is non-blocking to ``os.read``)."""
        reader = run.reader
        assert reader is not None
        while not run.ended:
            try:
                more = reader.fill()
            except BlockingIOError:
                return
            except OSError:
                more = False
            self._pool.take(run, reader.messages(), events, reuse=False)
            if not run.trial_id:  # DONE or FAIL released it from the pool
                self._end(run, reuse=True)
            elif not more:
                # End of file before the attempt's outcome: its worker process died.
                self._lost(run, "died (its connection to the driver closed)", events)
            if not drain:
                return

    def _lost(self, run: _Run, why: str, events: list[Event]) -> None:
        where = f"Dask worker {run.worker} (pid {run.pid})" if run.worker else "its Dask worker"
        tid, attempt = run.launch.trial_id, run.launch.attempt
        msg = f"WorkerLost: {where} running trial {tid} {why}"
        events.append(Failed(tid, attempt, msg, msg, time.time(), True))
        self._end(run, reuse=False)

    def _future_done(self, run_id: str, events: list[Event]) -> None:
        run = self._runs.get(run_id)
        if run is None or run.future is None:
            self._ending.pop(run_id, None)
            return
        future = run.future
        status = future.status
        if run.sock is not None:
            self._read(run, events, drain=True)
            if run.ended or status == "finished":
                return  # the outcome is on its way over the socket
        if status == "cancelled":
            self._lost(run, "was cancelled by the Dask scheduler", events)
        elif status == "error":
            try:
                exc = future.exception(timeout=5)
            except Exception as err:
                exc = err
            if type(exc).__name__ == "KilledWorker" or run.sock is not None:
                self._lost(run, f"died ({describe(exc)})", events)
                return
            tb = ""
            with contextlib.suppress(Exception):
                tb = "".join(traceback.format_tb(future.traceback(timeout=5)))
            text = describe(exc) if exc is not None else "the Dask task failed"
            launch = run.launch
            events.append(
                Failed(launch.trial_id, launch.attempt, text, f"{tb}{text}", time.time(), False)
            )
            self._end(run, reuse=False)
        else:  # finished without ever connecting
            self._lost(run, "ended its Dask task without running the trial", events)

    def _end(self, run: _Run, reuse: bool, cancel: bool = False) -> None:
        run.ended = True
        self._runs.pop(run.run_id, None)
        tid = run.launch.trial_id
        if self._running.get(tid) is run:
            del self._running[tid]
        if run.trial_id:
            self._pool.release(run, reuse=False)
        if run.sock is not None:
            assert self._sel is not None
            with contextlib.suppress(KeyError, ValueError, OSError):
                self._sel.unregister(run.sock)
            with contextlib.suppress(OSError):
                run.sock.close()  # a task still running sees end of file and stops
        future, run.future = run.future, None
        if future is not None and not future.done():
            if cancel:
                with contextlib.suppress(Exception):
                    future.cancel()
            else:  # if Dask runs it again elsewhere, its connection is refused
                self._ending[run.run_id] = future
        if reuse and run.worker:
            self._hints.append(run.worker)
            del self._hints[: -max(1, self._limit)]

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        futures = []
        for run in list(self._runs.values()):
            if run.sock is not None:
                with contextlib.suppress(OSError):
                    run.sock.close()  # the task stops at its next report
            if run.future is not None:
                futures.append(run.future)
            run.ended = True
        futures.extend(self._ending.values())
        self._ending.clear()
        self._runs.clear()
        self._running.clear()
        self._pool.running.clear()
        client = self._client
        if client is not None and futures:
            with contextlib.suppress(Exception):
                client.cancel(futures)
        if client is not None and self._plugin_name and not self._owns_client:
            with contextlib.suppress(Exception):  # the user's cluster lives on: free memory
                client.unregister_worker_plugin(self._plugin_name)
        for sock in list(self._greeting):
            with contextlib.suppress(OSError):
                sock.close()
        self._greeting.clear()
        for end in (self._listener, self._wake_r, self._wake_w):
            if end is not None:
                with contextlib.suppress(OSError):
                    end.close()
        self._listener = self._wake_r = self._wake_w = None
        if self._sel is not None:
            with contextlib.suppress(Exception):
                self._sel.close()
            self._sel = None
        self._pending = []
        self._disconnect()
