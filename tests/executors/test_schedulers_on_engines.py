"""Every scheduler runs on every engine (issue 5, point 4).

A matrix of tiny real sweeps: schedulers {fifo, asha (stopping), asha_promotion, hyperband,
median, pbt, pb2, bohb (with ``search_alg="bohb"``)} x engines {local, dask, ray, spark}.
Each sweep runs a checkpointing trainable that continues from its checkpoint, and checks
that every trial ends TERMINATED, that each trial's iterations run without gaps or repeats
(a paused trial resumes right after its last reported iteration; a PBT/PB2 exploit continues
from the donor's checkpoint iteration), that the trainable's own restored step matches the
engine's ``training_iteration``, that pausing schedulers did pause and resume, and that the
trials ran on the engine under test (not in the test process).

One cluster per engine serves all of its tests: the module-scoped ``cluster`` fixture
starts it once (``ray.init``, a Dask ``LocalCluster`` + ``Client``, a ``SparkSession``) and
each test attaches a fresh executor to it (``RayExecutor()`` uses the Ray this process
initialised, ``DaskExecutor(client=...)``, ``SparkExecutor(spark=...)``); their ``close()``
leaves the cluster running. The fixture is parametrised, so pytest runs one engine's tests
together and stops that cluster before starting the next one. Every engine offers 4 trial
slots (trials ask for half a CPU; Spark counts whole cores, so it runs ``local[4,1]``), so
that the PBT population of 4 is live at once.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cloudpickle
import pytest

import tunefleet as tune
from tunefleet.executors.base import Executor, Resources
from tunefleet.executors.local import LocalExecutor
from tunefleet.schedulers import (
    PB2,
    ASHAScheduler,
    HyperBandForBOHB,
    HyperBandScheduler,
    MedianStoppingRule,
    PopulationBasedTraining,
)
from tunefleet.storage import open_store
from tunefleet.storage import records as rk

pytestmark = pytest.mark.timeout(180)

# Spark's and Ray's workers cannot import this module: its functions travel by value.
cloudpickle.register_pickle_by_value(sys.modules[__name__])

MAX_T = 9
ENGINES = ("local", "dask", "ray", "spark")
SCHEDULERS = ("fifo", "asha", "asha_promotion", "hyperband", "median", "pbt", "pb2", "bohb")
#: Schedulers that pause trials and resume them from their own checkpoints.
PAUSING = ("asha_promotion", "hyperband", "bohb")
#: Schedulers that restart trials from another trial's checkpoint.
EXPLOITING = ("pbt", "pb2")


def where(driver_pid: int) -> str:
    """The engine this trial runs on, as seen from inside it."""
    if os.getpid() == driver_pid:
        return "the test process"
    if "tunefleet.worker.process" in sys.modules and os.getppid() == driver_pid:
        return "local"  # a LocalExecutor worker: a fresh interpreter the driver started
    if "pyspark" in sys.modules:
        from pyspark import TaskContext

        if TaskContext.get() is not None:
            return "spark"
    if "distributed" in sys.modules:
        from distributed import get_worker

        try:
            get_worker()
            return "dask"
        except ValueError:
            pass
    if "ray" in sys.modules and sys.modules["ray"].is_initialized():
        return "ray"
    return f"unknown (pid {os.getpid()}, parent {os.getppid()})"


def stepper(config: dict[str, Any], sleep_s: float, driver_pid: int) -> None:
    """Continues from its checkpoint; the checkpoint holds the step and the running value."""
    engine = where(driver_pid)
    step, acc = 0, 0.0
    ckpt = tune.get_checkpoint()
    if ckpt is not None:
        with ckpt.as_directory() as d:
            state = json.loads(Path(d, "state.json").read_text())
        step, acc = state["step"], state["acc"]
    while step < MAX_T:
        step += 1
        acc += config["lr"] * (1 - acc)
        time.sleep(sleep_s)
        # removed however report() ends (a stop decision ends the trial inside it)
        with tempfile.TemporaryDirectory(prefix="tf-step-") as d:
            Path(d, "state.json").write_text(json.dumps({"step": step, "acc": acc}))
            tune.report(
                {"acc": acc, "step_seen": step, "engine": engine},
                checkpoint=tune.Checkpoint.from_directory(d),
            )


# ----------------------------------------------------------------------------- clusters
@dataclass
class Cluster:
    kind: str
    make: Callable[[], Executor]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ray_cluster() -> Iterator[Cluster]:
    ray = pytest.importorskip("ray")
    from tunefleet.executors.ray import RayExecutor

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # see ENGINES.md: token auth gotcha
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    assert not ray.is_initialized(), "another test left Ray running"
    temp_dir = tempfile.mkdtemp(prefix="tfse-", dir="/tmp")  # short: unix sockets live here
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        dashboard_port=_free_port(),
        _metrics_export_port=_free_port(),
        log_to_driver=False,
        _temp_dir=temp_dir,
    )
    try:
        yield Cluster("ray", RayExecutor)  # uses this process's Ray; close() leaves it up
    finally:
        ray.shutdown()
        shutil.rmtree(temp_dir, ignore_errors=True)


def _dask_cluster() -> Iterator[Cluster]:
    pytest.importorskip("distributed")
    import dask
    from distributed import Client, LocalCluster

    from tunefleet.executors.dask import DaskExecutor

    # tunefleet, not Dask, retries lost trials (docs/engines.md).
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        cluster = LocalCluster(
            n_workers=2,
            threads_per_worker=2,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            resources={"CPU": 2},
        )
    client = Client(cluster)
    try:
        client.wait_for_workers(2, timeout=60)
        yield Cluster("dask", lambda: DaskExecutor(client=client))  # never closes the client
    finally:
        client.close()
        cluster.close()


def _spark_cluster() -> Iterator[Cluster]:
    pytest.importorskip("pyspark")
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        pytest.skip("Spark needs Java")
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    from tunefleet.executors.spark import SparkExecutor, session_settings

    assert SparkContext._active_spark_context is None, "another test left Spark running"
    master = "local[4,1]"
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.master(master).appName("tunefleet-schedulers")
    for key, value in session_settings(master, Resources(cpu=1)).items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    try:
        yield Cluster("spark", lambda: SparkExecutor(spark=session))  # never stops it
    finally:
        session.stop()


@pytest.fixture(scope="module", params=ENGINES)
def cluster(request: pytest.FixtureRequest) -> Iterator[Cluster]:
    kind = request.param
    if kind == "local":
        yield Cluster("local", lambda: LocalExecutor(num_cpus=2))
    elif kind == "ray":
        yield from _ray_cluster()
    elif kind == "dask":
        yield from _dask_cluster()
    else:
        yield from _spark_cluster()


# ----------------------------------------------------------------------------- sweeps
def sweep_args(name: str) -> dict[str, Any]:
    """``tune.run`` arguments of the tiny sweep for scheduler ``name``."""
    rungs = {"time_attr": "training_iteration", "max_t": MAX_T, "reduction_factor": 3}
    # Higher lr means higher acc at every step, so the lowest-lr trial is always in the
    # bottom half of the live population: PBT and PB2 exploit whenever another trial is live.
    pbt_space = {"lr": tune.grid_search([0.02, 0.1, 0.3, 0.5])}
    pbt_common = {
        "time_attr": "training_iteration",
        "perturbation_interval": 3,
        "quantile_fraction": 0.5,
        "seed": 0,
    }
    space = {"lr": tune.uniform(0.01, 0.5)}
    if name == "fifo":
        return {"scheduler": "fifo", "config": space, "num_samples": 4}
    if name == "asha":
        sched = ASHAScheduler(grace_period=1, **rungs)
        return {"scheduler": sched, "config": space, "num_samples": 6}
    if name == "asha_promotion":
        # 9 trials: the top third of rung 1 (3) is needed for one promotion to max_t.
        sched = ASHAScheduler(grace_period=1, variant="promotion", **rungs)
        return {"scheduler": sched, "config": space, "num_samples": 9}
    if name == "hyperband":
        return {"scheduler": HyperBandScheduler(**rungs), "config": space, "num_samples": 6}
    if name == "median":
        sched = MedianStoppingRule(
            time_attr="training_iteration", grace_period=2, min_samples_required=2
        )
        return {"scheduler": sched, "config": space, "num_samples": 6}
    if name == "pbt":
        sched = PopulationBasedTraining(
            hyperparam_mutations={"lr": tune.uniform(0.01, 0.5)}, **pbt_common
        )
        return {"scheduler": sched, "config": pbt_space, "sleep_s": 0.1}
    if name == "pb2":
        sched = PB2(hyperparam_bounds={"lr": [0.01, 0.5]}, **pbt_common)
        return {"scheduler": sched, "config": pbt_space, "sleep_s": 0.1}
    if name == "bohb":
        return {
            "scheduler": HyperBandForBOHB(**rungs),
            "search_alg": "bohb",
            "config": space,
            "num_samples": 6,
        }
    raise AssertionError(f"no sweep for {name}")


def _recorded_checkpoint(store: Any, name: str, path: str) -> bool:
    """Some trial reported ``path`` as its checkpoint (a restart never invents one)."""
    return any(r.data.get("path") == path for r in store.read(name, kinds=(rk.CHECKPOINT,)))


def check_iterations(store: Any, name: str, trial_id: str, exploiting: bool) -> int:
    """Walk one trial's starts and results; returns how many attempts restored a checkpoint.

    Within an attempt iterations go up by one; a trial resumed from its own checkpoint goes
    on right after its last reported iteration; a trial restarted from a donor (PBT) goes on
    right after the donor checkpoint's iteration; the trainable's own step, read back from
    the checkpoint, always equals the engine's training_iteration."""
    kinds = (rk.TRIAL_STARTED, rk.RESULT, rk.TRIAL_RESTARTED)
    expect: int | None = None
    last = 0
    restored = 0
    restart: dict[str, Any] | None = None
    for r in store.read(name, kinds=kinds, trial_id=trial_id):
        if r.kind == rk.TRIAL_RESTARTED:
            restart = r.data
            # The donor's current checkpoint: in the donor's folder, or, when the donor was
            # itself restarted and has not checkpointed since, the one it was cloned from.
            assert "/trials/" in str(r.data["checkpoint"]), r.data
            assert _recorded_checkpoint(store, name, str(r.data["checkpoint"])), r.data
        elif r.kind == rk.TRIAL_STARTED:
            if r.data.get("checkpoint") is None:
                assert restart is None and last == 0, f"{trial_id} restarted from scratch"
                expect = 1
            elif restart is not None:
                assert exploiting, f"{trial_id} was restarted by a non-PBT scheduler"
                assert r.data["checkpoint"] == restart["checkpoint"], (r.data, restart)
                iteration = restart.get("iteration")
                expect = int(iteration) + 1 if iteration is not None else None
                restart = None
                restored += 1
            else:
                expect = last + 1  # resumed from its own checkpoint: no gap, no repeat
                restored += 1
        else:
            it = int(r.data["training_iteration"])
            assert r.data["step_seen"] == it, (trial_id, r.data)
            if expect is not None:
                assert it == expect, f"{trial_id}: iteration {it} where {expect} was due"
            expect = it + 1
            last = it
    assert last >= 1, f"{trial_id} reported nothing"
    return restored


