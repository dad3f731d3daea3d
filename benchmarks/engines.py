"""One XGBoost sweep on every tunefleet engine and through Ray Tune, as JSON (issue 5).

Workload: ``xgboost.train`` (hist, ``nthread=1``, one CPU per trial, ``OMP_NUM_THREADS=1``)
on scikit-learn ``make_classification`` data (20,000 rows x 20 features, seed 0, 80/20
split), bound to the trainable with ``with_parameters`` (shipped once per worker). Every
boosting round reports validation logloss and accuracy. Trial ``i`` of the sweep trains the
``i``-th of a fixed list of configurations (eta, max_depth 7..10, subsample, ...; drawn from
a seeded generator), given as ``grid_search`` over the index, so that every engine and Ray
Tune do exactly the same work. 2 trials run at a time.

Systems: tunefleet with ``engine=`` ``LocalExecutor()``, ``RayExecutor(num_cpus=2)``,
``DaskExecutor(n_workers=2)`` and ``SparkExecutor(master="local[2,1]")`` (what
``engine="local"``/``"ray"``/``"dask"``/``"spark"`` create on a 2-core machine; each starts its
own cluster inside ``run()``), and Ray Tune (Tuner API, ``max_concurrent_trials=2``,
``reuse_actors=True``, ``ray.init(num_cpus=2)`` inside the timed section). Each run is a
fresh Python process.

Measured per system (from the start of the sweep call, cluster start included):

* ``first_result_s``: until the first result is reported (the trainable's own clock);
* ``trials_per_hour``: trials / wall time of the call;
* ``utilisation``: the share of worker-seconds spent inside the user's function. Each trial
  reports its own entry time with every result; its in-function time is last report minus
  entry. ``utilisation = sum(in-function) / (wall x slots)``, given for the whole call and
  for the busy window (first trial entered to last result), which leaves out cluster
  start-up and shut-down;
* ``overhead_per_trial_s``: ``(window x slots - sum(in-function)) / trials`` (busy window);
* recovery, in a second short run per system (2 trials of 60 rounds, a checkpoint every
  round, ``max_failures=1``): once trial 0 has reported round 8, the harness SIGKILLs the
  process running it (local: a worker of ``LocalExecutor.worker_pids()``; Ray and Ray Tune:
  the actor; Dask: the worker process, one of ``DaskExecutor.worker_pids()``; Spark
  ``local[2,1]``: the pyspark Python worker; Spark ``local-cluster[2,1,1024]``: the executor
  JVM) and measures kill -> the next attempt reports its first result (from the
  experiment's store for tunefleet: ``trial_failed`` and ``result`` records; from a driver
  callback for Ray Tune), and checks that the attempt continued from the last checkpoint.
  The harness's killer thread starts from a callback's ``setup()``, after the executor
  started its workers, so that the local engine still forks them from a single-threaded
  driver, as in a user's script (a second thread would make it use ``forkserver``).

    python benchmarks/engines.py [--engines local,ray,dask,spark] [--peers raytune]
        [--trials 40] [--rounds 50] [--no-recovery] [--no-spark-cluster] [--warm]

``--warm``: each cluster (``ray.init``, a Dask ``LocalCluster``, a ``SparkSession``) is
started before the timed call and the executor attaches to it (``RayExecutor()`` on the
running Ray, ``DaskExecutor(client=...)``, ``SparkExecutor(spark=...)``), as when a user
points tunefleet at the cluster they already have; Ray Tune likewise gets ``ray.init``
before its timed ``Tuner.fit()``. Worker processes (actors, slot tasks) still start inside
the call.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# Every process started below (workers, actors, executors) inherits one thread per trial.
os.environ["OMP_NUM_THREADS"] = "1"

import numpy as np  # noqa: E402

try:
    import xgboost as xgb
except ImportError:  # reported by main(); the module stays importable
    xgb = None

ROWS, FEATURES, SEED = 20_000, 20, 0
SLOTS = 2
ROUNDS = 50
RECOVERY_ROUNDS = 60
KILL_AFTER_ROUND = 8
ENGINES = ("local", "ray", "dask", "spark")
PEERS = ("raytune",)
CHILD_TIMEOUT_S = 1200


# ----------------------------------------------------------------------------- workload
def make_data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from sklearn.datasets import make_classification

    x, y = make_classification(
        n_samples=ROWS,
        n_features=FEATURES,
        n_informative=10,
        n_redundant=4,
        flip_y=0.02,
        random_state=SEED,
    )
    x = x.astype(np.float32)
    cut = int(ROWS * 0.8)
    return x[:cut], y[:cut], x[cut:], y[cut:]


def params_for(index: int) -> dict[str, Any]:
    """The ``index``-th configuration of the sweep (the same on every system)."""
    rng = np.random.default_rng([SEED, index])
    return {
        "eta": float(10 ** rng.uniform(-2.0, -0.5)),
        "max_depth": int(rng.integers(7, 11)),
        "subsample": float(rng.uniform(0.6, 1.0)),
        "colsample_bytree": float(rng.uniform(0.6, 1.0)),
        "min_child_weight": float(10 ** rng.uniform(0.0, 1.0)),
        "lambda": float(10 ** rng.uniform(-3.0, 1.0)),
    }


def _api(api: str) -> Any:
    if api == "raytune":
        from ray import tune as ray_tune

        return ray_tune
    import tunefleet

    return tunefleet


def xgb_trial(
    config: dict[str, Any],
    data: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    api: str,
    rounds: int = ROUNDS,
    checkpoint_every: int = 0,
    pid_file: str | None = None,
) -> None:
    """Boosts ``rounds`` rounds, reporting after each; restores from its checkpoint."""
    fn_start = time.time()
    tune = _api(api)
    index = int(config["index"])
    params = {
        "objective": "binary:logistic",
        "eval_metric": ["logloss", "error"],
        "tree_method": "hist",
        "nthread": 1,
        "seed": index,
        **params_for(index),
    }
    booster = None
    ckpt = tune.get_checkpoint()
    if ckpt is not None:
        with ckpt.as_directory() as d:
            booster = xgb.Booster(model_file=os.path.join(d, "model.ubj"))
    restored = booster is not None
    x_tr, y_tr, x_va, y_va = data
    dtrain = xgb.DMatrix(x_tr, label=y_tr, nthread=1)
    dval = xgb.DMatrix(x_va, label=y_va, nthread=1)
    done = booster.num_boosted_rounds() if booster is not None else 0

    class Reporter(xgb.callback.TrainingCallback):  # type: ignore[misc,name-defined]
        def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
            rnd = model.num_boosted_rounds()
            now = time.time()
            metrics = {
                "logloss": float(evals_log["val"]["logloss"][-1]),
                "accuracy": 1.0 - float(evals_log["val"]["error"][-1]),
                "round": rnd,
                "index": index,
                "fn_start": fn_start,
                "t": now,
                "restored": restored,
                "pid": os.getpid(),
            }
            tmp = None
            checkpoint = None
            if checkpoint_every and rnd % checkpoint_every == 0:
                tmp = tempfile.mkdtemp(prefix="xgbck-")
                model.save_model(os.path.join(tmp, "model.ubj"))
                checkpoint = tune.Checkpoint.from_directory(tmp)
            tune.report(metrics, checkpoint=checkpoint)
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)
            if (
                pid_file is not None
                and index == 0
                and not restored
                and rnd == KILL_AFTER_ROUND
                and not os.path.exists(pid_file)
            ):
                info = {"pid": os.getpid(), "grandparent": _parent(os.getppid()), "t": now}
                part = f"{pid_file}.part"
                Path(part).write_text(json.dumps(info))
                os.replace(part, pid_file)
            return False

    xgb.train(
        params,
        dtrain,
        num_boost_round=max(0, rounds - done),
        evals=[(dval, "val")],
        xgb_model=booster,
        callbacks=[Reporter()],
        verbose_eval=False,
    )


def _parent(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return -1


def _cmdline(pid: int) -> str:
    try:
        return (
            Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        )
    except OSError:
        return ""


# ----------------------------------------------------------------------------- summaries
def summarise_sweep(
    t0: float, t_end: float, results: list[dict[str, Any]], trials: int
) -> dict[str, Any]:
    """``results``: every reported result (with ``index``, ``fn_start``, ``t``)."""
    by_trial: dict[int, list[dict[str, Any]]] = {}
    for r in results:
        by_trial.setdefault(int(r["index"]), []).append(r)
    in_fn = [max(r["t"] for r in rs) - rs[0]["fn_start"] for rs in by_trial.values()]
    first = min(r["t"] for r in results)
    window = max(r["t"] for r in results) - min(r["fn_start"] for r in results)
    wall = t_end - t0
    busy = sum(in_fn)
    final = [max(rs, key=lambda r: r["t"])["logloss"] for rs in by_trial.values()]
    return {
        "trials_with_results": len(by_trial),
        "trials": trials,
        "results": len(results),
        "best_final_logloss": round(float(min(final)), 5),
        "first_result_s": round(first - t0, 3),
        "wall_s": round(wall, 3),
        "busy_window_s": round(window, 3),
        "sum_in_function_s": round(busy, 3),
        "trial_s": {
            "min": round(min(in_fn), 3),
            "median": round(statistics.median(in_fn), 3),
            "max": round(max(in_fn), 3),
        },
        "trials_per_hour": round(trials / wall * 3600.0, 1),
        "trials_per_hour_busy_window": round(trials / window * 3600.0, 1),
        "utilisation": round(busy / (wall * SLOTS), 4),
        "utilisation_busy_window": round(busy / (window * SLOTS), 4),
        "overhead_per_trial_s": round((window * SLOTS - busy) / trials, 4),
        "overhead_per_trial_whole_call_s": round((wall * SLOTS - busy) / trials, 4),
    }


# ----------------------------------------------------------------------------- tunefleet
def _tunefleet_engine(system: str) -> Any:
    if system == "local":
        from tunefleet.executors.local import LocalExecutor

        return LocalExecutor()
    if system == "ray":
        from tunefleet.executors.ray import RayExecutor

        return RayExecutor(num_cpus=SLOTS, ray_init_kwargs={"log_to_driver": False})
    if system == "dask":
        from tunefleet.executors.dask import DaskExecutor

        return DaskExecutor(n_workers=SLOTS, threads_per_worker=1)
    if system == "spark":
        from tunefleet.executors import spark_classcache
        from tunefleet.executors.spark import SparkExecutor

        spark_classcache.ensure()  # built once per install, as after a first sweep
        return SparkExecutor(master=f"local[{SLOTS},1]")
    if system == "spark_cluster":
        from tunefleet.executors.spark import SparkExecutor

        return SparkExecutor(master=f"local-cluster[{SLOTS},1,1024]")
    raise SystemExit(f"unknown engine {system}")


def _warm_engine(system: str) -> tuple[Any, Callable[[], None]]:
    """An executor attached to a cluster started here, outside the timed call, as a user
    with a running cluster has it; and how to stop that cluster."""
    if system == "local":
        return _tunefleet_engine("local"), lambda: None
    if system == "ray":
        import ray

        from tunefleet.executors.ray import RayExecutor

        temp_dir = _init_ray()
        return RayExecutor(), lambda: (ray.shutdown(), shutil.rmtree(temp_dir, True))
    if system == "dask":
        from distributed import Client, LocalCluster

        from tunefleet.executors.dask import DaskExecutor

        cluster = LocalCluster(n_workers=SLOTS, threads_per_worker=1, dashboard_address=None)
        client = Client(cluster)
        return DaskExecutor(client=client), lambda: (client.close(), cluster.close())
    if system == "spark":
        from pyspark.sql import SparkSession

        from tunefleet.executors.spark import SparkExecutor

        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # workers need tunefleet
        spark = (
            SparkSession.builder.master(f"local[{SLOTS},1]")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .getOrCreate()
        )
        spark.sparkContext.parallelize(range(SLOTS), SLOTS).count()  # executors up
        return SparkExecutor(spark=spark), spark.stop
    raise SystemExit(f"unknown engine {system}")


def child_sweep_tunefleet(
    system: str, storage: str, trials: int, rounds: int, warm: bool = False
) -> dict[str, Any]:
    import tunefleet as tune
    from tunefleet.storage import open_store
    from tunefleet.storage import records as rk

    data = make_data()
    trainable = tune.with_parameters(xgb_trial, data=data, api="tunefleet", rounds=rounds)
    stop_cluster: Callable[[], None] = lambda: None  # noqa: E731
    if warm:
        engine, stop_cluster = _warm_engine(system)
    else:
        engine = _tunefleet_engine(system)
    t0 = time.time()
    res = tune.run(
        trainable,
        config={"index": tune.grid_search(list(range(trials)))},
        metric="logloss",
        mode="min",
        max_concurrent_trials=SLOTS,
        resources_per_trial={"cpu": 1},
        engine=engine,
        storage_path=storage,
        name="sweep",
        verbose=0,
    )
    t_end = time.time()
    stop_cluster()
    store = open_store(storage)
    results = [r.data for r in store.read("sweep", kinds=(rk.RESULT,))]
    started = [r.ts for r in store.read("sweep", kinds=(rk.EXPERIMENT_STARTED,))]
    out = summarise_sweep(t0, t_end, results, trials)
    out["engine_ready_s"] = round(started[0] - t0, 3) if started else None
    out["terminated"] = sum(t.status == "TERMINATED" for t in res.trials)
    return out


def child_recover_tunefleet(system: str, storage: str) -> dict[str, Any]:
    import tunefleet as tune
    from tunefleet.storage import open_store
    from tunefleet.storage import records as rk

    data = make_data()
    pid_file = os.path.join(storage, "victim.json")
    trainable = tune.with_parameters(
        xgb_trial,
        data=data,
        api="tunefleet",
        rounds=RECOVERY_ROUNDS,
        checkpoint_every=1,
        pid_file=pid_file,
    )
    engine = _tunefleet_engine(system)
    killed: dict[str, Any] = {}
    killer = _KillerCallback(system, pid_file, engine, killed)
    res = tune.run(
        trainable,
        config={"index": tune.grid_search([0, 1])},
        metric="logloss",
        mode="min",
        max_concurrent_trials=SLOTS,
        resources_per_trial={"cpu": 1},
        max_failures=1,
        engine=engine,
        storage_path=storage,
        name="recover",
        verbose=0,
        raise_on_failed_trial=False,
        callbacks=[killer],
    )
    killer.join(5)
    if "ts" not in killed:
        return {"error": "the worker was never killed", **killed}
    victim = next(t.trial_id for t in res.trials if t.config["index"] == 0)
    store = open_store(storage)
    failed = [r for r in store.read("recover", kinds=(rk.TRIAL_FAILED,), trial_id=victim)]
    starts = [r for r in store.read("recover", kinds=(rk.TRIAL_STARTED,), trial_id=victim)]
    results = [r.data for r in store.read("recover", kinds=(rk.RESULT,), trial_id=victim)]
    out = _recovery_summary(killed, results)
    kill_ts = killed["ts"]
    out["lost_reported_s"] = round(failed[0].ts - kill_ts, 3) if failed else None
    out["relaunched_s"] = round(starts[1].ts - kill_ts, 3) if len(starts) > 1 else None
    out["failures_recorded"] = len(failed)
    out["worker_lost"] = bool(failed and failed[0].data.get("worker_lost"))
    out["all_terminated"] = all(t.status == "TERMINATED" for t in res.trials)
    return out


def _recovery_summary(killed: dict[str, Any], results: list[dict[str, Any]]) -> dict[str, Any]:
    kill_ts = killed["ts"]
    before = [r for r in results if not r["restored"]]
    after = [r for r in results if r["restored"]]
    out: dict[str, Any] = {
        "killed": killed.get("what"),
        "kill_target_verified": killed.get("verified"),
    }
    if not after:
        out["error"] = "the trial never reported again after the kill"
        return out
    first = min(after, key=lambda r: r["t"])
    out["recover_s"] = round(first["t"] - kill_ts, 3)
    out["last_round_before_kill"] = max(r["round"] for r in before) if before else 0
    out["first_round_after"] = first["round"]
    rounds = sorted(r["round"] for r in after)
    out["rounds_after"] = len(rounds)
    # Checkpoint every round: the new attempt goes on right after the last reported round.
    out["continues_from_checkpoint"] = (
        rounds == list(range(first["round"], RECOVERY_ROUNDS + 1))
        and first["round"] <= out["last_round_before_kill"] + 1
    )
    return out


class _KillerCallback:
    """Starts the killer thread from ``setup()``, which ``run()`` calls once the executor has
    started its workers: the local engine picks its start method (``fork`` when the driver
    has a single thread, as a user's script has) before the harness adds a thread."""

    def __init__(self, system: str, pid_file: str, engine: Any, killed: dict[str, Any]) -> None:
        self.thread = threading.Thread(
            target=_killer, args=(system, pid_file, engine, killed), daemon=True
        )

    def setup(self, **_: Any) -> None:
        self.thread.start()

    def join(self, timeout: float) -> None:
        if self.thread.is_alive():
            self.thread.join(timeout)


def _killer(system: str, pid_file: str, engine: Any, killed: dict[str, Any]) -> None:
    """Waits for trial 0 to write where it runs, then SIGKILLs that process."""
    deadline = time.monotonic() + 600
    while not os.path.exists(pid_file):
        if time.monotonic() > deadline:
            return
        time.sleep(0.01)
    info = json.loads(Path(pid_file).read_text())
    pid = int(info["pid"])
    verified: bool | None = None
    what = f"trial process pid {pid}"
    with contextlib.suppress(Exception):
        if system == "local":
            verified = pid in engine.worker_pids()
            what = "local worker process"
        elif system == "ray":
            verified = pid in engine.actor_pids()
            what = "Ray actor process"
        elif system == "raytune":
            verified = "ray::" in _cmdline(pid) or "default_worker" in _cmdline(pid)
            what = "Ray Tune trainable actor process"
        elif system == "dask":
            verified = pid in engine.worker_pids().values()
            what = "Dask worker process (Nanny restarts it)"
        elif system == "spark":
            verified = "pyspark" in _cmdline(_parent(pid)) or "pyspark" in _cmdline(pid)
            what = "pyspark Python worker (local[2,1])"
        elif system == "spark_cluster":
            pid = int(info["grandparent"])
            verified = "CoarseGrainedExecutorBackend" in _cmdline(pid)
            what = "Spark executor JVM (local-cluster[2,1,1024])"
    killed["what"] = what
    killed["verified"] = verified
    killed["pid"] = pid
    killed["ts"] = time.time()
    os.kill(pid, signal.SIGKILL)


# ----------------------------------------------------------------------------- Ray Tune
def _init_ray() -> str:
    import ray

    temp_dir = tempfile.mkdtemp(prefix="rtb-", dir="/tmp")  # short: unix sockets live here
    ray.init(num_cpus=SLOTS, include_dashboard=False, log_to_driver=False, _temp_dir=temp_dir)
    return temp_dir


def child_sweep_raytune(
    storage: str, trials: int, rounds: int, warm: bool = False
) -> dict[str, Any]:
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    import ray
    from ray import tune

    data = make_data()
    trainable = tune.with_parameters(xgb_trial, data=data, api="raytune", rounds=rounds)
    if warm:
        temp_dir = _init_ray()
    t0 = time.time()
    if not warm:
        temp_dir = _init_ray()
    try:
        tuner = tune.Tuner(
            trainable,
            param_space={"index": tune.grid_search(list(range(trials)))},
            tune_config=tune.TuneConfig(
                metric="logloss", mode="min", max_concurrent_trials=SLOTS, reuse_actors=True
            ),
            run_config=tune.RunConfig(storage_path=storage, name="sweep", verbose=0),
        )
        grid = tuner.fit()
        t_end = time.time()
        results: list[dict[str, Any]] = []
        terminated = 0
        for r in grid:
            if r.error is None:
                terminated += 1
            df = r.metrics_dataframe
            if df is not None:
                results.extend(df[["index", "fn_start", "t", "logloss"]].to_dict("records"))
        out = summarise_sweep(t0, t_end, results, trials)
        out["terminated"] = terminated
        return out
    finally:
        ray.shutdown()
        shutil.rmtree(temp_dir, ignore_errors=True)


def child_recover_raytune(storage: str) -> dict[str, Any]:
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    import ray
    from ray import tune

    data = make_data()
    pid_file = os.path.join(storage, "victim.json")
    seen: list[dict[str, Any]] = []
    errors: list[float] = []

    class Watch(tune.Callback):  # the driver's view: when results and errors arrive
        def on_trial_result(self, iteration: int, trials: Any, trial: Any, result: Any) -> None:
            if result.get("index") == 0:
                seen.append({k: result[k] for k in ("round", "t", "restored")})

        def on_trial_recover(self, iteration: int, trials: Any, trial: Any, **info: Any) -> None:
            errors.append(time.time())

    trainable = tune.with_parameters(
        xgb_trial,
        data=data,
        api="raytune",
        rounds=RECOVERY_ROUNDS,
        checkpoint_every=1,
        pid_file=pid_file,
    )
    temp_dir = _init_ray()
    killed: dict[str, Any] = {}
    killer = threading.Thread(target=_killer, args=("raytune", pid_file, None, killed), daemon=True)
    killer.start()
    try:
        tuner = tune.Tuner(
            trainable,
            param_space={"index": tune.grid_search([0, 1])},
            tune_config=tune.TuneConfig(
                metric="logloss", mode="min", max_concurrent_trials=SLOTS, reuse_actors=True
            ),
            run_config=tune.RunConfig(
                storage_path=storage,
                name="recover",
                verbose=0,
                failure_config=tune.FailureConfig(max_failures=1),
                callbacks=[Watch()],
            ),
        )
        grid = tuner.fit()
        killer.join(5)
        if "ts" not in killed:
            return {"error": "the worker was never killed", **killed}
        out = _recovery_summary(killed, seen)
        out["lost_reported_s"] = round(errors[0] - killed["ts"], 3) if errors else None
        out["failures_recorded"] = len(errors)
        out["all_terminated"] = all(r.error is None for r in grid)
        return out
    finally:
        ray.shutdown()
        shutil.rmtree(temp_dir, ignore_errors=True)


# ----------------------------------------------------------------------------- parent
def run_child(job: dict[str, Any]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="tf-engines-") as storage:
        env = dict(os.environ, PYTHONWARNINGS="ignore", RAY_DEDUP_LOGS="0")
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        load_before = os.getloadavg()[0]
        proc = subprocess.run(
            [sys.executable, os.path.abspath(__file__), "--child", json.dumps(job), storage],
            capture_output=True,
            text=True,
            env=env,
            timeout=CHILD_TIMEOUT_S,
        )
        if proc.returncode != 0:
            return {"error": f"exit {proc.returncode}", "stderr_tail": proc.stderr[-3000:]}
        lines = [ln for ln in proc.stdout.strip().splitlines() if ln.startswith("{")]
        if not lines:
            return {"error": "no JSON from the child", "stderr_tail": proc.stderr[-3000:]}
        out = json.loads(lines[-1])
        out["load_average_1min"] = [round(load_before, 1), round(os.getloadavg()[0], 1)]
        return out


def child_main(job: dict[str, Any], storage: str) -> dict[str, Any]:
    system, phase = job["system"], job["phase"]
    if system == "raytune":
        if phase == "sweep":
            return child_sweep_raytune(
                storage, job["trials"], job["rounds"], job.get("warm", False)
            )
        return child_recover_raytune(storage)
    if phase == "sweep":
        return child_sweep_tunefleet(
            system, storage, job["trials"], job["rounds"], job.get("warm", False)
        )
    return child_recover_tunefleet(system, storage)


def unavailable(system: str) -> str | None:
    """None if ``system`` can run here, else why not."""
    probes = {
        "local": "import tunefleet.executors.local",
        "ray": "import ray, tunefleet.executors.ray",
        "dask": "import distributed, tunefleet.executors.dask",
        "spark": "import pyspark, tunefleet.executors.spark",
        "raytune": "import ray.tune",
    }
    probe = subprocess.run(
        [sys.executable, "-c", probes[system]], capture_output=True, text=True, timeout=300
    )
    if probe.returncode != 0:
        last = (probe.stderr.strip().splitlines() or ["import failed"])[-1]
        return f"not importable ({last})"
    if system == "spark" and shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        return "Spark needs Java (no java on PATH, no JAVA_HOME)"
    return None


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        out = child_main(json.loads(sys.argv[2]), sys.argv[3])
        print(json.dumps(out))
        return
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument("--peers", default=",".join(PEERS), help="raytune, or '' for none")
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--no-recovery", action="store_true", help="skip the kill runs")
    parser.add_argument(
        "--warm",
        action="store_true",
        help="start each cluster (ray.init, a Dask LocalCluster, a SparkSession) before the "
        "timed call and attach to it, as a user with a running cluster does",
    )
    parser.add_argument(
        "--no-spark-cluster",
        action="store_true",
        help="skip the Spark executor-JVM kill on local-cluster[2,1,1024]",
    )
    args = parser.parse_args()
    if xgb is None:
        raise SystemExit("benchmarks/engines.py needs xgboost: pip install tunefleet[xgboost]")
    engines = [e for e in args.engines.split(",") if e]
    peers = [p for p in args.peers.split(",") if p]
    for name in engines + peers:
        if name not in ENGINES + PEERS:
            raise SystemExit(f"unknown engine or peer {name!r}")
    report: dict[str, Any] = {
        "benchmark": "engines",
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "machine": f"{platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}",
        "workload": {
            "trials": args.trials,
            "concurrent": SLOTS,
            "trainable": f"xgboost {xgb.__version__} hist, nthread=1, {args.rounds} rounds, "
            f"report per round; data {ROWS}x{FEATURES} make_classification via "
            "with_parameters; OMP_NUM_THREADS=1",
            "recovery": f"2 trials x {RECOVERY_ROUNDS} rounds, checkpoint every round, "
            f"max_failures=1, SIGKILL after trial 0 reported round {KILL_AFTER_ROUND}",
        },
        "warm_cluster": args.warm,
        "sweep": {},
        "recovery": {},
        "skipped": [],
    }
    order = list(engines)
    if "raytune" in peers and "ray" in order:  # side by side: the load drifts over a run
        order.insert(order.index("ray") + 1, "raytune")
    order += [p for p in peers if p not in order]
    for system in order:
        why = unavailable(system)
        if why is not None:
            report["skipped"].append(f"{system}: {why}")
            continue
        job = {
            "system": system,
            "phase": "sweep",
            "trials": args.trials,
            "rounds": args.rounds,
            "warm": args.warm,
        }
        report["sweep"][system] = run_child(job)
        print(f"[engines] {system} sweep: {report['sweep'][system]}", file=sys.stderr)
        if args.no_recovery:
            continue
        victims = [system]
        if system == "spark" and not args.no_spark_cluster:
            victims.append("spark_cluster")
        for victim in victims:
            report["recovery"][victim] = run_child({"system": victim, "phase": "recover"})
            print(f"[engines] {victim} recovery: {report['recovery'][victim]}", file=sys.stderr)
    report["targets"] = targets(report)
    print(json.dumps(report, indent=2))


def targets(report: dict[str, Any]) -> dict[str, Any]:
    sweep, recovery = report["sweep"], report["recovery"]
    out: dict[str, Any] = {"utilisation_ge_0.95": {}, "recovery_le_5s": {}}
    for system, r in sweep.items():
        if "utilisation" in r:
            out["utilisation_ge_0.95"][system] = {
                "whole_call": r["utilisation"] >= 0.95,
                "busy_window": r["utilisation_busy_window"] >= 0.95,
            }
    for system, r in recovery.items():
        if "recover_s" in r:
            out["recovery_le_5s"][system] = r["recover_s"] <= 5.0
    ray, peer = sweep.get("ray", {}), sweep.get("raytune", {})
    if "trials_per_hour" in ray and "trials_per_hour" in peer:
        out["ray_vs_raytune_trials_per_hour_x"] = round(
            ray["trials_per_hour"] / peer["trials_per_hour"], 2
        )
        out["ray_vs_raytune_busy_window_x"] = round(
            ray["trials_per_hour_busy_window"] / peer["trials_per_hour_busy_window"], 2
        )
        out["ray_ge_2x_raytune"] = out["ray_vs_raytune_trials_per_hour_x"] >= 2.0
        out["raytune_vs_ray_overhead_per_trial_x"] = round(
            peer["overhead_per_trial_s"] / max(ray["overhead_per_trial_s"], 1e-9), 2
        )
    if "trials_per_hour" in peer:
        out["trials_per_hour_vs_raytune_x"] = {
            s: round(r["trials_per_hour"] / peer["trials_per_hour"], 2)
            for s, r in sweep.items()
            if s != "raytune" and "trials_per_hour" in r
        }
    return out


if __name__ == "__main__":
    main()
