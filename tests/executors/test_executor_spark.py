"""The Spark engine against a real Spark (pip pyspark, Java 17), never a mock.

One ``local[2,1]`` session is shared by the tests that can share it (a session costs 5 s or
more to start); the executor-kill test then stops it and runs on ``local-cluster[2,1,1024]``
(two executor JVMs), because Spark allows one SparkContext per process. Test order matters:
the shared-session tests come first in this file.

Trials run in long-running slot tasks (one Spark job per slot) that serve many trials each;
the tests check that a slot's Python worker serves trial after trial, that lost slots are
replaced, and that nothing (job, Python worker, executor JVM) outlives ``close()``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cloudpickle
import psutil
import pytest

pytest.importorskip("pyspark")
if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
    pytest.skip("Spark needs Java", allow_module_level=True)

import tunefleet as tune
from tunefleet.errors import TuneError, TuneValueError
from tunefleet.executors import create_executor
from tunefleet.executors.base import (
    Event,
    Failed,
    Finished,
    Launch,
    Reported,
    Resources,
    Started,
)
from tunefleet.executors.spark import SparkExecutor, session_settings
from tunefleet.schedulers import ASHAScheduler
from tunefleet.storage import open_store
from tunefleet.storage import records as rk
from tunefleet.testing.executors import ExecutorConformance
from tunefleet.testing.trainables import suite_trainable

pytestmark = pytest.mark.timeout(240)

# Trainables defined here travel by value: Spark's Python workers cannot import test modules.
cloudpickle.register_pickle_by_value(sys.modules[__name__])

MASTER = "local[2,1]"


class _SharedSpark:
    """The one SparkSession of the shared tests, created on first use."""

    session: Any = None

    def get(self) -> Any:
        if self.session is None:
            from pyspark.sql import SparkSession

            os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
            os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
            builder = SparkSession.builder.master(MASTER).appName("tunefleet-tests")
            for key, value in session_settings(MASTER, Resources()).items():
                builder = builder.config(key, value)
            self.session = builder.getOrCreate()
        return self.session

    def stop(self) -> None:
        if self.session is not None:
            self.session.stop()
            self.session = None


_shared = _SharedSpark()


@pytest.fixture(scope="module", autouse=True)
def _stop_shared_session() -> Iterator[None]:
    yield
    _shared.stop()


# ============================================================================ conformance
class TestSparkExecutorConformance(ExecutorConformance):
    # A slot task serves trial after trial in one Python worker: the suite's "same pid
    # again" expectations hold, as on the local engine.
    event_timeout = 60.0

    def make_executor(self) -> SparkExecutor:
        return SparkExecutor(spark=_shared.get())


# ============================================================================ helpers
def _collect(ex: SparkExecutor, until: Any, timeout: float = 60.0) -> list[Event]:
    events: list[Event] = []
    deadline = time.monotonic() + timeout
    while not until(events):
        assert time.monotonic() < deadline, f"timed out; events so far: {events[-5:]!r}"
        events.extend(ex.poll(0.05))
    return events


def _ended(events: list[Event], *tids: str) -> bool:
    return set(tids) <= {e.trial_id for e in events if isinstance(e, (Finished, Failed))}


def _launch(exp: Path, tid: str, config: dict[str, Any], **kw: Any) -> Launch:
    return Launch(trial_id=tid, config=config, attempt=0, trial_dir=str(exp / tid), **kw)


class _Heavy:
    """A with_parameters object that logs every unpickling (one line with the pid)."""

    def __init__(self, log: str, size: int) -> None:
        self.log = log
        self.blob = b"x" * size

    def __getstate__(self) -> dict[str, Any]:
        return {"log": self.log, "blob": self.blob}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        with open(self.log, "a") as f:
            f.write(f"{os.getpid()}\n")


def heavy_trainable(config: dict[str, Any], heavy: _Heavy) -> None:
    tune.report({"pid": os.getpid(), "size": len(heavy.blob)})


# ============================================================================ shared session
def test_trainable_is_broadcast_once_and_loaded_once_per_slot_task(tmp_path: Path) -> None:
    log = tmp_path / "unpickled.txt"
    log.touch()
    heavy = _Heavy(str(log), 4 << 20)
    ex = SparkExecutor(spark=_shared.get())
    n = 8
    try:
        ex.start(tune.with_parameters(heavy_trainable, heavy=heavy), Resources(), 2, str(tmp_path))
        slots = ex.total_slots()
        workers = set(ex.slot_workers())
        todo = [f"b{i}" for i in range(n)]
        events: list[Event] = []
        while todo or not _ended(events, *[f"b{i}" for i in range(n)]):
            while todo and ex.capacity() > 0:
                ex.submit(_launch(tmp_path, todo.pop(0), {}))
            events.extend(_collect(ex, lambda evs: bool(evs), 60.0))
    finally:
        ex.close()
    reps = [e for e in events if isinstance(e, Reported)]
    assert len(reps) == n and all(r.result["size"] == 4 << 20 for r in reps)
    assert all(isinstance(e, Finished) for e in events if isinstance(e, (Finished, Failed)))
    worker_pids = {r.result["pid"] for r in reps}
    loads = [int(pid) for pid in log.read_text().split()]
    # Shipped in the task closure, it would be unpickled once per trial (8 times); each
    # slot task unpickles the broadcast once and serves trial after trial with it.
    assert slots == 2 and len(workers) == 2
    assert sorted(loads) == sorted({int(w.rsplit(":", 1)[1]) for w in workers}), (loads, workers)
    assert worker_pids == set(loads), (loads, worker_pids)
    assert os.getpid() not in loads


def test_report_cost_and_launch_latency(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ex = SparkExecutor(spark=_shared.get())
    try:
        ex.start(suite_trainable, Resources(), 2, str(tmp_path))
        # a trial's whole cycle on a free slot: submit -> first report -> end (and the slot
        # free again), one trial at a time
        to_report, to_end = [], []
        for i in range(10):
            tid = f"l{i}"
            t0 = time.monotonic()
            ex.submit(_launch(tmp_path, tid, {"kind": "count", "n": 1}))
            _collect(ex, lambda evs, tid=tid: any(isinstance(e, Reported) for e in evs))
            to_report.append(time.monotonic() - t0)
            _collect(ex, lambda evs, tid=tid: _ended(evs, tid) or ex.capacity() == 2)
            _collect(ex, lambda evs: ex.capacity() == 2)
            to_end.append(time.monotonic() - t0)
        # asynchronous reports
        n = 20_000
        ex.submit(_launch(tmp_path, "fast", {"kind": "endless", "sleep": 0, "max_iter": n}))
        events: list[Event] = []
        first_seen = 0.0
        deadline = time.monotonic() + 120
        while not _ended(events, "fast"):
            assert time.monotonic() < deadline
            got = ex.poll(0.05)
            if not first_seen and any(isinstance(e, Reported) for e in got):
                first_seen = time.monotonic()
            events.extend(got)
        end_seen = time.monotonic()
        reps = [e for e in events if isinstance(e, Reported)]
        assert [r.result["step"] for r in reps] == list(range(n))
        assert isinstance(events[-1], Finished) and not events[-1].stopped
        # in the task (report() calls per second) and end to end (events out of poll())
        task_us = (reps[-1].result["timestamp"] - reps[0].result["timestamp"]) / (n - 1) * 1e6
        driver_us = (end_seen - first_seen) / (n - 1) * 1e6
        # synchronous reports: report -> driver -> reply round trips
        m = 200
        ex.submit(_launch(tmp_path, "sync", {"kind": "count", "n": m}, sync_reports=True))
        rtts = []
        seen = 0
        t_rep = 0.0
        deadline = time.monotonic() + 60
        while seen < m:
            assert time.monotonic() < deadline
            for e in ex.poll(0.05):
                if isinstance(e, Reported) and e.trial_id == "sync":
                    seen += 1
                    now = time.time()
                    if seen > 1:
                        rtts.append(now - t_rep)
                    t_rep = now
                    ex.reply("sync", True)
        _collect(ex, lambda evs: _ended(evs, "sync"))
    finally:
        ex.close()
    # A launch is a message to a waiting slot, not a Spark job (which cost 160-230 ms).
    assert statistics.median(to_end) < 0.15, to_end
    with capsys.disabled():
        print(
            f"\n[spark {MASTER}] launch on a free slot: submit -> first report median "
            f"{statistics.median(to_report) * 1e3:.1f} ms, submit -> ended and slot free "
            f"median {statistics.median(to_end) * 1e3:.1f} ms (max {max(to_end) * 1e3:.0f}); "
            f"async report {task_us:.1f} us in the task, {driver_us:.1f} us end to end "
            f"({n} reports); sync report round trip median "
            f"{statistics.median(rtts) * 1e6:.0f} us"
        )


def dying_trainable(config: dict[str, Any]) -> None:
    tune.report({"pid": os.getpid()})
    if config.get("die"):
        os._exit(3)  # the Python worker dies under the trial, as with a lost executor
    if config.get("freeze"):
        time.sleep(600)  # the test stops this process (SIGSTOP): its lease expires


def _slot_pids(ex: SparkExecutor) -> set[int]:
    return {int(w.rsplit(":", 1)[1]) for w in ex.slot_workers()}


def test_python_worker_death_fails_the_trial_as_lost_and_the_slot_is_replaced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ex = SparkExecutor(spark=_shared.get())
    try:
        ex.start(dying_trainable, Resources(), 2, str(tmp_path))
        before = _slot_pids(ex)
        ex.submit(_launch(tmp_path, "d", {"die": True}))
        evs = _collect(ex, lambda evs: _ended(evs, "d"))
        t_lost = time.monotonic()
        end = evs[-1]
        assert isinstance(end, Failed) and end.worker_lost is True, evs
        assert "WorkerLost" in end.error
        assert [type(e) for e in evs] == [Started, Reported, Failed]
        dead = next(e for e in evs if isinstance(e, Reported)).result["pid"]
        assert dead in before
        assert ex.capacity() == 1  # the other slot is free at once
        ex.submit(_launch(tmp_path, "ok", {}))
        evs = _collect(ex, lambda evs: _ended(evs, "ok"))
        assert isinstance(evs[-1], Finished)
        # a new slot task replaces the lost one
        assert _collect(ex, lambda evs: ex.capacity() == 2, 30) == []
        replaced = time.monotonic() - t_lost
        after = _slot_pids(ex)
        assert len(after) == 2 and dead not in after and len(after & before) == 1
    finally:
        ex.close()
    with capsys.disabled():
        print(f"\n[spark {MASTER}] Python worker died: slot replaced after {replaced:.2f} s")


def test_frozen_slot_loses_its_lease_and_is_replaced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ex = SparkExecutor(spark=_shared.get(), lease_ttl=2.0)
    frozen = 0
    try:
        ex.start(dying_trainable, Resources(), 2, str(tmp_path))
        before = _slot_pids(ex)
        ex.submit(_launch(tmp_path, "f", {"freeze": True}))
        evs = _collect(ex, lambda evs: any(isinstance(e, Reported) for e in evs))
        frozen = next(e for e in evs if isinstance(e, Reported)).result["pid"]
        os.kill(frozen, signal.SIGSTOP)
        t_stop = time.monotonic()
        evs = _collect(ex, lambda evs: _ended(evs, "f"), 30)
        took = time.monotonic() - t_stop
        end = evs[-1]
        assert isinstance(end, Failed) and end.stale and end.worker_lost, evs
        assert "lease expired" in end.error
        assert 1.5 <= took < 10, took
        # Spark kills the frozen Python worker when the slot's job is cancelled, and a new
        # slot task takes its place.
        _collect(ex, lambda evs: ex.capacity() == 2 and not psutil.pid_exists(frozen), 60)
        replaced = time.monotonic() - t_stop
        after = _slot_pids(ex)
        assert frozen not in after and len(after & before) == 1
        ex.submit(_launch(tmp_path, "next", {}))
        evs = _collect(ex, lambda evs: _ended(evs, "next"))
        assert isinstance(evs[-1], Finished)
    finally:
        if frozen and psutil.pid_exists(frozen):
            with contextlib.suppress(OSError):
                os.kill(frozen, signal.SIGKILL)
        ex.close()
    with capsys.disabled():
        print(
            f"\n[spark {MASTER}] SIGSTOP of a slot's Python worker (lease_ttl=2): trial failed "
            f"as stale after {took:.2f} s; frozen worker gone and slot replaced after "
            f"{replaced:.2f} s"
        )


def _active_jobs(sc: Any) -> list[int]:
    tracker = sc.statusTracker()
    return list(tracker.getActiveJobsIds())


def test_spark_retries_and_strangers_are_refused_and_close_ends_every_slot(
    tmp_path: Path,
) -> None:
    from tunefleet.worker import wire

    sc = _shared.get().sparkContext
    # 3 slots on 2 cores: the third slot task waits in Spark for a core
    ex = SparkExecutor(spark=_shared.get(), num_slots=3, prestart=False)
    try:
        ex.start(suite_trainable, Resources(), None, str(tmp_path))
        _collect(ex, lambda evs: ex.capacity() == 2)
        assert ex.total_slots() == 3
        waiting = next(s for s in ex._slots.values() if s.conn is None)
        # A slot task that Spark re-runs (attemptNumber 1) is told to exit; a fresh slot
        # task replaces it.
        with socket.create_connection((ex._host, ex._port), timeout=10) as sock:
            hello = json.dumps([waiting.id, 1, "retry"]).encode()
            wire.write_frame(sock.fileno(), waiting.token + hello)
            reader = wire.FrameReader(sock.fileno())
            while not reader.has_frame():
                ex.poll(0.01)
                sock.settimeout(0.01)
                with contextlib.suppress(TimeoutError):
                    assert reader.fill()
            assert reader.messages()[0][0] == wire.EXIT
        assert waiting.lost and waiting.id not in {s.id for s in ex._slots.values() if not s.lost}
        assert sum(1 for s in ex._slots.values() if not s.lost) == 3
        # A connection without a slot's token is dropped, and changes nothing.
        ready = next(s for s in ex._slots.values() if s.conn is not None)
        with socket.create_connection((ex._host, ex._port), timeout=10) as sock:
            wire.write_frame(sock.fileno(), b"x" * 32 + json.dumps([ready.id, 0, "x"]).encode())
            sock.settimeout(0.05)
            closed = False
            for _ in range(200):
                assert ex.poll(0.01) == []
                try:
                    closed = sock.recv(10) == b""
                    break
                except TimeoutError:
                    continue
            assert closed
        assert not ready.lost and ex.capacity() == 2
        # a trial that never reports holds its slot when close() comes
        ex.submit(_launch(tmp_path, "busy", {"kind": "endless", "sleep": 0.01}))
        ex.submit(_launch(tmp_path, "silent", {"kind": "sleep", "sleep": 60}))
        _collect(ex, lambda evs: any(isinstance(e, Reported) for e in evs))
        # the third slot's job (resubmitted from a new driver thread) waits for a core
        _collect(ex, lambda evs: len(_active_jobs(sc)) == 3, 30)
    finally:
        t0 = time.monotonic()
        ex.close()
        took = time.monotonic() - t0
    # The idle and reporting slots ended on EXIT, the waiting and the silent one were
    # cancelled: no job of ours is left in the user's session.
    deadline = time.monotonic() + 10
    while _active_jobs(sc) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _active_jobs(sc) == []
    assert took < ex.exit_grace_s + ex.close_grace_s + 1, took
    assert sc._jsc is not None  # the user's session keeps running


def test_idle_slots_use_no_cpu_and_close_quickly_leaving_no_job(tmp_path: Path) -> None:
    sc = _shared.get().sparkContext
    ex = SparkExecutor(spark=_shared.get())
    ex.start(suite_trainable, Resources(), 2, str(tmp_path))
    ex.submit(_launch(tmp_path, "one", {"kind": "count", "n": 2}))
    _collect(ex, lambda evs: _ended(evs, "one"))
    workers = [psutil.Process(pid) for pid in _slot_pids(ex)]
    before = [sum(p.cpu_times()[:2]) for p in workers]
    time.sleep(2.0)  # idle slots block on their sockets
    used = [sum(p.cpu_times()[:2]) - b for p, b in zip(workers, before, strict=True)]
    assert max(used) < 0.05, used
    print(f"CPU of idle slot workers in 2 s: {used}")
    t0 = time.monotonic()
    ex.close()
    took = time.monotonic() - t0
    assert took < ex.exit_grace_s, took  # they ended on EXIT, not by cancellation
    assert _active_jobs(sc) == []


class _Unreachable(SparkExecutor):
    """Its slot tasks are told a port where nothing listens."""

    def _launch_slot(self) -> None:
        port = self._port
        with socket.socket() as s:
            s.bind((self._host, 0))
            self._port = s.getsockname()[1]  # closed again before any task connects
        try:
            super()._launch_slot()
        finally:
            self._port = port


def test_slot_tasks_that_cannot_connect_fail_start_with_sparks_error(tmp_path: Path) -> None:
    ex = _Unreachable(spark=_shared.get())
    t0 = time.monotonic()
    with pytest.raises(TuneError, match="slot tasks keep failing.*could not connect back"):
        ex.start(suite_trainable, Resources(), 2, str(tmp_path))
    assert time.monotonic() - t0 < 60
    deadline = time.monotonic() + 10
    while _active_jobs(_shared.get().sparkContext) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _active_jobs(_shared.get().sparkContext) == []


def test_user_session_with_other_task_resources_is_refused_in_local_mode(
    tmp_path: Path,
) -> None:
    ex = SparkExecutor(spark=_shared.get())
    try:
        with pytest.raises(TuneValueError, match="resources_per_trial.*spark.task.cpus=2"):
            ex.start(suite_trainable, Resources(cpu=2), None, str(tmp_path))
    finally:
        ex.close()
    assert _shared.get().sparkContext._jsc is not None  # the user's session was not stopped


def test_validation_and_engine_strings() -> None:
    with pytest.raises(TuneValueError, match="resources_per_trial.*offers 1"):
        SparkExecutor(master="local[1]").validate_resources(Resources(cpu=2))
    SparkExecutor(master="local[4,2]").validate_resources(Resources(cpu=3.5))
    with pytest.raises(TuneValueError, match="num_slots"):
        SparkExecutor(num_slots=0)
    remote = create_executor("spark://127.0.0.1:7077")
    assert isinstance(remote, SparkExecutor) and remote.master == "spark://127.0.0.1:7077"
    conf = session_settings("spark://127.0.0.1:7077", Resources(cpu=1.5, gpu=0.5, custom={"x": 1}))
    assert conf["spark.task.cpus"] == "2"
    assert conf["spark.task.resource.gpu.amount"] == "0.5"
    assert conf["spark.task.resource.x.amount"] == "1.0"
    assert conf["spark.task.maxFailures"] == "1"
    assert conf["spark.driver.host"] == "127.0.0.1"
    assert "spark.driver.host" not in session_settings("spark://10.1.2.3:7077", Resources())


def stepper(config: dict[str, Any]) -> None:
    """Continues from its checkpoint; the checkpoint holds the step and the running value."""
    step, acc = 0, 0.0
    ckpt = tune.get_checkpoint()
    if ckpt is not None:
        state = json.loads(Path(ckpt.path, "state.json").read_text())
        step, acc = state["step"], state["acc"]
    while step < 9:
        step += 1
        acc += config["lr"] * (1 - acc)
        d = tempfile.mkdtemp()
        Path(d, "state.json").write_text(json.dumps({"step": step, "acc": acc}))
        tune.report({"acc": acc, "step_seen": step}, checkpoint=tune.Checkpoint.from_directory(d))
        shutil.rmtree(d, ignore_errors=True)


def test_run_with_asha_promotion_end_to_end(tmp_path: Path) -> None:
    session = _shared.get()  # engine="spark" uses the session already active
    res = tune.run(
        stepper,
        config={"lr": tune.uniform(0.01, 0.5)},
        num_samples=9,
        metric="acc",
        mode="max",
        scheduler=ASHAScheduler(max_t=9, grace_period=1, reduction_factor=3, variant="promotion"),
        engine="spark",
        storage_path=str(tmp_path),
        name="asha",
        verbose=0,
        seed=3,
    )
    assert session.sparkContext._jsc is not None, "a session it did not create was stopped"
    store = open_store(str(tmp_path))
    paused = list(store.read("asha", kinds=(rk.TRIAL_PAUSED,)))
    assert paused, "no trial was ever paused"
    assert len(res.trials) == 9
    assert all(t.status == "TERMINATED" for t in res.trials)
    for t in res.trials:
        df = res.trial_dataframes[t.trial_id]
        # Resumed from the checkpoint of the paused result: steps continue, none repeat.
        assert list(df["training_iteration"]) == list(range(1, len(df) + 1))
        assert list(df["step_seen"]) == list(df["training_iteration"])
    assert max(t.last_result["training_iteration"] for t in res.trials) == 9
    starts = [r for r in store.read("asha", kinds=(rk.TRIAL_STARTED,)) if r.data["checkpoint"]]
    assert starts and all(Path(r.data["checkpoint"]).is_dir() for r in starts)


# ============================================================================ kills
STEPS = 10


def _parent(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


def kill_target(config: dict[str, Any]) -> None:
    """Checkpoints every step. The victim's first attempt writes the pid to kill after step
    2: its executor JVM's (``"jvm"``) or its own, the pyspark Python worker's (``"python"``).
    A bystander (``role`` "bystander") runs three times longer and kills nothing."""
    ctx = tune.get_context()
    victim = config.get("role", "victim") == "victim"
    start = 0
    ckpt = tune.get_checkpoint()
    if ckpt is not None:
        start = json.loads(Path(ckpt.path, "state.json").read_text())["step"] + 1
    # Python worker -> pyspark daemon -> executor JVM (CoarseGrainedExecutorBackend)
    jvm = _parent(os.getppid())
    for step in range(start, STEPS if victim else 3 * STEPS):
        d = tempfile.mkdtemp()
        Path(d, "state.json").write_text(json.dumps({"step": step}))
        tune.report(
            {
                "score": float(step),
                "step": step,
                "attempt": ctx.attempt,
                "jvm": jvm,
                "pid": os.getpid(),
                "victim": victim,
                "cuda": os.environ.get("CUDA_VISIBLE_DEVICES"),
            },
            checkpoint=tune.Checkpoint.from_directory(d),
        )
        shutil.rmtree(d, ignore_errors=True)
        if victim:
            with open(config["log"], "a") as f:  # what this attempt knows it reported
                f.write(f"{ctx.attempt} {step}\n")
            if ckpt is None and step == 2:
                pid = jvm if config["kill"] == "jvm" else os.getpid()
                Path(config["pidfile"]).write_text(str(pid))
        time.sleep(0.4)


def _killer(pidfile: Path, killed: dict[str, Any]) -> threading.Thread:
    def run() -> None:
        deadline = time.monotonic() + 180
        while not pidfile.exists() or not pidfile.read_text():
            if time.monotonic() > deadline:
                return
            time.sleep(0.02)
        pid = int(pidfile.read_text())
        killed["comm"] = Path(f"/proc/{pid}/comm").read_text().strip()
        killed["cmdline"] = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
        killed["ts"] = time.time()
        os.kill(pid, signal.SIGKILL)
        killed["pid"] = pid

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def _check_resumed(
    res: Any, store: Any, name: str, log: Path, killed: dict[str, Any]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], float, float]:
    """The victim failed once as lost and went on from its last checkpoint, with no reported
    result lost or repeated. Returns its two attempts' results, detection and recovery times."""
    assert "pid" in killed, "the trial never wrote the pid to kill"
    assert all(t.status == "TERMINATED" for t in res.trials), [t.status for t in res.trials]
    (trial,) = [t for t in res.trials if t.last_result["victim"]]
    assert trial.last_result["step"] == STEPS - 1
    failed = list(store.read(name, kinds=(rk.TRIAL_FAILED,)))
    assert len(failed) == 1, [f.data for f in failed]
    assert failed[0].trial_id == trial.trial_id
    assert failed[0].data["worker_lost"] is True and failed[0].data["will_retry"] is True
    results = [r.data for r in store.read(name, kinds=(rk.RESULT,), trial_id=trial.trial_id)]
    attempts = sorted({r["attempt"] for r in results})
    assert len(attempts) == 2, attempts
    first = [r for r in results if r["attempt"] == attempts[0]]
    second = [r for r in results if r["attempt"] == attempts[1]]
    assert [r["training_iteration"] for r in first] == list(range(1, len(first) + 1))
    assert len(first) >= 3
    # nothing that the first attempt reported before the kill is missing from the store
    logged = [tuple(map(int, ln.split())) for ln in log.read_text().splitlines()]
    assert {s for a, s in logged if a == attempts[0]} <= {r["step"] for r in first}
    # the second attempt continued from the first one's last checkpoint and finished
    assert second and second[0]["step"] == first[-1]["step"] + 1
    assert second[0]["training_iteration"] == first[-1]["training_iteration"] + 1
    assert [r["step"] for r in second] == list(range(second[0]["step"], STEPS))
    detect = failed[0].ts - killed["ts"]
    recover = second[0]["timestamp"] - killed["ts"]
    return first, second, detect, recover


