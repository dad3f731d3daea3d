"""Hypervolume at fixed compute on two-objective problems with a fidelity axis (issue 16).

Problems:

- ``zdt1``, ``zdt2``: ZDT1 and ZDT2 (Zitzler, Deb, Thiele 2000, "Comparison of multiobjective
  evolutionary algorithms: empirical results", Evolutionary Computation 8(2)) in 4
  dimensions, made multi-fidelity here (our construction): at epoch t of 27 both objectives
  carry an extra, configuration-dependent error ``0.6 * (0.5 + x_1) * exp(-t / 4)`` that
  vanishes with training, so low epochs rank configurations well but not exactly.
  No stopping: 64 trials x 27 epochs.
- ``mlp``: a real workload, ``tunefleet bench``'s MLP (its own training loop) on a
  ``tunefleet data synth`` data set, every point of a 72-point grid (hidden units x layers x
  learning rate) trained once for its 20 epochs by benchmarks/make_mo_table.py; objectives:
  validation error after each epoch and log10 of the measured inference time (ms for the
  2,400 validation rows), both minimised, looked up. No stopping: 32 trials x 20 epochs.

Compute is counted in epochs (one virtual second each, one worker: the simulated clock is
the epoch count). Every method gets 25 % of the no-stopping compute:

- tunefleet: MO-ASHA (Schmucker et al. 2021), stopping and pause-and-promote variants, its
  default hypervolume tie-break, with random search, the native ScalarizedSearch (Paria et
  al. 2019; hypervolume scalarizations, Golovin & Zhang 2020), and Optuna's NSGA-II and
  MOTPE samplers driven through OptunaSearch; ParetoStoppingRule with random search; two
  ablation rows with the earlier defaults (crowding tie-break, Chebyshev scalarization);
- Optuna's own NSGA-II and MOTPE (TPESampler), no stopping: Optuna's pruners refuse studies
  with several objectives (``Trial.should_prune`` raises; the script records the message),
  so "with pruning" cannot be run. They are measured at 25 % and at 100 % of the compute.

Hypervolume (both minimised, reference point per problem) over each trial's last reported
objectives: a trial stopped (or left paused) early counts with its low-epoch (worse) values.
Prints JSON.

    .venv/bin/python benchmarks/multi_objective.py --seeds 10
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import pathlib
import platform
import statistics
import time
from typing import Any

from tunefleet import tune
from tunefleet.pareto import hypervolume
from tunefleet.simulation import simulate
from tunefleet.worker.session import get_context

DIM = 4
TABLE = pathlib.Path(__file__).parent / "data" / "mo_mlp_table.json.gz"


class Problem:
    """Objectives at epoch t, the space, the epoch budget and the reference point."""

    def __init__(self, name: str) -> None:
        self.name = name
        if name == "mlp":
            with gzip.open(TABLE, "rt") as f:
                table = json.load(f)
            self.table = {(p["hidden"], p["layers"], p["lr"]): p for p in table["points"]}
            self.max_t, self.no_stop_trials, self.ref = int(table["epochs"]), 32, (0.6, 2.3)
            keys = list(self.table)
            self.choices = {
                "hidden": sorted({k[0] for k in keys}),
                "layers": sorted({k[1] for k in keys}),
                "lr": sorted({k[2] for k in keys}),
            }
            self.space = {k: tune.choice(v) for k, v in self.choices.items()}
        else:
            self.max_t, self.no_stop_trials, self.ref = 27, 64, (1.1, 11.0)
            self.space = {f"x{i}": tune.uniform(0.0, 1.0) for i in range(DIM)}

    def objectives(self, config: dict[str, Any], t: int) -> tuple[float, float]:
        if self.name == "mlp":
            p = self.table[(config["hidden"], config["layers"], config["lr"])]
            return 1.0 - p["accuracy"][t - 1], math.log10(p["inference_ms"])
        return objectives(self.name, [config[f"x{i}"] for i in range(DIM)], t)

    def suggest(self, trial: Any) -> dict[str, Any]:
        """An Optuna trial's config in the same space."""
        if self.name == "mlp":
            return {k: trial.suggest_categorical(k, v) for k, v in self.choices.items()}
        return {f"x{i}": trial.suggest_float(f"x{i}", 0.0, 1.0) for i in range(DIM)}


