"""The Spark engine against a real Spark (pip pyspark, Java 17), never a mock.

One ``local[2,1]`` session is shared by the tests that can share it (a session costs 5 s or
more to start); the executor-kill test then stops it and runs on ``local-cluster[2,1,1024]``
(two executor JVMs), because Spark allows one SparkContext per process. Test order matters:
the shared-session tests come first in this file.
"""

from __future__ import annotations

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
import pytest

pytest.importorskip("pyspark")
if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
    pytest.skip("Spark needs Java", allow_module_level=True)

import tunefleet as tune
from tunefleet.errors import TuneValueError
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
    # Python workers are reused (one unpickling of the trainable per worker, see
    # test_trainable_is_broadcast_once...), but pyspark hands idle workers out first in,
    # first out, so two trials in a row may run in two different reused workers: the
    # suite's "same pid again" expectations do not hold and are switched off.
    reuses_workers = False
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
def test_trainable_is_broadcast_once_and_loaded_once_per_python_worker(tmp_path: Path) -> None:
    log = tmp_path / "unpickled.txt"
    log.touch()
    heavy = _Heavy(str(log), 4 << 20)
    ex = SparkExecutor(spark=_shared.get())
    n = 8
    try:
        ex.start(tune.with_parameters(heavy_trainable, heavy=heavy), Resources(), 2, str(tmp_path))
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
    # Shipped in the task closure, it would be unpickled once per trial (8 times).
    assert len(loads) < n, loads
    assert len(loads) == len(set(loads)), loads  # at most once per Python worker
    assert worker_pids <= set(loads), (loads, worker_pids)  # (also by the warm-up tasks)
    assert len(loads) <= 2 * ex.total_slots()
    assert os.getpid() not in loads


