"""Helpers every workload's loop shares: seeds, restore bookkeeping and metrics.

Kept free of model libraries so importing the registry stays light.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from tunefleet.bench.workload import TrialSession

#: ``cpu`` or ``cuda``: where the workloads train (``tunefleet bench run --device``); set by the
#: bench in its children's environment, which every engine's workers inherit.
DEVICE_VAR = "TUNEFLEET_BENCH_DEVICE"

#: Probabilities are clipped to [EPS, 1 - EPS] before the log, as sklearn's log_loss does.
EPS = 1e-15


def bench_device() -> str:
    """``cuda`` when the bench runs the workloads on a GPU, else ``cpu``."""
    return "cuda" if os.environ.get(DEVICE_VAR, "cpu") == "cuda" else "cpu"


def seed_of(config: dict[str, Any]) -> int:
    """The model's random seed: ``config["seed"]`` when the sweep sets one, else 0."""
    return int(config.get("seed", 0))


def resume(session: TrialSession) -> tuple[int, dict[str, Any] | None]:
    """``(iterations already done, restored state)``; ``(0, None)`` for a fresh trial.

    Every workload reports ``{"iteration": k, ...}`` as its state, so a trial restored from
    the checkpoint of iteration ``k`` trains only iterations ``k + 1 .. max_iterations``.
    """
    state = session.restore()
    if state is None:
        return 0, None
    return int(state["iteration"]), state


def float32(x: np.ndarray) -> np.ndarray:
    """``x`` as C-contiguous float32, without a copy when it already is (the usual case)."""
    return np.ascontiguousarray(x, dtype=np.float32)


def proba_matrix(p: np.ndarray, classes: int) -> np.ndarray:
    """Class probabilities as ``(n, classes)``; binary models often return P(class 1) only."""
    if p.ndim == 1:
        return np.stack([1.0 - p, p], axis=1)
    if p.shape[1] != classes:
        raise ValueError(f"expected {classes} probability columns, got {p.shape[1]}")
    return p


def metrics(proba: np.ndarray, y: np.ndarray, classes: int) -> dict[str, float]:
    """Validation accuracy and log loss from class probabilities."""
    p = proba_matrix(np.asarray(proba, dtype=np.float64), classes)
    accuracy = float(np.mean(np.argmax(p, axis=1) == y))
    picked = np.clip(p[np.arange(len(y)), y], EPS, 1.0 - EPS)
    return {"accuracy": accuracy, "logloss": float(-np.mean(np.log(picked)))}


# Each workload's ``default_target`` was measured on ``make_classification(n_samples=200_000,
# n_features=10, n_informative=5, n_redundant=0, random_state=0)``, 80/20 split: about the
# accuracy that a quarter of random configs from the workload's space reach, i.e. what a
# decent tuned config gets without luck. Bigger data sets lift KNN and the forest above it.
