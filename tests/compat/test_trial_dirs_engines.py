"""``trial_dirname_creator`` and ``chdir_to_trial_dir`` on real Ray, Dask and Spark clusters.

Every engine runs an attempt through ``run_attempt``, which changes to the launch's
``working_dir`` and back; these tests check that the field travels to each engine's workers,
that relative writes land in the named trial directory there, and that a reused worker is
back in its own directory afterwards (a second run with the option off, on the same
cluster, finds every worker where it started). One cluster per engine, module-scoped.
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cloudpickle
import pytest

from tunefleet import train, tune
from tunefleet.executors.base import Executor, Resources
from tunefleet.worker.working_dir import ORIG_DIR_ENV

pytestmark = pytest.mark.timeout(180)

# The workers cannot import this module: its functions travel by value.
cloudpickle.register_pickle_by_value(sys.modules[__name__])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ray() -> Iterator[Callable[[], Executor]]:
    ray = pytest.importorskip("ray")
    from tunefleet.executors.ray import RayExecutor

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    assert not ray.is_initialized(), "another test left Ray running"
    temp_dir = tempfile.mkdtemp(prefix="tftd-", dir="/tmp")  # short: unix sockets live here
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        dashboard_port=_free_port(),
        _metrics_export_port=_free_port(),
        log_to_driver=False,
        _temp_dir=temp_dir,
    )
    try:
        yield RayExecutor  # this process's Ray; close() leaves it up
    finally:
        ray.shutdown()
        shutil.rmtree(temp_dir, ignore_errors=True)


def _dask() -> Iterator[Callable[[], Executor]]:
    pytest.importorskip("distributed")
    import dask
    from distributed import Client, LocalCluster

    from tunefleet.executors.dask import DaskExecutor

    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        cluster = LocalCluster(
            n_workers=2,
            threads_per_worker=1,  # one trial per worker process: it can change directory
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            resources={"CPU": 1},
        )
    client = Client(cluster)
    try:
        client.wait_for_workers(2, timeout=60)
        yield lambda: DaskExecutor(client=client)  # never closes the client
    finally:
        client.close()
        cluster.close()


def _spark() -> Iterator[Callable[[], Executor]]:
    pytest.importorskip("pyspark")
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        pytest.skip("Spark needs Java")
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    from tunefleet.executors.spark import SparkExecutor, session_settings

    assert SparkContext._active_spark_context is None, "another test left Spark running"
    master = "local[2,1]"
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.master(master).appName("tunefleet-trial-dirs")
    for key, value in session_settings(master, Resources(cpu=1)).items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    try:
        yield lambda: SparkExecutor(spark=session)  # never stops it
    finally:
        session.stop()


@pytest.fixture(scope="module", params=["dask", "ray", "spark"])
def make_executor(request: pytest.FixtureRequest) -> Iterator[Callable[[], Executor]]:
    yield from {"ray": _ray, "dask": _dask, "spark": _spark}[request.param]()


def writes_here(config: dict[str, Any], driver_pid: int) -> None:
    assert os.getpid() != driver_pid, "the trial ran in the test process"
    if config["write"]:
        Path("mine.txt").write_text(str(config["x"]))
    tune.report(
        {
            "cwd": os.getcwd(),
            "tune_dir": tune.get_context().get_trial_dir(),
            "train_dir": train.get_context().get_trial_dir(),
            "orig": os.environ.get(ORIG_DIR_ENV),
        }
    )


def test_trials_run_in_named_directories_and_workers_come_back(
    make_executor: Callable[[], Executor], tmp_path: Path
) -> None:
    fn = tune.with_parameters(writes_here, driver_pid=os.getpid())
    on = tune.run(
        fn,
        config={"x": tune.grid_search([1, 2, 3, 4]), "write": True},
        storage_path=str(tmp_path),
        name="on",
        trial_dirname_creator=lambda t: f"x{t.config['x']}_{t.trial_id}",
        engine=make_executor(),
        max_concurrent_trials=2,  # 4 trials on 2 slots: workers run several trials
        verbose=0,
    )
    trials_dir = tmp_path / "on" / "trials"
    assert len(on.trials) == 4
    for t in on.trials:
        r = t.last_result
        expected = str(trials_dir / f"x{t.config['x']}_{t.trial_id}")
        assert t.path == r["cwd"] == r["tune_dir"] == r["train_dir"] == expected
        assert Path(expected, "mine.txt").read_text() == str(t.config["x"])
    origs = {t.last_result["orig"] for t in on.trials}
    assert None not in origs

    off = tune.run(
        fn,
        config={"x": tune.grid_search([1, 2, 3, 4]), "write": False},
        storage_path=str(tmp_path),
        name="off",
        chdir_to_trial_dir=False,
        engine=make_executor(),
        max_concurrent_trials=2,
        verbose=0,
    )
    for t in off.trials:
        r = t.last_result
        assert r["orig"] is None and r["tune_dir"] == t.path
        assert not r["cwd"].startswith(str(tmp_path)), r["cwd"]
    # each worker is back where it was before the first run moved it
    assert {t.last_result["cwd"] for t in off.trials} <= origs
