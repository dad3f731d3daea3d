"""Driver for the rebuild tests: start a sweep, or resume it through one entry point.

    python rebuild_driver.py start SCHED SEARCH STORAGE
    python rebuild_driver.py resume|tuner|run SCHED SEARCH STORAGE

The resume entry points pass nothing but what a user must (the trainable, the name and
where the experiment is); everything else has to come back from the experiment's spec. A
spy on ``Engine.__init__`` writes the components the runner actually built (class path
and ``get_params()``) to ``$SPY_FILE``, one JSON line per run. (``tunefleet resume`` is
run as its console script by the test itself, with this module as ``--trainable``.)
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

import tunefleet as tune

STEPS = 9
NUM_SAMPLES = 8


def train(config: dict[str, Any]) -> None:
    import tempfile

    ckpt = tune.get_checkpoint()
    step = 0 if ckpt is None else int(ckpt.to_dict()["step"])
    while step < STEPS:
        time.sleep(0.05)
        step += 1
        with tempfile.TemporaryDirectory() as d:
            ck = tune.Checkpoint.from_dict({"step": step})
            ck.to_directory(d)
            tune.report(
                {"score": config["q"] * step / STEPS, "step": step},
                checkpoint=tune.Checkpoint.from_directory(d),
            )


def scheduler(name: str) -> Any:
    from tunefleet import schedulers as s

    return {
        "fifo": lambda: None,
        "asha": lambda: s.ASHAScheduler(max_t=STEPS, grace_period=1, reduction_factor=3),
        "asha_promotion": lambda: s.ASHAScheduler(
            max_t=STEPS, grace_period=1, reduction_factor=3, variant="promotion"
        ),
        "hyperband": lambda: s.HyperBandScheduler(max_t=STEPS, reduction_factor=3),
        "median": lambda: s.MedianStoppingRule(
            time_attr="training_iteration", grace_period=2, min_samples_required=2
        ),
        "pbt": lambda: s.PopulationBasedTraining(
            time_attr="training_iteration",
            perturbation_interval=3,
            hyperparam_mutations={"q": tune.uniform(0.1, 1.0)},
            seed=0,
        ),
        "pb2": lambda: s.PB2(
            time_attr="training_iteration",
            perturbation_interval=3,
            hyperparam_bounds={"q": [0.1, 1.0]},
            seed=0,
        ),
        "bohb": lambda: s.HyperBandForBOHB(max_t=STEPS, reduction_factor=3),
    }[name]()


def searcher(name: str) -> Any:
    from tunefleet.search import create_searcher

    return create_searcher(name)


def install_spy() -> None:
    from tunefleet.components import describe
    from tunefleet.engine import core

    original = core.Engine.__init__

    def spy(self: Any, config: Any, searcher: Any, scheduler: Any, stopper: Any = None) -> None:
        original(self, config, searcher, scheduler, stopper)
        row = {
            "searcher": describe(searcher, "search_alg"),
            "scheduler": describe(scheduler, "scheduler"),
            "stopper": None if stopper is None else describe(stopper, "stop"),
            "max_failures": config.max_failures,
            "checkpoint_frequency": config.checkpoint_frequency,
        }
        with open(os.environ["SPY_FILE"], "a") as f:
            f.write(json.dumps(row, sort_keys=True) + "\n")

    core.Engine.__init__ = spy  # type: ignore[method-assign]


def main() -> None:
    how, sched, search, storage = sys.argv[1:5]
    install_spy()
    if how == "start":
        tune.run(
            train,
            config={"q": tune.uniform(0.1, 1.0)},
            num_samples=NUM_SAMPLES,
            metric="score",
            mode="max",
            scheduler=scheduler(sched),
            search_alg=searcher(search),
            stop={"step": STEPS},
            max_failures=2,
            checkpoint_freq=3,
            name="rebuild",
            storage_path=storage,
            max_concurrent_trials=2,
            seed=3,
            verbose=0,
        )
    elif how == "resume":
        tune.resume("rebuild", train, storage_path=storage, verbose=0)
    elif how == "tuner":
        tune.Tuner.restore(os.path.join(storage, "rebuild"), train).fit()
    elif how == "run":
        tune.run(train, name="rebuild", storage_path=storage, resume=True, verbose=0)
    print("FINISHED", flush=True)


if __name__ == "__main__":
    main()
