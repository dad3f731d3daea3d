"""Data-parallel trials (``resources_per_trial={"workers": N}``): real rank processes on the
local engine (and one Dask test), real torch gloo collectives where torch is needed.

Trainables that only need ranks (pids, timings, stop) do not import torch, so that they
start in a fraction of a second on the 2-core test machine.
"""

from __future__ import annotations

import importlib.util
import json
import multiprocessing
import os
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

import tunefleet as tune
import tunefleet.distributed as tdist
from tunefleet.checkpoint import Checkpoint
from tunefleet.errors import TuneValueError
from tunefleet.executors.base import Resources
from tunefleet.executors.local import LocalExecutor
from tunefleet.executors.simulated import SimulatedExecutor
from tunefleet.run_spec import build_spec
from tunefleet.storage import open_store
from tunefleet.storage import records as rk
from tunefleet.worker.data_parallel import DataParallelTrainable, split_gpus

pytestmark = pytest.mark.timeout(120)
needs_torch = pytest.mark.skipif(
    importlib.util.find_spec("torch") is None, reason="torch is not installed"
)


def _run(fn: Any, tmp_path: Path, **kwargs: Any) -> Any:
    kwargs.setdefault("engine", LocalExecutor(num_cpus=2))
    return tune.run(fn, storage_path=str(tmp_path / "runs"), verbose=0, **kwargs)


def _note_pid(directory: str) -> None:
    """Leave this rank's pid behind, for the no-leftover-process checks."""
    Path(directory, f"rank{tdist.world_rank()}-{os.getpid()}.pid").touch()


def _noted_pids(directory: Path) -> list[int]:
    return [int(p.stem.split("-")[1]) for p in directory.glob("rank*.pid")]


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


# ---------------------------------------------------------------------- trainables
def allreduce_sum(config: dict[str, Any]) -> None:
    import torch
    import torch.distributed as dist

    assert tdist.init_process_group()
    t = torch.tensor([float(tdist.world_rank() + 1)])
    dist.all_reduce(t)
    ctx = tune.get_context()
    tune.report(
        {
            "sum": float(t.item()),
            "world_size": ctx.get_world_size(),
            "rank": ctx.get_world_rank(),
            "local_rank": ctx.get_local_rank(),
            "threads": torch.get_num_threads(),
            "env_world_size": int(os.environ["WORLD_SIZE"]),
        }
    )


def ddp_regression(config: dict[str, Any]) -> None:
    import torch
    import torch.distributed as dist

    tdist.init_process_group()
    torch.manual_seed(0)
    x = torch.linspace(-1.0, 1.0, 64).unsqueeze(1)
    y = 3.0 * x + 1.0
    part = tdist.shard(len(x))
    model = tdist.prepare_model(torch.nn.Linear(1, 1))
    assert isinstance(model, torch.nn.parallel.DistributedDataParallel)
    opt = torch.optim.SGD(model.parameters(), lr=0.3)
    for epoch in range(1, config["epochs"] + 1):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x[part]), y[part])
        loss.backward()  # DDP averages the gradients of both shards
        opt.step()
        mean = loss.detach().clone()
        dist.all_reduce(mean)
        with tempfile.TemporaryDirectory() as d:
            if tdist.is_rank_zero():
                torch.save(model.module.state_dict(), os.path.join(d, "model.pt"))
            metrics = {"loss": float(mean.item()) / tdist.world_size(), "epoch": epoch}
            tune.report(metrics, checkpoint=Checkpoint.from_directory(d))
    params = [p.detach().flatten().tolist() for p in model.parameters()]
    rank = tdist.world_rank()
    Path(tune.get_trial_dir(), f"params_rank{rank}.json").write_text(json.dumps(params))


