"""The Spark engine: every trial attempt is one Spark job of a single task.

How a trial runs
----------------
``submit()`` starts a driver thread that runs a one-partition job
(``sc.parallelize([spec], 1).mapPartitions(task).collect()``) under a job group of its own,
so that the attempt can be cancelled alone. The task runs in a pyspark Python worker on an
executor; it connects back over TCP to a listener in the driver, authenticates with a token
that only its launch carries, and then speaks the framing of :mod:`tunefleet.worker.wire`:
reports (asynchronous ones batched), synchronous replies, stop and pause requests. No task
is a barrier task and tasks of different trials never wait for each other.

The trainable travels once: it is cloudpickled in :meth:`SparkExecutor.start` into a Spark
broadcast variable, which Spark copies once to each executor; each Python worker unpickles
it once and keeps it (pyspark reuses Python workers, ``spark.python.worker.reuse``), so a
``with_parameters`` object crosses the network once per executor, not once per trial.

Failures
--------
The executor sees a lost executor (or Python worker) as the end of the task's connection
without an outcome and reports ``Failed(worker_lost=True)`` at once; the engine relaunches
the trial from its last checkpoint, counted against ``max_failures``. Spark must not re-run
the trial behind the engine's back, so sessions created here use ``spark.task.maxFailures``
1 (``local[N,1]``), the job group of a lost attempt is cancelled, and a task that Spark
retries anyway (``TaskContext.attemptNumber() > 0``, e.g. in a user's session with
retries) is refused before it runs anything, and counts as a lost attempt.

Resources
---------
``Resources.cpu`` becomes ``spark.task.cpus`` (rounded up: Spark counts whole cores);
``gpu`` and custom resources become ``spark.task.resource.<name>.amount`` (fractions allowed
as Spark allows them). In a session created here they are set in its configuration; in a
session passed with ``spark=`` whose task defaults differ they are requested through a
stage-level ``TaskResourceProfile`` (Spark standalone, YARN and Kubernetes with dynamic
allocation off; Spark refuses them in ``local`` mode). The task sets
``CUDA_VISIBLE_DEVICES`` to the GPU addresses Spark assigned to it. Executors must offer
the resources (``spark.executor.resource.gpu.amount`` and a discovery script).
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import hmac
import inspect
import json
import math
import os
import pickle
import queue
import re
import secrets
import select
import socket
import sys
import threading
import time
import traceback
import weakref
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from json import loads as _loads
from typing import Any

from tunefleet.errors import StopTrial, TuneError, TuneValueError
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

# Driver → task after the handshake: run the trial.
_GO = 32
_TOKEN_BYTES = 32
_MAX_HELLO = 4096
_POLLIN = select.POLLIN | select.POLLHUP | select.POLLERR
_LOST_PATTERN = re.compile(
    r"ExecutorLostFailure|Lost executor|executor lost|worker lost|Executor heartbeat timed out",
    re.IGNORECASE,
)
_LOCAL_MASTER = re.compile(r"^local(?:\[(\*|\d+)(?:\s*,\s*\d+)?\])?$")
_LOCAL_CLUSTER = re.compile(r"^local-cluster\[\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*\]$")
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _import_pyspark() -> Any:
    try:
        import pyspark
        from pyspark.sql import SparkSession  # noqa: F401 - fails early if pyspark is broken
    except ImportError as exc:
        raise ImportError(
            "the Spark engine needs pyspark: pip install tunefleet[spark] "
            f"(importing it failed: {exc})"
        ) from exc
    return pyspark


def _local_cores(master: str) -> int | None:
    """Cores of a ``local``/``local[N]``/``local[N,F]``/``local-cluster`` master; else None."""
    m = _LOCAL_MASTER.match(master)
    if m:
        n = m.group(1)
        if n is None:
            return 1
        return os.cpu_count() or 1 if n == "*" else int(n)
    m = _LOCAL_CLUSTER.match(master)
    if m:
        return int(m.group(2))  # per executor: a task must fit on one executor
    return None


def _is_loopback_master(master: str) -> bool:
    if master.startswith("local"):
        return True
    if master.startswith("spark://"):
        host = master[len("spark://") :].rsplit(":", 1)[0].strip("[]")
        return host in _LOOPBACK
    return False


def task_requests(resources: Resources) -> tuple[int, dict[str, float]]:
    """Spark's task request for ``resources``: whole CPUs and other resources by name."""
    cpus = max(1, math.ceil(resources.cpu - 1e-9))
    other: dict[str, float] = {}
    if resources.gpu > 0:
        other["gpu"] = float(resources.gpu)
    for name, amount in resources.custom.items():
        if amount > 0:
            other[str(name)] = float(amount)
    return cpus, other


