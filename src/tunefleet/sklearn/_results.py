"""``cv_results_`` in scikit-learn's layout, from each trial's last report.

Keys follow ``BaseSearchCV``: ``params``, ``param_<name>`` (masked where a candidate
lacks the parameter), ``split<k>_test_<scorer>``, ``mean/std/rank_test_<scorer>``,
``mean/std_fit_time``, ``mean/std_score_time`` and, with ``return_train_score``, the
train columns. ``n_resources`` (epochs each candidate trained, as in
``HalvingRandomSearchCV``) is added when a scheduler could stop trials early.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.stats import rankdata


def _rank(means: np.ndarray) -> np.ndarray:
    """Rank 1 = best; ties share the lowest rank; NaN ranks last (as scikit-learn does)."""
    if np.isnan(means).all():
        return np.ones(len(means), dtype=np.int32)
    filled = np.where(np.isnan(means), np.nanmin(means) - 1, means)
    return np.asarray(rankdata(-filled, method="min"), dtype=np.int32)


def _param_column(params: list[dict[str, Any]], name: str) -> np.ma.MaskedArray:
    column: np.ma.MaskedArray = np.ma.MaskedArray(np.empty(len(params), dtype=object), mask=True)
    for i, p in enumerate(params):
        if name in p:
            column[i] = p[name]
    return column


def build(
    params: list[dict[str, Any]],
    last: list[dict[str, Any]],
    n_splits: int,
    scorers: list[str],
    return_train_score: bool,
    with_resources: bool,
) -> dict[str, Any]:
    """One entry per candidate, in ``params`` order; ``last`` is each trial's last report."""
    out: dict[str, Any] = {}

    def column(key: str) -> np.ndarray:
        return np.array([float(r.get(key, np.nan)) for r in last])

    for kind in ("fit", "score"):
        times = np.stack([column(f"split{k}_{kind}_time") for k in range(n_splits)], axis=1)
        out[f"mean_{kind}_time"] = times.mean(axis=1)
        out[f"std_{kind}_time"] = times.std(axis=1)
    names = sorted({n for p in params for n in p})
    for name in names:
        out[f"param_{name}"] = _param_column(params, name)
    out["params"] = params
    sets = ("test", "train") if return_train_score else ("test",)
    for scorer in scorers:
        for which in sets:
            splits = [column(f"split{k}_{which}_{scorer}") for k in range(n_splits)]
            for k, values in enumerate(splits):
                out[f"split{k}_{which}_{scorer}"] = values
            stacked = np.stack(splits, axis=1)
            out[f"mean_{which}_{scorer}"] = stacked.mean(axis=1)
            out[f"std_{which}_{scorer}"] = stacked.std(axis=1)
            if which == "test":
                out[f"rank_test_{scorer}"] = _rank(out[f"mean_test_{scorer}"])
    if with_resources:
        out["n_resources"] = np.array([int(r.get("n_resources", 0)) for r in last])
    return out