def crash_in_rank1_once(config: dict[str, Any]) -> None:
    import torch
    import torch.distributed as dist

    _note_pid(config["pid_dir"])
    tdist.init_process_group()
    rank = tdist.world_rank()
    ckpt = tune.get_checkpoint()
    start = 0
    if ckpt is not None:
        start = json.loads(Path(ckpt.path, "state.json").read_text())["epoch"]
    for epoch in range(start + 1, 5):
        t = torch.ones(1)
        dist.all_reduce(t)
        if rank == 0:
            with tempfile.TemporaryDirectory() as d:
                Path(d, "state.json").write_text(json.dumps({"epoch": epoch}))
                tune.report(
                    {"epoch": epoch, "first_epoch": start + 1},
                    checkpoint=Checkpoint.from_directory(d),
                )
        dist.barrier()  # epoch's checkpoint is persisted before rank 1 fails
        if rank == 1 and ckpt is None and epoch == 2:
            raise ValueError("rank 1 fails at epoch 2")


def long_epochs(config: dict[str, Any]) -> None:
    _note_pid(config["pid_dir"])
    while len(_noted_pids(Path(config["pid_dir"]))) < tdist.world_size():
        time.sleep(0.01)  # every rank is up before the stop can come
    for epoch in range(100):
        time.sleep(0.1)
        tune.report({"epoch": epoch})


def whoami(config: dict[str, Any]) -> None:
    ctx = tune.get_context()
    tune.report(
        {
            "ppid": os.getppid(),
            "pid": os.getpid(),
            # a local worker runs tunefleet.worker.process; a rank (subprocess.Popen) does not
            "process": "local worker"
            if "tunefleet.worker.process" in sys.modules
            else multiprocessing.current_process().name,
            "world_size": ctx.get_world_size(),
            "rank": tdist.world_rank(),
            # (a group of 2 would import torch: slow, and not what these tests are about)
            "group": tdist.init_process_group() if tdist.world_size() == 1 else None,
            "shard": [tdist.shard(10).start, tdist.shard(10).stop],
        }
    )


def sleeper(config: dict[str, Any]) -> None:
    _note_pid(config["pid_dir"])
    time.sleep(60)


def yielding(config: dict[str, Any]) -> Any:
    for i in range(3):
        yield {"i": i, "world_size": tdist.world_size()}


def timed(config: dict[str, Any]) -> None:
    """Holds its slot until the other trial has started too (at most 2 s), so that trials
    that can overlap do, however uneven the ranks' start-up on a busy machine."""
    start = time.time()
    marks = Path(config["dir"])
    if tdist.is_rank_zero():
        (marks / tune.get_trial_id()).touch()
    while len(list(marks.iterdir())) < 2 and time.time() - start < 2.0:
        time.sleep(0.01)
    tune.report({"start": start, "end": time.time(), "world_size": tdist.world_size()})


# ---------------------------------------------------------------------- tests
@needs_torch
def test_allreduce_over_two_ranks(tmp_path: Path) -> None:
    results = _run(allreduce_sum, tmp_path, resources_per_trial={"cpu": 1, "workers": 2})
    assert len(results.trials) == 1
    last = results.trials[0].last_result
    assert last["sum"] == 3.0  # (0 + 1) + (1 + 1): both ranks took part
    assert last["world_size"] == 2 and last["env_world_size"] == 2
    assert last["rank"] == 0 and last["local_rank"] == 0  # rank 0's report is the one
    assert last["threads"] == 1  # cpu per worker
    assert last["training_iteration"] == 1


@needs_torch
def test_ddp_training_keeps_ranks_identical_and_learns(tmp_path: Path) -> None:
    epochs = 6
    results = _run(
        ddp_regression,
        tmp_path,
        config={"epochs": epochs},
        resources_per_trial={"cpu": 1, "workers": 2},
    )
    trial = results.trials[0]
    history = results.trial_results(trial)
    losses = [r["loss"] for r in history]
    assert [r["epoch"] for r in history] == list(range(1, epochs + 1))
    assert losses[-1] < losses[0] / 4
    trial_dir = Path(trial.path)
    p0 = json.loads((trial_dir / "params_rank0.json").read_text())
    p1 = json.loads((trial_dir / "params_rank1.json").read_text())
    assert p0 == p1  # DDP kept the replicas identical, bit for bit
    checkpoints = results.trial_checkpoints(trial)
    assert len(checkpoints) == epochs  # one per epoch, from rank 0 only
    last = results.get_last_checkpoint(trial)
    assert last is not None and (Path(last.path) / "model.pt").is_file()


