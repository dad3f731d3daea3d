"""The Dask engine against a real ``distributed.LocalCluster`` of worker processes.

One cluster (two worker processes, one thread each, ``GPU=1`` declared on each) serves the
conformance suite and most tests through ``DaskExecutor(client=...)``; the tests that kill a
worker or exercise ``engine="dask"`` start the executor's own cluster.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("distributed")

import tunefleet as tune  # noqa: E402
from tunefleet.errors import TuneValueError  # noqa: E402
from tunefleet.executors import create_executor  # noqa: E402
from tunefleet.executors.base import (  # noqa: E402
    Event,
    Executor,
    Failed,
    Finished,
    Launch,
    Reported,
    Resources,
    Started,
)
from tunefleet.executors.dask import DaskExecutor, worker_slots  # noqa: E402
from tunefleet.schedulers import ASHAScheduler  # noqa: E402
from tunefleet.storage import open_store  # noqa: E402
from tunefleet.storage import records as rk  # noqa: E402
from tunefleet.testing.executors import ExecutorConformance  # noqa: E402
from tunefleet.testing.trainables import suite_trainable  # noqa: E402

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def dask_client() -> Iterator[Any]:
    import dask
    from distributed import Client, LocalCluster

    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        cluster = LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            resources={"CPU": 1, "GPU": 1},
        )
    client = Client(cluster)
    client.wait_for_workers(2)
    yield client
    client.close()
    cluster.close()


class TestDaskExecutorConformance(ExecutorConformance):
    client: Any = None

    @pytest.fixture(autouse=True)
    def _cluster(self, dask_client: Any) -> None:
        self.client = dask_client

    def make_executor(self) -> Executor:
        return DaskExecutor(client=self.client)


# ---------------------------------------------------------------------- helpers
def _wait(ex: Executor, until: Callable[[list[Event]], bool], timeout: float = 20.0) -> list[Event]:
    deadline = time.monotonic() + timeout
    events: list[Event] = []
    while not until(events):
        assert time.monotonic() < deadline, f"timed out; events so far: {events!r}"
        events.extend(ex.poll(0.05))
    return events


def _ended(*ids: str) -> Callable[[list[Event]], bool]:
    return lambda evs: set(ids) <= {e.trial_id for e in evs if isinstance(e, (Finished, Failed))}


def _launch(tmp: Path, tid: str, **config: Any) -> Launch:
    return Launch(tid, {"kind": "count", **config}, 0, str(tmp / tid))


def _executing(dask_worker: Any) -> int:
    """Tasks still running in a worker's threads (also ones the scheduler has forgotten)."""
    return len(dask_worker.state.executing)


def _busy_tasks(client: Any) -> int:
    return sum(len(keys) for keys in client.processing().values())


# ---------------------------------------------------------------------- engine strings
def test_engine_string_with_address_uses_the_running_scheduler(
    dask_client: Any, tmp_path: Path
) -> None:
    host_port = dask_client.scheduler.address.partition("://")[2]
    ex = create_executor(f"dask://{host_port}")
    assert isinstance(ex, DaskExecutor) and ex.address == f"tcp://{host_port}"
    assert ex.client is None  # nothing is connected before it is needed
    try:
        ex.start(suite_trainable, Resources(cpu=1), None, str(tmp_path))
        assert ex.capacity() == 2
        ex.submit(_launch(tmp_path, "a", n=2))
        evs = _wait(ex, _ended("a"))
        assert [type(e).__name__ for e in evs] == ["Started", "Reported", "Reported", "Finished"]
        assert ex.client is not dask_client
    finally:
        ex.close()
    assert dask_client.submit(abs, -3).result(timeout=10) == 3  # the cluster lives on


