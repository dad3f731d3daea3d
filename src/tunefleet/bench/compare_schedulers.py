"""``tunefleet bench schedulers``: compute each method spends to reach grid search's best.

Grid search trains every point of the workload's grid to the full budget; its total
compute is 100. Every other method (random search with as many full-budget trials as the
grid, Optuna's TPE likewise when Optuna is installed, ASHA, Hyperband and BOHB with
``--trials-factor`` times the grid's trial count, PBT with a population of 8) runs on the
local engine with the same concurrency. One reported iteration is one unit of compute;
reports are ordered by wall time, and a method's figure is the compute it had spent when
its best score so far first reached the grid's best (Li et al. 2018, arXiv:1810.05934,
measure ASHA the same way), and, as a second column, came within ``--tolerance`` of it
(default 0.005: half a point of accuracy), since on a flat objective no sampled
configuration may hit the grid's exact score.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunefleet.bench import report
from tunefleet.bench.run import machine, run_child
from tunefleet.bench.systems import Job
from tunefleet.errors import TuneValueError

#: method -> (system, search, scheduler)
METHODS: dict[str, tuple[str, str, str]] = {
    "grid": ("local", "grid", "fifo"),
    "random": ("local", "random", "fifo"),
    "tpe": ("optuna", "tpe", "fifo"),
    "asha": ("local", "random", "asha"),
    "hyperband": ("local", "random", "hyperband"),
    "bohb": ("local", "random", "bohb"),
    "pbt": ("local", "random", "pbt"),
}
PBT_POPULATION = 8
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("system", "method", "{}"),
    ("compute_to_grid_best", "compute to grid's best (grid = 100)", "{:.1f}"),
    ("compute_to_near_best", "compute to within tolerance", "{:.1f}"),
    ("compute_spent", "compute spent", "{:.1f}"),
    ("best", "best", "{:.4f}"),
    ("gap_to_grid_best", "best − grid's best", "{:+.4f}"),
    ("trials", "trials", "{}"),
    ("wall_s", "wall (s)", "{:.1f}"),
)


@dataclass
class SchedulerBenchConfig:
    workload: str
    data: str
    methods: tuple[str, ...] = tuple(METHODS)
    trials_factor: float = 2.0
    tolerance: float = 0.005  # "within 0.5 points" of grid's best, for the second column
    rows: int | None = None
    cpus_per_trial: int = 1
    concurrency: int | None = None
    seed: int = 0
    out: str = "bench_results/schedulers"
    timeout_s: float = 3600.0
    #: Use a method's outcome saved in ``out`` when its job is the same (re-summarise a
    #: finished comparison, e.g. with another tolerance, without training again).
    reuse: bool = False


def saved_outcome(job: Job) -> dict[str, Any] | None:
    """The outcome a previous run of exactly this job left in its directory, if any."""
    work = Path(job.out) / "jobs"
    try:
        if json.loads((work / f"{job.system}.job.json").read_text()) != json.loads(job.to_json()):
            return None
        outcome: dict[str, Any] = json.loads((work / f"{job.system}.outcome.json").read_text())
    except (OSError, ValueError):
        return None
    return None if outcome.get("error") else outcome


def grid_size(workload: Any) -> int:
    import tunefleet
    from tunefleet.bench.adapters import grid_values

    return math.prod(len(v) for v in grid_values(workload.grid(tunefleet)).values())


def compute_to_reach(rows: list[dict[str, Any]], metric: str, mode: str, goal: float) -> int | None:
    """Reports spent (in wall-time order) until the best so far first reaches ``goal``."""
    for spent, r in enumerate(sorted(rows, key=lambda r: r["bench_time"]), start=1):
        v = r.get(metric)
        if isinstance(v, (int, float)) and (v >= goal if mode == "max" else v <= goal):
            return spent
    return None


def _best(rows: list[dict[str, Any]], metric: str, mode: str) -> float | None:
    values = [r[metric] for r in rows if isinstance(r.get(metric), (int, float))]
    if not values:
        return None
    return float(max(values) if mode == "max" else min(values))


def run_scheduler_bench(
    cfg: SchedulerBenchConfig, on_event: Callable[[str, dict[str, Any]], None] | None = None
) -> dict[str, Any]:
    import importlib.util

    from tunefleet.bench.workloads import get_workload

    workload = get_workload(cfg.workload)
    if workload.missing():
        raise TuneValueError(f"--workload {cfg.workload}: needs {', '.join(workload.missing())}")
    if not (Path(cfg.data) / "metadata.json").is_file():
        raise TuneValueError(f"--data {cfg.data}: no dataset there (`tunefleet data synth`)")
    unknown = [m for m in cfg.methods if m not in METHODS]
    if unknown:
        raise TuneValueError(f"--methods: unknown {unknown}; choose from {', '.join(METHODS)}")
    if "grid" not in cfg.methods:
        raise TuneValueError("--methods: grid is the reference and must be included")
    if not cfg.tolerance >= 0:
        raise TuneValueError(f"--tolerance: must be >= 0, got {cfg.tolerance}")
    if not cfg.trials_factor > 0:
        raise TuneValueError(f"--trials-factor: must be > 0, got {cfg.trials_factor}")
    concurrency = cfg.concurrency or max(1, (os.cpu_count() or 1) // cfg.cpus_per_trial)
    n_grid = grid_size(workload)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    outcomes: dict[str, dict[str, Any]] = {}
    skipped: dict[str, str] = {}
    for method in cfg.methods:
        system, search, scheduler = METHODS[method]
        if system == "optuna" and importlib.util.find_spec("optuna") is None:
            skipped[method] = "optuna is not installed"
            continue
        trials = n_grid
        if scheduler in ("asha", "hyperband", "bohb"):
            trials = max(1, round(n_grid * cfg.trials_factor))
        elif scheduler == "pbt":
            trials = PBT_POPULATION
        job = Job(
            system=system,
            workload=cfg.workload,
            data=os.path.abspath(cfg.data),
            rows=cfg.rows,
            trials=trials,
            scheduler=scheduler,
            search=search,
            cpus_per_trial=cfg.cpus_per_trial,
            workers_per_trial=1,
            concurrency=concurrency,
            seed=cfg.seed,
            out=str((out / method).resolve()),
        )
        if on_event:
            on_event("start", {"system": method})
        t = time.time()
        saved = saved_outcome(job) if cfg.reuse else None
        outcomes[method] = saved if saved is not None else run_child(job, cfg.timeout_s)
        if on_event:
            on_event("end", {"system": method, "seconds": time.time() - t, "row": outcomes[method]})
    rows = summarise(outcomes, workload.metric, workload.mode, cfg.tolerance)
    for method, why in skipped.items():
        rows.append({"system": method, "error": why})
    result = {
        "workload": cfg.workload,
        "metric": workload.metric,
        "mode": workload.mode,
        "grid_points": n_grid,
        "max_iterations": workload.max_iterations,
        "concurrency": concurrency,
        "trials_factor": cfg.trials_factor,
        "tolerance": cfg.tolerance,
        "rows_used": cfg.rows,
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "rows": rows,
    }
    report.write_json(out / "schedulers.json", result)
    (out / "schedulers.md").write_text(report.markdown_table(rows, COLUMNS) + "\n")
    report.bar_charts(
        out / "schedulers.png",
        rows,
        (
            ("compute_to_grid_best", "to reach grid's best"),
            ("compute_to_near_best", f"to within {cfg.tolerance:g} of grid's best"),
            ("compute_spent", "spent in all"),
        ),
        f"{cfg.workload}: compute (grid search = 100)",
    )
    return result


def summarise(
    outcomes: dict[str, dict[str, Any]], metric: str, mode: str, tolerance: float = 0.0
) -> list[dict[str, Any]]:
    grid = outcomes.get("grid", {})
    if grid.get("error") or not grid.get("rows"):
        raise TuneValueError(f"grid search failed, nothing to compare with: {grid.get('error')}")
    grid_rows = grid["rows"]
    grid_best = _best(grid_rows, metric, mode)
    assert grid_best is not None
    total = len(grid_rows)
    rows = []
    for method, outcome in outcomes.items():
        row: dict[str, Any] = {"system": method, "notes": outcome.get("notes", [])}
        if outcome.get("error"):
            row["error"] = outcome["error"]
            rows.append(row)
            continue
        spent = compute_to_reach(outcome["rows"], metric, mode, grid_best)
        near_goal = grid_best - tolerance if mode == "max" else grid_best + tolerance
        near = compute_to_reach(outcome["rows"], metric, mode, near_goal)
        best = _best(outcome["rows"], metric, mode)
        row.update(
            compute_to_grid_best=None if spent is None else 100.0 * spent / total,
            compute_to_near_best=None if near is None else 100.0 * near / total,
            compute_spent=100.0 * len(outcome["rows"]) / total,
            best=best,
            gap_to_grid_best=None if best is None else best - grid_best,
            trials=outcome.get("trials"),
            wall_s=float(outcome["t_end"]) - float(outcome["t0"]),
        )
        rows.append(row)
    return rows
