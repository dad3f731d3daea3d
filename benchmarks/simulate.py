"""Scheduler scale on the simulated executor: ASHA and PBT with 1,000 simulated workers and
100,000 trials on synthetic learning curves. Prints JSON: wall time, events per second,
scheduler decisions per second and the median / p99 cost of one scheduler decision.

    python benchmarks/simulate.py [--trials 100000] [--workers 1000] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import time
from typing import Any

from tunefleet import tune
from tunefleet.schedulers import ASHAScheduler, PopulationBasedTraining, Scheduler
from tunefleet.simulation import simulate
from tunefleet.worker.session import get_context

SPACE = {"q": tune.uniform(0.0, 1.0), "speed": tune.loguniform(1.0, 50.0)}


def curve(config: dict[str, Any]) -> Any:
    """A saturating learning curve; each step costs one virtual second and checkpoints."""
    start = get_context().iteration
    q, speed = config["q"], config["speed"]
    for t in range(start + 1, 100_000):
        yield {"acc": q * (1.0 - math.exp(-t / speed)), "time_this_iter_s": 1.0}, True


class Timed:
    """Wraps a scheduler's on_result to time each decision (the engine sees no difference)."""

    def __init__(self, scheduler: Scheduler) -> None:
        self.scheduler = scheduler
        self.samples: list[float] = []
        inner = scheduler.on_result
        perf = time.perf_counter
        samples = self.samples

        def on_result(trial: Any, result: dict[str, Any]) -> Any:
            t0 = perf()
            d = inner(trial, result)
            samples.append(perf() - t0)
            return d

        scheduler.on_result = on_result  # type: ignore[method-assign]


def run(
    name: str,
    scheduler: Scheduler,
    trials: int,
    workers: int,
    seed: int,
    stop: dict[str, float] | None,
) -> dict[str, Any]:
    timed = Timed(scheduler)
    res = simulate(
        curve,
        config=SPACE,
        num_samples=trials,
        metric="acc",
        mode="max",
        scheduler=scheduler,
        num_workers=workers,
        seed=seed,
        stop=stop,
        keep_records=False,
    )
    samples = sorted(timed.samples)
    spent = sum(t.iteration for t in res.trials.values())
    return {
        "scheduler": name,
        "trials": len(res.trials),
        "workers": workers,
        "wall_s": round(res.wall_s, 2),
        "virtual_s": round(res.virtual_s, 1),
        "events": res.events,
        "events_per_s": round(res.events / res.wall_s),
        "decisions": len(samples),
        "decisions_per_s": round(len(samples) / res.wall_s),
        "decision_median_us": round(1e6 * statistics.median(samples), 2) if samples else None,
        "decision_p99_us": round(1e6 * samples[int(0.99 * (len(samples) - 1))], 2)
        if samples
        else None,
        "epochs_spent": spent,
        "best_acc": round(float(res.best("acc", "max").last_result["acc"]), 4),  # type: ignore[index]
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=1_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    out = {
        "benchmark": "simulate",
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "machine": f"{platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}",
        "runs": [
            run(
                "asha (stopping), max_t=81, eta=3",
                ASHAScheduler(max_t=81, grace_period=1, reduction_factor=3),
                args.trials,
                args.workers,
                args.seed,
                None,
            ),
            run(
                "asha (promotion), max_t=81, eta=3",
                ASHAScheduler(max_t=81, grace_period=1, reduction_factor=3, variant="promotion"),
                args.trials,
                args.workers,
                args.seed,
                None,
            ),
            run(
                "pbt, interval=4, 12 steps per trial",
                PopulationBasedTraining(
                    time_attr="training_iteration",
                    perturbation_interval=4,
                    hyperparam_mutations={"q": tune.uniform(0.0, 1.0)},
                    seed=args.seed,
                ),
                args.trials,
                args.workers,
                args.seed,
                {"training_iteration": 12},
            ),
        ],
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
