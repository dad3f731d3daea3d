"""The reference workloads ``tunefleet bench`` runs, by name.

Importing this package imports no model library: each workload imports LightGBM,
XGBoost, scikit-learn or PyTorch inside its ``train``, when a trial runs.
"""

from __future__ import annotations

from tunefleet.bench.workload import Workload
from tunefleet.bench.workloads.boosting import LIGHTGBM, XGBOOST
from tunefleet.bench.workloads.forest import RANDOM_FOREST
from tunefleet.bench.workloads.knn import KNN
from tunefleet.bench.workloads.linear import LOGREG
from tunefleet.bench.workloads.mlp import MLP
from tunefleet.errors import TuneValueError

WORKLOADS: dict[str, Workload] = {
    w.name: w for w in (LIGHTGBM, XGBOOST, LOGREG, RANDOM_FOREST, KNN, MLP)
}


def get_workload(name: str) -> Workload:
    """The workload called ``name``; an unknown name lists the valid ones."""
    try:
        return WORKLOADS[name]
    except (KeyError, TypeError):
        valid = ", ".join(sorted(WORKLOADS))
        raise TuneValueError(
            f"workload: unknown workload {name!r}; choose one of {valid}"
        ) from None


__all__ = ["WORKLOADS", "Workload", "get_workload"]
