"""Compute each scheduler spends to reach grid search's best accuracy, as JSON (issue 3).

The claim under test: "ASHA reaches the same accuracy with about 14% of grid search's
compute" (and BOHB with about 12%, accuracy within 0.5 points of grid's best).

Workload: a one-hidden-layer MLP (numpy, ReLU, softmax, SGD with momentum and L2 weight
decay) trained epoch by epoch on scikit-learn's digits (fixed stratified 75/25 split,
1,347 train / 450 validation images). Five hyperparameters: learning rate (log, 1e-3..1),
batch size (log, 16..256), weight decay ``alpha`` (log, 1e-6..0.1), hidden width (log,
16..256), momentum (0.5..0.99). Validation accuracy is reported after every epoch with a
checkpoint (the pickled weights and velocities, written to a temporary directory and
passed as ``Checkpoint.from_directory``; restored from ``get_checkpoint()``). Budget
unit: one epoch; ``max_t`` epochs per trial. The data is bound with ``with_parameters``
(shipped once per worker). Model init and the per-epoch shuffle depend only on the seed,
so within a seed a config has the same learning curve under every method.

The numpy MLP replaces ``MLPClassifier(solver="sgd").partial_fit``: on this machine it
is about 3x faster per epoch (e.g. 5.0 ms against 18 ms for batch 64, width 64) with the
same accuracies, and PBT can change its learning rate and momentum after a restore
(sklearn keeps them in a private optimizer object).

Methods (tunefleet unless named): grid (``--grid-values`` per dimension at the centres
of equal cells of each range, in log space for log dimensions; every config to
``max_t``), random (as many full-budget trials as the grid), median stopping (random
search), ASHA stopping, ASHA promotion, Hyperband, BOHB (HyperBandForBOHB + TuneBOHB),
PBT and PB2 (population ``--pbt-population``, perturbation every 3 epochs), Optuna (TPE +
SuccessiveHalvingPruner, n_jobs=2) and Ray Tune (ASHAScheduler, Tuner API). ASHA,
Hyperband, BOHB, median stopping and the peers start new trials until they have spent
``--budget`` percent of the grid's compute. 2 trials run at a time, one CPU each
(``OMP_NUM_THREADS=1``).

Measure, per method and seed: every reported epoch counts one unit of compute; results are
ordered by the wall time at which they were reported; the compute spent until the best
accuracy seen so far first reaches grid search's best accuracy (same seed) is divided by
the grid's total compute (grid = 100). Also: the same to come within 0.5 points of grid's
best, the best accuracy within the budget, trials, wall time.

    python benchmarks/schedulers.py [--quick] [--seeds 5] [--max-t 27] [--grid-values 3]
        [--methods grid,asha_stopping,...] [--budget 100] [--peer-budget PCT] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import pickle
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

# ----------------------------------------------------------------------------- workload
#: name -> (low, high, log, integer)
SPACE: dict[str, tuple[float, float, bool, bool]] = {
    "lr": (1e-3, 1.0, True, False),
    "batch_size": (16, 256, True, True),
    "alpha": (1e-6, 1e-1, True, False),
    "width": (16, 256, True, True),
    "momentum": (0.5, 0.99, False, False),
}
REDUCTION_FACTOR = 3
PERTURBATION_INTERVAL = 3
NEAR = 0.005  # "within 0.5 points" of grid's best
TUNEFLEET_METHODS = (
    "grid",
    "random",
    "median",
    "asha_stopping",
    "asha_promotion",
    "hyperband",
    "bohb",
    "pbt",
    "pb2",
)
PEER_METHODS = ("optuna_tpe_sha", "raytune_asha")
ALL_METHODS = TUNEFLEET_METHODS + PEER_METHODS
#: Methods that would run forever (new trials keep coming) without the compute budget.
BUDGETED = ("median", "asha_stopping", "asha_promotion", "hyperband", "bohb") + PEER_METHODS


def load_data() -> dict[str, np.ndarray]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    x, y = load_digits(return_X_y=True)
    x_train, x_val, y_train, y_val = train_test_split(
        x, y, test_size=0.25, random_state=0, stratify=y
    )
    scaler = StandardScaler().fit(x_train)
    return {
        "x_train": scaler.transform(x_train),
        "y_train": y_train,
        "onehot_train": np.eye(10)[y_train],
        "x_val": scaler.transform(x_val),
        "y_val": y_val,
    }


def grid_axis(name: str, k: int) -> list[float | int]:
    """``k`` values at the centres of ``k`` equal cells of the range (log cells if log)."""
    low, high, log, integer = SPACE[name]
    a, b = (math.log(low), math.log(high)) if log else (low, high)
    out: list[float | int] = []
    for i in range(k):
        v = a + (b - a) * (i + 0.5) / k
        v = math.exp(v) if log else v
        out.append(int(round(v)) if integer else float(f"{v:.6g}"))
    return out


def init_state(width: int, seed: int) -> dict[str, Any]:
    rng = np.random.default_rng([seed, width])
    d = 64
    params = [
        rng.normal(0.0, math.sqrt(2.0 / d), (d, width)),
        np.zeros(width),
        rng.normal(0.0, math.sqrt(1.0 / width), (width, 10)),
        np.zeros(10),
    ]
    return {"params": params, "velocity": [np.zeros_like(p) for p in params], "epoch": 0}


def train_epoch(
    state: dict[str, Any], config: dict[str, Any], data: dict[str, Any], seed: int
) -> float:
    """One pass of minibatch SGD with momentum; returns validation accuracy afterwards."""
    w1, b1, w2, b2 = state["params"]
    vel = state["velocity"]
    lr, mom, alpha = float(config["lr"]), float(config["momentum"]), float(config["alpha"])
    bs = int(config["batch_size"])
    x, t = data["x_train"], data["onehot_train"]
    order = np.random.default_rng([seed, 1, state["epoch"]]).permutation(len(x))
    with np.errstate(all="ignore"):  # diverging configs turn into NaN: accuracy ~ chance
        for i in range(0, len(order), bs):
            idx = order[i : i + bs]
            xb = x[idx]
            h = xb @ w1 + b1
            np.maximum(h, 0.0, out=h)
            z = h @ w2 + b2
            z -= z.max(axis=1, keepdims=True)
            p = np.exp(z)
            p /= p.sum(axis=1, keepdims=True)
            g = (p - t[idx]) / len(idx)
            gh = g @ w2.T
            gh *= h > 0
            grads = (xb.T @ gh + alpha * w1, gh.sum(0), h.T @ g + alpha * w2, g.sum(0))
            for param, v, grad in zip((w1, b1, w2, b2), vel, grads, strict=True):
                v *= mom
                v -= lr * grad
                param += v
        hv = np.maximum(data["x_val"] @ w1 + b1, 0.0) @ w2 + b2
        acc = float(np.mean(hv.argmax(axis=1) == data["y_val"]))
    state["epoch"] += 1
    return acc


def train_loop(
    config: dict[str, Any],
    data: dict[str, Any],
    init_seed: int,
    max_t: int,
    report: Callable[..., Any],
    get_checkpoint: Callable[[], Any],
    checkpoint_cls: Any,
) -> None:
    """The trainable body shared by tunefleet and Ray Tune (same report/checkpoint API)."""
    ckpt = get_checkpoint()
    if ckpt is not None:
        with ckpt.as_directory() as d, open(os.path.join(d, "state.pkl"), "rb") as f:
            state = pickle.load(f)  # noqa: S301 - written by this function
    else:
        state = init_state(int(config["width"]), init_seed)
    while state["epoch"] < max_t:
        acc = train_epoch(state, config, data, init_seed)
        with tempfile.TemporaryDirectory(prefix="sched-bench-") as d:
            with open(os.path.join(d, "state.pkl"), "wb") as f:
                pickle.dump(state, f, protocol=pickle.HIGHEST_PROTOCOL)
            report(
                {"accuracy": acc, "epoch": state["epoch"], "wall": time.time()},
                checkpoint=checkpoint_cls.from_directory(d),
            )


def train_tunefleet(
    config: dict[str, Any], data: dict[str, Any], init_seed: int, max_t: int
) -> None:
    import tunefleet as tune

    train_loop(config, data, init_seed, max_t, tune.report, tune.get_checkpoint, tune.Checkpoint)


def train_ray(config: dict[str, Any], data: dict[str, Any], init_seed: int, max_t: int) -> None:
    from ray import tune

    train_loop(config, data, init_seed, max_t, tune.report, tune.get_checkpoint, tune.Checkpoint)


class BudgetStopper:
    """Ends the experiment once ``budget`` epochs have been reported (Ray's Stopper
    protocol; tunefleet takes it by duck typing, Ray through a subclass)."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.count = 0

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        self.count += 1
        return False

    def stop_all(self) -> bool:
        return self.count >= self.budget


