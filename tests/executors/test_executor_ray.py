"""The Ray executor against real Ray: a local Ray for the conformance suite, the channel,
resources and with_parameters; a private local Ray started and stopped by ``engine="ray"``
for an ASHA promotion run; and a two-node ``ray.cluster_utils.Cluster`` whose worker node is
SIGKILLed while a trial runs on it.

The functions below are shipped to Ray's workers by value (``register_pickle_by_value``):
this test module is not importable in those processes.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ray = pytest.importorskip("ray")

import tunefleet as tune  # noqa: E402
from tunefleet.errors import TuneValueError  # noqa: E402
from tunefleet.executors import create_executor  # noqa: E402
from tunefleet.executors.base import (  # noqa: E402
    Event,
    Failed,
    Finished,
    Launch,
    Reported,
    Resources,
)
from tunefleet.executors.ray import RayExecutor  # noqa: E402
from tunefleet.schedulers import ASHAScheduler  # noqa: E402
from tunefleet.storage import open_store  # noqa: E402
from tunefleet.storage import records as rk  # noqa: E402
from tunefleet.testing.executors import ExecutorConformance  # noqa: E402
from tunefleet.testing.trainables import suite_trainable  # noqa: E402

pytestmark = pytest.mark.timeout(120)

os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # see ENGINES.md: token auth gotcha
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])

_END = (Finished, Failed)
# Detect a dead node in about a second instead of about 14 s.
FAST_HEALTH_CHECK = {
    "health_check_period_ms": 500,
    "health_check_failure_threshold": 3,
    "health_check_timeout_ms": 500,
    "health_check_initial_delay_ms": 0,
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _collect(ex: RayExecutor, until: Any, timeout: float = 60.0) -> list[Event]:
    deadline = time.monotonic() + timeout
    events: list[Event] = []
    while not until(events):
        if time.monotonic() > deadline:
            pytest.fail(f"timed out; events so far: {events!r}")
        events.extend(ex.poll(0.05))
    return events


def _ended(*ids: str) -> Any:
    return lambda evs: set(ids) <= {e.trial_id for e in evs if isinstance(e, _END)}


# ------------------------------------------------------------------- trainables
def burst_trainable(config: dict[str, Any]) -> None:
    for i in range(config["n"]):
        tune.report(i=i)


def counting_trainable(config: dict[str, Any], blob: Any) -> None:
    tune.report(
        pid=os.getpid(), size=len(blob.data), actor=ray.get_runtime_context().get_actor_id()
    )


class Blob:
    """Appends a line to ``log`` each time it is pickled or unpickled, with the pid."""

    def __init__(self, log: str, size: int) -> None:
        self.log = log
        self.data = b"x" * size

    def __getstate__(self) -> dict[str, Any]:
        with open(self.log, "a") as f:
            f.write(f"pickle {os.getpid()}\n")
        return {"log": self.log, "data": self.data}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        with open(self.log, "a") as f:
            f.write(f"unpickle {os.getpid()}\n")


def stepper(config: dict[str, Any]) -> None:
    """Continues from its checkpoint; reports which Ray actor ran each step."""
    step, acc = 0, 0.0
    ckpt = tune.get_checkpoint()
    if ckpt is not None:
        state = json.loads(Path(ckpt.path, "state.json").read_text())
        step, acc = state["step"], state["acc"]
    actor = ray.get_runtime_context().get_actor_id()
    while step < 9:
        step += 1
        acc += config["lr"] * (1 - acc)
        with tempfile.TemporaryDirectory() as d:  # gone however report() ends
            Path(d, "state.json").write_text(json.dumps({"step": step, "acc": acc}))
            tune.report(
                {"acc": acc, "step_seen": step, "actor": actor, "pid": os.getpid()},
                checkpoint=tune.Checkpoint.from_directory(d),
            )


def node_trainable(config: dict[str, Any]) -> None:
    """Checkpoints every step; logs its starts and reports (with node and time) to a file."""
    node = ray.get_runtime_context().get_node_id()
    attempt = tune.get_context().attempt
    log = config["log"]
    step = 0
    ckpt = tune.get_checkpoint()
    if ckpt is not None:
        step = json.loads(Path(ckpt.path, "state.json").read_text())["step"] + 1
    with open(log, "a") as f:
        f.write(
            json.dumps(
                {"kind": "start", "attempt": attempt, "node": node, "step": step, "t": time.time()}
            )
            + "\n"
        )
    while step < config["steps"]:
        time.sleep(config["sleep"])
        with tempfile.TemporaryDirectory() as d:  # gone however report() ends
            Path(d, "state.json").write_text(json.dumps({"step": step}))
            tune.report(
                {"step": step, "node": node, "attempt": attempt},
                checkpoint=tune.Checkpoint.from_directory(d),
            )
        with open(log, "a") as f:
            f.write(
                json.dumps(
                    {
                        "kind": "report",
                        "attempt": attempt,
                        "node": node,
                        "step": step,
                        "t": time.time(),
                    }
                )
                + "\n"
            )
        step += 1


# ------------------------------------------------------------------- local Ray
def _init_local_ray(num_cpus: int, temp_dir: str) -> None:
    ray.init(
        num_cpus=num_cpus,
        include_dashboard=False,
        dashboard_port=_free_port(),
        log_to_driver=False,
        _temp_dir=temp_dir,  # short: Ray puts unix sockets under it
    )


class TestRayExecutor(ExecutorConformance):
    """The conformance suite and more, on one local Ray (2 CPUs) for the whole class.

    The executor finds Ray initialised and uses it; its close() leaves it running."""

    event_timeout = 60.0

    @pytest.fixture(scope="class", autouse=True)
    @classmethod
    def local_ray(cls) -> Iterator[None]:
        assert not ray.is_initialized()
        temp_dir = tempfile.mkdtemp(prefix="tfrt-", dir="/tmp")
        _init_local_ray(2, temp_dir)
        yield
        ray.shutdown()
        shutil.rmtree(temp_dir, ignore_errors=True)

    def make_executor(self) -> RayExecutor:
        return RayExecutor()

    def test_uses_the_callers_ray_and_leaves_it_running(self, tmp_path: Path) -> None:
        ex = RayExecutor()
        ex.start(suite_trainable, Resources(cpu=1), None, str(tmp_path))
        assert ex.total_slots() == 2 and ex.capacity() == 2  # 2 CPUs / 1 CPU per trial
        pids = ex.actor_pids()
        assert len(set(pids)) == 2 and os.getpid() not in pids
        ex.close()
        assert ray.is_initialized()

    def test_resources_map_to_slots_and_are_validated(self, tmp_path: Path) -> None:
        ex = RayExecutor()
        ex.start(suite_trainable, Resources(cpu=0.5), None, str(tmp_path))
        try:
            assert ex.total_slots() == 4 == ex.capacity()
        finally:
            ex.close()
        ex = RayExecutor()
        with pytest.raises(TuneValueError, match="resources_per_trial.*GPU"):
            ex.validate_resources(Resources(cpu=1, gpu=1))
        with pytest.raises(TuneValueError, match="resources_per_trial.*tpu"):
            ex.validate_resources(Resources(cpu=1, custom={"tpu": 1}))
        with pytest.raises(TuneValueError, match="resources_per_trial"):
            ex.validate_resources(Resources(cpu=3))
        ex.close()

    def test_reports_are_batched_in_order(self, tmp_path: Path) -> None:
        ex = RayExecutor()
        ex.start(burst_trainable, Resources(cpu=1), 2, str(tmp_path))
        try:
            n = 3000
            for tid in ("a", "b"):  # warm up: the first call of each actor is the slowest
                ex.submit(Launch(tid, {"n": 1}, 0, str(tmp_path / tid)))
            _collect(ex, _ended("a", "b"))
            replies0, t0, cpu0 = ex.poll_replies, time.perf_counter(), time.process_time()
            for tid in ("c", "d"):
                ex.submit(Launch(tid, {"n": n}, 0, str(tmp_path / tid)))
            evs = _collect(ex, _ended("c", "d"))
            seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
            replies = ex.poll_replies - replies0
        finally:
            ex.close()
        for tid in ("c", "d"):
            got = [e.result["i"] for e in evs if isinstance(e, Reported) and e.trial_id == tid]
            assert got == list(range(n))
            assert all(isinstance(e.raw, str) for e in evs if isinstance(e, Reported))
        # One round trip carries many reports when they come faster than round trips.
        assert replies < (2 * n) / 20, replies
        print(
            f"\nray per-report cost: {seconds / (2 * n) * 1e6:.1f} us wall, "
            f"{cpu / (2 * n) * 1e6:.1f} us driver CPU "
            f"({2 * n} reports from 2 trials in {seconds:.3f} s, {replies} poll replies)"
        )

    def test_with_parameters_is_put_once_and_unpickled_once_per_actor(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        log = tmp_path / "pickles.log"
        trainable = tune.with_parameters(counting_trainable, blob=Blob(str(log), 1 << 20))
        puts: list[Any] = []
        real_put = ray.put

        def counting_put(value: Any, **kwargs: Any) -> Any:
            puts.append(value)
            return real_put(value, **kwargs)

        monkeypatch.setattr(ray, "put", counting_put)
        ex = RayExecutor()
        ex.start(trainable, Resources(cpu=1), 2, str(tmp_path))
        try:
            todo = [f"w{i}" for i in range(6)]
            evs: list[Event] = []
            while todo or len([e for e in evs if isinstance(e, _END)]) < 6:
                while todo and ex.capacity():
                    tid = todo.pop(0)
                    ex.submit(Launch(tid, {}, 0, str(tmp_path / tid)))
                evs.extend(ex.poll(0.05))
        finally:
            ex.close()
        assert all(isinstance(e, Finished) for e in evs if isinstance(e, _END))
        results = [e.result for e in evs if isinstance(e, Reported)]
        assert len(results) == 6 and {r["size"] for r in results} == {1 << 20}
        actor_pids = {r["pid"] for r in results}
        lines = log.read_text().split()
        pickles = [int(p) for k, p in zip(lines[::2], lines[1::2], strict=True) if k == "pickle"]
        unpickles = [
            int(p) for k, p in zip(lines[::2], lines[1::2], strict=True) if k == "unpickle"
        ]
        assert len(puts) == 1  # the trainable (and the blob inside it) went to Ray once
        assert pickles == [os.getpid()]  # serialised once, by the driver
        # Deserialised once per actor process, never once per trial.
        assert sorted(unpickles) == sorted(actor_pids) and len(unpickles) == 2 < len(results)

    def test_killed_actor_fails_its_trial_as_lost_and_is_replaced(self, tmp_path: Path) -> None:
        ex = RayExecutor()
        ex.start(suite_trainable, Resources(cpu=1), 2, str(tmp_path))
        try:
            before = set(ex.actor_pids())
            ex.submit(Launch("v", {"kind": "sleep", "sleep": 60}, 0, str(tmp_path / "v")))
            first = _collect(ex, lambda evs: any(isinstance(e, Reported) for e in evs))
            pid = next(e.result["pid"] for e in first if isinstance(e, Reported))
            os.kill(pid, signal.SIGKILL)
            t0 = time.monotonic()
            evs = _collect(ex, _ended("v"))
            failed = evs[-1]
            assert isinstance(failed, Failed) and failed.worker_lost is True
            assert "WorkerLost" in failed.error
            _collect(ex, lambda _: ex.capacity() == 2)
            print(f"\nray actor death -> replacement ready: {time.monotonic() - t0:.2f} s")
            after = set(ex.actor_pids())
            assert pid not in after and len(after) == 2 and len(after & before) == 1
            ex.submit(Launch("w", {"kind": "count", "n": 2}, 1, str(tmp_path / "w")))
            ex.submit(Launch("x", {"kind": "count", "n": 2}, 0, str(tmp_path / "x")))
            done = _collect(ex, _ended("w", "x"))
            assert all(isinstance(e, Finished) for e in done if isinstance(e, _END))
        finally:
            ex.close()


# ------------------------------------------------------------------- engine="ray"
def test_engine_ray_starts_and_stops_its_own_ray_for_asha_promotion(tmp_path: Path) -> None:
    assert not ray.is_initialized()
    ex = create_executor("ray", num_cpus=2, ray_init_kwargs={"log_to_driver": False})
    assert isinstance(ex, RayExecutor)
    res = tune.run(
        stepper,
        config={"lr": tune.uniform(0.01, 0.5)},
        num_samples=9,
        metric="acc",
        mode="max",
        scheduler=ASHAScheduler(max_t=9, grace_period=1, reduction_factor=3, variant="promotion"),
        storage_path=str(tmp_path),
        name="asha",
        verbose=0,
        seed=3,
        engine=ex,
    )
    assert not ray.is_initialized()  # close() shut down the Ray it started
    store = open_store(str(tmp_path))
    assert list(store.read("asha", kinds=(rk.TRIAL_PAUSED,))), "no trial was ever paused"
    resumed = [r for r in store.read("asha", kinds=(rk.TRIAL_STARTED,)) if r.data["checkpoint"]]
    assert resumed, "no paused trial was ever promoted"
    actors: set[str] = set()
    for t in res.trials:
        df = res.trial_dataframes[t.trial_id]
        # Resumed from the checkpoint of the paused result: steps continue, none repeat.
        assert list(df["training_iteration"]) == list(range(1, len(df) + 1))
        assert list(df["step_seen"]) == list(df["training_iteration"])
        actors.update(df["actor"])
        assert os.getpid() not in set(df["pid"])
    assert max(t.last_result["training_iteration"] for t in res.trials) == 9
    assert None not in actors and len(actors) <= 2  # reused actors, one per CPU


# ------------------------------------------------------------------- a node dies
def test_node_kill_restarts_the_trial_from_its_checkpoint_on_the_head(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ray.cluster_utils import Cluster
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    assert not ray.is_initialized()
    ray_tmp = tempfile.mkdtemp(prefix="tfrc-", dir="/tmp")
    monkeypatch.setenv("RAY_TMPDIR", ray_tmp)  # Cluster writes its address file there
    os.makedirs(os.path.join(ray_tmp, "ray"))
    cluster = Cluster(
        initialize_head=True,
        head_node_args={
            "num_cpus": 1,
            "resources": {"head": 1},
            "include_dashboard": False,
            "dashboard_port": _free_port(),
            "dashboard_agent_listen_port": _free_port(),
            "_system_config": FAST_HEALTH_CHECK,
            "temp_dir": ray_tmp,
        },
    )
    try:
        worker = cluster.add_node(num_cpus=1, resources={"worker": 1}, temp_dir=ray_tmp)
        cluster.wait_for_nodes()
        head_id, worker_id = cluster.head_node.node_id, worker.node_id
        log = tmp_path / "log.jsonl"
        killed: dict[str, float] = {}

        def kill_when_running_on_worker() -> None:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                lines = log.read_text().splitlines() if log.exists() else []
                done = [json.loads(x) for x in lines if '"report"' in x]
                if sum(d["node"] == worker_id for d in done) >= 3:
                    killed["t"] = time.time()
                    cluster.remove_node(worker, allow_graceful=False)  # SIGKILL
                    return
                time.sleep(0.02)

        killer = threading.Thread(target=kill_when_running_on_worker, daemon=True)
        killer.start()
        # The first actor is placed on the worker node (soft: it may go elsewhere once that
        # node is gone), so that the trial runs where the kill happens.
        ex = RayExecutor(
            address=cluster.address,
            ray_init_kwargs={"log_to_driver": False},
            actor_options={
                "scheduling_strategy": NodeAffinitySchedulingStrategy(worker_id, soft=True)
            },
        )
        res = tune.run(
            node_trainable,
            config={"log": str(log), "steps": 8, "sleep": 0.25},
            num_samples=1,
            max_concurrent_trials=1,
            max_failures=1,
            storage_path=str(tmp_path),
            name="nodekill",
            verbose=0,
            engine=ex,
        )
        killer.join(5)
        assert not ray.is_initialized()  # the executor disconnected before the cluster stops
    finally:
        if ray.is_initialized():
            ray.shutdown()
        cluster.shutdown()
        shutil.rmtree(ray_tmp, ignore_errors=True)

    assert "t" in killed, "the trial never ran on the worker node"
    (trial,) = res.trials
    assert trial.status == "TERMINATED" and trial.num_failures == 1
    assert trial.last_result["step"] == 7
    entries = [json.loads(x) for x in log.read_text().splitlines()]
    starts = [e for e in entries if e["kind"] == "start"]
    a0 = starts[0]["attempt"]
    assert [s["attempt"] for s in starts] == [a0, a0 + 1]
    assert starts[0]["node"] == worker_id and starts[0]["step"] == 0
    assert starts[1]["node"] == head_id and starts[1]["step"] >= 3  # from its checkpoint
    store = open_store(str(tmp_path))
    fails = list(store.read("nodekill", kinds=(rk.TRIAL_FAILED,)))
    assert len(fails) == 1 and fails[0].data["worker_lost"] is True
    results = [r.data for r in store.read("nodekill", kinds=(rk.RESULT,))]
    # Nothing reported before the kill is lost, nothing is repeated, nothing is missing.
    assert [r["training_iteration"] for r in results] == list(range(1, 9))
    assert [r["step"] for r in results] == list(range(8))
    before = [r for r in results if r["attempt"] == a0]
    assert len(before) >= 3 and all(r["node"] == worker_id for r in before)
    assert all(r["node"] == head_id for r in results if r["attempt"] == a0 + 1)
    rerun = starts[1]["t"] - killed["t"]
    first_after = min(e["t"] for e in entries if e["kind"] == "report" and e["attempt"] == a0 + 1)
    print(
        f"\nray node kill -> trial running again on the head: {rerun:.2f} s; "
        f"-> first result of the new attempt: {first_after - killed['t']:.2f} s"
    )
    assert rerun < 30


# ------------------------------------------------------------------- without Ray running
def test_arguments_are_checked_without_starting_ray() -> None:
    ex = create_executor("ray://head:10001")
    assert isinstance(ex, RayExecutor) and ex.address == "ray://head:10001"
    with pytest.raises(TuneValueError, match="num_cpus"):
        RayExecutor(address="head:6379", num_cpus=2)
    with pytest.raises(TuneValueError, match="num_gpus"):
        RayExecutor(num_gpus=-1)
    with pytest.raises(TuneValueError, match="actor_options"):
        RayExecutor(actor_options={"num_cpus": 2})
    with pytest.raises(TuneValueError, match="address"):
        RayExecutor(address=" ")
    ex.close()  # never connected: nothing to do
    assert not ray.is_initialized()


def test_missing_ray_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)
    ex = RayExecutor()
    with pytest.raises(ImportError, match=r"pip install tunefleet\[ray\]"):
        ex.validate_resources(Resources())
    ex.close()
