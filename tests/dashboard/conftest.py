"""Real sweeps into a temporary store, run once per session: an ASHA sweep whose config
holds a malicious string and one trial that fails, a PBT sweep (simulated engine) that
exploits, and a two-objective sweep."""

from __future__ import annotations

from typing import Any

import pytest

import tunefleet as tune
from tunefleet.schedulers import ASHAScheduler, PopulationBasedTraining

EVIL = "<script>window.__pwned = 1</script><img src=x onerror=window.__pwned=2>"


def asha_sweep(root: str, name: str = "asha", num_samples: int = 9, **kw: Any) -> Any:
    # Trainables are local functions: shipped by value. At module level they would be
    # pickled as ``conftest.climb``, and a worker may import another conftest by that name.
    def climb(config: dict[str, Any]) -> None:
        """score rises with lr; the trial with lr > 0.95 raises at its third step."""
        for i in range(1, 10):
            if config["lr"] > 0.95 and i == 3:
                raise RuntimeError("lr too high: diverged")
            tune.report({"score": config["lr"] * i, "cost": config["lr"] * 3 + i})

    return tune.run(
        climb,
        config={
            "lr": tune.grid_search([0.6, 0.99, 0.2, 0.9, 0.3, 0.1, 0.8, 0.4, 0.5]),
            "note": EVIL,
        },
        num_samples=num_samples // 9 or 1,
        metric="score",
        mode="max",
        scheduler=ASHAScheduler(max_t=9, grace_period=1, reduction_factor=3),
        name=name,
        storage_path=root,
        verbose=0,
        seed=0,
        **kw,
    )


@pytest.fixture(scope="session")
def evil() -> str:
    return EVIL


@pytest.fixture(scope="session")
def store_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    root = str(tmp_path_factory.mktemp("dashboard"))

    def stepper(config: dict[str, Any]) -> None:
        ckpt = tune.get_checkpoint()
        state = ckpt.to_dict() if ckpt is not None else {"step": 0, "acc": 0.0}
        while state["step"] < 9:
            acc = state["acc"] + config["lr"] * (1 - state["acc"])
            state = {"step": state["step"] + 1, "acc": acc}
            tune.report({"acc": state["acc"]}, checkpoint=tune.Checkpoint.from_dict(state))

    asha_sweep(root, raise_on_failed_trial=False, max_concurrent_trials=1)
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
        storage_path=root,
        verbose=0,
        seed=0,
    )
    return root
