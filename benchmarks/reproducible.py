"""What ``reproducible=True`` costs: wall time and utilisation against the same sweep
without it, at 2 and 4 trials at a time.

A trial computes 27 steps of 10 ms (``time.sleep``: the work is known exactly), ASHA
(grace 1, eta 3, max 27) or the median stopping rule, 16 trials, random search, seed 0, on
the local engine. Utilisation = compute done / (wall x trials at a time): the share of the
slots that held a computing trial. The two settings alternate (A B A B), --repeat times,
each run in its own process with the clock started before the import.

    python benchmarks/reproducible.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any

STEP_S, STEPS, TRIALS = 0.01, 27, 16


def child(sched: str, conc: int, reproducible: bool) -> dict[str, Any]:
    t0 = time.perf_counter()
    import tempfile

    import tunefleet as tune
    from tunefleet.schedulers import ASHAScheduler, MedianStoppingRule

    def curve(config: dict[str, Any]) -> None:
        for i in range(1, STEPS + 1):
            time.sleep(STEP_S)
            tune.report(score=config["q"] * (1 - 1 / (i + 1)))

    scheduler: Any = ASHAScheduler(max_t=STEPS, grace_period=1, reduction_factor=3)
    if sched == "median":
        scheduler = MedianStoppingRule(
            time_attr="training_iteration", grace_period=3, min_samples_required=2
        )
    res = tune.run(
        curve,
        config={"q": tune.uniform(0, 1)},
        num_samples=TRIALS,
        metric="score",
        mode="max",
        scheduler=scheduler,
        seed=0,
        reproducible=reproducible,
        max_concurrent_trials=conc,
        verbose=0,
        storage_path=tempfile.mkdtemp(prefix="tf-repro-"),
    )
    wall = time.perf_counter() - t0
    steps = sum(t.last_result["training_iteration"] for t in res.trials)
    return {"wall_s": wall, "steps": steps, "utilisation": steps * STEP_S / (wall * conc)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        sched, conc, rep = args.child
        print(json.dumps(child(sched, int(conc), rep == "1")))
        return
    rows = []
    for sched in ("asha", "median"):
        for conc in (2, 4):
            runs: dict[str, list[dict[str, Any]]] = {"off": [], "on": []}
            for _ in range(args.repeat):
                for key, rep in (("off", "0"), ("on", "1")):
                    out = subprocess.run(
                        [sys.executable, __file__, "--child", sched, str(conc), rep],
                        capture_output=True,
                        text=True,
                        check=True,
                    )
                    runs[key].append(json.loads(out.stdout.strip().splitlines()[-1]))
            ratios = [
                a["wall_s"] / b["wall_s"] for a, b in zip(runs["on"], runs["off"], strict=True)
            ]
            rows.append(
                {
                    "scheduler": sched,
                    "trials_at_a_time": conc,
                    "utilisation_off": statistics.median(r["utilisation"] for r in runs["off"]),
                    "utilisation_on": statistics.median(r["utilisation"] for r in runs["on"]),
                    "wall_on_over_off": {
                        "median": statistics.median(ratios),
                        "min": min(ratios),
                        "max": max(ratios),
                    },
                    "steps_off": [r["steps"] for r in runs["off"]],
                    "steps_on": [r["steps"] for r in runs["on"]],
                }
            )
    print(
        json.dumps(
            {
                "command": f"python benchmarks/reproducible.py --repeat {args.repeat}",
                "date": time.strftime("%Y-%m-%d %H:%M"),
                "machine": {"cpus": os.cpu_count(), "load_avg": os.getloadavg()},
                "rows": rows,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