def session_settings(
    master: str, resources: Resources, conf: dict[str, str] | None = None
) -> dict[str, str]:
    """The configuration of a SparkSession created by the executor (``conf`` wins)."""
    cpus, other = task_requests(resources)
    settings = {
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.python.worker.reuse": "true",
        # A lost task must surface to tunefleet, which relaunches from the checkpoint.
        "spark.task.maxFailures": "1",
        "spark.task.cpus": str(cpus),
    }
    for name, amount in other.items():
        settings[f"spark.task.resource.{name}.amount"] = repr(amount)
    if _is_loopback_master(master):
        settings["spark.driver.host"] = "127.0.0.1"
        settings["spark.driver.bindAddress"] = "127.0.0.1"
    if master.startswith("local-cluster"):
        settings["spark.executor.memory"] = "512m"
    settings.update(conf or {})
    return settings


def default_master(resources: Resources | None = None) -> str:
    """``local[N,1]``: all cores of this machine, no Spark-level task retry."""
    return f"local[{os.cpu_count() or 1},1]"


# ============================================================================ task side
# Everything below up to the driver side runs inside a pyspark Python worker.

#: Per Python worker: the trainable of the current executor start, unpickled once.
_TRAINABLES: dict[str, Any] = {}

FLUSH_AFTER_S = 0.002
MAX_BATCH = 1024


def _load_trainable(key: str, bcast: Any) -> Any:
    fn = _TRAINABLES.get(key)
    if fn is None:
        payload = bcast.value  # read from the executor's copy of the broadcast
        fn = pickle.loads(payload)  # noqa: S301 - the driver's own trainable
        _TRAINABLES.clear()  # one run at a time per worker: drop older trainables
        _TRAINABLES[key] = fn
    return fn


def _describe(exc: BaseException) -> str:
    try:
        return repr(exc)
    except Exception:
        return f"<{type(exc).__name__} (repr failed)>"


def _user_traceback(exc: BaseException) -> str:
    tb = exc.__traceback__
    if tb is not None and tb.tb_next is not None:
        tb = tb.tb_next  # start in the user's code, not in _TaskChannel.run
    try:
        return "".join(traceback.format_exception(type(exc), exc, tb))
    except Exception:
        return traceback.format_exc()


