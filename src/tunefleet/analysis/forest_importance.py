"""Parameter importance: how much of the score's variation each parameter explains.

A random forest (scikit-learn's ``RandomForestRegressor``) is fit to predict the score
from the parameters, and each parameter's importance is the forest's loss of accuracy when
that column is shuffled (``sklearn.inspection.permutation_importance``; Breiman, "Random
Forests", Machine Learning 45, 2001). Permutation importance is used rather than the
forest's impurity importances because impurity favours parameters with many distinct values
(a continuous noise parameter would rank above a categorical one that matters; Strobl et
al., BMC Bioinformatics 8:25, 2007). Negative importances (noise) are clipped to 0 and the
rest normalised to sum to 1. scikit-learn is imported here only (the ``plots`` extra).
"""

from __future__ import annotations

from tunefleet.analysis.params import ParamTable, model_inputs

MIN_TRIALS = 4


def importance(
    table: ParamTable, seed: int = 0, n_estimators: int = 64, n_repeats: int = 5
) -> dict[str, float]:
    """{param: share of importance}, most important first; needs ``MIN_TRIALS`` scored
    trials and one varying parameter."""
    if len(table) < MIN_TRIALS:
        raise ValueError(
            f"importance needs at least {MIN_TRIALS} trials with a finite "
            f"{table.metric!r}; this experiment has {len(table)}"
        )
    if not table.params:
        raise ValueError("importance needs at least one config parameter that varies")
    try:
        import numpy as np
        from sklearn.ensemble import RandomForestRegressor
        from sklearn.inspection import permutation_importance
    except ImportError as e:  # pragma: no cover - the extra is in dev
        raise ImportError(
            "parameter importance needs scikit-learn: pip install 'tunefleet[plots]'"
        ) from e
    x = np.asarray(model_inputs(table), dtype=float)
    y = np.asarray(table.scores, dtype=float)
    if float(np.ptp(y)) == 0.0:
        return dict.fromkeys(table.names(), 0.0)
    forest = RandomForestRegressor(
        n_estimators=n_estimators, min_samples_leaf=2, random_state=seed, n_jobs=1
    )
    forest.fit(x, y)
    perm = permutation_importance(forest, x, y, n_repeats=n_repeats, random_state=seed)
    raw = np.clip(perm.importances_mean, 0.0, None)
    total = float(raw.sum())
    shares = raw / total if total > 0 else raw
    pairs = sorted(zip(table.names(), shares.tolist(), strict=True), key=lambda kv: -kv[1])
    return {k: float(v) for k, v in pairs}