def test_import_is_lazy_and_a_missing_dask_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    code = (
        "import sys, tunefleet, tunefleet.executors, tunefleet.executors.dask\n"
        "assert 'distributed' not in sys.modules and 'dask' not in sys.modules, 'eager'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=30)
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(ImportError, match=r"pip install tunefleet\[dask\]"):
        DaskExecutor()
    with pytest.raises(ImportError, match=r"tunefleet\[dask\]"):
        create_executor("dask")


def test_constructor_validates_its_arguments() -> None:
    with pytest.raises(TuneValueError, match="n_workers"):
        DaskExecutor(n_workers=0)
    with pytest.raises(TuneValueError, match="client or address"):
        DaskExecutor(client=object(), address="tcp://h:1")
    with pytest.raises(TuneValueError, match="resources"):
        DaskExecutor(resources={"GPU": -1})
    assert DaskExecutor(address="h:8786").address == "tcp://h:8786"


# ---------------------------------------------------------------------- resources
def test_worker_slots_map_trial_resources_to_dask_resources() -> None:
    assert worker_slots(4, {"CPU": 4.0}, Resources(cpu=2), True) == 2
    assert worker_slots(4, {}, Resources(cpu=2), False) == 2  # one thread per task otherwise
    assert worker_slots(1, {"CPU": 1.0, "GPU": 1.0}, Resources(cpu=1, gpu=0.5), True) == 1
    assert worker_slots(2, {"CPU": 2.0, "GPU": 1.0}, Resources(cpu=1, gpu=0.5), True) == 2
    assert worker_slots(2, {"CPU": 2.0}, Resources(cpu=1, gpu=1), True) == 0
    assert worker_slots(2, {"CPU": 2.0, "TPU": 3.0}, Resources(custom={"TPU": 1.0}), True) == 2


def test_gpu_and_custom_resources_on_a_real_cluster(dask_client: Any, tmp_path: Path) -> None:
    ex = DaskExecutor(client=dask_client)
    try:
        with pytest.raises(TuneValueError, match="resources_per_trial"):
            ex.validate_resources(Resources(gpu=2))
        with pytest.raises(TuneValueError, match="resources_per_trial.*TPU"):
            ex.validate_resources(Resources(custom={"TPU": 1}))
        ex.start(suite_trainable, Resources(cpu=1, gpu=1), None, str(tmp_path))
        assert ex.capacity() == 2
        for tid in ("g0", "g1"):
            ex.submit(_launch(tmp_path, tid, n=1, sleep=0.2))
        assert ex.capacity() == 0
        evs = _wait(ex, _ended("g0", "g1"))
        assert sum(isinstance(e, Finished) for e in evs) == 2
        # Each worker has GPU=1, so the two trials ran on different workers at once.
        assert len({e.result["pid"] for e in evs if isinstance(e, Reported)}) == 2
    finally:
        ex.close()
    assert dask_client.status == "running"  # the user's client is not closed


def test_own_cluster_resources_are_validated_without_starting_it() -> None:
    ex = DaskExecutor(n_workers=1, threads_per_worker=2, resources={"GPU": 2})
    ex.validate_resources(Resources(cpu=2, gpu=2))
    with pytest.raises(TuneValueError, match="resources_per_trial"):
        ex.validate_resources(Resources(cpu=3))
    with pytest.raises(TuneValueError, match="resources_per_trial"):
        ex.validate_resources(Resources(gpu=3))
    assert ex.client is None


# ---------------------------------------------------------------------- stop and close
def test_stop_before_the_task_connects_frees_the_slot(dask_client: Any, tmp_path: Path) -> None:
    ex = DaskExecutor(client=dask_client)
    try:
        ex.start(suite_trainable, Resources(cpu=1), None, str(tmp_path))
        ex.submit(_launch(tmp_path, "early", n=3))
        ex.stop("early")  # before any poll: the task cannot have connected yet
        assert ex.capacity() == 2
        evs = _wait(ex, _ended("early"))
        assert [type(e).__name__ for e in evs] == ["Finished"]
        assert isinstance(evs[0], Finished) and evs[0].stopped is True
        late: list[Event] = []
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline:  # if the task started anyway, it was refused
            late.extend(ex.poll(0.05))
        assert late == []
    finally:
        ex.close()


class _MakesDir:
    """Unpickling it makes a directory: shows whether the driver unpickled a frame."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.mkdir, (self.path,))


def test_a_connection_without_the_key_is_never_unpickled(dask_client: Any, tmp_path: Path) -> None:
    import pickle
    import socket

    ex = DaskExecutor(client=dask_client)
    try:
        ex.start(suite_trainable, Resources(cpu=1), None, str(tmp_path))
        ex.submit(_launch(tmp_path, "real", n=2))
        marker = tmp_path / "unpickled"
        bomb = pickle.dumps((_MakesDir(marker),))
        wrong = json.dumps({"key": "0" * 32, "run": "x", "worker": "w", "pid": 1}).encode()
        strangers = []
        for first in (bomb, wrong):  # a pickle as greeting; a wrong key, then a pickle
            sock = socket.create_connection(ex._driver, timeout=10)
            for body in (first, bomb):
                sock.sendall(len(body).to_bytes(4, "little") + body)
            strangers.append(sock)
        evs = _wait(ex, _ended("real"))
        assert isinstance(evs[-1], Finished) and evs[-1].stopped is False
        for sock in strangers:  # the driver dropped them
            assert sock.recv(1) == b""
            sock.close()
        assert not marker.exists()
    finally:
        ex.close()


def test_close_frees_the_workers_of_a_running_trial(dask_client: Any, tmp_path: Path) -> None:
    ex = DaskExecutor(client=dask_client)
    ex.start(suite_trainable, Resources(cpu=1), None, str(tmp_path))
    ex.submit(_launch(tmp_path, "forever", kind="endless", sleep=0.01))
    _wait(ex, lambda evs: any(isinstance(e, Reported) for e in evs))
    assert _busy_tasks(dask_client) == 1
    ex.close()
    # Dask cannot interrupt a running task; the trial stops at its next report because the
    # driver's end of its connection is closed.
    deadline = time.monotonic() + 10
    while _busy_tasks(dask_client) or any(dask_client.run(_executing).values()):
        assert time.monotonic() < deadline, "the task kept running after close()"
        time.sleep(0.05)


# ---------------------------------------------------------------------- channel cost
def test_reports_arrive_in_order_and_per_report_cost(dask_client: Any, tmp_path: Path) -> None:
    ex = DaskExecutor(client=dask_client)
    try:
        ex.start(suite_trainable, Resources(cpu=1), None, str(tmp_path))
        n = 5000
        ex.submit(_launch(tmp_path, "fast", n=n))
        first: float | None = None
        its: list[int] = []
        done = False
        while not done:
            for e in ex.poll(1.0):
                if isinstance(e, Reported):
                    first = first or time.perf_counter()
                    its.append(e.result["training_iteration"])
                    assert e.raw is not None and json.loads(e.raw) == e.result
                done = done or isinstance(e, Finished)
        assert first is not None
        async_us = (time.perf_counter() - first) / n * 1e6
        assert its == list(range(1, n + 1))

        m = 300
        ex.submit(
            Launch("sync", {"kind": "count", "n": m}, 0, str(tmp_path / "sync"), sync_reports=True)
        )
        got = 0
        t0 = time.perf_counter()
        while got < m:
            for e in ex.poll(1.0):
                if isinstance(e, Reported):
                    got += 1
                    ex.reply("sync", True)
        sync_us = (time.perf_counter() - t0) / m * 1e6
        _wait(ex, _ended("sync"))
        print(
            f"\nDask channel: {async_us:.1f} us per async report (worker to driver event), "
            f"{sync_us:.0f} us per synchronous report round trip"
        )
    finally:
        ex.close()


# ---------------------------------------------------------------------- shipping once
class CountingLoads:
    """Appends its process id to a file every time it is unpickled (shipped to a worker)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.payload = list(range(100_000))

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path, "payload": self.payload}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        with open(self.path, "a") as f:
            f.write(f"{os.getpid()}\n")