class _TaskChannel:
    """The :class:`~tunefleet.worker.session.Channel` of a trial inside a Spark task.

    Asynchronous reports closer together than ``flush_s`` are buffered and sent as one
    ``REPORTS`` frame by a flusher thread (or with the outcome); a report after a quiet
    spell goes at once. Stop requests are picked up with one ``poll`` at most every
    ``flush_s``. If the driver goes away the trial is unwound as stopped.
    """

    def __init__(self, fd: int, reader: wire.FrameReader, seq: int, flush_s: float) -> None:
        self.fd = fd
        self.reader = reader
        self.seq = seq
        self.flush_s = flush_s
        self.stop_requested = False
        self.pause = False
        self.dead = False
        self.replies: deque[tuple[Any, ...]] = deque()
        poller = select.poll()
        poller.register(fd, _POLLIN)
        self._poll = poller.poll
        self._lock = threading.Lock()
        self._buf: list[Any] = []
        self._wake = threading.Event()
        self._closed = False
        self._flusher: threading.Thread | None = None
        self._last_send = 0.0
        self._last_check = time.monotonic()

    # ------------------------------------------------------------------ receiving
    def _apply(self, msgs: list[Any]) -> None:
        for msg in msgs:
            op = msg[0]
            if op == wire.STOP:
                if msg[1] == self.seq:
                    self.stop_requested = True
                    self.pause = bool(msg[2])
            elif op == wire.REPLY:
                if msg[1] == self.seq:
                    self.replies.append(msg)
            elif op == wire.EXIT:  # the driver is closing: unwind as stopped
                self.stop_requested = True

    def _fill(self) -> None:
        try:
            more = self.reader.fill()
        except OSError:
            more = False
        if not more:
            self.dead = True
            self.stop_requested = True
            return
        self._apply(self.reader.messages())

    def check(self) -> None:
        """Apply control messages that are waiting, without blocking."""
        while not self.dead and self._poll(0):
            self._fill()

    # ------------------------------------------------------------------ sending
    def _write_locked(self, msgs: list[tuple[Any, ...]]) -> None:
        frames = []
        if self._buf:
            frames.append(wire.encode((wire.REPORTS, self._buf)))
            self._buf = []
        for msg in msgs:
            frames.append(wire.encode(msg))
        if not frames or self.dead:
            return
        try:
            wire.write_frames(self.fd, frames)
        except OSError:
            self.dead = True
            self.stop_requested = True
        self._last_send = time.monotonic()

    def _flush_loop(self) -> None:
        wake = self._wake
        while True:
            wake.wait()
            if self._closed:
                return
            time.sleep(self.flush_s)
            with self._lock:
                wake.clear()
                self._write_locked([])

    def send_result(self, session: Any, result: dict[str, Any], checkpoint: str | None) -> None:
        now = time.monotonic()
        if now - self._last_check >= self.flush_s:
            self._last_check = now
            self.check()
        if self.stop_requested:
            raise StopTrial(self.pause)
        from tunefleet.storage.sqlite import dumps

        text = dumps(result)
        if session.sync:
            with self._lock:
                self._write_locked([(wire.REPORT, text, checkpoint)])
            self._await_reply()
            return
        with self._lock:
            buf = self._buf
            if not buf and now - self._last_send >= self.flush_s:
                self._write_locked([(wire.REPORT, text, checkpoint)])
                return
            buf.append(text)
            buf.append(checkpoint)
            if len(buf) == 2:
                if self._flusher is None:
                    self._flusher = threading.Thread(
                        target=self._flush_loop, name="tunefleet-spark-flusher", daemon=True
                    )
                    self._flusher.start()
                self._wake.set()
            elif len(buf) >= 2 * MAX_BATCH:
                self._write_locked([])

    def _await_reply(self) -> None:
        while True:
            if self.replies:
                msg = self.replies.popleft()
                if msg[2]:
                    return
                self.stop_requested = True
                self.pause = bool(msg[3])
                raise StopTrial(self.pause)
            if self.stop_requested:
                raise StopTrial(self.pause)
            self._fill()  # blocks until the driver says something

    def finish(self, outcome: tuple[Any, ...]) -> None:
        """Send what is buffered and the trial's outcome in one write; stop the flusher."""
        with self._lock:
            self._write_locked([outcome])
            self._closed = True
        self._wake.set()

    # ------------------------------------------------------------------ the trial
    def run(self, fn: Callable[..., Any], spec: dict[str, Any]) -> tuple[Any, ...]:
        from tunefleet.worker.generator import report_yielded
        from tunefleet.worker.session import Session, set_session

        session = Session(
            spec["trial_id"],
            spec["attempt"],
            spec["trial_dir"],
            self,
            config=spec["config"],
            restore_from=spec["checkpoint"],
            start_iteration=spec["start_iteration"],
            start_time_total=spec["start_time_total"],
            sync=spec["sync"],
        )
        session.checkpoint_frequency = spec["checkpoint_frequency"]
        session.checkpoint_at_end = spec["checkpoint_at_end"]
        session.stop_criteria = spec["stop_criteria"]
        set_session(session)
        try:
            self.check()  # a stop may have been sent right after the launch
            if self.stop_requested:
                return (wire.DONE, True)
            ret = fn(spec["config"])
            if inspect.isgenerator(ret):
                report_yielded(ret, session)
        except StopTrial:
            return (wire.DONE, True)
        except BaseException as exc:  # the user's error, SystemExit included
            return (wire.FAIL, _describe(exc), _user_traceback(exc))
        finally:
            set_session(None)
            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(Exception):
                    stream.flush()
        return (wire.DONE, self.stop_requested)


def _next_messages(reader: wire.FrameReader) -> list[Any] | None:
    """The next message(s) from the driver (blocking); None at end of stream."""
    while not reader.has_frame():
        try:
            if not reader.fill():
                return None
        except OSError:
            return None
    return reader.messages()