def test_report_cost_and_launch_latency(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ex = SparkExecutor(spark=_shared.get())
    try:
        ex.start(suite_trainable, Resources(), 2, str(tmp_path))
        # launch latency: submit -> Started, one trial at a time
        latencies = []
        for i in range(5):
            t0 = time.monotonic()
            ex.submit(_launch(tmp_path, f"l{i}", {"kind": "count", "n": 1}))
            evs = _collect(ex, lambda evs: any(isinstance(e, Started) for e in evs))
            latencies.append(time.monotonic() - t0)
            tid = f"l{i}"
            if not _ended(evs, tid):
                _collect(ex, lambda evs, tid=tid: _ended(evs, tid))
        # asynchronous reports
        n = 20_000
        ex.submit(_launch(tmp_path, "fast", {"kind": "endless", "sleep": 0, "max_iter": n}))
        events = []
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
    with capsys.disabled():
        print(
            f"\n[spark {MASTER}] launch submit->Started median "
            f"{statistics.median(latencies) * 1e3:.0f} ms; async report {task_us:.1f} us in "
            f"the task, {driver_us:.1f} us end to end ({n} reports); sync report round trip median "
            f"{statistics.median(rtts) * 1e6:.0f} us"
        )


def dying_trainable(config: dict[str, Any]) -> None:
    tune.report({"pid": os.getpid()})
    if config.get("die"):
        os._exit(3)  # the Python worker dies under the trial, as with a lost executor


def test_python_worker_death_fails_the_trial_as_lost(tmp_path: Path) -> None:
    ex = SparkExecutor(spark=_shared.get())
    try:
        ex.start(dying_trainable, Resources(), 2, str(tmp_path))
        ex.submit(_launch(tmp_path, "d", {"die": True}))
        evs = _collect(ex, lambda evs: _ended(evs, "d"))
        end = evs[-1]
        assert isinstance(end, Failed) and end.worker_lost is True, evs
        assert "WorkerLost" in end.error
        assert [type(e) for e in evs] == [Started, Reported, Failed]
        ex.submit(_launch(tmp_path, "ok", {}))
        evs = _collect(ex, lambda evs: _ended(evs, "ok"))
        assert isinstance(evs[-1], Finished)
        assert _collect(ex, lambda evs: ex.capacity() == 2, 30) == []
    finally:
        ex.close()


def test_waiting_trial_stops_at_once_and_spark_retries_are_refused(tmp_path: Path) -> None:
    from tunefleet.worker import wire

    # 4 slots on 2 cores: the third and fourth trials wait in Spark for a core
    ex = SparkExecutor(spark=_shared.get(), num_slots=4)
    try:
        ex.start(suite_trainable, Resources(), None, str(tmp_path))
        for tid in ("e0", "e1"):
            ex.submit(_launch(tmp_path, tid, {"kind": "endless", "sleep": 0.05}))
        _collect(ex, lambda evs: sum(isinstance(e, Started) for e in evs) == 2)
        ex.submit(_launch(tmp_path, "p", {"kind": "count", "n": 1}))
        ex.submit(_launch(tmp_path, "r", {"kind": "count", "n": 1}))
        time.sleep(0.3)
        ex.stop("p")
        evs = [e for e in ex.poll(0.0) if e.trial_id == "p"]
        assert len(evs) == 1 and isinstance(evs[0], Finished) and evs[0].stopped, evs
        # A task that Spark re-runs (attemptNumber 1) is told to exit; the attempt is lost.
        att = ex._running["r"]
        with socket.create_connection((ex._host, ex._port), timeout=10) as sock:
            hello = json.dumps([att.seq, 1, "retry"]).encode()
            wire.write_frame(sock.fileno(), att.token + hello)
            evs = _collect(ex, lambda evs: _ended(evs, "r"))
            reader = wire.FrameReader(sock.fileno())
            while not reader.has_frame():
                assert reader.fill()
            assert reader.messages()[0][0] == wire.EXIT
        lost = [e for e in evs if e.trial_id == "r"]
        assert len(lost) == 1 and isinstance(lost[0], Failed) and lost[0].worker_lost
        assert "re-ran" in lost[0].error
        # A connection without the launch's token is dropped, and changes nothing.
        with socket.create_connection((ex._host, ex._port), timeout=10) as sock:
            wire.write_frame(sock.fileno(), b"x" * 32 + json.dumps([att.seq, 0, "x"]).encode())
            sock.settimeout(0.05)
            closed = False
            for _ in range(200):
                assert [e for e in ex.poll(0.01) if e.trial_id in ("p", "r")] == []
                try:
                    closed = sock.recv(10) == b""
                    break
                except TimeoutError:
                    continue
            assert closed
        ex.stop("e0")
        ex.stop("e1")
        _collect(ex, lambda evs: _ended(evs, "e0", "e1"))
        # The cores are free: the jobs of p and r (if not cancelled yet) are refused.
        t_end = time.monotonic() + 1.5
        later = _collect(ex, lambda evs: time.monotonic() >= t_end, 30)
        assert [e for e in later if e.trial_id in ("p", "r")] == []
        assert ex.capacity() == 4
    finally:
        ex.close()


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


# ============================================================================ executor kill
STEPS = 10


def _parent(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


def kill_target(config: dict[str, Any]) -> None:
    """Checkpoints every step; the first attempt writes its executor JVM's pid after step 2."""
    ctx = tune.get_context()
    start = 0
    ckpt = tune.get_checkpoint()
    if ckpt is not None:
        start = json.loads(Path(ckpt.path, "state.json").read_text())["step"] + 1
    # Python worker -> pyspark daemon -> executor JVM (CoarseGrainedExecutorBackend)
    jvm = _parent(os.getppid())
    for step in range(start, STEPS):
        d = tempfile.mkdtemp()
        Path(d, "state.json").write_text(json.dumps({"step": step}))
        tune.report(
            {
                "score": float(step),
                "step": step,
                "attempt": ctx.attempt,
                "jvm": jvm,
                "cuda": os.environ.get("CUDA_VISIBLE_DEVICES"),
            },
            checkpoint=tune.Checkpoint.from_directory(d),
        )
        shutil.rmtree(d, ignore_errors=True)
        with open(config["log"], "a") as f:  # what this attempt knows it reported
            f.write(f"{ctx.attempt} {step}\n")
        if ckpt is None and step == 2:
            Path(config["pidfile"]).write_text(str(jvm))
        time.sleep(0.4)


def test_executor_kill_restarts_the_trial_from_its_checkpoint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from pyspark import SparkContext

    _shared.stop()  # one SparkContext per process
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

    def killer() -> None:
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

    t = threading.Thread(target=killer, daemon=True)
    t.start()
    res = tune.run(
        kill_target,
        config={"pidfile": str(pidfile), "log": str(log)},
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
    assert "pid" in killed, "the trial never wrote its executor's pid"
    assert killed["comm"] == "java" and b"CoarseGrainedExecutorBackend" in killed["cmdline"]
    (trial,) = res.trials
    assert trial.status == "TERMINATED"
    assert trial.last_result["step"] == STEPS - 1
    store = open_store(str(tmp_path / "runs"))
    failed = list(store.read("kill", kinds=(rk.TRIAL_FAILED,)))
    assert len(failed) == 1, [f.data for f in failed]
    assert failed[0].data["worker_lost"] is True and failed[0].data["will_retry"] is True
    results = [r.data for r in store.read("kill", kinds=(rk.RESULT,))]
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
    assert {r["jvm"] for r in first} == {killed["pid"]}
    assert killed["pid"] not in {r["jvm"] for r in second}
    assert {r["cuda"] for r in results} == {"0"}  # the GPU address Spark assigned
    detect = failed[0].ts - killed["ts"]
    recover = second[0]["timestamp"] - killed["ts"]
    assert recover < 60
    with capsys.disabled():
        print(
            f"\n[spark local-cluster[2,1,1024]] executor JVM SIGKILL: loss reported after "
            f"{detect:.2f} s, first result of the relaunched attempt after {recover:.2f} s"
        )