def random_space(tune: Any) -> dict[str, Any]:
    """The search space in Ray Tune's spelling (tunefleet's is the same)."""
    space: dict[str, Any] = {}
    for name, (low, high, log, integer) in SPACE.items():
        if integer:  # randint's upper bound is exclusive in both
            space[name] = (tune.lograndint if log else tune.randint)(int(low), int(high) + 1)
        else:
            space[name] = (tune.loguniform if log else tune.uniform)(low, high)
    return space


# ----------------------------------------------------------------------------- children
def child_tunefleet(job: dict[str, Any]) -> dict[str, Any]:
    import tunefleet as tune
    from tunefleet.schedulers import (
        PB2,
        ASHAScheduler,
        HyperBandForBOHB,
        HyperBandScheduler,
        MedianStoppingRule,
        PopulationBasedTraining,
    )
    from tunefleet.search.bohb import TuneBOHB

    method, seed, max_t = job["method"], job["seed"], job["max_t"]
    data = load_data()
    trainable = tune.with_parameters(train_tunefleet, data=data, init_seed=seed, max_t=max_t)
    kwargs: dict[str, Any] = {
        "metric": "accuracy",
        "mode": "max",
        "storage_path": job["storage"],
        "verbose": 0,
        "max_concurrent_trials": 2,
        "resources_per_trial": {"cpu": 1},
        "seed": seed,
        "name": method,
    }
    if method in ("pbt", "pb2"):
        # PBT restarts trials from other trials' checkpoints. num_to_keep=1 deletes a
        # donor's checkpoint before its recipient has loaded it, so these keep all; and a
        # trial restarted from an earlier iteration re-writes checkpoint_<iteration>
        # directories that others may be loading (rmtree + rename), so a restore can find
        # nothing: such a trial is retried, and counted in "errors" if it still fails.
        kwargs.update(max_failures=2, raise_on_failed_trial=False)
    else:
        kwargs["checkpoint_config"] = tune.CheckpointConfig(num_to_keep=1)
    space = random_space(tune)
    many = job["budget"]  # enough trials: the budget stopper ends the run
    rungs = {
        "time_attr": "training_iteration",
        "max_t": max_t,
        "reduction_factor": REDUCTION_FACTOR,
    }
    pbt_common = {
        "time_attr": "training_iteration",
        "perturbation_interval": PERTURBATION_INTERVAL,
        "quantile_fraction": 0.25,
        "seed": seed,
    }
    if method == "grid":
        grid = {n: tune.grid_search(grid_axis(n, job["grid_values"])) for n in SPACE}
        kwargs.update(config=grid, search_alg="grid")
    elif method == "random":
        kwargs.update(config=space, num_samples=job["grid_values"] ** len(SPACE))
    elif method == "median":
        sched = MedianStoppingRule(
            time_attr="training_iteration",
            grace_period=PERTURBATION_INTERVAL,
            min_samples_required=3,
        )
        kwargs.update(config=space, num_samples=many, scheduler=sched)
    elif method in ("asha_stopping", "asha_promotion"):
        sched = ASHAScheduler(grace_period=1, variant=method.split("_")[1], **rungs)
        kwargs.update(config=space, num_samples=many, scheduler=sched)
    elif method == "hyperband":
        kwargs.update(config=space, num_samples=many, scheduler=HyperBandScheduler(**rungs))
    elif method == "bohb":
        kwargs.update(
            config=space,
            num_samples=many,
            scheduler=HyperBandForBOHB(**rungs),
            search_alg=TuneBOHB(seed=seed),
        )
    elif method == "pbt":
        mutations = {n: v for n, v in space.items() if n != "width"}  # width is the model's shape
        sched = PopulationBasedTraining(hyperparam_mutations=mutations, **pbt_common)
        kwargs.update(config=space, num_samples=job["pbt_population"], scheduler=sched)
    elif method == "pb2":
        bounds = {n: [SPACE[n][0], SPACE[n][1]] for n in SPACE if n != "width"}
        sched = PB2(hyperparam_bounds=bounds, **pbt_common)
        kwargs.update(config=space, num_samples=job["pbt_population"], scheduler=sched)
    else:
        raise SystemExit(f"unknown method {method}")
    if method in BUDGETED:
        kwargs["stop"] = BudgetStopper(job["budget"])
    t0 = time.perf_counter()
    results = tune.run(trainable, **kwargs)
    wall = time.perf_counter() - t0
    df = results.all_results_dataframe().sort_values("wall")
    return {
        "accuracy": [float(a) for a in df["accuracy"]],
        "trials": len(results.trials),
        "wall_s": wall,
        "errors": results.num_errors,
    }


