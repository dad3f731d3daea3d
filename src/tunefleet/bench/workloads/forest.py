"""Random forest: one iteration grows ``TREES`` more trees (``warm_start=True``).

Each tree is fit on a bootstrap sample of ``max_samples`` (1-10 %) of the rows: on a
million rows a full-size bootstrap of deep trees costs about 10 s per tree on one core here,
so 100 trees per trial would take a quarter of an hour, and checkpoints run to gigabytes.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from tunefleet.bench.workload import Dataset, TrialSession, Workload
from tunefleet.bench.workloads._common import float32, metrics, resume, seed_of

#: Trees added per iteration.
TREES = 5
#: Iterations per trial: 100 trees in all.
MAX_ITERATIONS = 20


def forest_space(tune: Any) -> dict[str, Any]:
    """Tree shape and randomisation."""
    return {
        "max_depth": tune.randint(4, 25),
        "min_samples_leaf": tune.lograndint(1, 200),
        "max_features": tune.uniform(0.1, 1.0),
        "max_samples": tune.uniform(0.01, 0.1),
        "criterion": tune.choice(["gini", "entropy"]),
    }


def forest_grid(tune: Any) -> dict[str, Any]:
    """27 points: depth x leaf size x features per split, on 5% bootstrap samples."""
    return {
        "max_depth": tune.grid_search([8, 16, 24]),
        "min_samples_leaf": tune.grid_search([1, 10, 100]),
        "max_features": tune.grid_search([0.2, 0.5, 1.0]),
        "max_samples": 0.05,
    }


def forest_train(config: dict[str, Any], data: Dataset, session: TrialSession) -> None:
    """Grow ``TREES`` trees per iteration; score the forest by averaging tree probabilities."""
    from sklearn.ensemble import RandomForestClassifier

    done, state = resume(session)
    if done >= MAX_ITERATIONS:
        return
    x_valid = float32(data.x_valid)
    if state is None:
        forest = RandomForestClassifier(
            n_estimators=TREES,
            max_depth=int(config.get("max_depth", 16)),
            min_samples_leaf=int(config.get("min_samples_leaf", 1)),
            max_features=float(config.get("max_features", 0.5)),
            max_samples=float(config.get("max_samples", 0.05)),
            criterion=str(config.get("criterion", "gini")),
            warm_start=True,
            n_jobs=session.threads,
            random_state=seed_of(config),  # warm_start draws new trees' seeds after old ones'
        )
    else:
        forest = state["model"]
    # Sum of the trees' validation probabilities, so each iteration predicts new trees only.
    votes = np.zeros((len(x_valid), data.classes))
    grown = 0
    for iteration in range(done + 1, MAX_ITERATIONS + 1):
        forest.set_params(n_estimators=iteration * TREES)
        forest.fit(data.x_train, data.y_train)
        for tree in forest.estimators_[grown:]:
            votes += tree.predict_proba(x_valid, check_input=False)
        grown = len(forest.estimators_)
        scores = metrics(votes / grown, data.y_valid, data.classes)
        # Fitted trees never change, so a shallow copy with its own tree list is a snapshot.
        snapshot = copy.copy(forest)
        snapshot.estimators_ = list(forest.estimators_)
        session.report(scores, state={"iteration": iteration, "model": snapshot})


RANDOM_FOREST = Workload(
    name="random-forest",
    description=f"Random forest (scikit-learn), {TREES} trees per iteration, "
    f"{TREES * MAX_ITERATIONS} in all",
    space=forest_space,
    grid=forest_grid,
    train=forest_train,
    max_iterations=MAX_ITERATIONS,
    requires=("sklearn",),
    default_target=0.93,  # about the 75th percentile of random configs' best (see _common.py)
)
