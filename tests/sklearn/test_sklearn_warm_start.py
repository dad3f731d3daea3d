"""Tree ensembles continued by ``warm_start`` through Hyperband's rungs: exact and cheap.

A survivor of a rung is paused (its fold models pickled into a checkpoint on the threads
engine), resumed and grown by ``warm_start``. The property: every candidate's fold scores
are those of a fresh fit at the size it reached (what ``HalvingRandomSearchCV`` fits), and
each fold's model was grown only by the trees it ends with (no refit from scratch), for
random forests, extra trees and gradient boosting, over random sizes, ladders and seeds.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.datasets import make_classification
from sklearn.ensemble import (
    ExtraTreesClassifier,
    GradientBoostingClassifier,
    RandomForestClassifier,
)
from sklearn.model_selection import StratifiedKFold, cross_val_score

from tunefleet.schedulers import HyperBandScheduler
from tunefleet.sklearn import TuneSearchCV
from tunefleet.sklearn._fit import RESOURCE_ATTR, incremental_method

FOREST_SPACE = {
    "max_depth": [2, 4, None],
    "max_features": ["sqrt", 0.5],
    "min_samples_leaf": [1, 3],
}
BOOSTING_SPACE = {"max_depth": [1, 2, 3], "learning_rate": [0.05, 0.3]}


def _estimator(kind: str, size: int, seed: int) -> Any:
    if kind == "forest":
        return RandomForestClassifier(n_estimators=size, random_state=seed)
    if kind == "extra":
        return ExtraTreesClassifier(n_estimators=size, random_state=seed)
    subsample = 0.7 if kind == "boosting_subsample" else 1.0
    return GradientBoostingClassifier(n_estimators=size, subsample=subsample, random_state=seed)


@pytest.fixture
def grown(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[int, int]]]:
    """Every ``fit`` of the three ensembles records (trees it added, size it reached): a
    refit from scratch adds them all, a ``warm_start`` step only the new ones."""
    record: list[tuple[int, int]] = []
    for cls in (RandomForestClassifier, ExtraTreesClassifier, GradientBoostingClassifier):
        original = cls.fit

        def counting(self: Any, X: Any, y: Any, _fit: Any = original, **kwargs: Any) -> Any:
            before = len(getattr(self, "estimators_", ())) if self.warm_start else 0
            out = _fit(self, X, y, **kwargs)
            record.append((len(self.estimators_) - before, len(self.estimators_)))
            return out

        monkeypatch.setattr(cls, "fit", counting)
    yield record


def test_tree_ensembles_are_continued_by_warm_start() -> None:
    for kind in ("forest", "extra", "boosting"):
        assert incremental_method(_estimator(kind, 4, 0)) == ("warm_start", "n_estimators")


@pytest.mark.filterwarnings("ignore:trial .* without metric 'objective'")
@settings(
    max_examples=12,
    deadline=None,
    # each example is a whole search (about 0.5 s): report the failing one, not hundreds
    # of shrinking steps towards a smaller one
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    kind=st.sampled_from(["forest", "extra", "boosting", "boosting_subsample"]),
    seed=st.integers(0, 2**16),
    size=st.integers(2, 12),
    ladder=st.sampled_from([(3, 3), (4, 2), (9, 3), (8, 2)]),  # (max_iters, factor)
    n_trials=st.integers(2, 9),
)
def test_a_continued_candidate_scores_as_a_fresh_fit_at_its_size(
    grown: list[tuple[int, int]],
    kind: str,
    seed: int,
    size: int,
    ladder: tuple[int, int],
    n_trials: int,
) -> None:
    grown.clear()
    max_iters, factor = ladder
    X, y = make_classification(
        n_samples=120, n_features=6, n_informative=4, n_classes=3, random_state=seed
    )
    estimator = _estimator(kind, size, seed)
    cv = StratifiedKFold(2)
    hyperband = HyperBandScheduler(
        time_attr=RESOURCE_ATTR, max_t=max_iters, reduction_factor=factor
    )
    search = TuneSearchCV(
        estimator,
        FOREST_SPACE if kind in ("forest", "extra") else BOOSTING_SPACE,
        n_trials=n_trials,
        cv=cv,
        early_stopping=hyperband,
        max_iters=max_iters,
        random_state=seed,
        refit=False,
    ).fit(X, y)  # the default engine for n_jobs=1: threads, paused models pickled to disk
    in_search = list(grown)
    results = search.cv_results_
    epochs = [int(e) for e in results["n_resources"]]
    assert max(epochs) > min(epochs) or n_trials == 1  # somebody was paused and resumed
    for i, reached in enumerate(epochs):
        trees = max(1, math.ceil(size * reached / max_iters))
        fresh = clone(estimator).set_params(n_estimators=trees, **results["params"][i])
        expected = cross_val_score(fresh, X, y, cv=cv)
        np.testing.assert_allclose(
            [results[f"split{k}_test_score"][i] for k in (0, 1)], expected, rtol=0, atol=1e-12
        )
    # Cheap: each fold model grew only by the trees it ends with, so the search fitted
    # sum(final sizes) trees per fold (halving refits every rung from scratch).
    finals = [max(1, math.ceil(size * e / max_iters)) for e in epochs]
    assert sum(added for added, _ in in_search) == 2 * sum(finals)
    assert all(added > 0 for added, _ in in_search)  # no fit call that adds nothing
    # ... and in one fit call per rung: no warm_start step at the epochs in between
    rungs = {max(1, math.ceil(size * e / max_iters)) for e in hyperband.decision_points().at}
    assert {reached for _, reached in in_search} <= rungs


@pytest.mark.filterwarnings("ignore:trial .* without metric 'objective'")
def test_the_refit_best_is_a_fresh_fit_at_the_size_it_reached() -> None:
    X, y = make_classification(n_samples=150, n_features=6, n_classes=2, random_state=1)
    estimator = RandomForestClassifier(n_estimators=9, random_state=4)
    search = TuneSearchCV(
        estimator,
        FOREST_SPACE,
        n_trials=9,
        cv=2,
        early_stopping="hyperband",
        max_iters=9,
        random_state=0,
    ).fit(X, y)
    reached = int(search.cv_results_["n_resources"][search.best_index_])
    best = search.best_estimator_
    assert len(best.estimators_) == reached  # 9 trees over 9 epochs: one an epoch
    fresh = clone(estimator).set_params(n_estimators=reached, **search.best_params_).fit(X, y)
    np.testing.assert_array_equal(best.predict_proba(X), fresh.predict_proba(X))
