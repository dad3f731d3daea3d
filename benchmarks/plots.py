"""Time to draw each plot kind of a large experiment, PNG (matplotlib) and HTML (plotly).

The experiment is made for real on the simulated engine (virtual clock, so it is quick):
an ASHA sweep of ``--trials`` trials of up to ``--max-t`` iterations over three
parameters (one categorical), so the curves carry stop markers. Then every kind is drawn
from a fresh ``Results`` (the log read again each time, as ``tunefleet plot`` does) and
written to a file; the seconds and the file's size are printed as JSON. Lineage is left
out (it needs PBT).

    python benchmarks/plots.py [--trials 2000] [--max-t 27] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from typing import Any

import tunefleet as tune
from tunefleet.results import Results
from tunefleet.schedulers import ASHAScheduler

KINDS = ("history", "curves", "parallel", "importance", "slice", "pareto")


def trainable(config: dict[str, Any]) -> None:
    shift = {"a": 0.0, "b": 0.3, "c": 0.6}[config["opt"]]
    for i in range(1, config["max_t"] + 1):
        score = shift + config["lr"] * (1 - 0.9**i) - 0.05 * config["wd"]
        tune.report(score=score, cost=config["lr"] * i, time_this_iter_s=1.0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=2000)
    ap.add_argument("--max-t", type=int, default=27)
    ap.add_argument("--keep", default=None, help="folder to keep the store and files in")
    args = ap.parse_args()
    if args.keep:
        os.makedirs(args.keep, exist_ok=True)
        measure(args, args.keep)
    else:
        with tempfile.TemporaryDirectory(prefix="tunefleet-plots-") as root:
            measure(args, root)


def measure(args: argparse.Namespace, root: str) -> None:
    t0 = time.perf_counter()
    tune.run(
        trainable,
        config={
            "lr": tune.loguniform(1e-3, 1.0),
            "wd": tune.uniform(0, 1),
            "opt": tune.choice(["a", "b", "c"]),
            "max_t": args.max_t,
        },
        num_samples=args.trials,
        metric="score",
        mode="max",
        scheduler=ASHAScheduler(max_t=args.max_t, grace_period=1, reduction_factor=3),
        engine="simulated",
        storage_path=root,
        name="big",
        verbose=0,
        seed=0,
    )
    made = time.perf_counter() - t0
    res = Results.load("big", root)
    num_results = sum(t.num_results for t in res.trials)
    rows = []
    for kind in KINDS:
        for ext in ("png", "html"):
            out = os.path.join(root, f"{kind}.{ext}")
            kw = {"metric": "score,cost", "mode": "max,min"} if kind == "pareto" else {}
            t = time.perf_counter()
            getattr(Results.load("big", root), f"plot_{kind}")(out=out, **kw)
            rows.append(
                {
                    "kind": kind,
                    "format": ext,
                    "seconds": round(time.perf_counter() - t, 3),
                    "bytes": os.path.getsize(out),
                }
            )
    print(
        json.dumps(
            {
                "trials": args.trials,
                "results": num_results,
                "make_experiment_s": round(made, 2),
                "machine": f"{platform.machine()} {os.cpu_count()} cpus",
                "load_avg": os.getloadavg()[0],
                "plots": rows,
                "kept_in": root if args.keep else None,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