def uses_data(config: dict[str, Any], data: CountingLoads) -> None:
    tune.report(n=len(data.payload) + config["i"], pid=os.getpid())


def test_with_parameters_ships_once_per_worker(dask_client: Any, tmp_path: Path) -> None:
    log = tmp_path / "loads.txt"
    ex = DaskExecutor(client=dask_client)
    results = tune.run(
        tune.with_parameters(uses_data, data=CountingLoads(str(log))),
        config={"i": tune.randint(0, 10)},
        num_samples=12,
        engine=ex,
        storage_path=str(tmp_path / "runs"),
        verbose=0,
    )
    assert len(results.trials) == 12
    assert all(t.last_result["n"] >= 100_000 for t in results.trials)
    loads = log.read_text().split()
    ran_on = {t.last_result["pid"] for t in results.trials}
    assert 1 <= len(loads) <= 2  # once per worker process, never once per trial
    assert sorted(set(loads)) == sorted(loads)
    assert ran_on <= {int(p) for p in loads} <= set(ex_pids(dask_client))


def ex_pids(client: Any) -> list[int]:
    return list(client.run(os.getpid).values())


class _BrokenOnLoad:
    """Pickles fine in the driver, fails to unpickle in the worker."""

    def __reduce__(self) -> Any:
        return (_refuse, ())

    def __call__(self, config: dict[str, Any]) -> None:
        pass


def _refuse() -> None:
    raise RuntimeError("cannot load me")


def test_a_trainable_that_cannot_be_loaded_fails_its_trials(
    dask_client: Any, tmp_path: Path
) -> None:
    ex = DaskExecutor(client=dask_client)
    try:
        ex.start(_BrokenOnLoad(), Resources(cpu=1), None, str(tmp_path))
        ex.submit(Launch("b", {}, 0, str(tmp_path / "b")))
        evs = _wait(ex, _ended("b"))
        failed = evs[-1]
        assert isinstance(failed, Failed) and failed.worker_lost is False
        assert "could not be loaded" in failed.error and "cannot load me" in failed.traceback
    finally:
        ex.close()


