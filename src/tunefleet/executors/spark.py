"""The Spark engine: long-running slot tasks, each serving many trials in sequence.

How a trial runs
----------------
:meth:`SparkExecutor.start` launches one Spark job of a single task per trial slot, each
from a driver thread under a job group of its own (so that a slot can be cancelled alone).
The task is a *slot*: it runs in a pyspark Python worker on an executor, connects back over
TCP to a listener in the driver, authenticates with a token that only its launch carries,
loads the trainable once, says it is ready, and then serves trials one after the other as
the driver sends them (:class:`tunefleet.worker.channel.TrialChannel`, the loop that local
worker processes run too): a launch, the trial's reports (asynchronous ones batched),
synchronous replies, stop and pause requests, the outcome, the next launch. Launching a
trial is one message on an open connection, not a Spark job. An idle slot blocks on its
socket (no CPU); no task is a barrier task and slots never wait for each other.

The trainable travels once: it is cloudpickled in :meth:`SparkExecutor.start` into a Spark
broadcast variable, which Spark copies once to each executor; each slot task unpickles it
once, when it starts, so a ``with_parameters`` object crosses the network once per executor
and is unpickled once per slot task, never once per trial. Python workers are forked by
pyspark's daemon and never run the driver's script (no ``__main__`` guard is needed); a
trainable imported from a module beside the script is found because the slot appends the
driver's own import directories to ``sys.path`` first (:mod:`tunefleet.worker.import_paths`).

Failures
--------
A lost executor (or a Python worker that dies) ends the slot's connection; the driver reports
the running trial's ``Failed(worker_lost=True)`` at once, cancels the slot's job group, and
launches a new slot task in its place, which becomes a free slot when it has connected and
loaded the trainable. The end of the slot's Spark job (a failure, or a task that returned)
is the second signal, for a connection that does not close. The engine relaunches the trial
from its last checkpoint, counted against ``max_failures``, on any free slot. Spark must not
re-run tasks behind the engine's back: sessions created here use ``spark.task.maxFailures``
1 (``local[N,1]``), and a slot task that Spark retries anyway (``TaskContext.attemptNumber()
> 0``, in a user's session with retries) is told to exit before it loads anything; a fresh
slot replaces it. A running trial holds a lease (``lease_ttl``) that its slot renews; when it
expires (a frozen Python worker) the trial fails as stale and its slot is cancelled and
replaced.

Resources: :mod:`tunefleet.executors.spark_context`.

Why ~790 lines: one class is the driver's side of the engine (slot jobs under their own job
groups, the listener and its token check, replacing a lost slot, leases), which all act on the
same slots; the session (spark_context.py), the class-data archive (spark_classcache.py) and
the task's side (worker/spark_slot.py) are modules of their own.
"""

from __future__ import annotations

import contextlib
import functools
import hmac
import json
import math
import pickle
import queue
import re
import secrets
import select
import socket
import threading
import time
from typing import Any

from tunefleet.errors import TuneError, TuneValueError
from tunefleet.executors import spark_classcache
from tunefleet.executors.base import Executor, Start, close_at_exit
from tunefleet.executors.slots import (
    PoolControl,
    Slot,
    SlotPool,
    accept_all,
    check_lease_ttl,
    open_listener,
    readable,
    send_frame,
)
from tunefleet.executors.spark_context import (
    _LOCAL_CLUSTER,
    _is_loopback_master,
    _local_cores,
    check_task_fits,
    concurrent_slots,
    default_master,
    make_profile,
    open_context,
    planned_master,
    session_settings,
    task_defaults,
    task_requests,
)
from tunefleet.protocol import Event, Failed, Launch, Resources
from tunefleet.worker import wire
from tunefleet.worker.import_paths import driver_import_paths
from tunefleet.worker.spark_slot import _GO, _READY, _slot_task

# session_settings, task_requests and default_master are part of this module's interface.
__all__ = ["SparkExecutor", "default_master", "session_settings", "task_requests"]

_TOKEN_BYTES = 32
_MAX_HELLO = 4096
_POLLIN = select.POLLIN | select.POLLHUP | select.POLLERR
_LOST_PATTERN = re.compile(
    r"ExecutorLostFailure|Lost executor|executor lost|worker lost|Executor heartbeat timed out"
    r"|Python worker exited unexpectedly",
    re.IGNORECASE,
)
#: Reports closer together than this are batched (``report_batch_s``).
FLUSH_AFTER_S = 0.002