@needs_torch
def test_rank_crash_fails_the_attempt_and_retries_from_checkpoint(tmp_path: Path) -> None:
    pid_dir = tmp_path / "pids"
    pid_dir.mkdir()
    results = _run(
        crash_in_rank1_once,
        tmp_path,
        config={"pid_dir": str(pid_dir)},
        resources_per_trial={"cpu": 1, "workers": 2},
        max_failures=1,
    )
    trial = results.trials[0]
    assert trial.status == "TERMINATED"
    history = results.trial_results(trial)
    assert [r["epoch"] for r in history] == [1, 2, 3, 4]
    assert [r["first_epoch"] for r in history] == [1, 1, 3, 3]  # the retry began at 3
    store = open_store(str(tmp_path / "runs"))
    name = store.list_experiments()[0].name
    failed = [r.data for r in store.read(name, kinds=[rk.TRIAL_FAILED])]
    assert len(failed) == 1 and failed[0]["will_retry"]
    assert "rank 1 of 2 failed: ValueError('rank 1 fails at epoch 2')" in failed[0]["error"]
    assert "rank 1 fails at epoch 2" in failed[0]["traceback"]
    assert "crash_in_rank1_once" in failed[0]["traceback"]  # the rank's own frames
    pids = _noted_pids(pid_dir)
    assert len(pids) == 4  # two attempts of two ranks
    children = {p.pid for p in psutil.Process().children(recursive=True)}
    assert not children & set(pids)
    assert not [p for p in pids if _alive(p)]


class _CheckRanksGone(tune.Callback):
    """At each trial's end (the launcher has returned), no rank may still be alive."""

    def __init__(self, pid_dir: Path) -> None:
        self.pid_dir = pid_dir
        self.leftover: list[int] = []
        self.checked = 0

    def on_trial_complete(self, iteration: int, trials: Any, trial: Any, **info: Any) -> None:
        self.checked += 1
        self.leftover += [p for p in _noted_pids(self.pid_dir) if _alive(p)]


def test_stop_ends_the_ranks_promptly(tmp_path: Path) -> None:
    pid_dir = tmp_path / "pids"
    pid_dir.mkdir()
    check = _CheckRanksGone(pid_dir)
    t0 = time.monotonic()
    results = _run(
        long_epochs,
        tmp_path,
        config={"pid_dir": str(pid_dir)},
        resources_per_trial={"cpu": 1, "workers": 2},
        stop={"training_iteration": 2},
        callbacks=[check],
    )
    elapsed = time.monotonic() - t0
    assert elapsed < 8.0  # 100 epochs of 0.1 s would take 10 s
    trial = results.trials[0]
    assert trial.status == "TERMINATED"
    assert trial.last_result["training_iteration"] == 2
    assert len(_noted_pids(pid_dir)) == 2
    assert check.checked == 1 and check.leftover == []


