"""Run one workload's sweep on one system (a tunefleet engine, Ray Tune or Optuna).

Each system runs in a fresh Python process (:mod:`tunefleet.bench.child`), so that a
cluster's start-up is measured and nothing one system leaves behind (a Ray session, a
Spark JVM, imported libraries) helps or hurts the next. The child returns every report it
saw (through a driver-side callback, or Optuna's trial reports) and the timings around
the sweep call; :mod:`tunefleet.bench.measure` turns those into the table's figures.

Why ~500 lines: one runner per system (``run_tunefleet``, ``run_raytune``, ``run_optuna``) and
the translation of each scheduler into the peers' terms, over the same Job and Outcome: a
fair comparison needs them side by side.
"""

from __future__ import annotations

import json
import math
import os
import signal
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tunefleet.bench.workload import Dataset, Workload

ENGINES = ("local", "ray", "dask", "spark")
PEERS = ("raytune", "optuna")
SCHEDULERS = ("fifo", "asha", "hyperband", "median", "pbt", "bohb")
#: Schedulers that pause trials or restart them from another trial's checkpoint.
NEEDS_CHECKPOINTS = ("hyperband", "pbt", "bohb")
PID_DIR_ENV = "TUNEFLEET_BENCH_PID_DIR"


@dataclass
class Job:
    """Everything a child process needs to run one system's sweep."""

    system: str  # an engine name or a peer name
    workload: str
    data: str
    rows: int | None
    trials: int
    scheduler: str
    search: str  # "random", "grid", or "tpe" (Optuna only)
    cpus_per_trial: int
    workers_per_trial: int
    concurrency: int
    seed: int
    out: str
    inject_failure: bool = False
    kill_after_s: float = 1.0
    max_iterations: int | None = None
    #: The configurations every system trains, in order (random search): drawn once by the
    #: harness so that no system is luckier or cheaper than another. None: each samples.
    configs: list[dict[str, Any]] | None = None
    #: GPUs per trial (per worker process): 0.5 packs two trials on a device.
    gpus_per_trial: float = 0.0

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Job:
        return cls(**json.loads(text))


@dataclass
class Outcome:
    """What a child measured: raw reports plus the clocks around them."""

    system: str
    load_s: float
    t0: float
    t_end: float
    rows: list[dict[str, Any]] = field(default_factory=list)
    kill: dict[str, Any] | None = None
    entries: list[dict[str, Any]] = field(default_factory=list)
    trials: int = 0
    errored: int = 0
    error: str | None = None
    notes: list[str] = field(default_factory=list)
    configs: list[dict[str, Any]] = field(default_factory=list)  # what the trials trained


# ----------------------------------------------------------------------------- helpers
_KEEP = (
    "trial_id",
    "training_iteration",
    "bench_entered",
    "bench_time",
    "bench_pid",
    "bench_report_s",
)


#: Trials that have reported at least once in this process (the killer waits for one, so
#: that the killed trial has a checkpoint to continue from).
_REPORTED: set[str] = set()


def _row(result: dict[str, Any], metric: str) -> dict[str, Any]:
    row = {k: result.get(k) for k in _KEEP}
    trial_id = str(row["trial_id"])
    row["trial_id"] = trial_id
    _REPORTED.add(trial_id)
    row[metric] = result.get(metric)
    return row


class _Killer:
    """Kills one running trial's process once it has run ``after_s``; records when.

    With ``need_report`` it also waits for the trial's first report, so that the killed
    attempt has a checkpoint and its replacement shows that it continues from it.

    Trials announce themselves by writing ``<pid_dir>/<trial>-<pid>.json`` when their
    function starts (see :func:`announce`), so the killer works the same on every engine:
    it needs no engine-specific handle on workers, only a pid on this host.
    """

    def __init__(self, pid_dir: Path, after_s: float, need_report: bool) -> None:
        self.pid_dir = pid_dir
        self.need_report = need_report
        self.after_s = after_s
        self.done: set[str] = set()
        self.kill: dict[str, Any] | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="bench-killer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.wait(0.02):
            now = time.time()
            for entry in read_entries(self.pid_dir):
                if entry["trial"] in self.done or now - entry["entered"] < self.after_s:
                    continue
                if self.need_report and entry["trial"] not in _REPORTED:
                    continue
                try:
                    os.kill(int(entry["pid"]), signal.SIGKILL)
                except ProcessLookupError:
                    continue
                self.kill = {"trial": entry["trial"], "pid": entry["pid"], "time": time.time()}
                return