@pytest.mark.parametrize("scheduler", SCHEDULERS)
def test_scheduler_runs_on_engine(scheduler: str, cluster: Cluster, tmp_path: Path) -> None:
    args = sweep_args(scheduler)
    sleep_s = args.pop("sleep_s", 0.02)
    num_samples = args.get("num_samples", 4)
    t0 = time.monotonic()
    res = tune.run(
        tune.with_parameters(stepper, sleep_s=sleep_s, driver_pid=os.getpid()),
        metric="acc",
        mode="max",
        resources_per_trial={"cpu": 0.5},
        engine=cluster.make(),
        storage_path=str(tmp_path),
        name="s",
        verbose=0,
        seed=0,
        **args,
    )
    took = time.monotonic() - t0
    assert len(res.trials) == num_samples
    statuses = {t.trial_id: t.status for t in res.trials}
    assert set(statuses.values()) == {"TERMINATED"}, statuses

    store = open_store(str(tmp_path))
    ran_on = {r.data["engine"] for r in store.read("s", kinds=(rk.RESULT,))}
    assert ran_on == {cluster.kind}, ran_on

    exploiting = scheduler in EXPLOITING
    restored = sum(check_iterations(store, "s", t.trial_id, exploiting) for t in res.trials)
    last = {t.trial_id: t.last_result["training_iteration"] for t in res.trials}
    assert max(last.values()) == MAX_T, last
    if scheduler == "fifo":
        assert set(last.values()) == {MAX_T}, last
    paused = list(store.read("s", kinds=(rk.TRIAL_PAUSED,)))
    restarts = list(store.read("s", kinds=(rk.TRIAL_RESTARTED,)))
    if scheduler in PAUSING:
        assert paused, f"{scheduler} never paused a trial on {cluster.kind}"
        assert restored >= 1, f"{scheduler} never resumed a paused trial on {cluster.kind}"
    if exploiting:
        assert restarts, f"{scheduler} never exploited on {cluster.kind}"
        assert restored >= len(restarts)
    if scheduler not in PAUSING + EXPLOITING:
        assert not paused and not restarts and restored == 0
    print(f"[{scheduler} on {cluster.kind}] {took:.1f} s, {restored} restores")
