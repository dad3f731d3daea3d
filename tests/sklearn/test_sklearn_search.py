"""TuneSearchCV / TuneGridSearchCV against scikit-learn's own search estimators.

The in-process ``simulated`` engine keeps most of these fast; the tests of the default
engine run threads of this process (``n_jobs=1``), and test_sklearn_checks.py's script
test the local engine (worker processes, ``n_jobs=2``) the way a user meets it.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
import sklearn
from scipy.stats import loguniform
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.datasets import load_digits, load_iris
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.exceptions import FitFailedWarning
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.model_selection import GridSearchCV
from sklearn.svm import SVC

import tunefleet as tune
from tunefleet.errors import TuneError, TuneValueError
from tunefleet.sklearn import TuneGridSearchCV, TuneSearchCV

X_IRIS, Y_IRIS = load_iris(return_X_y=True)
GRID = {"C": [0.01, 0.1, 1.0], "fit_intercept": [True, False]}


def _logreg() -> LogisticRegression:
    return LogisticRegression(max_iter=1000)


def test_grid_cv_results_match_gridsearchcv() -> None:
    ours = TuneGridSearchCV(_logreg(), GRID, cv=3, engine="simulated").fit(X_IRIS, Y_IRIS)
    theirs = GridSearchCV(_logreg(), GRID, cv=3).fit(X_IRIS, Y_IRIS)
    assert sorted(ours.cv_results_) == sorted(theirs.cv_results_)
    assert ours.cv_results_["params"] == theirs.cv_results_["params"]
    np.testing.assert_allclose(
        ours.cv_results_["mean_test_score"], theirs.cv_results_["mean_test_score"], atol=1e-6
    )
    assert list(ours.cv_results_["rank_test_score"]) == list(theirs.cv_results_["rank_test_score"])
    assert list(ours.cv_results_["param_C"]) == list(theirs.cv_results_["param_C"])
    assert ours.best_index_ == theirs.best_index_
    assert ours.best_params_ == theirs.best_params_
    assert ours.best_score_ == pytest.approx(theirs.best_score_)
    assert ours.refit_time_ >= 0 and ours.n_splits_ == 3 and not ours.multimetric_
    assert list(ours.classes_) == [0, 1, 2] and ours.n_features_in_ == 4
    np.testing.assert_array_equal(ours.predict(X_IRIS), theirs.predict(X_IRIS))
    np.testing.assert_allclose(ours.predict_proba(X_IRIS), theirs.predict_proba(X_IRIS))
    assert ours.score(X_IRIS, Y_IRIS) == pytest.approx(theirs.score(X_IRIS, Y_IRIS))


def test_multimetric_refit_names_one() -> None:
    scoring = ["accuracy", "f1_macro"]
    kwargs = {"cv": 3, "scoring": scoring, "refit": "f1_macro", "return_train_score": True}
    ours = TuneGridSearchCV(_logreg(), GRID, engine="simulated", **kwargs).fit(X_IRIS, Y_IRIS)
    theirs = GridSearchCV(_logreg(), GRID, **kwargs).fit(X_IRIS, Y_IRIS)
    assert sorted(ours.cv_results_) == sorted(theirs.cv_results_)
    assert ours.multimetric_ and set(ours.scorer_) == set(scoring)
    assert ours.best_index_ == int(np.argmin(ours.cv_results_["rank_test_f1_macro"]))
    assert list(ours.cv_results_["rank_test_accuracy"]) == list(
        theirs.cv_results_["rank_test_accuracy"]
    )
    with pytest.raises(ValueError, match="refit"):  # refit=True is ambiguous here
        TuneGridSearchCV(_logreg(), GRID, scoring=scoring, engine="simulated").fit(X_IRIS, Y_IRIS)


def test_refit_false_and_callable() -> None:
    ours = TuneGridSearchCV(_logreg(), GRID, cv=3, refit=False, engine="simulated")
    ours.fit(X_IRIS, Y_IRIS)
    assert not hasattr(ours, "best_estimator_") and "C" in ours.best_params_
    with pytest.raises(AttributeError, match="predict"):
        ours.predict(X_IRIS)
    pick_last = TuneGridSearchCV(
        _logreg(), GRID, cv=3, refit=lambda r: len(r["params"]) - 1, engine="simulated"
    ).fit(X_IRIS, Y_IRIS)
    assert pick_last.best_index_ == 5 and not hasattr(pick_last, "best_score_")


def test_error_score_number_warns_and_raise_raises() -> None:
    grid = {"C": [0.1, -1.0]}  # C must be > 0: the second candidate cannot fit
    with pytest.warns(FitFailedWarning, match="2 fits failed out of a total of 4"):
        ours = TuneGridSearchCV(_logreg(), grid, cv=2, error_score=-1.0, engine="simulated")
        ours.fit(X_IRIS, Y_IRIS)
    assert list(ours.cv_results_["mean_test_score"])[1] == -1.0
    assert ours.best_params_ == {"C": 0.1}
    with pytest.raises(TuneError, match="InvalidParameterError"):
        TuneGridSearchCV(_logreg(), grid, cv=2, error_score="raise", engine="simulated").fit(
            X_IRIS, Y_IRIS
        )


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"param_distributions": {"not_a_param": [1, 2]}}, "not_a_param"),
        ({"param_distributions": {}}, "param_distributions"),
        ({"param_distributions": {"C": []}}, "'C'"),
        ({"param_distributions": {"C": [1.0]}, "scoring": "no_such_metric"}, "scoring"),
        ({"param_distributions": {"C": [1.0]}, "n_trials": 0}, "n_trials"),
        ({"param_distributions": {"C": [1.0]}, "n_jobs": 0}, "n_jobs"),
        ({"param_distributions": {"C": [1.0]}, "early_stopping": "median"}, "early_stopping"),
    ],
)
def test_bad_input_refused_before_compute(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        TuneSearchCV(_logreg(), engine="simulated", **kwargs).fit(X_IRIS, Y_IRIS)


def test_early_stopping_needs_an_incremental_estimator() -> None:
    with pytest.raises(ValueError, match="early_stopping: SVC"):
        TuneSearchCV(SVC(), {"C": [1.0]}, early_stopping=True).fit(X_IRIS, Y_IRIS)


def test_spaces_scipy_lists_and_domains() -> None:
    space = {
        "alpha": loguniform(1e-6, 1e-1),
        "penalty": ["l2", "l1"],
        "eta0": tune.uniform(0.01, 0.1),
    }

    def search() -> list[dict]:
        estimator = SGDClassifier(learning_rate="constant", random_state=0)
        fitted = TuneSearchCV(
            estimator, space, n_trials=6, cv=2, random_state=0, engine="simulated"
        )
        return fitted.fit(X_IRIS, Y_IRIS).cv_results_["params"]

    params = search()
    assert len(params) == 6
    assert all(1e-6 <= p["alpha"] <= 1e-1 and 0.01 <= p["eta0"] <= 0.1 for p in params)
    assert {p["penalty"] for p in params} <= {"l1", "l2"}
    assert search() == params  # random_state seeds the search


def test_asha_stops_partial_fit_losers_early() -> None:
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    # alpha = 10 underfits badly: ASHA must cut those candidates at the first rungs
    space = {"alpha": [1e-5, 1e-4, 10.0, 30.0], "average": [False, True]}
    search = TuneSearchCV(
        SGDClassifier(random_state=0),
        space,
        n_trials=12,
        cv=2,
        early_stopping=True,
        max_iters=9,
        random_state=1,
        engine="simulated",
    ).fit(X, y)
    epochs = search.cv_results_["n_resources"]
    assert epochs.max() == 9 and epochs.min() < 9
    big = np.array([p["alpha"] >= 10 for p in search.cv_results_["params"]])
    assert epochs[big].mean() < epochs[~big].mean()
    assert search.best_params_["alpha"] < 1
    assert search.score(X, y) > 0.85


@pytest.mark.filterwarnings("error::sklearn.exceptions.FitFailedWarning")
def test_warm_start_boosting_grows_and_resumes_after_hyperband_pauses() -> None:
    X, y = load_digits(return_X_y=True)
    search = TuneSearchCV(
        GradientBoostingClassifier(n_estimators=8, max_depth=2, random_state=0),
        {"learning_rate": [0.001, 0.5], "subsample": [0.5, 1.0]},
        n_trials=4,
        cv=2,
        early_stopping="hyperband",
        max_iters=4,
        random_state=0,
        engine="simulated",
    ).fit(X[:400], y[:400])
    epochs = search.cv_results_["n_resources"]
    assert epochs.min() < 4 <= epochs.max()
    best_epochs = epochs[search.best_index_]
    assert search.best_estimator_.n_estimators_ == 2 * best_epochs  # 8 trees over 4 epochs


def test_fit_params_reach_the_estimator() -> None:
    weights = np.where(Y_IRIS == 0, 100.0, 1.0)
    search = TuneGridSearchCV(_logreg(), {"C": [1.0]}, cv=2, engine="simulated")
    with warnings.catch_warnings():
        warnings.simplefilter("error", FitFailedWarning)
        search.fit(X_IRIS, Y_IRIS, sample_weight=weights)
    plain = _logreg().fit(X_IRIS, Y_IRIS)
    assert not np.allclose(search.best_estimator_.coef_, plain.coef_)


def test_grid_with_bohb_still_tries_every_point() -> None:
    X, y = load_digits(return_X_y=True)
    grid = {"alpha": tune.grid_search([1e-5, 1e-3, 1.0, 10.0])}
    search = TuneGridSearchCV(
        SGDClassifier(random_state=0),
        grid,
        cv=2,
        early_stopping="bohb",
        max_iters=9,
        engine="simulated",
    ).fit(X / 16, y)
    assert [p["alpha"] for p in search.cv_results_["params"]] == [1e-5, 1e-3, 1.0, 10.0]
    assert search.best_params_["alpha"] < 1


def test_list_of_spaces_draws_one_per_candidate() -> None:
    spaces = [{"C": loguniform(1e-2, 1e2)}, {"C": [1.0], "fit_intercept": [False]}]
    search = TuneSearchCV(_logreg(), spaces, n_trials=8, cv=2, random_state=0, engine="simulated")
    params = search.fit(X_IRIS, Y_IRIS).cv_results_["params"]
    assert {tuple(sorted(p)) for p in params} == {("C",), ("C", "fit_intercept")}
    masked = search.cv_results_["param_fit_intercept"].mask
    assert list(masked) == ["fit_intercept" not in p for p in params]
    with pytest.raises(ValueError, match="'bogus'"):
        TuneSearchCV(_logreg(), [{"C": [1.0]}, {"bogus": [1]}], engine="simulated").fit(
            X_IRIS, Y_IRIS
        )


def _sgd_plan(X: np.ndarray, y: np.ndarray, **kwargs: object) -> object:
    from sklearn.base import clone
    from sklearn.metrics import check_scoring
    from sklearn.model_selection import StratifiedKFold

    from tunefleet.sklearn._fit import Plan

    estimator = SGDClassifier(random_state=0)
    return Plan(
        estimator=clone(estimator),
        X=X,
        y=y,
        splits=list(StratifiedKFold(2).split(X, y)),
        scorers={"score": check_scoring(estimator)},
        objective="score",
        fit_params={},
        error_score=np.nan,
        return_train_score=False,
        method="partial_fit",
        resource=None,
        max_iters=9,
        **kwargs,
    )


@pytest.mark.filterwarnings("ignore:trial .* without metric 'objective'")
@pytest.mark.parametrize("scheduler", ["asha", "hyperband"])
def test_folds_scored_and_models_saved_only_where_the_scheduler_decides(
    scheduler: str, tmp_path: object
) -> None:
    from tunefleet.schedulers import ASHAScheduler, HyperBandScheduler
    from tunefleet.sklearn._fit import OBJECTIVE

    X, y = load_digits(return_X_y=True)
    if scheduler == "asha":
        sched = ASHAScheduler(max_t=9, grace_period=1, reduction_factor=3)
    else:
        sched = HyperBandScheduler(max_t=9, reduction_factor=3)
    plan = _sgd_plan(X[:300] / 16, y[:300], score_at_decisions=True, checkpoint=scheduler != "asha")
    points = set(sched.decision_points().at)
    results: Any = _sweep(plan, sched, "simulated", tmp_path)
    for trial in results.trials:
        history = results.trial_results(trial)
        scored = {r["n_resources"] for r in history if OBJECTIVE in r}
        assert scored == {r["n_resources"] for r in history} & points  # rungs and max_t only
        assert OBJECTIVE in history[-1]  # every trial ends on a scored report
        saved = {r["n_resources"] for _, r in results.trial_checkpoints(trial)}
        assert saved <= points - {9.0}  # the models are pickled only where a trial may pause
        if scheduler == "hyperband" and len(history) < 9:
            assert saved  # paused (and ended there) with its models saved


@pytest.mark.filterwarnings("error::UserWarning")
def test_skipping_the_unread_scores_changes_no_result() -> None:
    from tunefleet.schedulers import ASHAScheduler

    class ReadsEveryReport(ASHAScheduler):  # not an exact ASHA: every epoch is scored
        pass

    X, y = load_digits(return_X_y=True)

    def search(scheduler: object) -> dict:
        return (
            TuneSearchCV(
                SGDClassifier(random_state=0),
                {"alpha": loguniform(1e-6, 10.0), "average": [False, True]},
                n_trials=9,
                cv=2,
                early_stopping=scheduler,
                max_iters=9,
                random_state=3,
                engine="simulated",
            )
            .fit(X[:400] / 16, y[:400])
            .cv_results_
        )

    fast = search(ASHAScheduler(max_t=9, grace_period=1))
    every = search(ReadsEveryReport(max_t=9, grace_period=1))
    assert list(fast["n_resources"]) == list(every["n_resources"])
    np.testing.assert_array_equal(fast["mean_test_score"], every["mean_test_score"])
    assert fast["params"] == every["params"]


class _Recorder(ClassifierMixin, BaseEstimator):
    """A majority-class classifier that records, per fit, where it ran and what it saw."""

    seen: list[dict] = []  # shared by the clones of one test (threads of this process)

    def __init__(self, n_estimators: int = 9, bias: float = 0.0) -> None:
        self.n_estimators = n_estimators
        self.bias = bias

    def fit(self, X: np.ndarray, y: np.ndarray) -> _Recorder:
        import os
        import threading

        from sklearn import get_config

        _Recorder.seen.append(
            {
                "pid": os.getpid(),
                "thread": threading.get_ident(),
                "assume_finite": get_config()["assume_finite"],
                "n_estimators": self.n_estimators,
            }
        )
        self.classes_, counts = np.unique(y, return_counts=True)
        self.majority_ = self.classes_[np.argmax(counts)]
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.full(len(X), self.majority_)

    def score(self, X: np.ndarray, y: np.ndarray, sample_weight: object = None) -> float:
        return float(np.mean(self.predict(X) == y)) + self.bias


def test_default_engine_is_threads_of_this_process_for_one_job() -> None:
    import os
    import threading

    from tunefleet.sklearn._search import _engine

    assert _engine(None, 1) == "threads" and _engine(None, 2) == "local"
    assert _engine("simulated", 1) == "simulated"
    _Recorder.seen = []
    with sklearn.config_context(assume_finite=True):  # thread-local in scikit-learn
        search = TuneGridSearchCV(_Recorder(), {"bias": [0.0, 0.1]}, cv=2, refit=False)
        search.fit(X_IRIS, Y_IRIS)
    trials = _Recorder.seen
    assert len(trials) == 4 and search.best_params_ == {"bias": 0.1}
    assert {t["pid"] for t in trials} == {os.getpid()}  # no worker process
    assert threading.get_ident() not in {t["thread"] for t in trials}  # a trial thread
    assert all(t["assume_finite"] for t in trials)  # the caller's configuration


@pytest.mark.filterwarnings("ignore:trial .* without metric 'objective'")
def test_a_fresh_fit_per_epoch_is_done_only_where_it_is_scored() -> None:
    from tunefleet.schedulers import ASHAScheduler

    _Recorder.seen = []
    search = TuneSearchCV(
        _Recorder(n_estimators=9),
        {"bias": [0.0, 0.05, 0.1, 0.2]},
        n_trials=4,
        cv=2,
        early_stopping=ASHAScheduler(max_t=9, grace_period=1, reduction_factor=3),
        max_iters=9,
        random_state=0,
        refit=False,
    ).fit(X_IRIS, Y_IRIS)
    # n_estimators grows 1 tree an epoch; rungs at 1, 3 and 9 epochs: no fit in between
    assert {t["n_estimators"] for t in _Recorder.seen} <= {1, 3, 9}
    assert search.cv_results_["n_resources"].max() == 9
    epochs = search.cv_results_["n_resources"]
    fits = sum(len([r for r in (1, 3, 9) if r <= e]) for e in epochs) * 2  # 2 folds
    assert len(_Recorder.seen) == fits


@pytest.mark.filterwarnings("ignore:trial .* without metric 'objective'")
def test_default_scorer_computed_directly_gives_scikit_learns_accuracy() -> None:
    from tunefleet.sklearn._fit import plain_accuracy

    assert plain_accuracy(SGDClassifier(), None) and not plain_accuracy(SGDClassifier(), "f1")
    assert not plain_accuracy(SVC(), "accuracy")  # a named scorer goes through scikit-learn
    X, y = load_digits(return_X_y=True)

    def results(scoring: object) -> dict:
        return TuneSearchCV(
            SGDClassifier(random_state=0),
            {"alpha": loguniform(1e-6, 1.0)},
            n_trials=6,
            cv=3,
            scoring=scoring,
            early_stopping=True,
            max_iters=4,
            random_state=0,
            return_train_score=True,
        ).fit(X[:500] / 16, y[:500])

    ours, theirs = results(None), results("accuracy")
    for key in ("split0_test_score", "split2_test_score", "mean_train_score", "n_resources"):
        np.testing.assert_array_equal(ours.cv_results_[key], theirs.cv_results_[key])
    assert ours.best_estimator_.score(X[500:] / 16, y[500:]) == pytest.approx(
        theirs.best_estimator_.score(X[500:] / 16, y[500:])
    )


@pytest.mark.filterwarnings("ignore:trial .* without metric 'objective'")
def test_a_named_resource_is_grown_by_fresh_fits_as_halving_grows_it() -> None:
    from sklearn.model_selection import cross_val_score

    X, y = load_digits(return_X_y=True)
    X, y = X[:600] / 16, y[:600]
    sgd = SGDClassifier(max_iter=9, tol=None, random_state=0)
    search = TuneSearchCV(
        sgd,
        {"alpha": loguniform(1e-6, 1.0)},
        n_trials=9,  # Hyperband's first bracket for max_iters=9: 9 at 1 epoch, 3 at 3, 1 at 9
        cv=2,
        early_stopping="hyperband",
        max_iters=9,
        resource="max_iter",
        random_state=0,
    ).fit(X, y)
    results = search.cv_results_
    assert sorted(results["n_resources"]) == [1] * 6 + [3] * 2 + [9]
    for i, epochs in enumerate(results["n_resources"]):  # each score: a plain fit at that size
        model = clone(sgd).set_params(max_iter=int(epochs), **results["params"][i])
        expected = cross_val_score(model, X, y, cv=2)
        np.testing.assert_allclose([results[f"split{k}_test_score"][i] for k in (0, 1)], expected)
    best = search.best_estimator_
    assert best.max_iter == results["n_resources"][search.best_index_] == best.n_iter_
    with pytest.raises(TuneValueError, match="resource='penalty'"):
        TuneSearchCV(sgd, {"alpha": [1e-4]}, early_stopping=True, resource="penalty").fit(X, y)


@pytest.mark.parametrize("scheduler", ["asha", "hyperband"])
def test_schedulers_counting_epochs_get_reports_only_where_they_decide(
    scheduler: str, tmp_path: object
) -> None:
    from tunefleet.schedulers import ASHAScheduler, HyperBandScheduler
    from tunefleet.sklearn._fit import OBJECTIVE, RESOURCE_ATTR

    X, y = load_digits(return_X_y=True)
    kind = ASHAScheduler if scheduler == "asha" else HyperBandScheduler
    sched = kind(time_attr=RESOURCE_ATTR, max_t=9, reduction_factor=3)
    plan = _sgd_plan(
        X[:300] / 16,
        y[:300],
        score_at_decisions=True,
        report_at_decisions=True,
        checkpoint=scheduler != "asha",
    )
    points = set(sched.decision_points().at)
    results: Any = _sweep(plan, sched, "threads", tmp_path)
    for trial in results.trials:
        history = results.trial_results(trial)
        assert {r[RESOURCE_ATTR] for r in history} <= points  # rungs and max_t only
        assert all(OBJECTIVE in r for r in history)  # every report is read, and scored
        assert [r[RESOURCE_ATTR] for r in history] == sorted({r[RESOURCE_ATTR] for r in history})


@pytest.mark.filterwarnings("ignore:trial .* without metric 'objective'")
def test_reporting_only_where_hyperband_decides_changes_no_result() -> None:
    from tunefleet.schedulers import HyperBandScheduler

    X, y = load_digits(return_X_y=True)

    def search(early_stopping: object) -> dict:
        return (
            TuneSearchCV(
                SGDClassifier(random_state=0),
                {"alpha": loguniform(1e-6, 10.0), "average": [False, True]},
                n_trials=9,
                cv=2,
                early_stopping=early_stopping,
                max_iters=9,
                random_state=3,
            )
            .fit(X[:400] / 16, y[:400])
            .cv_results_
        )

    sparse = search("hyperband")  # counts epochs: reports at 1, 3 and 9 only
    every = search(HyperBandScheduler(max_t=9))  # counts reports: one per epoch
    assert list(sparse["n_resources"]) == list(every["n_resources"])
    np.testing.assert_array_equal(sparse["mean_test_score"], every["mean_test_score"])
    assert sparse["params"] == every["params"]


def test_the_temporary_store_is_removed_after_fit(tmp_path, monkeypatch) -> None:
    import tempfile
    import threading

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    TuneSearchCV(SGDClassifier(random_state=0), {"alpha": [1e-4, 1e-3]}, n_trials=2, cv=2).fit(
        X_IRIS, Y_IRIS
    )
    for thread in threading.enumerate():  # the removal runs in the background
        if thread.name == "tunefleet-sklearn-cleanup":
            thread.join(30)
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith("tunefleet-sklearn-")]


def _sweep(plan: object, sched: object, engine: str, tmp_path: object) -> object:
    """Six SGD candidates of ``plan`` under ``sched`` on ``engine``, seeded."""
    from tunefleet.sklearn._fit import OBJECTIVE, cv_trial

    return tune.run(
        tune.with_parameters(cv_trial, plan=plan),
        config={"alpha": tune.loguniform(1e-6, 10.0)},
        num_samples=6,
        metric=OBJECTIVE,
        mode="max",
        scheduler=sched,
        engine=engine,
        seed=0,
        storage_path=str(tmp_path),
        verbose=0,
    )
