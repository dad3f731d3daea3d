"""Do schedulers stop fast trials in time? Iterations ASHA lets trials run, against FIFO.

Issue 11: with asynchronous reports a trial kept training while its report waited for a
decision, so on instantaneous curves ASHA spent 73 % of FIFO's iterations. Reports at a
scheduler's decision points (ASHA's rungs) now wait for the verdict; every other report
stays asynchronous. This script runs the issue's case on the local engine, 81 trials,
``max_t=81``, ``grace_period=1``, ``reduction_factor=3``, default concurrency, and counts
the iterations each trial actually *computed* (each trial writes its last computed
iteration when it ends, stopped or not), so work done past a stop is counted even though
its results were never recorded.

The reference is the same sweep on the simulated executor, where every decision lands at
once (asynchronous ASHA, Li et al. 2018, arXiv:1810.05934, rungs 1, 3, 9, 27, 81): what
ASHA computes then depends only on the order in which the seed draws the configurations
(5.7-11.9 % of FIFO's 81 x 81 iterations over seeds 0-9; 8.2 % on average). The local
engine should match it: ``local_over_ideal`` = 1.0 means no iteration was wasted.

    python benchmarks/decision_points.py [--sleep-ms 0] [--seeds 0,1,2]
    python benchmarks/decision_points.py --report-cost [--repeat 3]

``--report-cost``: the marginal wall time of one report that is not a decision point, under
ASHA with two rungs far apart (4 trials x 2,000 reports, waits at 1,000 and 2,000 only) and
under FIFO (no report waits), each minus the same sweep with 1 report per trial, divided
by the extra reports; FIFO and ASHA alternate, ``--repeat`` times, in one process each.

Prints JSON: per seed, FIFO's and ASHA's computed iterations, ASHA's share of FIFO, the
ideal share, and the trials that computed past the rung where they were stopped (must be
none).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from typing import Any

N_TRIALS, MAX_T, GRACE, ETA = 81, 81, 1, 3
RUNGS = (1, 3, 9, 27, 81)


def make_trainable(out_dir: str, sleep_s: float) -> Any:
    import tunefleet as tune

    def curve(config: dict[str, Any]) -> None:
        # An instantaneous learning curve: score rises towards the trial's quality.
        q = config["q"]
        done = 0
        try:
            for i in range(1, MAX_T + 1):
                if sleep_s:
                    time.sleep(sleep_s)
                done = i
                tune.report(score=q * (1.0 - 1.0 / (i + 1)))
        finally:
            path = os.path.join(out_dir, tune.get_trial_id())
            with open(path, "w") as f:
                f.write(str(done))

    return curve


def run_once(scheduler: str, sleep_s: float, seed: int) -> dict[str, Any]:
    import tunefleet as tune

    out = tempfile.mkdtemp(prefix="tf-dp-")
    sched: Any = None
    if scheduler == "asha":
        sched = tune.schedulers.ASHAScheduler(max_t=MAX_T, grace_period=GRACE, reduction_factor=ETA)
    t0 = time.perf_counter()
    res = tune.run(
        make_trainable(out, sleep_s),
        config={"q": tune.uniform(0, 1)},
        num_samples=N_TRIALS,
        metric="score",
        mode="max",
        scheduler=sched,
        seed=seed,
        verbose=0,
        storage_path=os.path.join(out, "runs"),
    )
    wall = time.perf_counter() - t0
    computed = {}
    for name in os.listdir(out):
        if name != "runs":
            with open(os.path.join(out, name)) as f:
                computed[name] = int(f.read())
    recorded = {t.trial_id: t.last_result["training_iteration"] for t in res.trials}
    past_rung = sorted(
        tid
        for tid, it in computed.items()
        if it < MAX_T and (it not in RUNGS or it != recorded.get(tid))
    )
    return {
        "computed_iterations": sum(computed.values()),
        "recorded_iterations": sum(recorded.values()),
        "trials": len(computed),
        "past_their_rung": past_rung,
        "wall_s": round(wall, 3),
    }


def ideal_iterations(seed: int) -> int:
    """ASHA on the simulated executor: every verdict arrives before the next step."""
    import tunefleet as tune
    from tunefleet.simulation import simulate

    def curve(config: dict[str, Any]) -> Any:
        for i in range(1, MAX_T + 1):
            yield {"score": config["q"] * (1.0 - 1.0 / (i + 1))}

    sim = simulate(
        curve,
        config={"q": tune.uniform(0, 1)},
        num_samples=N_TRIALS,
        metric="score",
        mode="max",
        scheduler=tune.schedulers.ASHAScheduler(
            max_t=MAX_T, grace_period=GRACE, reduction_factor=ETA
        ),
        seed=seed,
    )
    return sum(t.iteration for t in sim.trials.values())


def _sweep_seconds(scheduler: str, reports: int) -> float:
    import tunefleet as tune

    def chatty(config: dict[str, Any]) -> None:
        for i in range(config["n"]):
            tune.report(score=config["x"] + i * 1e-6)

    sched: Any = None
    if scheduler == "asha":
        sched = tune.schedulers.ASHAScheduler(max_t=2000, grace_period=1000, reduction_factor=2)
    t0 = time.perf_counter()
    tune.run(
        chatty,
        config={"x": tune.uniform(0, 1), "n": reports},
        num_samples=4,
        metric="score",
        mode="max",
        scheduler=sched,
        max_concurrent_trials=2,
        verbose=0,
        storage_path=tempfile.mkdtemp(prefix="tf-rc-"),
    )
    return time.perf_counter() - t0


def report_cost(repeat: int) -> dict[str, Any]:
    out: dict[str, list[float]] = {"fifo": [], "asha": []}
    _sweep_seconds("fifo", 1)  # warm the imports and the page cache
    for _ in range(repeat):
        for sched in ("fifo", "asha"):
            many = _sweep_seconds(sched, 2000)
            one = _sweep_seconds(sched, 1)
            out[sched].append(1e6 * (many - one) / (4 * 1999))
    return {
        k: {"median_us": statistics.median(v), "min_us": min(v), "max_us": max(v), "all": v}
        for k, v in out.items()
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sleep-ms", type=float, default=0.0)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--report-cost", action="store_true")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    if args.report_cost:
        result = {
            "command": f"python benchmarks/decision_points.py --report-cost --repeat {args.repeat}",
            "date": time.strftime("%Y-%m-%d"),
            "machine": {"cpus": os.cpu_count(), "load_avg": os.getloadavg()},
            "us_per_report": report_cost(args.repeat),
        }
        print(json.dumps(result, indent=1))
        return
    sleep_s = args.sleep_ms / 1000.0
    runs = []
    for seed in (int(x) for x in args.seeds.split(",")):
        fifo = run_once("fifo", sleep_s, seed=seed)
        asha = run_once("asha", sleep_s, seed=seed)
        ideal = ideal_iterations(seed)
        runs.append(
            {
                "seed": seed,
                "fifo": fifo,
                "asha": asha,
                "asha_share_of_fifo": asha["computed_iterations"] / fifo["computed_iterations"],
                "ideal_share_of_fifo": ideal / (N_TRIALS * MAX_T),
                "local_over_ideal": asha["computed_iterations"] / ideal,
            }
        )
    shares = [x["asha_share_of_fifo"] for x in runs]
    over = [x["local_over_ideal"] for x in runs]
    print(
        json.dumps(
            {
                "command": f"python benchmarks/decision_points.py --sleep-ms {args.sleep_ms:g} "
                f"--seeds {args.seeds}",
                "date": time.strftime("%Y-%m-%d"),
                "machine": {
                    "cpus": os.cpu_count(),
                    "python": platform.python_version(),
                    "load_avg": os.getloadavg(),
                },
                "local_over_ideal": {"min": min(over), "max": max(over)},
                "asha_share_of_fifo": {
                    "min": min(shares),
                    "median": statistics.median(shares),
                    "max": max(shares),
                },
                "runs": runs,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
