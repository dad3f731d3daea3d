"""``reproducible=True``: the same trial table at 1, 2 and 4 concurrent trials and on every
engine tested here (local processes, driver threads, the simulated clock), whatever the arrival order."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

import tunefleet as tune
from tunefleet.errors import TuneValueError
from tunefleet.schedulers import ASHAScheduler, MedianStoppingRule, PopulationBasedTraining


def curve(config: dict[str, Any]) -> None:
    """Deterministic scores; uneven step times so that arrival order varies between runs."""
    q = config["q"]
    for i in range(1, 28):
        time.sleep(0.001 * (1 + int(q * 1000) % 4))
        tune.report(score=q * (1 - 1 / (i + 1)))


def _scheduler(name: str) -> Any:
    if name == "asha":
        return ASHAScheduler(max_t=27, grace_period=1, reduction_factor=3)
    if name == "median":
        return MedianStoppingRule(
            time_attr="training_iteration", grace_period=3, min_samples_required=2
        )
    return None


def _table(tmp: Path, engine: str, conc: int, sched: str, search: str) -> list[tuple]:
    res = tune.run(
        curve,
        config={"q": tune.uniform(0, 1)},
        num_samples=12,
        metric="score",
        mode="max",
        scheduler=_scheduler(sched),
        search_alg=search,
        seed=7,
        reproducible=True,
        max_concurrent_trials=conc,
        engine=engine,
        verbose=0,
        storage_path=str(tmp / f"{engine}-{conc}"),
    )
    return sorted(
        (
            round(t.config["q"], 9),
            t.last_result["training_iteration"],
            round(t.last_result["score"], 9),
            t.status,
        )
        for t in res.trials
    )


@pytest.mark.parametrize(
    ("sched", "search"),
    [("asha", "random"), ("asha", "sobol"), ("median", "random"), ("fifo", "bohb")],
)
def test_same_table_at_any_concurrency_and_engine(tmp_path: Path, sched: str, search: str) -> None:
    tables = {
        (engine, conc): _table(tmp_path, engine, conc, sched, search)
        for engine, conc in [
            ("local", 1),
            ("local", 2),
            ("local", 4),
            ("threads", 3),
            ("simulated", 3),
        ]
    }
    first = tables[("local", 1)]
    for key, table in tables.items():
        assert table == first, f"{key} differs from local at 1 trial at a time"
    if sched != "fifo":
        stopped = [row for row in first if row[1] < 27]
        assert stopped, "the scheduler stopped nothing: the check would be vacuous"


def test_refused_for_schedulers_that_use_the_live_population(tmp_path: Path) -> None:
    pbt = PopulationBasedTraining(
        time_attr="training_iteration", perturbation_interval=3, hyperparam_mutations={"q": [1]}
    )
    with pytest.raises(TuneValueError, match="^reproducible: PopulationBasedTraining"):
        tune.run(
            curve,
            config={"q": tune.uniform(0, 1)},
            scheduler=pbt,
            metric="score",
            mode="max",
            seed=1,
            reproducible=True,
            verbose=0,
            storage_path=str(tmp_path),
        )
    assert not any(tmp_path.rglob("trial_*")), "compute was spent before the refusal"


def test_needs_a_seed(tmp_path: Path) -> None:
    with pytest.raises(TuneValueError, match="^reproducible: a reproducible sweep needs a seed"):
        tune.run(curve, config={"q": 0.5}, reproducible=True, storage_path=str(tmp_path))
