"""k-nearest neighbours: one iteration (fit the index, score once); nothing to resume.

Prediction, not fitting, is KNN's cost: every validation row is a neighbour search over
all training rows (with 800,000 training rows, a few ms per row on one thread, tens of ms
with ``p=1``). So a trial is scored on a fixed subsample of at most ``VALID_ROWS``
validation rows, the same rows for every trial (seed ``SUBSAMPLE_SEED``, not the config's).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tunefleet.bench.workload import Dataset, TrialSession, Workload
from tunefleet.bench.workloads._common import float32, metrics, resume

#: Largest number of validation rows a trial is scored on.
VALID_ROWS = 10_000
#: Seed of the validation subsample, fixed so that all trials are compared on equal rows.
SUBSAMPLE_SEED = 0


def knn_space(tune: Any) -> dict[str, Any]:
    """Neighbourhood size, vote weighting and distance (Manhattan or Euclidean)."""
    return {
        "n_neighbors": tune.lograndint(1, 201),
        "weights": tune.choice(["uniform", "distance"]),
        "p": tune.choice([1, 2]),
    }


def knn_grid(tune: Any) -> dict[str, Any]:
    """32 points: 8 neighbourhood sizes x weighting x distance."""
    return {
        "n_neighbors": tune.grid_search([1, 3, 5, 10, 20, 50, 100, 200]),
        "weights": tune.grid_search(["uniform", "distance"]),
        "p": tune.grid_search([1, 2]),
    }


def validation_rows(n: int) -> np.ndarray:
    """Sorted indices of the validation rows KNN is scored on (all of them when few)."""
    if n <= VALID_ROWS:
        return np.arange(n)
    rng = np.random.default_rng(SUBSAMPLE_SEED)
    return np.sort(rng.choice(n, size=VALID_ROWS, replace=False))


def knn_train(config: dict[str, Any], data: Dataset, session: TrialSession) -> None:
    """Fit a neighbour index on the training rows and report the subsample's accuracy once.

    The state is only the iteration: the fitted model is the training set itself, and a
    checkpoint of it per trial would copy the data set for nothing.
    """
    from sklearn.neighbors import KNeighborsClassifier

    done, _ = resume(session)
    if done >= 1:
        return
    rows = validation_rows(len(data.y_valid))
    model = KNeighborsClassifier(
        n_neighbors=int(config.get("n_neighbors", 5)),
        weights=str(config.get("weights", "uniform")),
        p=int(config.get("p", 2)),
        n_jobs=session.threads,
    )
    model.fit(float32(data.x_train), data.y_train)
    proba = model.predict_proba(float32(data.x_valid[rows]))
    session.report(metrics(proba, data.y_valid[rows], data.classes), state={"iteration": 1})


KNN = Workload(
    name="knn",
    description=f"k-nearest neighbours (scikit-learn), one iteration, scored on at most "
    f"{VALID_ROWS:,} validation rows",
    space=knn_space,
    grid=knn_grid,
    train=knn_train,
    max_iterations=1,
    requires=("sklearn",),
    default_target=0.913,  # about the 75th percentile of random configs' best (see _common.py)
)