def test_python_worker_kill_restarts_the_trial_on_a_replacement_slot(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pidfile = tmp_path / "worker.pid"
    log = tmp_path / "reported.txt"
    killed: dict[str, Any] = {}
    t = _killer(pidfile, killed)
    res = tune.run(
        kill_target,
        config={
            "pidfile": str(pidfile),
            "log": str(log),
            "kill": "python",
            "role": tune.grid_search(["victim", "bystander"]),
        },
        metric="score",
        mode="max",
        max_failures=1,
        engine=SparkExecutor(spark=_shared.get()),
        storage_path=str(tmp_path / "runs"),
        name="pykill",
        verbose=0,
    )
    t.join(5)
    assert b"pyspark" in killed["cmdline"], killed
    store = open_store(str(tmp_path / "runs"))
    first, second, detect, recover = _check_resumed(res, store, "pykill", log, killed)
    assert {r["pid"] for r in first} == {killed["pid"]}
    # The bystander held the other slot: the retry ran on the slot task that replaced the
    # killed one, in a new Python worker.
    assert killed["pid"] not in {r["pid"] for r in second}
    assert recover < 30, recover
    with capsys.disabled():
        print(
            f"\n[spark {MASTER}] pyspark Python worker SIGKILL: loss reported after "
            f"{detect:.2f} s, first result of the relaunched attempt after {recover:.2f} s"
        )


def _lingering() -> list[str]:
    """Executor JVMs and pyspark Python workers/daemons below this process."""
    out = []
    for p in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            cmd = " ".join(p.cmdline())
            if any(k in cmd for k in ("CoarseGrainedExecutorBackend", "pyspark.daemon")):
                out.append(f"{p.pid} {cmd[:120]}")
    return out


def test_executor_kill_restarts_the_trial_from_its_checkpoint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from pyspark import SparkContext

    _shared.stop()  # one SparkContext per process
    deadline = time.monotonic() + 15
    while _lingering() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _lingering() == [], "the shared session left Python workers behind"
    gpu_script = tmp_path / "gpus.sh"
    gpu_script.write_text('#!/bin/sh\necho \'{"name": "gpu", "addresses": ["0"]}\'\n')
    gpu_script.chmod(0o755)
    ex = SparkExecutor(
        master="local-cluster[2,1,1024]",
        conf={  # each executor offers one (pretend) GPU, found by the discovery script
            "spark.worker.resource.gpu.amount": "1",
            "spark.worker.resource.gpu.discoveryScript": str(gpu_script),
            "spark.executor.resource.gpu.amount": "1",
            "spark.executor.resource.gpu.discoveryScript": str(gpu_script),
        },
    )
    pidfile = tmp_path / "jvm.pid"
    log = tmp_path / "reported.txt"
    killed: dict[str, Any] = {}
    t = _killer(pidfile, killed)
    res = tune.run(
        kill_target,
        config={"pidfile": str(pidfile), "log": str(log), "kill": "jvm"},
        num_samples=1,
        metric="score",
        mode="max",
        resources_per_trial={"cpu": 1, "gpu": 1},
        max_failures=2,
        engine=ex,
        storage_path=str(tmp_path / "runs"),
        name="kill",
        verbose=0,
    )
    t.join(5)
    assert SparkContext._active_spark_context is None, "the session it created was not stopped"
    assert killed["comm"] == "java" and b"CoarseGrainedExecutorBackend" in killed["cmdline"]
    store = open_store(str(tmp_path / "runs"))
    first, second, detect, recover = _check_resumed(res, store, "kill", log, killed)
    assert {r["jvm"] for r in first} == {killed["pid"]}
    assert killed["pid"] not in {r["jvm"] for r in second}
    results = first + second
    assert {r["cuda"] for r in results} == {"0"}  # the GPU address Spark assigned
    assert recover < 60
    # Nothing outlives the run: no executor JVM, no pyspark daemon or Python worker.
    deadline = time.monotonic() + 15
    while _lingering() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _lingering() == []
    with capsys.disabled():
        print(
            f"\n[spark local-cluster[2,1,1024]] executor JVM SIGKILL: loss reported after "
            f"{detect:.2f} s, first result of the relaunched attempt after {recover:.2f} s"
        )
