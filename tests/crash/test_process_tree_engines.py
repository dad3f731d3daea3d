"""Nothing a trial starts outlives it on Dask, Ray and Spark either (issue 17 pt 1): a
process the trainable starts in a session of its own (``start_new_session=True``) or
daemonised (orphaned by a shell that exits) is ended when the trial returns, is stopped
by ASHA or raises, and a child that traps SIGTERM gets its grace and writes its file
(``kill_grace_s``). Real engines, each the executor's own small cluster (one trial at a
time, so "its trial's" is exact); processes are found by a marker in their command line
and killed by pid at teardown whatever happens."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cloudpickle
import pytest
from crash_procs import SLEEPER, kill_marked, with_marker

import tunefleet as tune
from tunefleet.callbacks import Callback
from tunefleet.executors.base import Executor
from tunefleet.schedulers import ASHAScheduler

pytestmark = [
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux /proc"),
    pytest.mark.timeout(180),
]

# Workers of Ray and Spark cannot import this module: its functions travel by value.
cloudpickle.register_pickle_by_value(sys.modules[__name__])

# A child that flushes on SIGTERM: it says it is ready once its handler is in place.
TRAPPER = (
    "import signal, sys, time, pathlib\n"
    "out = pathlib.Path(sys.argv[1])\n"
    "def bye(*_):\n"
    "    out.with_suffix('.flushed').write_text('flushed')\n"
    "    sys.exit(0)\n"
    "signal.signal(signal.SIGTERM, bye)\n"
    "out.with_suffix('.ready').write_text('ready')\n"
    "time.sleep(600)\n"
)


def trainable(config: dict[str, Any]) -> None:
    mark = f"{config['marker']}-{config['q']}"
    subprocess.Popen([sys.executable, "-c", SLEEPER, mark], start_new_session=True)
    inner = f"setsid {sys.executable} -c '{SLEEPER}' {mark} >/dev/null 2>&1 &"
    subprocess.run(["sh", "-c", inner], check=True)
    out = Path(config["dir"], f"q{config['q']}")
    subprocess.Popen([sys.executable, "-c", TRAPPER, str(out), mark], start_new_session=True)
    deadline = time.monotonic() + 30
    while not out.with_suffix(".ready").exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    for i in range(config["steps"]):
        time.sleep(0.02)
        tune.report({"score": config["q"] * (i + 1)})
        if config["q"] == 4 and i == 4:  # before max_t, where ASHA would end it
            raise RuntimeError("the trial fails after starting its processes")


class Leftovers(Callback):
    """At each trial's end (after the worker said so), the processes its trial started."""

    def __init__(self) -> None:
        self.seen: dict[int, int] = {}
        self.iterations: dict[int, int] = {}
        self.errors = 0

    def _count(self, trial: Any) -> None:
        cfg = trial.config
        self.seen[cfg["q"]] = len(with_marker(f"{cfg['marker']}-{cfg['q']}"))
        self.iterations[cfg["q"]] = (trial.last_result or {}).get("training_iteration", 0)

    def on_trial_complete(self, iteration: int, trials: Any, trial: Any, **info: Any) -> None:
        self._count(trial)

    def on_trial_error(self, iteration: int, trials: Any, trial: Any, **info: Any) -> None:
        self.errors += 1
        self._count(trial)


def _dask() -> Executor:
    pytest.importorskip("distributed")
    from tunefleet.executors.dask import DaskExecutor

    return DaskExecutor(n_workers=1, threads_per_worker=1)


@pytest.fixture(scope="module")
def ray_up() -> Iterator[None]:
    """One local Ray for this module's Ray tests (each executor uses it, leaves it up)."""
    ray = pytest.importorskip("ray")
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # ENGINES.md: the token auth gotcha
    assert not ray.is_initialized(), "another test left Ray running"
    temp_dir = tempfile.mkdtemp(prefix="tfpt-", dir="/tmp")  # short: unix sockets live here
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False, _temp_dir=temp_dir)
    try:
        yield
    finally:
        ray.shutdown()
        shutil.rmtree(temp_dir, ignore_errors=True)


def _ray() -> Executor:
    import ray

    from tunefleet.executors.ray import RayExecutor

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])

    return RayExecutor()  # this process's Ray (ray_up); close() leaves it running


def _spark() -> Executor:
    pytest.importorskip("pyspark")
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        pytest.skip("Spark needs Java")
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from tunefleet.executors.spark import SparkExecutor

    return SparkExecutor(master="local[1]")


EXECUTORS: dict[str, Callable[[], Executor]] = {"dask": _dask, "ray": _ray, "spark": _spark}


@pytest.fixture
def marker() -> Iterator[str]:
    mark = f"tf-orphan-{uuid.uuid4().hex}"
    yield mark
    kill_marked(mark)  # whatever the test's outcome: nothing stays running


@pytest.mark.parametrize("engine", sorted(EXECUTORS))
def test_detached_processes_end_with_their_trial(engine: str, tmp_path: Path, marker: str) -> None:
    executor = EXECUTORS[engine]()
    seen = Leftovers()
    flags = tmp_path / "flags"
    flags.mkdir()
    tune.run(
        trainable,
        config={
            "q": tune.grid_search([4, 3, 2, 1]),  # worse and worse: ASHA stops
            "marker": marker,
            "steps": 8,
            "dir": str(flags),
        },
        metric="score",
        mode="max",
        scheduler=ASHAScheduler(max_t=8, grace_period=1, reduction_factor=2),
        max_concurrent_trials=1,
        callbacks=[seen],
        raise_on_failed_trial=False,
        storage_path=str(tmp_path / "runs"),
        engine=executor,
        verbose=0,
    )
    assert sorted(seen.seen) == [1, 2, 3, 4] and seen.errors == 1  # q=4 raised
    assert any(it < 8 for it in seen.iterations.values()), seen.iterations  # ASHA stopped one
    assert seen.seen == dict.fromkeys(seen.seen, 0)  # gone when the driver heard the end
    assert with_marker(marker) == []
    # Every trial's SIGTERM-trapping child had its grace and flushed.
    assert sorted(p.name for p in flags.glob("*.flushed")) == [
        f"q{q}.flushed" for q in (1, 2, 3, 4)
    ]


def test_ray_close_ends_a_busy_actors_processes(tmp_path: Path, marker: str, ray_up: None) -> None:
    """``close()`` while a trial runs: the actor ends its trial's processes (with the
    grace) before ``ray.kill``, which would leave them orphaned under init."""
    from tunefleet.protocol import Launch, Resources

    executor = _ray()
    config = {"q": 0, "marker": marker, "steps": 10**6, "dir": str(tmp_path)}
    executor.start(trainable, Resources(cpu=1), 1, str(tmp_path))
    try:
        executor.submit(Launch("busy", config, 0, str(tmp_path / "busy")))
        deadline = time.monotonic() + 60
        ready = tmp_path / "q0.ready"  # the trapping child's handler is in place
        while (len(with_marker(marker)) < 3 or not ready.exists()) and time.monotonic() < deadline:
            executor.poll(0.1)
        assert len(with_marker(marker)) == 3, "the trial never started its processes"
        assert ready.exists(), "the trapping child never installed its handler"
    finally:
        executor.close()
    assert with_marker(marker) == []
    assert (tmp_path / "q0.flushed").read_text() == "flushed"