def test_ranks_die_with_their_launcher(tmp_path: Path) -> None:
    pid_dir = tmp_path / "pids"
    pid_dir.mkdir()
    seen: dict[str, Any] = {}

    def kill_launcher() -> None:
        deadline = time.monotonic() + 30
        while len(_noted_pids(pid_dir)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        pids = _noted_pids(pid_dir)
        launcher = psutil.Process(pids[0]).ppid()
        os.kill(launcher, signal.SIGKILL)  # the local worker process running the launcher
        gone = time.monotonic() + 5
        while any(_alive(p) for p in pids) and time.monotonic() < gone:
            time.sleep(0.05)
        seen["leftover"] = [p for p in pids if _alive(p)]

    killer = threading.Thread(target=kill_launcher)
    killer.start()
    results = _run(
        sleeper,
        tmp_path,
        config={"pid_dir": str(pid_dir)},
        resources_per_trial={"cpu": 1, "workers": 2},
        raise_on_failed_trial=False,
    )
    killer.join()
    assert seen["leftover"] == []
    trial = results.trials[0]
    assert trial.status == "ERROR" and "WorkerLost" in (trial.error or "")


def test_generator_trainable_runs_in_ranks(tmp_path: Path) -> None:
    results = _run(yielding, tmp_path, resources_per_trial={"cpu": 1, "workers": 2})
    history = results.trial_results(results.trials[0])
    assert [(r["i"], r["world_size"]) for r in history] == [(0, 2), (1, 2), (2, 2)]


def test_one_worker_runs_in_process_without_launcher(tmp_path: Path) -> None:
    storage = str(tmp_path / "runs")
    spec = build_spec(whoami, resources_per_trial={"cpu": 1, "workers": 1}, storage_path=storage)
    assert spec.trainable.__wrapped__ is whoami and spec.resources == Resources(cpu=1)
    spec2 = build_spec(whoami, resources_per_trial={"cpu": 1, "workers": 2}, storage_path=storage)
    assert isinstance(spec2.trainable, DataParallelTrainable)
    results = _run(whoami, tmp_path, resources_per_trial={"cpu": 1, "workers": 1})
    last = results.trials[0].last_result
    assert last["process"] == "local worker"  # the local worker itself
    assert last["world_size"] == 1 and last["rank"] == 0 and last["group"] is False
    assert last["shard"] == [0, 10]


def test_two_workers_run_as_child_ranks_of_the_worker(tmp_path: Path) -> None:
    results = _run(whoami, tmp_path, resources_per_trial={"cpu": 1, "workers": 2})
    last = results.trials[0].last_result
    assert last["ppid"] != os.getpid()  # a rank: a child of the local worker (launcher)
    assert last["process"] == "MainProcess"
    assert last["world_size"] == 2 and last["rank"] == 0
    assert last["shard"] == [0, 5]


class ClassTrainable(tune.Trainable):
    def step(self) -> dict[str, Any]:
        return {"x": 1, "done": True}


@pytest.mark.parametrize("workers", [0, -1, 1.5, "2", True, None])
def test_bad_workers_value_names_the_parameter(tmp_path: Path, workers: Any) -> None:
    engine = LocalExecutor(num_cpus=2)
    with pytest.raises(TuneValueError, match=r"resources_per_trial\['workers'\]"):
        _run(whoami, tmp_path, engine=engine, resources_per_trial={"cpu": 1, "workers": workers})
    assert engine.worker_pids() == []  # nothing started


def test_resources_object_with_bad_workers_is_refused(tmp_path: Path) -> None:
    with pytest.raises(TuneValueError, match=r"resources_per_trial\['workers'\]"):
        _run(whoami, tmp_path, resources_per_trial=Resources(workers=0))


def test_class_trainable_with_workers_is_refused(tmp_path: Path) -> None:
    engine = LocalExecutor(num_cpus=2)
    with pytest.raises(TuneValueError, match=r"resources_per_trial\['workers'\].*function"):
        _run(ClassTrainable, tmp_path, engine=engine, resources_per_trial={"workers": 2})
    assert engine.worker_pids() == []
    wrapped = tune.with_resources(ClassTrainable, {"cpu": 1, "workers": 2})
    with pytest.raises(TuneValueError, match=r"resources_per_trial\['workers'\]"):
        _run(wrapped, tmp_path, engine=engine)


def test_more_workers_than_the_engine_has_cpus_is_refused(tmp_path: Path) -> None:
    engine = LocalExecutor(num_cpus=2)
    with pytest.raises(TuneValueError, match=r"resources_per_trial\['workers'\].*cpu"):
        _run(whoami, tmp_path, engine=engine, resources_per_trial={"cpu": 1, "workers": 3})
    assert engine.worker_pids() == []
    # A bad amount per worker is named as such, not blamed on workers.
    with pytest.raises(TuneValueError, match=r"^resources_per_trial: cpu=3"):
        _run(whoami, tmp_path, engine=engine, resources_per_trial={"cpu": 3, "workers": 2})


def _max_concurrent(results: Any) -> int:
    marks = []
    for t in results.trials:
        marks += [(t.last_result["start"], 1), (t.last_result["end"], -1)]
    level = peak = 0
    for _, step in sorted(marks):
        level += step
        peak = max(peak, level)
    return peak


@pytest.mark.parametrize(("num_cpus", "expected"), [(4, 2), (2, 1)])
def test_slots_reserve_cpu_times_workers(tmp_path: Path, num_cpus: int, expected: int) -> None:
    marks = tmp_path / "started"
    marks.mkdir()
    results = _run(
        timed,
        tmp_path,
        config={"dir": str(marks)},
        engine=LocalExecutor(num_cpus=num_cpus),
        num_samples=2,
        resources_per_trial={"cpu": 1, "workers": 2},
    )
    assert [t.last_result["world_size"] for t in results.trials] == [2, 2]
    assert _max_concurrent(results) == expected


class _RecordingSimulator(SimulatedExecutor):
    def start(self, trainable: Any, resources: Resources, *args: Any) -> None:
        self.reserved = resources
        super().start(trainable, resources, *args)


def test_simulated_executor_reserves_the_total(tmp_path: Path) -> None:
    engine = _RecordingSimulator(num_workers=2)
    results = _run(
        whoami,
        tmp_path,
        engine=engine,
        resources_per_trial={"cpu": 2, "gpu": 0, "workers": 3},
    )
    assert engine.reserved == Resources(cpu=6.0)
    assert results.trials[0].last_result["world_size"] == 3


def test_resources_total_and_json() -> None:
    r = Resources(cpu=2, gpu=0.5, custom={"tpu": 1}, workers=3)
    assert r.total() == Resources(cpu=6, gpu=1.5, custom={"tpu": 3})
    assert Resources(cpu=2).total() == Resources(cpu=2)
    assert Resources(cpu=2).to_json() == {"cpu": 2, "gpu": 0.0, "custom": {}}  # as before
    assert r.to_json()["workers"] == 3
    assert Resources.from_json(r.to_json()) == r
    assert Resources.from_json({"cpu": 1, "gpu": 0, "custom": {}}) == Resources()


def test_workers_round_trip_through_the_spec_and_resume(tmp_path: Path) -> None:
    storage = str(tmp_path / "runs")
    _run(whoami, tmp_path, name="dp", resources_per_trial={"cpu": 1, "workers": 2})
    spec = open_store(storage).get_spec("dp")
    assert spec["resources"] == {"cpu": 1.0, "gpu": 0.0, "custom": {}, "workers": 2}
    results = tune.resume(
        "dp", whoami, storage_path=storage, num_samples=2, engine=LocalExecutor(num_cpus=2)
    )
    assert [t.last_result["world_size"] for t in results.trials] == [2, 2]


def test_split_gpus() -> None:
    assert split_gpus(["0", "1", "2", "3"], 2, 2) == ["0,1", "2,3"]
    assert split_gpus(["0", "1"], 2, 1) == ["0", "1"]
    assert split_gpus(["0"], 2, 0.5) == ["0", "0"]
    assert split_gpus(["0"], 2, 1) is None  # cannot split: ranks see the slot's GPUs
    assert split_gpus(["0", "1"], 2, 0) is None


def test_shard_covers_every_sample_once() -> None:
    assert tdist.shard(7) == slice(0, 7)  # outside a trial: a world of one
    with pytest.raises(ValueError, match="shard"):
        tdist.shard(-1)


@needs_torch
def test_dask_daemonic_worker_hosts_the_launcher(tmp_path: Path) -> None:
    pytest.importorskip("distributed")
    import dask

    from tunefleet.executors.dask import DaskExecutor

    # Dask workers are daemonic by default: no multiprocessing children, subprocess only.
    assert dask.config.get("distributed.worker.daemon") is True
    engine = DaskExecutor(n_workers=1, threads_per_worker=2)
    results = _run(
        allreduce_sum, tmp_path, engine=engine, resources_per_trial={"cpu": 1, "workers": 2}
    )
    last = results.trials[0].last_result
    assert last["sum"] == 3.0 and last["world_size"] == 2