# ============================================================================ driver side
class _Slot(Slot):
    """Driver-side handle of one slot task (one Spark job of one task)."""

    __slots__ = ("id", "token", "group", "thread", "conn", "worker", "ready", "lost", "job_ended")

    def __init__(self, slot_id: int, token: bytes, group: str) -> None:
        super().__init__()
        self.id = slot_id
        self.token = token
        self.group = group
        self.thread: threading.Thread | None = None
        self.conn: _Conn | None = None
        self.worker = ""  # host:pid of the Python worker, after the handshake
        self.ready = False  # the trainable is loaded: it may run trials
        self.lost = False  # given up: its connection and its job no longer count
        self.job_ended = False

    def place(self) -> str:
        return f"spark:{self.worker}"

    def write(self, frame: bytes) -> None:
        send_frame(None if self.conn is None else self.conn.sock, frame)


class _Conn:
    __slots__ = ("sock", "fd", "reader", "slot")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.fd = sock.fileno()
        self.reader = wire.FrameReader(self.fd)
        self.slot: _Slot | None = None  # None until the handshake


def _job_error_head(error: BaseException) -> str:
    """The telling line of a failed job's error: our own message from the task if there is
    one, else Spark's reason for a lost executor or worker, else the first error line."""
    text = str(error).strip() or repr(error)
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()] or [repr(error)]
    for wanted in (lambda ln: "tunefleet:" in ln, _LOST_PATTERN.search):
        found = next((ln for ln in lines if wanted(ln)), None)
        if found is not None:
            return found[:500]
    return next((ln for ln in lines if "Exception" in ln or "Error" in ln), lines[0])[:500]


