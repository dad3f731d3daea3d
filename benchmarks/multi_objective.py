"""Hypervolume at fixed compute on two-objective problems with a fidelity axis (issue 16).

Problem: ZDT1 and ZDT2 (Zitzler, Deb, Thiele 2000, "Comparison of multiobjective evolutionary
algorithms: empirical results", Evolutionary Computation 8(2)) in 4 dimensions, made
multi-fidelity here (our construction): at epoch t of ``MAX_T`` both objectives carry an
extra, configuration-dependent error ``0.6 * (0.5 + x_1) * exp(-t / 4)`` that vanishes with
training, so low epochs rank configurations well but not exactly.

Compute is counted in epochs (one virtual second each, one worker: the simulated clock is
the epoch count). No stopping: every trial trains ``MAX_T`` epochs, ``NO_STOP_TRIALS``
trials. Every method gets 25 % of that compute:

- tunefleet: MO-ASHA (Schmucker et al. 2021) with random search, with the native
  ScalarizedSearch (Paria et al. 2019), and with Optuna's NSGA-II and MOTPE samplers driven
  through OptunaSearch; ParetoStoppingRule with random search;
- Optuna's own NSGA-II and MOTPE (TPESampler), no stopping: Optuna's pruners refuse studies
  with several objectives (``Trial.should_prune`` raises), so "with pruning" cannot be run.
  They are measured at 25 % and at 100 % of the compute.

Hypervolume (both minimised, reference point REF) over each trial's last reported objectives:
a trial stopped early counts with its low-epoch (worse) values. Prints JSON.

    .venv/bin/python benchmarks/multi_objective.py --seeds 10
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import time
from typing import Any

from tunefleet import tune
from tunefleet.pareto import hypervolume
from tunefleet.simulation import simulate

MAX_T = 27
NO_STOP_TRIALS = 64
DIM = 4
REF = (1.1, 11.0)
SPACE = {f"x{i}": tune.uniform(0.0, 1.0) for i in range(DIM)}


def objectives(problem: str, x: list[float], t: int) -> tuple[float, float]:
    g = 1.0 + 9.0 * sum(x[1:]) / (len(x) - 1)
    f1 = x[0]
    f2 = g * (1.0 - math.sqrt(f1 / g)) if problem == "zdt1" else g * (1.0 - (f1 / g) ** 2)
    err = 0.6 * (0.5 + x[1]) * math.exp(-t / 4.0)
    return f1 + err, f2 + err


def make_trainable(problem: str) -> Any:
    def train(config: dict[str, Any]) -> Any:
        x = [config[f"x{i}"] for i in range(DIM)]
        for t in range(1, MAX_T + 1):
            f1, f2 = objectives(problem, x, t)
            yield {"f1": f1, "f2": f2, "time_this_iter_s": 1.0}, False

    return train


def tunefleet_run(problem: str, searcher: Any, scheduler: Any, budget: int, seed: int) -> float:
    res = simulate(
        make_trainable(problem),
        config=SPACE,
        num_samples=10_000,
        metric=["f1", "f2"],  # type: ignore[arg-type]
        mode=["min", "min"],  # type: ignore[arg-type]
        scheduler=scheduler,
        search_alg=searcher,
        num_workers=1,
        seed=seed,
        time_budget_s=budget,
        keep_records=False,
    )
    pts = [
        (t.last_result["f1"], t.last_result["f2"])
        for t in res.trials.values()
        if t.last_result and "f1" in t.last_result
    ]
    return hypervolume(pts, REF, ["min", "min"])


def optuna_run(problem: str, sampler: str, budget: int, seed: int) -> float:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    s = (
        optuna.samplers.NSGAIISampler(seed=seed, population_size=8)
        if sampler == "nsgaii"
        else optuna.samplers.TPESampler(seed=seed, n_startup_trials=8)
    )
    study = optuna.create_study(directions=["minimize", "minimize"], sampler=s)

    def obj(trial: Any) -> tuple[float, float]:
        x = [trial.suggest_float(f"x{i}", 0.0, 1.0) for i in range(DIM)]
        return objectives(problem, x, MAX_T)

    study.optimize(obj, n_trials=budget // MAX_T)
    pts = [tuple(t.values) for t in study.trials if t.values]
    return hypervolume(pts, REF, ["min", "min"])


def methods(seed: int) -> dict[str, Any]:
    from tunefleet.schedulers import MOASHAScheduler, ParetoStoppingRule
    from tunefleet.search.optuna import OptunaSearch
    from tunefleet.search.scalarized import ScalarizedSearch

    def asha() -> Any:
        return MOASHAScheduler(max_t=MAX_T, grace_period=1, reduction_factor=3)

    return {
        "tunefleet random + MO-ASHA": ("tf", None, asha),
        "tunefleet ScalarizedSearch + MO-ASHA": (
            "tf",
            lambda: ScalarizedSearch(seed=seed, n_startup_trials=8),
            asha,
        ),
        "tunefleet Optuna NSGA-II + MO-ASHA": (
            "tf",
            lambda: OptunaSearch(sampler="nsgaii", seed=seed),
            asha,
        ),
        "tunefleet Optuna MOTPE + MO-ASHA": (
            "tf",
            lambda: OptunaSearch(sampler="motpe", seed=seed),
            asha,
        ),
        "tunefleet random + ParetoStoppingRule": (
            "tf",
            None,
            lambda: ParetoStoppingRule(max_t=MAX_T, grace_period=3, check_every=3),
        ),
        "optuna NSGA-II (no pruning possible)": ("optuna", "nsgaii", None),
        "optuna MOTPE (no pruning possible)": ("optuna", "motpe", None),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--problems", default="zdt1,zdt2")
    args = ap.parse_args()
    full = NO_STOP_TRIALS * MAX_T
    quarter = full // 4
    rows: list[dict[str, Any]] = []
    started = time.perf_counter()
    for problem in args.problems.split(","):
        hv: dict[str, list[float]] = {}
        for seed in range(args.seeds):  # methods interleaved within each seed
            for name, (kind, a, b) in methods(seed).items():
                if kind == "tf":
                    v = tunefleet_run(problem, a() if a else None, b(), quarter, seed)
                    hv.setdefault(name, []).append(v)
                else:
                    hv.setdefault(name + " @25%", []).append(optuna_run(problem, a, quarter, seed))
                    hv.setdefault(name + " @100%", []).append(optuna_run(problem, a, full, seed))
        best_optuna_quarter = max(
            statistics.mean(v) for k, v in hv.items() if k.startswith("optuna") and "@25%" in k
        )
        best_optuna_full = max(
            statistics.mean(v) for k, v in hv.items() if k.startswith("optuna") and "@100%" in k
        )
        for name, vals in hv.items():
            rows.append(
                {
                    "problem": problem,
                    "method": name,
                    "hv_mean": round(statistics.mean(vals), 4),
                    "hv_sd": round(statistics.stdev(vals), 4) if len(vals) > 1 else 0.0,
                    "vs_best_optuna_25pct": round(statistics.mean(vals) / best_optuna_quarter, 3),
                    "vs_best_optuna_100pct": round(statistics.mean(vals) / best_optuna_full, 3),
                    "seeds": len(vals),
                }
            )
    print(
        json.dumps(
            {
                "benchmark": "multi_objective",
                "compute_no_stopping_epochs": full,
                "compute_given_epochs": quarter,
                "reference_point": REF,
                "machine": platform.platform(),
                "python": platform.python_version(),
                "wall_s": round(time.perf_counter() - started, 1),
                "rows": rows,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