def child_raytune(job: dict[str, Any]) -> dict[str, Any]:
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    import ray
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search.basic_variant import BasicVariantGenerator

    class RayBudgetStopper(BudgetStopper, tune.Stopper):
        pass

    seed, max_t = job["seed"], job["max_t"]
    data = load_data()
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        _temp_dir=os.path.join(tempfile.gettempdir(), f"rt{os.getpid()}"),
    )
    try:
        t0 = time.perf_counter()
        tuner = tune.Tuner(
            tune.with_parameters(train_ray, data=data, init_seed=seed, max_t=max_t),
            param_space=random_space(tune),
            tune_config=tune.TuneConfig(
                metric="accuracy",
                mode="max",
                num_samples=job["budget"],
                max_concurrent_trials=2,
                reuse_actors=True,
                search_alg=BasicVariantGenerator(random_state=seed),
                scheduler=ASHAScheduler(
                    time_attr="training_iteration",
                    max_t=max_t,
                    grace_period=1,
                    reduction_factor=REDUCTION_FACTOR,
                ),
            ),
            run_config=tune.RunConfig(
                storage_path=job["storage"],
                stop=RayBudgetStopper(job["budget"]),
                checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
                verbose=0,
            ),
        )
        grid = tuner.fit()
        wall = time.perf_counter() - t0
        rows: list[tuple[float, float]] = []
        started = 0
        for r in grid:
            df = r.metrics_dataframe
            if df is None or "wall" not in df:
                continue  # still pending when the budget stopper ended the run
            if r.error is not None:
                raise RuntimeError(f"a Ray Tune trial failed: {r.error}")
            started += 1
            rows.extend(zip(df["wall"], df["accuracy"], strict=True))
    finally:
        ray.shutdown()
    rows.sort()
    return {"accuracy": [float(a) for _, a in rows], "trials": started, "wall_s": wall}