class SparkExecutor(PoolControl, Executor):
    """Runs trials in long-running Spark slot tasks (one Spark job per slot).

    Parameters
    ----------
    spark:
        A ``SparkSession`` (or ``SparkContext``) to use; it is not stopped at ``close()``.
        Default: the session already active in this process, if any, else a new one that
        ``close()`` stops.
    master:
        Master of the session to create: ``local[N]``, ``local-cluster[n,c,m]``,
        ``spark://host:7077``, ... Default ``local[<cores>,1]``.
    num_slots:
        Slot tasks to keep (trials that may run at once). Default: what Spark can run
        concurrently with the trial's task resources (``maxNumConcurrentTasks``), re-read
        every second, so that added executors get slots and lost ones are replaced.
    address:
        ``engine="spark://host:7077"`` arrives here; the same as ``master``.
    conf:
        Extra Spark settings for a session created here (they win over ours).
    app_name:
        Spark application name of a session created here.
    driver_host:
        Address the slot tasks connect back to (and the listener binds). Default
        ``spark.driver.host`` of the session.
    report_batch_s:
        Asynchronous reports closer together than this are batched (default 2 ms).
    startup_timeout_s:
        ``start()`` waits this long for the cluster to offer a first slot.
    connect_timeout_s:
        How long a slot task tries to connect back to the driver.
    prestart:
        ``start()`` waits until the slot tasks are ready (connected, trainable loaded), at
        most ``warmup_timeout_s`` once the first one is. False: it returns once they are
        launched, and slots join as they become ready.
    lease_ttl:
        Seconds a running trial's lease lasts without renewal (default 30; None: no
        leases). The slot renews it every ``lease_ttl / 4`` seconds when it sent nothing
        else; an expired lease fails the trial as stale and replaces the slot.
    class_cache:
        Start a driver JVM created here from a class-data archive of Spark's classes
        (about 2 s faster), building the archive in the background after the first
        sweep that lacked it (:mod:`tunefleet.executors.spark_classcache`).
    """

    name = "spark"
    #: Seconds between refreshes of the slot count (a JVM call).
    slots_refresh_s = 1.0
    #: Seconds ``close()`` gives slot tasks to end by themselves before cancelling them.
    exit_grace_s = 2.0
    #: Seconds ``close()`` then waits for the driver threads of the slot jobs.
    close_grace_s = 5.0
    #: On a cluster, ``start()`` waits until no executor registered for ``settle_s``
    #: seconds (but at most ``settle_max_s``), so that slots are placed on all of them.
    settle_s = 2.0
    settle_max_s = 15.0
    #: Longest wait of ``start()`` for the remaining slots once the first one is ready.
    warmup_timeout_s = 60.0
    #: Seconds a driver-side write to a slot may block (a full socket buffer).
    send_timeout_s = 10.0

    def __init__(
        self,
        spark: Any = None,
        master: str | None = None,
        num_slots: int | None = None,
        *,
        address: str | None = None,
        conf: dict[str, str] | None = None,
        app_name: str = "tunefleet",
        driver_host: str | None = None,
        report_batch_s: float = FLUSH_AFTER_S,
        startup_timeout_s: float = 120.0,
        connect_timeout_s: float = 60.0,
        prestart: bool = True,
        lease_ttl: float | None = 30.0,
        class_cache: bool = True,
    ) -> None:
        if address is not None:
            if not isinstance(address, str) or not address.startswith("spark://"):
                raise TuneValueError(f"address must look like 'spark://host:7077', got {address!r}")
            if master is not None and master != address:
                raise TuneValueError(
                    f"master={master!r} and address={address!r} disagree; give one of them"
                )
            master = address
        if master is not None and (not isinstance(master, str) or not master.strip()):
            raise TuneValueError(f"master must be a Spark master URL, got {master!r}")
        if spark is not None and master is not None:
            raise TuneValueError("give either spark= (an existing session) or master=, not both")
        if num_slots is not None and (
            isinstance(num_slots, bool) or not isinstance(num_slots, int) or num_slots < 1
        ):
            raise TuneValueError(f"num_slots must be a positive integer, got {num_slots!r}")
        if conf is not None and (
            not isinstance(conf, dict)
            or not all(isinstance(k, str) and isinstance(v, str) for k, v in conf.items())
        ):
            raise TuneValueError("conf must be a dict of str to str (Spark settings)")
        for label, value in (
            ("report_batch_s", report_batch_s),
            ("startup_timeout_s", startup_timeout_s),
            ("connect_timeout_s", connect_timeout_s),
        ):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise TuneValueError(f"{label} must be a number of seconds >= 0, got {value!r}")
        check_lease_ttl(lease_ttl)
        self.spark = spark
        self.master = master.strip() if master is not None else None
        self.num_slots = num_slots
        self.conf = dict(conf) if conf else {}
        self.app_name = app_name
        self.driver_host = driver_host
        self.report_batch_s = float(report_batch_s)
        self.startup_timeout_s = float(startup_timeout_s)
        self.connect_timeout_s = float(connect_timeout_s)
        self.prestart = bool(prestart)
        self.lease_ttl = float(lease_ttl) if lease_ttl is not None else None
        self.class_cache = bool(class_cache)
        self._heartbeat_s = self.lease_ttl / 4.0 if self.lease_ttl is not None else None
        self._scan_every = (
            max(0.05, min(1.0, self.lease_ttl / 4.0)) if self.lease_ttl is not None else math.inf
        )
        self._next_scan = 0.0
        self.experiment_dir = ""
        self._session: Any = None
        self._sc: Any = None
        self._owned = False
        self._profile: Any = None
        self._cpus = 1
        self._limit = math.inf
        self._slots_n = 0
        self._slots_at = -math.inf
        self._next_refill = 0.0
        self._bcast: Any = None
        self._key = ""
        self._listener: socket.socket | None = None
        self._host = ""
        self._port = 0
        # Job threads wake poll() through this pair; socket objects, so that a thread that
        # ends after close() gets an error instead of writing to a reused descriptor.
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None
        self._poller = select.poll()
        self._conns: dict[int, _Conn] = {}
        self._slots: dict[int, _Slot] = {}  # until lost and their job ended
        self._pool: SlotPool[_Slot] = SlotPool("a Spark task")
        self._idle = self._pool.idle  # the same list and dict as the pool's
        self._running = self._pool.running
        self._job_ends: queue.SimpleQueue[tuple[int, BaseException | None]] = queue.SimpleQueue()
        self._pending: list[Event] = []
        self._slot_ids = 0
        self._failed_starts = 0  # slots lost before they were ready, since the last ready one
        self._last_failure = ""
        self._started = False
        self._closed = False

    # ------------------------------------------------------------------ resources
    def validate_resources(self, resources: Resources) -> None:
        check_task_fits(resources, planned_master(self._sc, self.spark, self.master))

    def _slot_count(self) -> int:
        if self.num_slots is not None:
            return self.num_slots
        now = time.monotonic()
        if now - self._slots_at >= self.slots_refresh_s:
            self._slots_at = now
            with contextlib.suppress(Exception):  # a stopping context: keep the last count
                self._slots_n = concurrent_slots(self._sc, self._profile, self._cpus)
        return self._slots_n

    # ------------------------------------------------------------------ lifecycle
    def _uses_class_cache(self) -> bool:
        """The driver's class-data archive is ours to use unless the user set JVM options."""
        return self.class_cache and "spark.driver.extraJavaOptions" not in self.conf

    def open(self, start: Start) -> None:
        trainable, resources, max_concurrent, experiment_dir = start
        self.validate_resources(resources)
        import cloudpickle

        payload = cloudpickle.dumps(trainable)
        self._sc, self._session, self._owned = open_context(
            self.spark, self.master, resources, self.conf, self.app_name, self._uses_class_cache()
        )
        self._started = True
        close_at_exit(self)
        try:
            self._setup(payload, resources, max_concurrent, experiment_dir)
        except BaseException:
            self.close()
            raise

    def _setup(
        self,
        payload: bytes,
        resources: Resources,
        max_concurrent: int | None,
        experiment_dir: str,
    ) -> None:
        sc = self._sc
        self.experiment_dir = experiment_dir
        self._limit = math.inf if max_concurrent is None else max_concurrent
        cpus, other = task_requests(resources)
        self._cpus = cpus
        if not self._owned and (cpus, other) != task_defaults(self._sc):
            self._profile = make_profile(self._sc, cpus, other)
        master = str(sc.master)
        host = self.driver_host
        if host is None:
            host = (
                "127.0.0.1"
                if _is_loopback_master(master)
                else sc.getConf().get("spark.driver.host", socket.gethostname())
            )
        listener, self._wake_r, self._wake_w = open_listener(host)
        self._listener = listener
        self._host = host
        self._port = listener.getsockname()[1]
        self._poller.register(listener.fileno(), _POLLIN)
        self._poller.register(self._wake_r.fileno(), _POLLIN)
        self._key = secrets.token_hex(8)
        self._bcast = sc.broadcast(payload)
        deadline = time.monotonic() + self.startup_timeout_s
        while self._slot_count() < 1:
            if time.monotonic() > deadline:
                raise TuneError(
                    f"the Spark cluster (master {master}) offered no slot for a task with "
                    f"{cpus} cpu(s) and {other or 'no other'} resources within "
                    f"{self.startup_timeout_s:.0f} s: no executor registered, or none is "
                    "large enough"
                )
            time.sleep(0.2)
            self._slots_at = -math.inf
        if self.num_slots is None:
            self._await_executors(master, deadline)
        self._refill()
        if self.prestart:
            self._await_ready(master, deadline)

    def _await_executors(self, master: str, deadline: float) -> None:
        """Executors register one by one: wait for all of a ``local-cluster``, else until
        the slot count has not changed for ``settle_s`` (at most ``settle_max_s``)."""
        m = _LOCAL_CLUSTER.match(master)
        if m:
            want = int(m.group(1)) * (int(m.group(2)) // self._cpus)
            while self._slot_count() < want and time.monotonic() < deadline:
                time.sleep(0.1)
                self._slots_at = -math.inf
            return
        if _local_cores(master) is not None:
            return  # local[N]: all slots exist from the start
        last, since = self._slot_count(), time.monotonic()
        end = min(deadline, since + self.settle_max_s)
        while time.monotonic() - since < self.settle_s and time.monotonic() < end:
            time.sleep(0.2)
            self._slots_at = -math.inf
            n = self._slot_count()
            if n != last:
                last, since = n, time.monotonic()

    def _await_ready(self, master: str, deadline: float) -> None:
        """Wait until every slot task is ready: at least one by ``deadline``, the others at
        most ``warmup_timeout_s`` longer. Without it the first trials would wait for cold
        Python workers while the engine believes nothing is free."""
        events: list[Event] = []
        first_ready: float | None = None
        while True:
            live = sum(1 for s in self._slots.values() if not s.lost)
            if live and len(self._idle) >= live:
                break
            now = time.monotonic()
            if self._idle and first_ready is None:
                first_ready = now
            if first_ready is not None and now - first_ready > self.warmup_timeout_s:
                break
            if first_ready is None and now > deadline:
                raise TuneError(
                    f"no Spark slot task became ready within {self.startup_timeout_s:.0f} s "
                    f"(master {master})"
                    + (f"; last failure: {self._last_failure}" if self._last_failure else "")
                )
            self._pump(events, 0.1)
        self._pending.extend(events)

    # ------------------------------------------------------------------ slots
    def _target(self) -> int:
        """Slot tasks to keep: ``num_slots``, or Spark's concurrent tasks, capped by the
        trials that may run at once."""
        return int(min(self._limit, self._slot_count()))

    def _refill(self) -> None:
        """Launch slot tasks until there are as many as the target."""
        if self._closed:
            return
        live = sum(1 for s in self._slots.values() if not s.lost)
        target = self._target()
        if live >= target:
            return
        if self._failed_starts > 2 * target + 2:
            raise TuneError(
                f"Spark slot tasks keep failing before they are ready ({self._failed_starts} "
                f"in a row); last failure: {self._last_failure}"
            )
        for _ in range(target - live):
            self._launch_slot()

    def _launch_slot(self) -> None:
        self._slot_ids += 1
        slot = _Slot(
            self._slot_ids,
            secrets.token_bytes(_TOKEN_BYTES),
            f"tunefleet-{self._key}-slot-{self._slot_ids}",
        )
        spec = {
            "slot": slot.id,
            "token": slot.token,
            "host": self._host,
            "port": self._port,
            "connect_timeout": self.connect_timeout_s,
            "flush_s": self.report_batch_s,
            "import_paths": driver_import_paths(),
        }
        self._slots[slot.id] = slot
        thread = threading.Thread(
            target=self._run_slot_job,
            args=(slot, pickle.dumps(spec)),
            name=f"tunefleet-spark-slot-{slot.id}",
            daemon=True,
        )
        slot.thread = thread
        thread.start()

    def _run_slot_job(self, slot: _Slot, raw: bytes) -> None:
        """Driver thread: the Spark job of one slot, for as long as the slot lives."""
        error: BaseException | None = None
        try:
            if slot.lost or self._closed:  # given up before its job even started
                raise RuntimeError("the slot was given up before its job was submitted")
            sc = self._sc
            sc.setJobGroup(slot.group, f"tunefleet slot {slot.id}", interruptOnCancel=True)
            rdd = sc.parallelize([raw], 1)
            if self._profile is not None:
                rdd = rdd.withResources(self._profile)
            rdd.mapPartitions(functools.partial(_slot_task, self._bcast)).collect()
        except BaseException as exc:
            error = exc
        self._job_ends.put((slot.id, error))
        with contextlib.suppress(OSError):
            if self._wake_w is not None:
                self._wake_w.send(b"x")

    def _cancel(self, slot: _Slot) -> None:
        if not slot.job_ended:
            with contextlib.suppress(Exception):
                self._sc.cancelJobGroup(slot.group)

    def _slot_lost(
        self, slot: _Slot, events: list[Event], why: str, failure: Failed | None = None
    ) -> None:
        """Give a slot up: fail its trial (as lost, or with ``failure``), cancel its job,
        launch a replacement."""
        if slot.lost:
            return
        slot.lost = True
        if slot.conn is not None:
            self._drop(slot.conn)
        with contextlib.suppress(ValueError):
            self._idle.remove(slot)
        if slot.trial_id:
            if failure is None:
                msg = (
                    f"WorkerLost: the Spark slot task running trial {slot.trial_id} (Python "
                    f"worker {slot.worker or 'unknown'}) was lost: {why}"
                )
                failure = Failed(slot.trial_id, slot.attempt, msg, msg, time.time(), True)
            events.append(failure)
            self._pool.release(slot, reuse=False)
        elif not slot.ready:
            self._failed_starts += 1
            self._last_failure = why
        self._cancel(slot)
        if slot.job_ended:
            self._slots.pop(slot.id, None)
        self._refill()

    # ------------------------------------------------------------------ trials
    def capacity(self) -> int:
        if not self._started or self._closed:
            return 0
        return len(self._idle)

    def total_slots(self) -> int:
        if not self._started:
            return 0
        return self._target()

    @property
    def spark_context(self) -> Any:
        """The SparkContext in use (after ``start()``)."""
        return self._sc

    def slot_workers(self) -> list[str]:
        """``host:pid`` of the Python worker of each connected slot (tests, diagnostics)."""
        return [s.worker for s in self._slots.values() if s.conn is not None and not s.lost]

    def submit(self, launch: Launch) -> None:
        self.check_submit(launch, self._pool.running)
        self._pending.append(self._pool.launch(launch))

    # ------------------------------------------------------------------ events
    def poll(self, timeout: float) -> list[Event]:
        events = self._pending
        self._pending = []
        if not self._started or self._closed:
            return events
        self._pump(events, timeout)
        return events

    def _pump(self, events: list[Event], timeout: float) -> None:
        """Wait up to ``timeout`` for the first event (none if ``events`` already holds
        some), handling connections, job ends, leases and the slot count meanwhile."""
        deadline = None if events else time.monotonic() + max(0.0, timeout)
        listener_fd = self._listener.fileno() if self._listener is not None else -1
        wake = self._wake_r
        assert wake is not None
        wake_fd = wake.fileno()
        leases = self.lease_ttl is not None
        while True:
            if deadline is None:
                ms = 0
            else:
                until = min(deadline, self._next_refill)
                if leases and self._running and self._next_scan < until:
                    until = self._next_scan  # wake up for the lease scan
                ms = max(0, math.ceil((until - time.monotonic()) * 1e3))
            for fd, _ in self._poller.poll(ms):
                if fd == listener_fd:
                    self._accept()
                elif fd == wake_fd:
                    with contextlib.suppress(OSError):
                        wake.recv(4096)
                    self._drain_job_ends(events)
                else:
                    conn = self._conns.get(fd)
                    if conn is not None:
                        self._read(conn, events)
            now = time.monotonic()
            if leases and now >= self._next_scan:
                self._next_scan = now + self._scan_every
                if self._running:
                    self._scan(now, events)
            if now >= self._next_refill:  # executors come and go: keep the slots filled
                self._next_refill = now + self.slots_refresh_s
                self._refill()
            if events or deadline is None or time.monotonic() >= deadline:
                return

    def _accept(self) -> None:
        assert self._listener is not None
        for sock in accept_all(self._listener, self.send_timeout_s):
            conn = _Conn(sock)
            self._conns[conn.fd] = conn
            self._poller.register(conn.fd, _POLLIN)

    def _drop(self, conn: _Conn) -> None:
        if self._conns.get(conn.fd) is conn:
            del self._conns[conn.fd]
            with contextlib.suppress(KeyError, ValueError):
                self._poller.unregister(conn.fd)
        with contextlib.suppress(OSError):
            conn.sock.close()

    def _read(self, conn: _Conn, events: list[Event]) -> None:
        try:
            more = conn.reader.fill()
        except BlockingIOError:
            return
        except OSError:
            more = False
        slot = conn.slot
        if slot is None:
            if not self._handshake(conn):
                if not more:
                    self._drop(conn)
                return
            slot = conn.slot
            assert slot is not None
        slot.renewed = time.monotonic()  # any message renews the lease
        if conn.reader.buf:
            self._messages(slot, conn, events)
        if not more and self._conns.get(conn.fd) is conn:
            self._drop(conn)
            self._slot_lost(slot, events, "its connection to the driver closed")

    def _handshake(self, conn: _Conn) -> bool:
        """Bind a new connection to its slot; True when it was bound."""
        buf = conn.reader.buf
        if len(buf) < 4:
            return False
        size = int.from_bytes(buf[:4], "little")
        if size > _MAX_HELLO or size <= _TOKEN_BYTES:
            self._drop(conn)
            return False
        if len(buf) < 4 + size:
            return False
        frame = bytes(buf[4 : 4 + size])
        conn.reader.buf = buf[4 + size :]
        try:
            slot_id, spark_attempt, worker = json.loads(frame[_TOKEN_BYTES:])
            slot = self._slots.get(int(slot_id))
        except (ValueError, TypeError):
            slot = None
        if slot is None or not hmac.compare_digest(slot.token, frame[:_TOKEN_BYTES]):
            self._drop(conn)  # not one of ours
            return False
        if slot.lost or slot.conn is not None or spark_attempt or self._closed:
            # Spark re-ran a slot task (or one that was given up connected late): it must
            # not serve trials. Its task returns; a fresh slot replaces it.
            send_frame(conn.sock, wire.encode((wire.EXIT,)))
            self._drop(conn)
            if slot.conn is None:  # a slot whose first task never connected
                why = f"Spark re-ran its task (task attempt {spark_attempt})"
                self._slot_lost(slot, self._pending, why)
            return False
        conn.slot = slot
        slot.conn = conn
        slot.worker = str(worker)
        send_frame(conn.sock, wire.encode((_GO, self._heartbeat_s)))
        return True

    def _messages(self, slot: _Slot, conn: _Conn, events: list[Event]) -> None:
        if slot.lost:
            return
        for msg in self._pool.take(slot, conn.reader.messages(), events, not self._closed):
            if msg[0] == _READY and not slot.ready:
                slot.ready = True
                self._failed_starts = 0
                if not self._closed:
                    self._idle.append(slot)
            # HEARTBEAT: the renewal was noted by _read()

    # ------------------------------------------------------------------ leases
    def _scan(self, now: float, events: list[Event]) -> None:
        """Expire the leases that were not renewed for ``lease_ttl``."""
        assert self.lease_ttl is not None
        cutoff = now - self.lease_ttl
        for slot in self._pool.overdue(cutoff):
            conn = slot.conn
            if conn is not None and readable(conn.fd):  # renewed, not read yet
                self._read(conn, events)
                if slot.renewed >= cutoff:
                    continue
            if slot.lost or not slot.trial_id:
                continue
            msg = (
                f"lease expired after {now - slot.renewed:.1f} s (Spark slot task, Python "
                f"worker {slot.worker or 'unknown'}, stopped renewing it)"
            )
            expired = Failed(slot.trial_id, slot.attempt, msg, "", time.time(), True, True)
            # Spark kills the frozen task's Python worker when its job is cancelled.
            self._slot_lost(slot, events, "its lease expired", expired)

    # ------------------------------------------------------------------ job ends
    def _drain_job_ends(self, events: list[Event]) -> None:
        while True:
            try:
                slot_id, error = self._job_ends.get_nowait()
            except queue.Empty:
                return
            slot = self._slots.get(slot_id)
            if slot is None:
                continue
            slot.job_ended = True
            conn = slot.conn
            if not slot.lost and conn is not None:
                # The task wrote an outcome before it ended: take it without blocking.
                while self._conns.get(conn.fd) is conn and readable(conn.fd):
                    self._read(conn, events)
            if not slot.lost:
                if error is None:
                    why = "its Spark task ended"
                else:
                    why = f"its Spark job failed: {_job_error_head(error)}"
                self._slot_lost(slot, events, why)
            self._slots.pop(slot_id, None)

    # ------------------------------------------------------------------ close
    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        close_at_exit(self, on=False)
        if not self._started:
            return
        self._idle.clear()
        # Every slot task ends by itself on EXIT (an idle one at once, a busy one at its
        # trial's next report) or when its connection closes.
        exit_frame = wire.encode((wire.EXIT,))
        for conn in list(self._conns.values()):
            if conn.slot is not None:
                with contextlib.suppress(OSError):
                    conn.sock.settimeout(0.0)
                    conn.sock.send(len(exit_frame).to_bytes(4, "little") + exit_frame)
            self._drop(conn)
        slots = list(self._slots.values())
        deadline = time.monotonic() + self.exit_grace_s
        for slot in slots:
            if slot.thread is not None:
                slot.thread.join(max(0.0, deadline - time.monotonic()))
        # Fallback: cancel the jobs still running (a trial that never reports, a slot task
        # still waiting for a core); Spark interrupts them and kills their Python workers.
        late = [s for s in slots if s.thread is not None and s.thread.is_alive()]
        for slot in late:
            with contextlib.suppress(Exception):
                self._sc.cancelJobGroup(slot.group)
        deadline = time.monotonic() + self.close_grace_s
        for slot in late:
            assert slot.thread is not None
            slot.thread.join(max(0.0, deadline - time.monotonic()))
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.close()
        for end in (self._wake_r, self._wake_w):
            if end is not None:
                end.close()
        self._running.clear()
        self._slots.clear()
        self._pending = []
        if self._bcast is not None and not self._owned:
            with contextlib.suppress(Exception):
                self._bcast.unpersist(blocking=False)
        if self._owned and self._session is not None:
            with contextlib.suppress(Exception):
                self._session.stop()
            if self._uses_class_cache():
                with contextlib.suppress(OSError):
                    spark_classcache.build_in_background()