def _run_in_task(bcast: Any, key: str, spec: dict[str, Any]) -> None:
    from pyspark import TaskContext

    ctx = TaskContext.get()
    spark_attempt = ctx.attemptNumber() if ctx is not None else 0
    host, port = spec["host"], spec["port"]
    try:
        sock = socket.create_connection((host, port), timeout=spec["connect_timeout"])
    except OSError as exc:
        raise RuntimeError(
            f"tunefleet: the Spark task of trial {spec['trial_id']} could not connect back to "
            f"the driver at {host}:{port} ({exc}); executors must reach the driver there "
            "(SparkExecutor(driver_host=...))"
        ) from exc
    try:
        sock.settimeout(None)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        fd = sock.fileno()
        who = f"{socket.gethostname()}:{os.getpid()}"
        hello = json.dumps([spec["seq"], spark_attempt, who]).encode()
        wire.write_frame(fd, spec["token"] + hello)
        reader = wire.FrameReader(fd)
        msgs = _next_messages(reader)
        if not msgs or msgs[0][0] != _GO:
            return  # refused (a retry, or an attempt that was already given up)
        if ctx is not None:
            gpus = ctx.resources().get("gpu")
            if gpus is not None:
                os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(gpus.addresses)
        channel = _TaskChannel(fd, reader, spec["seq"], spec["flush_s"])
        channel._apply(msgs[1:])
        try:
            fn = _load_trainable(key, bcast)
        except BaseException as exc:
            outcome: tuple[Any, ...] = (
                wire.FAIL,
                f"the trainable could not be loaded in the Spark task: {_describe(exc)}",
                traceback.format_exc(),
            )
        else:
            outcome = channel.run(fn, spec)
        channel.finish(outcome)
        # Let the driver close first: closing with unread control messages in our receive
        # buffer would reset the connection and could lose the outcome.
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_WR)
            deadline = time.monotonic() + 10.0
            sock.settimeout(1.0)
            while time.monotonic() < deadline:
                try:
                    if not sock.recv(1 << 16):
                        break
                except TimeoutError:
                    continue
    finally:
        sock.close()


def _warm_main(bcast: Any, key: str, items: Iterable[Any]) -> Iterator[Any]:
    """A warm-up task: start the Python worker and load the trainable into it."""
    list(items)
    with contextlib.suppress(Exception):  # a trainable that cannot load fails each trial later
        _load_trainable(key, bcast)
    return iter(())


def _task_main(bcast: Any, key: str, items: Iterable[bytes]) -> Iterator[Any]:
    """The ``mapPartitions`` function of a trial's job."""
    # Read the partition to its end: pyspark reuses a Python worker only then.
    specs = list(items)
    for raw in specs:
        _run_in_task(bcast, key, pickle.loads(raw)[0])  # noqa: S301 - from our own driver
    return iter(())


# ============================================================================ driver side
class _Attempt:
    __slots__ = (
        "seq",
        "trial_id",
        "attempt",
        "token",
        "group",
        "conn",
        "stopping",
        "concluded",
        "job_ended",
        "worker",
        "thread",
    )

    def __init__(self, seq: int, launch: Launch, token: bytes, group: str) -> None:
        self.seq = seq
        self.trial_id = launch.trial_id
        self.attempt = launch.attempt
        self.token = token
        self.group = group
        self.conn: _Conn | None = None
        self.stopping = False
        self.concluded = False  # its outcome (or loss) was reported to the engine
        self.job_ended = False
        self.worker = ""
        self.thread: threading.Thread | None = None


class _Conn:
    __slots__ = ("sock", "fd", "reader", "attempt")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.fd = sock.fileno()
        self.reader = wire.FrameReader(self.fd)
        self.attempt: _Attempt | None = None  # None until the handshake


_LIVE: weakref.WeakSet[SparkExecutor] = weakref.WeakSet()


def _atexit() -> None:
    for ex in list(_LIVE):
        with contextlib.suppress(Exception):
            ex.close()


atexit.register(_atexit)