def child_optuna(job: dict[str, Any]) -> dict[str, Any]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    seed, max_t, budget = job["seed"], job["max_t"], job["budget"]
    data = load_data()
    lock = threading.Lock()
    rows: list[tuple[float, float]] = []

    def objective(trial: Any) -> float:
        config: dict[str, Any] = {}
        for name, (low, high, log, integer) in SPACE.items():
            if integer:
                config[name] = trial.suggest_int(name, int(low), int(high), log=log)
            else:
                config[name] = trial.suggest_float(name, low, high, log=log)
        state = init_state(config["width"], seed)
        acc = 0.0
        while state["epoch"] < max_t:
            acc = train_epoch(state, config, data, seed)
            with lock:
                rows.append((time.time(), acc))
                spent = len(rows) >= budget
            if spent:  # the budget is spent: later results would not be counted anyway
                break
            trial.report(acc, state["epoch"])
            if trial.should_prune():
                raise optuna.TrialPruned()
        return acc

    def stop_when_spent(study: Any, _trial: Any) -> None:
        if len(rows) >= budget:
            study.stop()

    study = optuna.create_study(
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=optuna.pruners.SuccessiveHalvingPruner(
            min_resource=1, reduction_factor=REDUCTION_FACTOR
        ),
    )
    t0 = time.perf_counter()
    study.optimize(objective, n_trials=budget, n_jobs=2, callbacks=[stop_when_spent])
    wall = time.perf_counter() - t0
    rows.sort()
    return {"accuracy": [a for _, a in rows], "trials": len(study.trials), "wall_s": wall}