def _plain(config: dict[str, Any]) -> dict[str, Any]:
    """A config as JSON values (numpy scalars become Python numbers)."""
    text = json.dumps(config, default=lambda v: v.item() if hasattr(v, "item") else str(v))
    plain: dict[str, Any] = json.loads(text)
    return plain


def announce(trial_id: str) -> None:
    """Called by a trial when its function starts, if the harness asked for it."""
    pid_dir = os.environ.get(PID_DIR_ENV)
    if not pid_dir:
        return
    entry = {"trial": trial_id, "pid": os.getpid(), "entered": time.time()}
    path = Path(pid_dir) / f"{trial_id}-{os.getpid()}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(entry))
    tmp.replace(path)


def read_entries(pid_dir: Path) -> list[dict[str, Any]]:
    out = []
    for p in sorted(pid_dir.glob("*.json")):
        try:
            out.append(json.loads(p.read_text()))
        except (OSError, ValueError):
            continue
    return out


def space_for(workload: Workload, tune: Any, search: str) -> dict[str, Any]:
    return workload.grid(tune) if search == "grid" else workload.space(tune)


def _max_t(job: Job, workload: Workload) -> int:
    return job.max_iterations or workload.max_iterations


# ----------------------------------------------------------------------------- tunefleet
def tunefleet_scheduler(name: str, workload: Workload, max_t: int, space: dict[str, Any]) -> Any:
    """A tunefleet scheduler (and search algorithm, for BOHB) configured for the workload."""
    from tunefleet.tune import schedulers as s

    if name == "fifo":
        return None, None
    if name == "asha":
        return s.ASHAScheduler(max_t=max_t, grace_period=1, reduction_factor=3), None
    if name == "hyperband":
        return s.HyperBandScheduler(max_t=max_t, reduction_factor=3), None
    if name == "median":
        return s.MedianStoppingRule(grace_period=max(1, max_t // 5), min_samples_required=3), None
    if name == "pbt":
        mutations = {k: v for k, v in space.items() if hasattr(v, "sample")}
        return (
            s.PopulationBasedTraining(
                time_attr="training_iteration",
                perturbation_interval=max(1, max_t // 5),
                hyperparam_mutations=mutations,
            ),
            None,
        )
    if name == "bohb":
        from tunefleet.search.bohb import TuneBOHB

        return s.HyperBandForBOHB(max_t=max_t, reduction_factor=3), TuneBOHB()
    raise ValueError(f"scheduler: unknown {name!r}; choose from {', '.join(SCHEDULERS)}")


def run_tunefleet(job: Job, workload: Workload, data: Dataset) -> Outcome:
    import tunefleet
    from tunefleet.bench.adapters import tunefleet_trainable

    max_t = _max_t(job, workload)
    space = space_for(workload, tunefleet, job.search)
    scheduler, search_alg = tunefleet_scheduler(job.scheduler, workload, max_t, space)
    checkpoint = job.scheduler in NEEDS_CHECKPOINTS or job.inject_failure
    trainable = tunefleet.with_parameters(
        tunefleet_trainable(workload, job.cpus_per_trial, checkpoint), data=data
    )
    rows: list[dict[str, Any]] = []

    class Collect(tunefleet.Callback):
        def on_trial_result(
            self, iteration: Any, trials: Any, trial: Any, result: Any, **info: Any
        ) -> None:
            rows.append(_row(result, workload.metric))

    resources: dict[str, Any] = {"cpu": job.cpus_per_trial}
    if job.gpus_per_trial > 0:
        resources["gpu"] = job.gpus_per_trial
    if job.workers_per_trial > 1:
        resources["workers"] = job.workers_per_trial
    engine = _engine(job)
    out = Outcome(system=job.system, load_s=0.0, t0=time.time(), t_end=0.0)
    results = tunefleet.run(
        trainable,
        config=space,
        num_samples=1 if job.search == "grid" else job.trials,
        metric=workload.metric,
        mode=workload.mode,
        scheduler=scheduler,
        search_alg=search_alg,
        points_to_evaluate=job.configs if search_alg is None else None,
        stop={"training_iteration": max_t},
        resources_per_trial=resources,
        max_concurrent_trials=job.concurrency,
        name=f"{job.workload}-{job.system}",
        storage_path=os.path.join(job.out, "runs"),
        max_failures=2 if job.inject_failure else 0,
        raise_on_failed_trial=False,
        engine=engine,
        seed=job.seed,
        callbacks=[Collect()],
        verbose=0,
    )
    out.t_end = time.time()
    out.rows = rows
    out.trials = len(results.trials)
    out.errored = sum(1 for t in results.trials if t.status == "ERROR")
    out.configs = [_plain(t.config) for t in results.trials]
    return out


def _engine(job: Job) -> Any:
    """The engine object sized to ``concurrency`` slots of the trial's CPUs."""
    cpus = job.concurrency * job.cpus_per_trial * job.workers_per_trial
    if job.system == "local":
        from tunefleet.executors.local import LocalExecutor

        return LocalExecutor(num_cpus=cpus)
    if job.system == "ray":
        from tunefleet.executors.ray import RayExecutor

        return RayExecutor(num_cpus=cpus)
    if job.system == "dask":
        from tunefleet.executors.dask import DaskExecutor

        per_slot = job.cpus_per_trial * job.workers_per_trial
        gpu = job.gpus_per_trial * job.workers_per_trial  # each worker holds one trial
        return DaskExecutor(
            n_workers=job.concurrency,
            threads_per_worker=per_slot,
            resources={"GPU": gpu} if gpu > 0 else None,
        )
    if job.system == "spark":
        from tunefleet.executors import spark_classcache
        from tunefleet.executors.spark import SparkExecutor

        # Outside the timed call, as after a user's first Spark sweep: the driver JVM's
        # class-data archive (built once per JDK and Spark install).
        spark_classcache.ensure()
        return SparkExecutor(master=f"local[{cpus},1]")
    raise ValueError(f"engines: unknown engine {job.system!r}; choose from {', '.join(ENGINES)}")


# ----------------------------------------------------------------------------- Ray Tune
def raytune_scheduler(name: str, max_t: int, space: dict[str, Any]) -> tuple[Any, Any, str | None]:
    from ray.tune import schedulers as s

    if name == "fifo":
        return None, None, None
    if name == "asha":
        return s.ASHAScheduler(max_t=max_t, grace_period=1, reduction_factor=3), None, None
    if name == "hyperband":
        return s.HyperBandScheduler(max_t=max_t, reduction_factor=3), None, None
    if name == "median":
        return (
            s.MedianStoppingRule(grace_period=max(1, max_t // 5), min_samples_required=3),
            None,
            None,
        )
    if name == "pbt":
        mutations = {k: v for k, v in space.items() if hasattr(v, "sample")}
        return (
            s.PopulationBasedTraining(
                time_attr="training_iteration",
                perturbation_interval=max(1, max_t // 5),
                hyperparam_mutations=mutations,
            ),
            None,
            None,
        )
    # BOHB needs ConfigSpace + hpbandster in Ray Tune; run its Hyperband part alone.
    return (
        s.HyperBandScheduler(max_t=max_t, reduction_factor=3),
        None,
        "Ray Tune's BOHB needs hpbandster/ConfigSpace: ran its HyperBandScheduler with random search",
    )


def run_raytune(job: Job, workload: Workload, data: Dataset) -> Outcome:
    import ray
    from ray import tune
    from ray.tune.search.basic_variant import BasicVariantGenerator

    from tunefleet.bench.adapters import raytune_trainable

    max_t = _max_t(job, workload)
    space = space_for(workload, tune, job.search)
    scheduler, _, note = raytune_scheduler(job.scheduler, max_t, space)
    checkpoint = job.scheduler in NEEDS_CHECKPOINTS or job.inject_failure
    rows: list[dict[str, Any]] = []

    class Collect(tune.Callback):
        def on_trial_result(
            self, iteration: Any, trials: Any, trial: Any, result: Any, **info: Any
        ) -> None:
            rows.append(_row(result, workload.metric))

    out = Outcome(system=job.system, load_s=0.0, t0=time.time(), t_end=0.0)
    if job.workers_per_trial > 1:
        out.notes.append("Ray Tune: workers per trial not applied (one process per trial)")
    if note:
        out.notes.append(note)
    cpus = job.concurrency * job.cpus_per_trial
    ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False)
    try:
        trainable = tune.with_resources(
            tune.with_parameters(
                raytune_trainable(workload, job.cpus_per_trial, checkpoint), data=data
            ),
            {"cpu": job.cpus_per_trial, "gpu": job.gpus_per_trial},
        )
        tuner = tune.Tuner(
            trainable,
            param_space=space,
            tune_config=tune.TuneConfig(
                num_samples=1 if job.search == "grid" else job.trials,
                metric=workload.metric,
                mode=workload.mode,
                scheduler=scheduler,
                search_alg=BasicVariantGenerator(points_to_evaluate=job.configs)
                if job.configs
                else None,
                max_concurrent_trials=job.concurrency,
                reuse_actors=True,
            ),
            run_config=tune.RunConfig(
                name=f"{job.workload}-raytune",
                storage_path=os.path.abspath(os.path.join(job.out, "raytune")),
                stop={"training_iteration": max_t},
                callbacks=[Collect()],
                failure_config=tune.FailureConfig(max_failures=2 if job.inject_failure else 0),
                verbose=0,
            ),
        )
        grid = tuner.fit()
        out.t_end = time.time()
        out.trials = len(grid)
        out.errored = grid.num_errors
        out.configs = [_plain(grid[i].config or {}) for i in range(len(grid))]
    finally:
        ray.shutdown()
    out.rows = rows
    return out


# ----------------------------------------------------------------------------- Optuna
def run_optuna(job: Job, workload: Workload, data: Dataset) -> Outcome:
    import optuna

    import tunefleet
    from tunefleet.bench.adapters import (
        OptunaSession,
        grid_values,
        optuna_distributions,
        optuna_suggest,
    )

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    max_t = _max_t(job, workload)
    dists = optuna_distributions(workload.space(tunefleet))
    pruners = {
        "fifo": optuna.pruners.NopPruner(),
        "asha": optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3),
        "hyperband": optuna.pruners.HyperbandPruner(
            min_resource=1, max_resource=max_t, reduction_factor=3
        ),
        "median": optuna.pruners.MedianPruner(
            n_startup_trials=3, n_warmup_steps=max(1, max_t // 5)
        ),
    }
    out = Outcome(system=job.system, load_s=0.0, t0=time.time(), t_end=0.0)
    pruner = pruners.get(job.scheduler)
    if pruner is None:
        out.notes.append(f"Optuna has no {job.scheduler} scheduler: ran without pruning")
        pruner = optuna.pruners.NopPruner()
    if job.inject_failure:
        out.notes.append("Optuna runs trials as threads of one process: no worker to kill")
    if job.workers_per_trial > 1:
        out.notes.append("Optuna: workers per trial not applied (one thread per trial)")
    sampler: Any = optuna.samplers.RandomSampler(seed=job.seed)
    n = job.trials
    if job.search == "tpe":
        sampler = optuna.samplers.TPESampler(seed=job.seed)
    elif job.search == "grid":
        dists = grid_values(workload.grid(tunefleet))
        sampler = optuna.samplers.GridSampler(dists, seed=job.seed)
        n = math.prod(len(v) for v in dists.values())
    study = optuna.create_study(
        direction="maximize" if workload.mode == "max" else "minimize",
        sampler=sampler,
        pruner=pruner,
    )
    for config in job.configs or ():
        study.enqueue_trial(config)
    log: list[dict[str, Any]] = []

    def objective(trial: Any) -> float:
        session = OptunaSession(trial, workload.metric, job.cpus_per_trial, log)
        workload.train(optuna_suggest(trial, dists), data, session)
        if session.last is None:
            raise RuntimeError("the workload reported nothing")
        return session.last

    study.optimize(objective, n_trials=n, n_jobs=job.concurrency, catch=(Exception,))
    out.t_end = time.time()
    out.rows = [_row(r, workload.metric) for r in log]
    out.trials = len(study.trials)
    out.configs = [_plain(t.params) for t in study.trials]
    out.errored = sum(1 for t in study.trials if t.state == optuna.trial.TrialState.FAIL)
    return out


# ----------------------------------------------------------------------------- entry
def run_job(job: Job) -> Outcome:
    """Load the data, run the system's sweep, kill a worker if asked; never raises."""
    from tunefleet.bench.dataset import load_dataset
    from tunefleet.bench.workloads import get_workload

    os.environ.setdefault("OMP_NUM_THREADS", str(job.cpus_per_trial))
    workload = get_workload(job.workload)
    t = time.time()
    data = load_dataset(job.data, rows=job.rows, seed=job.seed)
    load_s = time.time() - t
    pid_dir = Path(job.out) / "pids" / job.system
    pid_dir.mkdir(parents=True, exist_ok=True)
    os.environ[PID_DIR_ENV] = str(pid_dir)
    killer = (
        _Killer(pid_dir, job.kill_after_s, need_report=workload.max_iterations > 1)
        if job.inject_failure and job.system != "optuna"
        else None
    )
    if killer:
        killer.start()
    runners = {"raytune": run_raytune, "optuna": run_optuna}
    try:
        out = runners.get(job.system, run_tunefleet)(job, workload, data)
    except Exception as exc:  # reported in the table, the other systems still run
        import traceback

        out = Outcome(system=job.system, load_s=0.0, t0=0.0, t_end=0.0)
        out.error = f"{type(exc).__name__}: {exc}"
        out.notes.append(traceback.format_exc(limit=8))
    finally:
        if killer:
            killer.stop()
    out.load_s = load_s
    if killer:
        out.kill = killer.kill
    out.entries = read_entries(pid_dir)
    return out