# ---------------------------------------------------------------------- worker killed
def kill_target(config: dict[str, Any]) -> None:
    """30 steps with a checkpoint each; the first attempt (nothing to restore) announces its
    worker's pid at step 5."""
    started = time.time()
    ctx = tune.get_context()
    step = 0
    ckpt = tune.get_checkpoint()
    if ckpt is not None:
        step = json.loads(Path(ckpt.path, "state.json").read_text())["step"]
    while step < 30:
        step += 1
        d = tempfile.mkdtemp()
        Path(d, "state.json").write_text(json.dumps({"step": step}))
        tune.report(
            {"step_seen": step, "pid": os.getpid(), "attempt": ctx.attempt, "began": started},
            checkpoint=tune.Checkpoint.from_directory(d),
        )
        shutil.rmtree(d, ignore_errors=True)
        if step == 5 and ckpt is None:
            Path(config["marker"]).write_text(str(os.getpid()))
        time.sleep(0.05)


def test_killed_worker_trial_resumes_from_its_checkpoint(tmp_path: Path) -> None:
    marker = tmp_path / "victim.pid"
    ex = DaskExecutor(n_workers=2)
    kill: dict[str, Any] = {}

    def killer() -> None:
        deadline = time.monotonic() + 40
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.005)
        if not marker.exists():
            return
        pid = int(marker.read_text())
        kill["is_worker"] = pid in ex.worker_pids().values()
        kill["pid"] = pid
        kill["t"] = time.time()
        os.kill(pid, signal.SIGKILL)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    res = tune.run(
        kill_target,
        config={"marker": str(marker)},
        num_samples=1,
        max_failures=1,
        engine=ex,
        storage_path=str(tmp_path / "runs"),
        name="kill",
        verbose=0,
    )
    thread.join(5)
    assert kill.get("is_worker") is True, kill
    (trial,) = res.trials
    assert trial.status == "TERMINATED" and trial.num_failures == 1, (trial.status, trial.error)
    df = res.trial_dataframes[trial.trial_id]
    # Nothing reported before the kill is lost, nothing is repeated: one unbroken history.
    assert list(df["training_iteration"]) == list(range(1, 31))
    assert list(df["step_seen"]) == list(range(1, 31))
    first = df[df["attempt"] == df["attempt"].min()]
    second = df[df["attempt"] == df["attempt"].max()]
    assert len(first) >= 5 and len(second) >= 1
    assert set(first["pid"]) == {kill["pid"]} and kill["pid"] not in set(second["pid"])
    running_again = float(second["began"].iloc[0]) - kill["t"]
    first_report = float(second["timestamp"].iloc[0]) - kill["t"]
    print(
        f"\nDask worker SIGKILL -> trial running again from its checkpoint: "
        f"{running_again:.3f} s (first new report after {first_report:.3f} s)"
    )
    assert 0 < running_again < 10


# ---------------------------------------------------------------------- pause / resume
def stepper(config: dict[str, Any]) -> None:
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


def test_asha_promotion_pauses_and_resumes_on_dask(tmp_path: Path) -> None:
    res = tune.run(
        stepper,
        config={"lr": tune.uniform(0.01, 0.5)},
        num_samples=9,
        metric="acc",
        mode="max",
        scheduler=ASHAScheduler(max_t=9, grace_period=1, reduction_factor=3, variant="promotion"),
        engine="dask",
        storage_path=str(tmp_path),
        name="asha",
        verbose=0,
        seed=3,
    )
    store = open_store(str(tmp_path))
    assert list(store.read("asha", kinds=(rk.TRIAL_PAUSED,))), "no trial was ever paused"
    resumed = [r for r in store.read("asha", kinds=(rk.TRIAL_STARTED,)) if r.data["checkpoint"]]
    assert resumed and all(Path(r.data["checkpoint"]).is_dir() for r in resumed)
    for t in res.trials:
        df = res.trial_dataframes[t.trial_id]
        assert list(df["training_iteration"]) == list(range(1, len(df) + 1))
        assert list(df["step_seen"]) == list(df["training_iteration"])
    assert max(t.last_result["training_iteration"] for t in res.trials) == 9


def test_started_names_the_worker(dask_client: Any, tmp_path: Path) -> None:
    ex = DaskExecutor(client=dask_client)
    try:
        ex.start(suite_trainable, Resources(cpu=1), 1, str(tmp_path))
        assert ex.total_slots() == 1  # max_concurrent caps the cluster's two slots
        ex.submit(_launch(tmp_path, "w", n=1))
        evs = _wait(ex, _ended("w"))
        started = evs[0]
        assert isinstance(started, Started)
        pid = next(e for e in evs if isinstance(e, Reported)).result["pid"]
        assert f"(pid {pid})" in started.worker
        assert pid in ex.worker_pids().values()
    finally:
        ex.close()