def run_child(job: dict[str, Any]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="tf-sched-") as storage:
        job = dict(job, storage=storage)
        env = dict(os.environ, PYTHONWARNINGS="ignore")
        if job["method"] in PEER_METHODS:  # tunefleet sets it from resources_per_trial
            env["OMP_NUM_THREADS"] = "1"
        proc = subprocess.run(
            [sys.executable, __file__, "--child", json.dumps(job)],
            capture_output=True,
            text=True,
            env=env,
            timeout=3600,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"{job['method']} seed {job['seed']} failed:\n{proc.stderr[-4000:]}")
        return json.loads(proc.stdout.strip().splitlines()[-1])


def available(method: str) -> str | None:
    """None if the method can run here, else why not."""
    probes = {
        "optuna_tpe_sha": "import optuna",
        "raytune_asha": "import ray.tune",
        "pb2": "from tunefleet.schedulers import PB2",
        "bohb": "from tunefleet.schedulers import HyperBandForBOHB; "
        "from tunefleet.search.bohb import TuneBOHB",
    }
    probe = probes.get(method)
    if probe is None:
        return None
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    if proc.returncode == 0:
        return None
    last = (proc.stderr.strip().splitlines() or ["import failed"])[-1]
    return f"not importable ({last}); pip install tunefleet[peers]"


# ----------------------------------------------------------------------------- metrics
def first_reach(accuracies: list[float], target: float) -> int | None:
    """Epochs spent until the best so far first reaches ``target`` (None: never)."""
    for i, a in enumerate(accuracies):
        if a >= target - 1e-9:
            return i + 1
    return None


def summarise_seed(
    accuracies: list[float], target: float, budget: int, grid_compute: int
) -> dict[str, Any]:
    acc = accuracies[:budget]
    reach = first_reach(acc, target)
    near = first_reach(acc, target - NEAR)
    return {
        "compute": None if reach is None else round(100.0 * reach / grid_compute, 2),
        "compute_within_0.5": None if near is None else round(100.0 * near / grid_compute, 2),
        "final_accuracy": max(acc) if acc else None,
        "epochs": len(acc),
        "spent": round(100.0 * len(acc) / grid_compute, 2),
    }


