"""Small real sweeps, run once per test session into a temporary store: an ASHA sweep
that stops trials, an ASHA promotion sweep that pauses and resumes them, and a PBT sweep
that exploits (on the simulated engine, so the whole population is alive together)."""

from __future__ import annotations

import sys
from typing import Any

import cloudpickle
import pytest

import tunefleet as tune
from tunefleet.schedulers import ASHAScheduler, PopulationBasedTraining

# Every tests folder has a module named "conftest": a worker that imported the trainables
# by reference could find another one first, so they travel by value.
cloudpickle.register_pickle_by_value(sys.modules[__name__])


def quadratic(config: dict[str, Any]) -> None:
    """score rises with lr towards a plateau; noise barely matters; 'opt' shifts it."""
    shift = {"sgd": 0.0, "adam": 0.5}[config["opt"]]
    for i in range(1, 10):
        score = shift + config["lr"] * i - 0.01 * config["noise"]
        tune.report({"score": score, "loss": 1.0 / (1.0 + score), "cost": config["lr"] * 3})


def stepper(config: dict[str, Any]) -> None:
    """acc climbs towards 1 at rate lr; continues from its checkpoint (a dict)."""
    ckpt = tune.get_checkpoint()
    state = ckpt.to_dict() if ckpt is not None else {"step": 0, "acc": 0.0}
    while state["step"] < 9:
        state = {"step": state["step"] + 1, "acc": state["acc"] + config["lr"] * (1 - state["acc"])}
        tune.report({"acc": state["acc"]}, checkpoint=tune.Checkpoint.from_dict(state))


SPACE = {
    "lr": tune.uniform(0.05, 1.0),
    "noise": tune.uniform(0.0, 1.0),
    "opt": tune.choice(["sgd", "adam"]),
}


@pytest.fixture(scope="session")
def store_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    root = tmp_path_factory.mktemp("plots")
    common = dict(storage_path=str(root), verbose=0, seed=0)
    tune.run(
        quadratic,
        config=SPACE,
        num_samples=12,
        metric="score",
        mode="max",
        scheduler=ASHAScheduler(max_t=9, grace_period=1, reduction_factor=3),
        name="asha",
        **common,
    )
    tune.run(
        stepper,
        config={"lr": tune.uniform(0.01, 0.5)},
        num_samples=9,
        metric="acc",
        mode="max",
        scheduler=ASHAScheduler(max_t=9, grace_period=1, reduction_factor=3, variant="promotion"),
        name="promo",
        **common,
    )
    tune.run(
        stepper,
        config={"lr": tune.uniform(0.01, 0.5)},
        num_samples=4,
        metric="acc",
        mode="max",
        scheduler=PopulationBasedTraining(
            time_attr="training_iteration",
            perturbation_interval=3,
            hyperparam_mutations={"lr": tune.uniform(0.01, 0.5)},
            quantile_fraction=0.5,
            seed=0,
        ),
        engine="simulated",
        name="pbt",
        **common,
    )
    return str(root)