def objectives(problem: str, x: list[float], t: int) -> tuple[float, float]:
    g = 1.0 + 9.0 * sum(x[1:]) / (len(x) - 1)
    f1 = x[0]
    f2 = g * (1.0 - math.sqrt(f1 / g)) if problem == "zdt1" else g * (1.0 - (f1 / g) ** 2)
    err = 0.6 * (0.5 + x[1]) * math.exp(-t / 4.0)
    return f1 + err, f2 + err


def make_trainable(problem: Problem) -> Any:
    def train(config: dict[str, Any]) -> Any:
        start = get_context().iteration  # a resumed (promoted) trial goes on from there
        for t in range(start + 1, problem.max_t + 1):
            f1, f2 = problem.objectives(config, t)
            yield {"f1": f1, "f2": f2, "time_this_iter_s": 1.0}, True

    return train


def tunefleet_run(problem: Problem, searcher: Any, scheduler: Any, budget: int, seed: int) -> float:
    res = simulate(
        make_trainable(problem),
        config=problem.space,
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
    return hypervolume(pts, problem.ref, ["min", "min"])


def optuna_pruning_refusal() -> str:
    """What Optuna says when a multi-objective trial asks its pruner."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        directions=["minimize", "minimize"], pruner=optuna.pruners.SuccessiveHalvingPruner()
    )
    trial = study.ask()
    try:
        trial.report(1.0, step=1)
        trial.should_prune()
    except Exception as exc:  # noqa: BLE001 - the message is what we record
        return f"{type(exc).__name__}: {exc}"
    return "no error (pruning worked)"


def optuna_run(problem: Problem, sampler: str, budget: int, seed: int) -> float:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    s = (
        optuna.samplers.NSGAIISampler(seed=seed, population_size=8)
        if sampler == "nsgaii"
        else optuna.samplers.TPESampler(seed=seed, n_startup_trials=8)
    )
    study = optuna.create_study(directions=["minimize", "minimize"], sampler=s)

    def obj(trial: Any) -> tuple[float, float]:
        return problem.objectives(problem.suggest(trial), problem.max_t)

    study.optimize(obj, n_trials=budget // problem.max_t)
    pts = [tuple(t.values) for t in study.trials if t.values]
    return hypervolume(pts, problem.ref, ["min", "min"])


def methods(seed: int, max_t: int) -> dict[str, Any]:
    from tunefleet.schedulers import MOASHAScheduler, ParetoStoppingRule
    from tunefleet.search.optuna import OptunaSearch
    from tunefleet.search.scalarized import ScalarizedSearch

    def asha(variant: str = "stopping", tie_break: str = "hypervolume") -> Any:
        return lambda: MOASHAScheduler(
            max_t=max_t, grace_period=1, reduction_factor=3, variant=variant, tie_break=tie_break
        )

    def scalarized() -> Any:
        return ScalarizedSearch(seed=seed, n_startup_trials=8)

    def chebyshev() -> Any:
        return ScalarizedSearch(seed=seed, n_startup_trials=8, scalarization="chebyshev")

    def motpe() -> Any:
        return OptunaSearch(sampler="motpe", seed=seed)

    return {
        "tunefleet random + MO-ASHA": ("tf", None, asha()),
        "tunefleet random + MO-ASHA promotion": ("tf", None, asha("promotion")),
        "tunefleet ScalarizedSearch + MO-ASHA": ("tf", scalarized, asha()),
        "tunefleet ScalarizedSearch + MO-ASHA promotion": ("tf", scalarized, asha("promotion")),
        # ablations: the previous defaults (crowding tie-break; Chebyshev scalarization)
        "tunefleet ScalarizedSearch + MO-ASHA promotion, crowding": (
            "tf",
            scalarized,
            asha("promotion", "crowding"),
        ),
        "tunefleet ScalarizedSearch(chebyshev) + MO-ASHA promotion, crowding": (
            "tf",
            chebyshev,
            asha("promotion", "crowding"),
        ),
        "tunefleet Optuna NSGA-II + MO-ASHA": (
            "tf",
            lambda: OptunaSearch(sampler="nsgaii", seed=seed),
            asha(),
        ),
        "tunefleet Optuna MOTPE + MO-ASHA": ("tf", motpe, asha()),
        "tunefleet Optuna MOTPE + MO-ASHA promotion": ("tf", motpe, asha("promotion")),
        "tunefleet random + ParetoStoppingRule": (
            "tf",
            None,
            lambda: ParetoStoppingRule(max_t=max_t, grace_period=3, check_every=3),
        ),
        "optuna NSGA-II (no pruning possible)": ("optuna", "nsgaii", None),
        "optuna MOTPE (no pruning possible)": ("optuna", "motpe", None),
    }


def paired_interval(
    a: list[float], b: list[float], resamples: int = 2000, seed: int = 0
) -> tuple[float, float]:
    """95 % bootstrap interval of mean(a - b) over seeds (a and b paired by seed)."""
    import random

    rng = random.Random(seed)
    diffs = [x - y for x, y in zip(a, b, strict=True)]
    means = sorted(statistics.mean(rng.choice(diffs) for _ in diffs) for _ in range(resamples))
    return means[int(0.025 * resamples)], means[int(0.975 * resamples) - 1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--problems", default="zdt1,zdt2,mlp")
    args = ap.parse_args()
    rows: list[dict[str, Any]] = []
    budgets: dict[str, dict[str, int]] = {}
    started = time.perf_counter()
    for name in args.problems.split(","):
        problem = Problem(name)
        full = problem.no_stop_trials * problem.max_t
        quarter = full // 4
        budgets[name] = {"no_stopping_epochs": full, "given_epochs": quarter}
        hv: dict[str, list[float]] = {}
        for seed in range(args.seeds):  # methods interleaved within each seed
            for label, (kind, a, b) in methods(seed, problem.max_t).items():
                if kind == "tf":
                    v = tunefleet_run(problem, a() if a else None, b(), quarter, seed)
                    hv.setdefault(label, []).append(v)
                else:
                    hv.setdefault(label + " @25%", []).append(optuna_run(problem, a, quarter, seed))
                    hv.setdefault(label + " @100%", []).append(optuna_run(problem, a, full, seed))
        best_optuna_quarter = max(
            statistics.mean(v) for k, v in hv.items() if k.startswith("optuna") and "@25%" in k
        )
        best_optuna_full = max(
            statistics.mean(v) for k, v in hv.items() if k.startswith("optuna") and "@100%" in k
        )
        best_quarter_runs = max(
            (v for k, v in hv.items() if k.startswith("optuna") and "@25%" in k),
            key=statistics.mean,
        )
        best_full_runs = max(
            (v for k, v in hv.items() if k.startswith("optuna") and "@100%" in k),
            key=statistics.mean,
        )
        for label, vals in hv.items():
            rows.append(
                {
                    "problem": name,
                    "method": label,
                    "hv_mean": round(statistics.mean(vals), 4),
                    "hv_sd": round(statistics.stdev(vals), 4) if len(vals) > 1 else 0.0,
                    "vs_best_optuna_25pct": round(statistics.mean(vals) / best_optuna_quarter, 3),
                    "vs_best_optuna_100pct": round(statistics.mean(vals) / best_optuna_full, 3),
                    # seeds where this run beat the best Optuna sampler at the same 25 %
                    "wins_vs_best_optuna_25pct": sum(
                        x > y for x, y in zip(vals, best_quarter_runs, strict=True)
                    ),
                    "diff_vs_best_optuna_25pct_95ci": [
                        round(x, 4) for x in paired_interval(vals, best_quarter_runs)
                    ],
                    # seeds where this run beat the best Optuna sampler at 100 % (same seed)
                    "wins_vs_best_optuna_100pct": sum(
                        x > y for x, y in zip(vals, best_full_runs, strict=True)
                    ),
                    "seeds": len(vals),
                }
            )
    print(
        json.dumps(
            {
                "benchmark": "multi_objective",
                "budgets": budgets,
                "optuna_pruner_with_two_objectives": optuna_pruning_refusal(),
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