def spread(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    return {
        "mean": round(statistics.fmean(values), 5),
        "std": round(statistics.stdev(values), 5) if len(values) > 1 else 0.0,
        "min": round(min(values), 5),
        "max": round(max(values), 5),
    }


def aggregate(per_seed: list[dict[str, Any]]) -> dict[str, Any]:
    def col(key: str) -> list[float]:
        return [s[key] for s in per_seed if s.get(key) is not None]

    return {
        "compute": spread(col("compute")),
        "reached": f"{len(col('compute'))}/{len(per_seed)}",
        "compute_within_0.5": spread(col("compute_within_0.5")),
        "reached_within_0.5": f"{len(col('compute_within_0.5'))}/{len(per_seed)}",
        "final_accuracy": spread(col("final_accuracy")),
        "final_minus_grid_points": spread(col("final_minus_grid_points")),
        "spent": spread(col("spent")),
        "trials": spread(col("trials")),
        "errored_trials": sum(col("errors")),
        "wall_s": spread(col("wall_s")),
    }


def plot(report: dict[str, Any], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names, means, lo, hi, labels, partial = [], [], [], [], [], []
    for method, agg in report["summary"].items():
        c = agg["compute"]
        names.append(method)
        acc = agg["final_accuracy"]
        acc_txt = f"{100 * acc['mean']:.2f}%" if acc else "n/a"
        if c is None:  # never reached: the bar is what it spent, a lower bound
            spent = agg["spent"]["mean"] if agg["spent"] else 0.0
            means.append(spent)
            lo.append(0.0)
            hi.append(0.0)
            labels.append(f"{acc_txt}\nnot reached\n(> {spent:.0f})")
        else:
            means.append(c["mean"])
            lo.append(c["mean"] - c["min"])
            hi.append(c["max"] - c["mean"])
            labels.append(f"{acc_txt}\nreached {agg['reached']}")
        done, total = agg["reached"].split("/")
        partial.append(done != total)
    fig, ax = plt.subplots(figsize=(max(8.0, 0.95 * len(names)), 5.0))
    colors = [
        "#888888" if n == "grid" else "#4c72b0" if n in TUNEFLEET_METHODS else "#dd8452"
        for n in names
    ]
    bars = ax.bar(names, means, yerr=[lo, hi], capsize=4, color=colors)
    for bar, text, part in zip(bars, labels, partial, strict=True):
        if part:
            bar.set_hatch("//")
        ax.annotate(
            text,
            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
            xytext=(0, 14),
            textcoords="offset points",
            ha="center",
            fontsize=7,
        )
    ax.axhline(14, color="#c44e52", linestyle="--", linewidth=1)
    ax.text(-0.4, 15, "claim: ASHA 14", color="#c44e52", ha="left", fontsize=8)
    ax.set_ylabel("compute to reach grid's best (grid = 100)")
    ax.set_ylim(0, max(means + [100.0]) * 1.25)
    p = report["params"]
    ax.set_title(
        f"Epochs to reach grid search's best validation accuracy (digits MLP, {p['seeds']} "
        f"seed(s), grid {p['grid_values']}^5 x {p['max_t']} epochs)\nbars: mean over seeds that "
        "reached it, whiskers min-max; hatched: not reached in every seed; "
        "label: mean best accuracy within budget",
        fontsize=9,
    )
    plt.setp(ax.get_xticklabels(), rotation=25, ha="right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# ----------------------------------------------------------------------------- main
def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        job = json.loads(sys.argv[2])
        child = {"optuna_tpe_sha": child_optuna, "raytune_asha": child_raytune}.get(
            job["method"], child_tunefleet
        )
        print(json.dumps(child(job)))
        return
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--max-t", type=int, default=27)
    parser.add_argument("--grid-values", type=int, default=3, help="grid values per dimension")
    parser.add_argument("--methods", default=",".join(ALL_METHODS))
    parser.add_argument(
        "--budget", type=float, default=100.0, help="compute cap, percent of the grid's compute"
    )
    parser.add_argument(
        "--peer-budget",
        type=float,
        default=None,
        help="compute cap of the Optuna and Ray Tune runs, percent (default: --budget)",
    )
    parser.add_argument("--pbt-population", type=int, default=32)
    parser.add_argument("--out", default=None, help="write results.json and schedulers.png here")
    parser.add_argument("--quick", action="store_true", help="1 seed, 2^5 grid, population 8")
    parser.add_argument(
        "--replot", default=None, help="re-summarise a results.json (no runs) into --out"
    )
    args = parser.parse_args()
    if args.replot:
        with open(args.replot) as f:
            old = json.load(f)
        old["summary"] = {m: aggregate(rows) for m, rows in old["per_seed"].items()}
        write_report(old, args.out)
        return
    if args.quick:
        args.seeds, args.grid_values, args.pbt_population = 1, 2, 8
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = [m for m in methods if m not in ALL_METHODS]
    if unknown:
        parser.error(f"unknown methods {unknown}; choose from {', '.join(ALL_METHODS)}")
    if "grid" not in methods:
        methods.insert(0, "grid")  # the target and the unit of compute
    n_grid = args.grid_values ** len(SPACE)
    grid_compute = n_grid * args.max_t
    budget = int(round(grid_compute * args.budget / 100.0))
    peer_pct = args.budget if args.peer_budget is None else args.peer_budget
    peer_budget = int(round(grid_compute * peer_pct / 100.0))
    report: dict[str, Any] = {
        "benchmark": "schedulers",
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "machine": f"{platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}",
        "command": " ".join([os.path.basename(sys.executable), *sys.argv]),
        "params": {
            "seeds": args.seeds,
            "max_t": args.max_t,
            "grid_values": args.grid_values,
            "grid_configs": n_grid,
            "grid_compute_epochs": grid_compute,
            "budget_percent": args.budget,
            "budget_epochs": budget,
            "peer_budget_percent": peer_pct,
            "peer_budget_epochs": peer_budget,
            "pbt_population": args.pbt_population,
            "reduction_factor": REDUCTION_FACTOR,
            "grid_axes": {n: grid_axis(n, args.grid_values) for n in SPACE},
        },
        "skipped": [],
        "per_seed": {},
        "summary": {},
    }
    runnable = []
    for m in methods:
        why = available(m)
        if why is None:
            runnable.append(m)
        else:
            report["skipped"].append(f"{m}: {why}")
    per_seed: dict[str, list[dict[str, Any]]] = {m: [] for m in runnable}
    for seed in range(args.seeds):
        target = 0.0
        for method in runnable:
            cap = peer_budget if method in PEER_METHODS else budget
            job = {
                "method": method,
                "seed": seed,
                "max_t": args.max_t,
                "grid_values": args.grid_values,
                "budget": cap,
                "pbt_population": args.pbt_population,
            }
            out = run_child(job)
            accs = out["accuracy"]
            if method == "grid":
                target = max(accs)
                row = summarise_seed(accs, target, grid_compute, grid_compute)
                # grid must run every config to know its best
                row["compute"] = row["compute_within_0.5"] = 100.0
                row["grid_order_compute"] = round(
                    100.0 * (first_reach(accs, target) or 0) / grid_compute, 2
                )
            else:
                row = summarise_seed(
                    accs, target, cap if method in BUDGETED else len(accs), grid_compute
                )
            row.update(
                seed=seed,
                grid_best=target,
                final_minus_grid_points=None
                if row["final_accuracy"] is None
                else round(100.0 * (row["final_accuracy"] - target), 3),
                trials=out["trials"],
                errors=out.get("errors", 0),
                wall_s=round(out["wall_s"], 1),
            )
            per_seed[method].append(row)
            print(f"seed {seed} {method:15s} {json.dumps(row)}", file=sys.stderr, flush=True)
    report["per_seed"] = per_seed
    report["summary"] = {m: aggregate(rows) for m, rows in per_seed.items()}
    write_report(report, args.out)


def write_report(report: dict[str, Any], out: str | None) -> None:
    text = json.dumps(report, indent=2)
    print(text)
    if out:
        os.makedirs(out, exist_ok=True)
        with open(os.path.join(out, "results.json"), "w") as f:
            f.write(text + "\n")
        plot(report, os.path.join(out, "schedulers.png"))


if __name__ == "__main__":
    main()
