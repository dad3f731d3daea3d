"""The trainable and driver used by the crash tests (run as a separate process)."""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import tunefleet as tune

STEPS = 8


def log(*parts: Any) -> None:
    with open(os.environ["CRASH_LOG"], "a") as f:
        f.write(" ".join(map(str, parts)) + "\n")


def train(config: dict[str, Any]) -> None:
    ckpt = tune.get_checkpoint()
    step = 0
    if ckpt is not None:
        step = json.loads(Path(ckpt.path, "state.json").read_text())["step"]
    tid = tune.get_trial_id()
    log("start", tid, step)
    while step < STEPS:
        time.sleep(0.03)
        step += 1
        d = tempfile.mkdtemp(prefix="crash-ckpt-")
        Path(d, "state.json").write_text(json.dumps({"step": step}))
        Path(d, "complete").write_text("yes")
        score = config["q"] * (1 - math.exp(-step / 3))
        try:
            tune.report({"score": score}, checkpoint=tune.Checkpoint.from_directory(d))
        finally:  # report() copied it into the trial's folder
            shutil.rmtree(d, ignore_errors=True)
    log("done", tid)


def scheduler(name: str) -> Any:
    from tunefleet.schedulers import ASHAScheduler, PopulationBasedTraining

    if name == "asha_promotion":
        return ASHAScheduler(max_t=STEPS, grace_period=1, reduction_factor=2, variant="promotion")
    if name == "pbt":
        return PopulationBasedTraining(
            time_attr="training_iteration",
            perturbation_interval=2,
            hyperparam_mutations={"q": tune.uniform(0.1, 1.0)},
            seed=0,
        )
    return None


def main() -> None:
    sched_name, storage, resume, num_samples = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
    tune.run(
        train,
        config={"q": tune.uniform(0.1, 1.0)},
        num_samples=int(num_samples),
        metric="score",
        mode="max",
        scheduler=scheduler(sched_name),
        name="crash",
        storage_path=storage,
        resume=resume == "1",
        max_concurrent_trials=2,
        seed=1,
        verbose=0,
    )
    print("FINISHED", flush=True)


if __name__ == "__main__":
    main()