class SparkExecutor(Executor):
    """Runs each trial attempt as a one-task Spark job.

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
        Trials that may run at once. Default: what Spark can run concurrently with the
        trial's task resources (``maxNumConcurrentTasks``), re-read every second, so lost
        and added executors change the capacity.
    address:
        ``engine="spark://host:7077"`` arrives here; the same as ``master``.
    conf:
        Extra Spark settings for a session created here (they win over ours).
    app_name:
        Spark application name of a session created here.
    driver_host:
        Address the trials' tasks connect back to (and the listener binds). Default
        ``spark.driver.host`` of the session.
    report_batch_s:
        Asynchronous reports closer together than this are batched (default 2 ms).
    startup_timeout_s:
        ``start()`` waits this long for the cluster to offer a first slot.
    connect_timeout_s:
        How long a task tries to connect back to the driver.
    prestart:
        ``start()`` runs one warm-up task per slot, which starts the Python workers and
        loads the trainable into them, so that the first trials, and the relaunch of a trial
        whose executor was lost, do not wait for a cold Python worker.
    """

    name = "spark"
    #: Seconds between refreshes of the slot count (a JVM call).
    slots_refresh_s = 1.0
    #: Seconds ``close()`` waits for the driver threads of cancelled jobs.
    close_grace_s = 5.0
    #: On a cluster, ``start()`` waits until no executor registered for ``settle_s``
    #: seconds (but at most ``settle_max_s``), so that the warm-up reaches all of them.
    settle_s = 2.0
    settle_max_s = 15.0
    #: Longest wait for the warm-up tasks of ``start()``.
    warmup_timeout_s = 60.0

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
        self.experiment_dir = ""
        self._session: Any = None
        self._sc: Any = None
        self._owned = False
        self._profile: Any = None
        self._cpus = 1
        self._limit = math.inf
        self._slots = 0
        self._slots_at = -math.inf
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
        self._by_seq: dict[int, _Attempt] = {}
        self._running: dict[str, _Attempt] = {}
        self._job_ends: queue.SimpleQueue[tuple[int, BaseException | None]] = queue.SimpleQueue()
        self._pending: list[Event] = []
        self._seq = 0
        self._started = False
        self._closed = False

    # ------------------------------------------------------------------ resources
    def _planned_master(self) -> str:
        """The master trials will run on, as far as it is known without starting Spark."""
        if self._sc is not None:
            return str(self._sc.master)
        if self.spark is not None:
            sc = getattr(self.spark, "sparkContext", self.spark)
            return str(getattr(sc, "master", ""))
        if self.master is not None:
            return self.master
        pyspark = sys.modules.get("pyspark")  # only if already imported: validation is cheap
        active = getattr(getattr(pyspark, "SparkContext", None), "_active_spark_context", None)
        return str(active.master) if active is not None else default_master()

    def validate_resources(self, resources: Resources) -> None:
        if not resources.cpu > 0 and not resources.gpu > 0 and not resources.custom:
            raise TuneValueError("resources_per_trial: a trial must request some resource")
        cpus, _ = task_requests(resources)
        master = self._planned_master()
        cores = _local_cores(master)
        if cores is not None and cpus > cores:
            raise TuneValueError(
                f"resources_per_trial: cpu={resources.cpu} needs {cpus} cores in one Spark "
                f"executor, but the master {master!r} offers {cores}"
            )

    def _session_task_defaults(self) -> tuple[int, dict[str, float]]:
        conf = self._sc.getConf()
        cpus = int(conf.get("spark.task.cpus", "1"))
        other: dict[str, float] = {}
        for key, value in conf.getAll():
            m = re.match(r"^spark\.task\.resource\.([^.]+)\.amount$", key)
            if m:
                other[m.group(1)] = float(value)
        return cpus, other

    def _make_profile(self, cpus: int, other: dict[str, float]) -> Any:
        """A TaskResourceProfile for a user's session whose task defaults differ."""
        from pyspark.resource import ResourceProfileBuilder, TaskResourceRequests

        req = TaskResourceRequests().cpus(cpus)
        for name, amount in other.items():
            req = req.resource(name, amount)
        profile = ResourceProfileBuilder().require(req).build
        try:
            self._sc.parallelize([0], 1).withResources(profile)
        except Exception as exc:
            first = str(exc).strip().splitlines()
            reason = next((ln for ln in first if "Exception" in ln), first[0] if first else "")
            raise TuneValueError(
                f"resources_per_trial: trials need {cpus} cpu(s) and {other or 'no other'} "
                "resources per task, which differs from the task defaults of the given "
                f"SparkSession (master {self._sc.master}), and this Spark refuses stage-level "
                f"resource profiles ({reason.strip()}). Create the session with "
                f"spark.task.cpus={cpus} (and spark.task.resource.<name>.amount), or let "
                "tunefleet create it (SparkExecutor(master=...))"
            ) from exc
        return profile

    def _spark_slots(self) -> int:
        jsc = self._sc._jsc.sc()
        if self._profile is None:
            rp = jsc.resourceProfileManager().defaultResourceProfile()
            return int(jsc.maxNumConcurrentTasks(rp))
        # A TaskResourceProfile shares the default executors: count their cores.
        rp = jsc.resourceProfileManager().defaultResourceProfile()
        default_cpus, _ = self._session_task_defaults()
        return int(jsc.maxNumConcurrentTasks(rp)) * default_cpus // self._cpus

    def _slot_count(self) -> int:
        if self.num_slots is not None:
            return self.num_slots
        now = time.monotonic()
        if now - self._slots_at >= self.slots_refresh_s:
            self._slots_at = now
            with contextlib.suppress(Exception):  # a stopping context: keep the last count
                self._slots = self._spark_slots()
        return self._slots

    # ------------------------------------------------------------------ lifecycle
    def _open_session(self, resources: Resources) -> None:
        _import_pyspark()
        from pyspark import SparkContext
        from pyspark.sql import SparkSession

        given = self.spark
        if given is not None:
            self._sc = given.sparkContext if hasattr(given, "sparkContext") else given
            self._session = given
            return
        active = SparkContext._active_spark_context
        if active is not None:
            if self.master is not None and active.master != self.master:
                raise TuneValueError(
                    f"master={self.master!r}: a SparkContext with master {active.master!r} is "
                    "already running in this process (Spark allows one); pass it with "
                    "spark=... or stop it first"
                )
            self._sc = active  # the user's (a notebook's): used, never stopped
            return
        master = self.master or default_master(resources)
        if _is_loopback_master(master):
            os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        builder = SparkSession.builder.master(master).appName(self.app_name)
        for key, value in session_settings(master, resources, self.conf).items():
            builder = builder.config(key, value)
        self._session = builder.getOrCreate()
        self._sc = self._session.sparkContext
        self._owned = True

    def start(
        self,
        trainable: Callable[..., Any],
        resources: Resources,
        max_concurrent: int | None,
        experiment_dir: str,
    ) -> None:
        if self._started:
            raise RuntimeError("SparkExecutor.start() was already called")
        if max_concurrent is not None and max_concurrent < 1:
            raise TuneValueError(f"max_concurrent must be >= 1, got {max_concurrent!r}")
        self.validate_resources(resources)
        import cloudpickle

        payload = cloudpickle.dumps(trainable)
        self._open_session(resources)
        self._started = True
        _LIVE.add(self)
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
        if not self._owned and (cpus, other) != self._session_task_defaults():
            self._profile = self._make_profile(cpus, other)
        master = str(sc.master)
        host = self.driver_host
        if host is None:
            host = (
                "127.0.0.1"
                if _is_loopback_master(master)
                else sc.getConf().get("spark.driver.host", socket.gethostname())
            )
        listener = socket.socket(
            socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM
        )
        listener.bind((host, 0))
        listener.listen(128)
        listener.setblocking(False)
        self._listener = listener
        self._host = host
        self._port = listener.getsockname()[1]
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
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
        if self.prestart:
            with contextlib.suppress(Exception):  # best effort
                self._warm_up(self._spark_slots())

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

    def _warm_up(self, tasks: int) -> None:
        """One task per Spark slot, all at once (a barrier stage, so that no executor takes
        two while another gets none), in a job group that is cancelled if it takes longer
        than ``warmup_timeout_s`` (a barrier stage waits while slots are missing)."""
        if tasks < 1:
            return
        group = f"tunefleet-{self._key}-warmup"
        fn = functools.partial(_warm_main, self._bcast, self._key)

        def run() -> None:
            sc = self._sc
            sc.setJobGroup(group, "tunefleet warm-up", interruptOnCancel=True)
            rdd = sc.parallelize(range(tasks), tasks)
            if self._profile is not None:
                rdd = rdd.withResources(self._profile)
            with contextlib.suppress(Exception):
                rdd.barrier().mapPartitions(fn).collect()

        thread = threading.Thread(target=run, name="tunefleet-spark-warmup", daemon=True)
        thread.start()
        thread.join(self.warmup_timeout_s)
        if thread.is_alive():
            with contextlib.suppress(Exception):
                self._sc.cancelJobGroup(group)
            thread.join(self.close_grace_s)

    def capacity(self) -> int:
        if not self._started or self._closed:
            return 0
        total = min(self._limit, self._slot_count())
        return max(0, int(total) - len(self._running))

    def total_slots(self) -> int:
        if not self._started:
            return 0
        return int(min(self._limit, self._slot_count()))

    @property
    def spark_context(self) -> Any:
        """The SparkContext in use (after ``start()``)."""
        return self._sc

    def submit(self, launch: Launch) -> None:
        if not self._started or self._closed:
            raise RuntimeError("SparkExecutor.submit() needs start() first and no close()")
        tid = launch.trial_id
        if tid in self._running:
            raise RuntimeError(f"trial {tid} is already running")
        self._seq += 1
        seq = self._seq
        token = secrets.token_bytes(_TOKEN_BYTES)
        spec = {
            "seq": seq,
            "token": token,
            "host": self._host,
            "port": self._port,
            "connect_timeout": self.connect_timeout_s,
            "flush_s": self.report_batch_s,
            "trial_id": tid,
            "attempt": launch.attempt,
            "config": launch.config,
            "trial_dir": launch.trial_dir,
            "checkpoint": launch.checkpoint,
            "start_iteration": launch.start_iteration,
            "start_time_total": launch.start_time_total,
            "sync": launch.sync_reports,
            "checkpoint_frequency": launch.checkpoint_frequency,
            "checkpoint_at_end": launch.checkpoint_at_end,
            "stop_criteria": launch.stop_criteria,
        }
        try:
            raw = wire.encode((spec,))
        except Exception as exc:
            raise TuneValueError(
                f"config of trial {tid} cannot be sent to a Spark task: {exc!r}"
            ) from exc
        att = _Attempt(seq, launch, token, f"tunefleet-{self._key}-{seq}")
        self._by_seq[seq] = att
        self._running[tid] = att
        thread = threading.Thread(
            target=self._run_job,
            args=(att, raw),
            name=f"tunefleet-spark-{tid}-{launch.attempt}",
            daemon=True,
        )
        att.thread = thread
        thread.start()

    def _run_job(self, att: _Attempt, raw: bytes) -> None:
        """Driver thread: one Spark job for one attempt."""
        error: BaseException | None = None
        try:
            if att.concluded:  # stopped before its job even started
                raise RuntimeError("stopped before the job was submitted")
            sc = self._sc
            sc.setJobGroup(att.group, f"tunefleet trial {att.trial_id}", interruptOnCancel=True)
            rdd = sc.parallelize([raw], 1)
            if self._profile is not None:
                rdd = rdd.withResources(self._profile)
            rdd.mapPartitions(functools.partial(_task_main, self._bcast, self._key)).collect()
        except BaseException as exc:
            error = exc
        self._job_ends.put((att.seq, error))
        with contextlib.suppress(OSError):
            if self._wake_w is not None:
                self._wake_w.send(b"x")

    # ------------------------------------------------------------------ control
    def _send(self, conn: _Conn, msg: tuple[Any, ...]) -> None:
        """A small control message; through the socket object, never a bare descriptor (a
        dropped connection's number may already belong to another)."""
        payload = wire.encode(msg)
        with contextlib.suppress(OSError):
            conn.sock.sendall(len(payload).to_bytes(4, "little") + payload)

    def reply(self, trial_id: str, proceed: bool) -> None:
        att = self._running.get(trial_id)
        if att is None or att.stopping or att.conn is None:
            return
        if not proceed:
            att.stopping = True
        self._send(att.conn, (wire.REPLY, att.seq, bool(proceed), False))

    def stop(self, trial_id: str, pause: bool = False) -> None:
        att = self._running.get(trial_id)
        if att is None or att.stopping:
            return
        att.stopping = True  # from now on its reports are dropped: the engine has decided
        if att.conn is not None:
            self._send(att.conn, (wire.STOP, att.seq, bool(pause)))
            return
        # Its task has not connected yet (it waits for a core): end it here.
        self._conclude(att)
        self._cancel(att)
        self._pending.append(Finished(trial_id, att.attempt, time.time(), True))

    def _cancel(self, att: _Attempt) -> None:
        if not att.job_ended:
            with contextlib.suppress(Exception):
                self._sc.cancelJobGroup(att.group)

    def _conclude(self, att: _Attempt) -> None:
        att.concluded = True
        if self._running.get(att.trial_id) is att:
            del self._running[att.trial_id]
        if att.job_ended:
            self._by_seq.pop(att.seq, None)

    # ------------------------------------------------------------------ events
    def poll(self, timeout: float) -> list[Event]:
        events = self._pending
        self._pending = []
        if not self._started or self._closed:
            return events
        deadline = None if events else time.monotonic() + max(0.0, timeout)
        listener_fd = self._listener.fileno() if self._listener is not None else -1
        wake = self._wake_r
        assert wake is not None
        wake_fd = wake.fileno()
        while True:
            ms = 0 if deadline is None else max(0, math.ceil((deadline - time.monotonic()) * 1e3))
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
            if events or deadline is None or time.monotonic() >= deadline:
                return events

    def _accept(self) -> None:
        assert self._listener is not None
        while True:
            try:
                sock, _ = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            sock.setblocking(False)  # read only what poll() said is there
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
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
        if conn.attempt is None and not self._handshake(conn, events):
            if not more:
                self._drop(conn)
            return
        att = conn.attempt
        if att is not None and conn.reader.buf:
            self._messages(att, conn, events)
        if not more and self._conns.get(conn.fd) is conn:
            self._drop(conn)
            if att is not None and not att.concluded:
                self._lost(att, events, "its connection to the driver closed")

    def _handshake(self, conn: _Conn, events: list[Event]) -> bool:
        """Bind a new connection to its attempt; True when it was bound."""
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
            seq, spark_attempt, worker = json.loads(frame[_TOKEN_BYTES:])
            att = self._by_seq.get(int(seq))
        except (ValueError, TypeError):
            att = None
        if att is None or not hmac.compare_digest(att.token, frame[:_TOKEN_BYTES]):
            self._drop(conn)  # not one of ours
            return False
        if att.concluded or att.conn is not None or spark_attempt:
            if not att.concluded:
                self._conclude(att)
                self._cancel(att)
                msg = (
                    f"WorkerLost: Spark re-ran the task of trial {att.trial_id} (task attempt "
                    f"{spark_attempt}) after losing the previous one; tunefleet relaunches the "
                    "trial from its last checkpoint instead"
                )
                events.append(Failed(att.trial_id, att.attempt, msg, msg, time.time(), True))
            self._send(conn, (wire.EXIT,))
            self._drop(conn)
            return False
        conn.attempt = att
        att.conn = conn
        att.worker = str(worker)
        events.append(Started(att.trial_id, att.attempt, f"spark:{att.worker}", time.time()))
        self._send(conn, (_GO,))
        return True

    def _messages(self, att: _Attempt, conn: _Conn, events: list[Event]) -> None:
        for msg in conn.reader.messages():
            if att.concluded:
                return
            op = msg[0]
            if op == wire.REPORT:
                if not att.stopping:
                    events.append(
                        Reported(att.trial_id, att.attempt, _loads(msg[1]), msg[2], msg[1])
                    )
            elif op == wire.REPORTS:
                if not att.stopping:
                    items = msg[1]
                    tid, attempt = att.trial_id, att.attempt
                    for i in range(0, len(items), 2):
                        text = items[i]
                        events.append(Reported(tid, attempt, _loads(text), items[i + 1], text))
            elif op == wire.DONE:
                self._conclude(att)
                events.append(
                    Finished(att.trial_id, att.attempt, time.time(), bool(msg[1]) or att.stopping)
                )
                self._drop(conn)
            elif op == wire.FAIL:
                self._conclude(att)
                events.append(Failed(att.trial_id, att.attempt, msg[1], msg[2], time.time()))
                self._drop(conn)

    def _lost(self, att: _Attempt, events: list[Event], why: str) -> None:
        self._conclude(att)
        self._cancel(att)
        msg = (
            f"WorkerLost: the Spark task running trial {att.trial_id} (Python worker "
            f"{att.worker or 'unknown'}) ended without an outcome: {why}; its executor was "
            "probably lost"
        )
        events.append(Failed(att.trial_id, att.attempt, msg, msg, time.time(), True))

    def _drain_job_ends(self, events: list[Event]) -> None:
        while True:
            try:
                seq, error = self._job_ends.get_nowait()
            except queue.Empty:
                return
            att = self._by_seq.get(seq)
            if att is None:
                continue
            att.job_ended = True
            conn = att.conn
            if not att.concluded and conn is not None and self._conns.get(conn.fd) is conn:
                # The task wrote its outcome before it returned: take it without blocking.
                while self._conns.get(conn.fd) is conn and self._readable(conn.fd):
                    self._read(conn, events)
            if not att.concluded:
                self._job_failed(att, error, events)
            if att.concluded:
                self._by_seq.pop(seq, None)

    @staticmethod
    def _readable(fd: int) -> bool:
        p = select.poll()
        p.register(fd, _POLLIN)
        return bool(p.poll(0))

    def _job_failed(self, att: _Attempt, error: BaseException | None, events: list[Event]) -> None:
        if att.conn is not None:
            self._drop(att.conn)
        if error is None:
            self._lost(att, events, "the Spark job ended")
            return
        text = str(error).strip() or repr(error)
        lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
        head = next((ln for ln in lines if "Exception" in ln or "Error" in ln), lines[0])
        lost = bool(_LOST_PATTERN.search(text))
        self._conclude(att)
        msg = (
            f"{'WorkerLost: ' if lost else ''}the Spark job of trial {att.trial_id} failed: {head}"
        )
        events.append(Failed(att.trial_id, att.attempt, msg[:2000], text, time.time(), lost))

    # ------------------------------------------------------------------ close
    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        _LIVE.discard(self)
        if not self._started:
            return
        for conn in list(self._conns.values()):
            if conn.attempt is not None:
                self._send(conn, (wire.EXIT,))
        for att in list(self._running.values()):
            self._cancel(att)
        for conn in list(self._conns.values()):
            self._drop(conn)
        threads = [a.thread for a in self._by_seq.values() if a.thread is not None]
        deadline = time.monotonic() + self.close_grace_s
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.close()
        for end in (self._wake_r, self._wake_w):
            if end is not None:
                end.close()
        self._running.clear()
        self._by_seq.clear()
        self._pending = []
        if self._bcast is not None and not self._owned:
            with contextlib.suppress(Exception):
                self._bcast.unpersist(blocking=False)
        if self._owned and self._session is not None:
            with contextlib.suppress(Exception):
                self._session.stop()
