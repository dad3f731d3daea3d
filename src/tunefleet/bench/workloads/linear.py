"""Logistic regression by SGD: one iteration is one epoch of ``SGDClassifier.partial_fit``.

SGD rather than L-BFGS so that an iteration is a fixed amount of work (one pass over the
training rows) and the curve is a real learning curve a scheduler can cut short: a small
constant step converges over many epochs, a good schedule within a few.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from tunefleet.bench.workload import Dataset, TrialSession, Workload
from tunefleet.bench.workloads._common import metrics, resume, seed_of

#: Epochs per trial.
MAX_ITERATIONS = 20


def logreg_space(tune: Any) -> dict[str, Any]:
    """Regularisation and step-size schedule (``l1_ratio`` only matters for elasticnet)."""
    return {
        "alpha": tune.loguniform(1e-6, 1e-2),
        "penalty": tune.choice(["l2", "l1", "elasticnet"]),
        "l1_ratio": tune.uniform(0.0, 1.0),
        "learning_rate": tune.choice(["optimal", "invscaling", "constant"]),
        "eta0": tune.loguniform(1e-5, 1e-1),
        "average": tune.choice([False, True]),
    }


def logreg_grid(tune: Any) -> dict[str, Any]:
    """36 points: regularisation x schedule x initial step, L2 penalty, no averaging."""
    return {
        "alpha": tune.grid_search([1e-6, 1e-5, 1e-4, 1e-3]),
        "learning_rate": tune.grid_search(["optimal", "invscaling", "constant"]),
        "eta0": tune.grid_search([1e-4, 1e-3, 1e-2]),
    }


def standardize(x_train: np.ndarray, x_valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both sets scaled by the training set's mean and spread: SGD's step size assumes it."""
    mean = x_train.mean(axis=0, dtype=np.float64)
    scale = x_train.std(axis=0, dtype=np.float64)
    scale[scale == 0] = 1.0
    return (
        ((x_train - mean) / scale).astype(np.float32),
        ((x_valid - mean) / scale).astype(np.float32),
    )


def logreg_train(config: dict[str, Any], data: Dataset, session: TrialSession) -> None:
    """One ``partial_fit`` epoch per iteration on standardised features."""
    from sklearn.linear_model import SGDClassifier

    done, state = resume(session)
    if done >= MAX_ITERATIONS:
        return
    seed = seed_of(config)
    x_train, x_valid = standardize(data.x_train, data.x_valid)
    if state is None:
        model = SGDClassifier(
            loss="log_loss",
            alpha=float(config.get("alpha", 1e-4)),
            penalty=str(config.get("penalty", "l2")),
            l1_ratio=float(config.get("l1_ratio", 0.15)),
            learning_rate=str(config.get("learning_rate", "optimal")),
            eta0=float(config.get("eta0", 0.01)),
            average=bool(config.get("average", False)),
            n_jobs=session.threads,  # one-vs-rest classes in parallel
        )
    else:
        model = state["model"]
    classes = np.arange(data.classes)
    for iteration in range(done + 1, MAX_ITERATIONS + 1):
        # A new shuffle every epoch that depends only on (seed, epoch): restores replay it.
        model.set_params(random_state=seed * 1000 + iteration)
        model.partial_fit(x_train, data.y_train, classes=classes)
        scores = metrics(model.predict_proba(x_valid), data.y_valid, data.classes)
        # A copy: the next partial_fit changes the model in place.
        session.report(scores, state={"iteration": iteration, "model": copy.deepcopy(model)})


LOGREG = Workload(
    name="logreg",
    description="Logistic regression by SGD (scikit-learn), one epoch per iteration",
    space=logreg_space,
    grid=logreg_grid,
    train=logreg_train,
    max_iterations=MAX_ITERATIONS,
    requires=("sklearn",),
    default_target=0.835,  # about the 75th percentile of random configs' best (see _common.py)
)
