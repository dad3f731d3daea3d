"""``TuneSearchCV`` / ``TuneGridSearchCV``: scikit-learn search estimators on tunefleet.

They subclass scikit-learn's ``BaseSearchCV`` for everything after the search
(``predict``/``score``/``predict_proba``/``decision_function``/``transform`` delegated to
``best_estimator_``, ``classes_``, ``n_features_in_``, tags) and replace only ``fit``:
each candidate is one tunefleet trial, so any searcher, scheduler and engine applies, and
a scheduler can stop a candidate after any epoch (see :mod:`tunefleet.sklearn._fit`).
The data and the CV splits travel once per worker through ``tune.with_parameters``.
"""

from __future__ import annotations

import builtins
import os
import shutil
import tempfile
import threading
import time
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
from sklearn.base import clone, is_classifier
from sklearn.metrics import check_scoring
from sklearn.model_selection import check_cv
from sklearn.model_selection._search import BaseSearchCV
from sklearn.utils.validation import indexable

from tunefleet.errors import TuneError, TuneTypeError, TuneValueError
from tunefleet.sklearn import _results, _space
from tunefleet.sklearn._fit import (
    OBJECTIVE,
    RESOURCE_ATTR,
    SCORE_ERROR,
    SUBSPACE,
    Plan,
    cv_trial,
    incremental_method,
    plain_accuracy,
)
from tunefleet.space.domains import Categorical

_SCHEDULERS = ("asha", "hyperband", "bohb")


def _scorers(estimator: Any, scoring: Any) -> tuple[dict[str, Any], bool]:
    """``{name: scorer}`` and whether several metrics were asked for (``multimetric_``)."""
    try:
        if scoring is None or isinstance(scoring, str) or callable(scoring):
            return {"score": check_scoring(estimator, scoring)}, False
        if isinstance(scoring, Mapping):
            named = dict(scoring)
        elif isinstance(scoring, (list, tuple, set)):
            if not all(isinstance(s, str) for s in scoring) or len(set(scoring)) != len(scoring):
                raise ValueError("a list of scorers must hold distinct scorer names")
            named = {s: s for s in scoring}
        else:
            raise TypeError(f"got {type(scoring).__name__}")
        if not named:
            raise ValueError("no scorer given")
        return {n: check_scoring(estimator, s) for n, s in named.items()}, True
    except (ValueError, TypeError) as exc:
        raise TuneValueError(
            f"scoring={scoring!r:.60}: not a scorer name, callable, list or dict of them ({exc})"
        ) from exc


def _n_jobs(n_jobs: Any) -> int:
    """Concurrent trials as joblib counts them: None is 1, -1 every core, -2 all but one."""
    if n_jobs is None:
        return 1
    if not isinstance(n_jobs, int) or n_jobs == 0:
        raise TuneValueError(f"n_jobs={n_jobs!r}: must be None or a non-zero int")
    return n_jobs if n_jobs > 0 else max(1, (os.cpu_count() or 1) + 1 + n_jobs)


def _remove_later(path: str) -> None:
    """Delete the search's temporary store in a background thread: removing its few dozen
    trial and checkpoint directories is file-system wait (0.2-0.5 s of wall time and
    10-20 ms of CPU on an ext4 disk mounted with ``discard``), which ``fit`` need not
    wait for. Not a daemon thread: the interpreter finishes the removal before it exits."""
    threading.Thread(
        target=shutil.rmtree,
        args=(path,),
        kwargs={"ignore_errors": True},
        name="tunefleet-sklearn-cleanup",
    ).start()


def _engine(engine: Any, n_jobs: int) -> Any:
    """``engine=None``: threads of this process when candidates run one at a time (as
    scikit-learn's own searches run with ``n_jobs=1``: nothing starts, nothing is copied),
    worker processes (``"local"``) when several run at once (as joblib's default backend
    does: the Python parts of a fit hold the GIL, so threads would take turns)."""
    if engine is None:
        return "threads" if n_jobs == 1 else "local"
    return engine


def _may_pause(scheduler: Any) -> bool:
    """Whether ``scheduler`` pauses trials (to resume them): all but ASHA's stopping variant."""
    if scheduler is None:
        return False
    return not (
        type(scheduler).__name__ in ("ASHAScheduler", "AsyncHyperBandScheduler")
        and getattr(scheduler, "variant", "stopping") == "stopping"
    )


def _scores_at_decisions_only(scheduler: Any) -> bool:
    """Whether ``scheduler`` reads a trial's score only at its decision points (ASHA's and
    Hyperband's rungs and ``max_t``), so that the other epochs need not be scored. Exact
    classes only: a subclass may read more."""
    from tunefleet.schedulers.asha import ASHAScheduler, AsyncHyperBandScheduler
    from tunefleet.schedulers.bohb import HyperBandForBOHB
    from tunefleet.schedulers.hyperband import HyperBandScheduler

    known = (ASHAScheduler, AsyncHyperBandScheduler, HyperBandScheduler, HyperBandForBOHB)
    return type(scheduler) in known


def _run(trainable: Any, **kwargs: Any) -> Any:
    """``tune.run``; under ``error_score="raise"`` a failed fit is raised without the
    path of the (temporary, deleted) store that tunefleet's message points to."""
    import tunefleet as tune

    try:
        with warnings.catch_warnings():
            # the epochs between decision points report no score, by design (_fit.py)
            warnings.filterwarnings(
                "ignore", f"trial .* reported a result without metric '{OBJECTIVE}'", UserWarning
            )
            # a candidate whose fits all failed scores error_score=nan: scikit-learn's
            # FitFailedWarning says so (_warn_failures)
            warnings.filterwarnings("ignore", f"trial .* reported {OBJECTIVE}=nan", UserWarning)
            return tune.run(trainable, **kwargs)
    except TuneError as exc:
        if not kwargs.get("fail_fast"):
            raise
        first = str(exc).split("First error, ", 1)[-1]
        raise TuneError(f"error_score='raise': a candidate's fit failed, {first}") from exc


def _warn_failures(last: list[dict[str, Any]], n_splits: int, error_score: Any) -> None:
    """scikit-learn's behaviour: raise a scorer's error; warn when some fits failed, raise
    when all did."""
    from sklearn.exceptions import FitFailedWarning

    for r in last:
        if SCORE_ERROR in r:
            name, message = r[SCORE_ERROR]
            kind = getattr(builtins, name, None)
            if isinstance(kind, type) and issubclass(kind, Exception):
                raise kind(message)
            raise TuneError(f"scoring failed: {name}: {message}")
    failed = sum(int(r.get("fit_failed", 0)) for r in last)
    if not failed:
        return
    total = n_splits * len(last)
    first = next(r["fit_error"] for r in last if r.get("fit_failed"))
    if failed == total:
        raise ValueError(f"All the {total} fits failed. The first error: {first}")
    warnings.warn(
        f"{failed} fits failed out of a total of {total}; their scores are set to "
        f"error_score={error_score}. The first error: {first}",
        FitFailedWarning,
        stacklevel=3,
    )


class _TuneSearchBase(BaseSearchCV):
    """The fit shared by both estimators; subclasses say what the candidates are."""

    def _config(self) -> tuple[dict[str, Any], list[dict[str, Any]] | None, int]:
        raise NotImplementedError

    def _early_stopping(self) -> Any:
        """The scheduler to pass to ``tune.run`` (None: every candidate runs to the end)."""
        scheduler = getattr(self, "scheduler", None)
        if scheduler is None and self.early_stopping:
            scheduler = "asha" if self.early_stopping is True else self.early_stopping
        if scheduler is None or scheduler is False:
            return None
        if not isinstance(scheduler, str):
            return scheduler
        name = scheduler.lower()
        if name not in _SCHEDULERS:
            raise TuneValueError(
                f"early_stopping={scheduler!r}: expected True, one of {', '.join(_SCHEDULERS)} "
                "or a tunefleet scheduler object"
            )
        from tunefleet import schedulers

        # counting epochs (not reports) lets a trial report only where they may decide
        if name == "asha":
            return schedulers.ASHAScheduler(
                time_attr=RESOURCE_ATTR, max_t=self.max_iters, grace_period=1
            )
        if name == "hyperband":
            return schedulers.HyperBandScheduler(time_attr=RESOURCE_ATTR, max_t=self.max_iters)
        return schedulers.HyperBandForBOHB(time_attr=RESOURCE_ATTR, max_t=self.max_iters)

    def _check(self, X: Any) -> tuple[dict[str, Any], bool, str, Any, str, str | None]:
        valid = set(self.estimator.get_params(deep=True))
        config, points, _ = self._config()
        subspaces = config[SUBSPACE].values() if SUBSPACE in config else None
        for point in points or subspaces or [config]:
            _space.check_names(point, valid, self._space_name)
        scorers, multimetric = _scorers(self.estimator, self.scoring)
        if multimetric:
            self._check_refit_for_multimetric(scorers)
        objective = self.refit if multimetric and isinstance(self.refit, str) else None
        objective = objective or next(iter(scorers))
        if not (self.error_score == "raise" or isinstance(self.error_score, (int, float))):
            raise TuneValueError(f"error_score={self.error_score!r}: must be 'raise' or a number")
        if not (isinstance(self.max_iters, int) and self.max_iters >= 1):
            raise TuneValueError(f"max_iters={self.max_iters!r}: must be an int >= 1")
        scheduler = self._early_stopping()
        method, resource = ("fit", None)
        if self.resource is not None:
            size = self.estimator.get_params(deep=True).get(self.resource)
            if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
                raise TuneValueError(
                    f"resource={self.resource!r}: must name an int parameter >= 1 of "
                    f"{type(self.estimator).__name__} (it has {self.resource}={size!r})"
                )
        if scheduler is not None:
            method, resource = incremental_method(self.estimator, self.resource)
            if method == "fit":
                raise TuneValueError(
                    f"early_stopping: {type(self.estimator).__name__} has neither partial_fit, "
                    "warm_start nor n_estimators, so it cannot be stopped early"
                )
        return scorers, multimetric, objective, scheduler, method, resource

    def fit(self, X: Any, y: Any = None, groups: Any = None, **fit_params: Any) -> Any:
        """Search, then (``refit``) fit the best candidate on all of ``X``."""
        import tunefleet as tune

        # tune.with_parameters: X, y and the splits go to each worker once, not per trial
        scorers, multimetric, objective, scheduler, method, resource = self._check(X)
        config, points, num_samples = self._config()
        X, y, groups = indexable(X, y, groups)
        cv = check_cv(self.cv, y, classifier=is_classifier(self.estimator))
        splits = list(cv.split(X, y, groups))
        from sklearn import get_config

        plan = Plan(
            estimator=clone(self.estimator),
            X=X,
            y=y,
            splits=splits,
            scorers=scorers,
            objective=objective,
            fit_params=fit_params,
            error_score=self.error_score,
            return_train_score=self.return_train_score,
            method=method,
            resource=resource,
            max_iters=self.max_iters,
            points=points,
            checkpoint=_may_pause(scheduler),
            score_at_decisions=_scores_at_decisions_only(scheduler),
            report_at_decisions=_scores_at_decisions_only(scheduler)
            and getattr(scheduler, "time_attr", None) == RESOURCE_ATTR,
            sklearn_config=get_config(),  # thread-local: a trial thread would not see it
            accuracy=plain_accuracy(self.estimator, self.scoring),
        )
        n_jobs = _n_jobs(self.n_jobs)
        storage = tempfile.mkdtemp(prefix="tunefleet-sklearn-")
        try:
            results = _run(
                tune.with_parameters(cv_trial, plan=plan),
                config=config,
                num_samples=num_samples,
                metric=OBJECTIVE,
                mode="max",
                search_alg=self._searcher(scheduler, points is not None),
                scheduler=scheduler,
                max_concurrent_trials=max(1, int(n_jobs)),
                engine=_engine(self.engine, n_jobs),
                seed=self.random_state if isinstance(self.random_state, int) else None,
                storage_path=storage,
                name="search",
                verbose=0,
                fail_fast=self.error_score == "raise",
            )
            trials = sorted(results.trials, key=lambda t: t.index)
            last = [dict(t.last_result) for t in trials]
            configs = [dict(t.config) for t in trials]
        finally:
            _remove_later(storage)
        if points is not None:
            order = np.argsort([c["_point"] for c in configs], kind="stable")
            params = [points[configs[i]["_point"]] for i in order]
            last = [last[i] for i in order]
        else:
            params = [c.get(SUBSPACE, c) for c in configs]
        _warn_failures(last, len(splits), self.error_score)
        self._store(params, last, len(splits), scorers, multimetric, scheduler is not None)
        if self.refit:
            self._refit(X, y, fit_params, method, resource, last)
        self.scorer_ = scorers if multimetric else scorers["score"]
        self.multimetric_ = multimetric
        self.n_splits_ = len(splits)
        return self

    def _searcher(self, scheduler: Any, grid: bool) -> Any:
        """The user's searcher; else BOHB's own KDE for BOHB, except over a grid (every
        point is a candidate there: the grid is the search)."""
        if self.search_alg is not None or grid:
            return self.search_alg
        name = getattr(scheduler, "__class__", type(None)).__name__
        return "bohb" if name == "HyperBandForBOHB" else None

    def _store(
        self,
        params: list[dict[str, Any]],
        last: list[dict[str, Any]],
        n_splits: int,
        scorers: dict[str, Any],
        multimetric: bool,
        early: bool,
    ) -> None:
        self.cv_results_ = _results.build(
            params, last, n_splits, list(scorers), self.return_train_score, early
        )
        metric = self.refit if multimetric else "score"
        if self.refit or not multimetric:
            self.best_index_ = int(self._select_best_index(self.refit, metric, self.cv_results_))
            if not callable(self.refit):
                self.best_score_ = float(self.cv_results_[f"mean_test_{metric}"][self.best_index_])
            self.best_params_ = self.cv_results_["params"][self.best_index_]
        self._last = last

    def _refit(
        self,
        X: Any,
        y: Any,
        fit_params: dict[str, Any],
        method: str,
        resource: str | None,
        last: list[dict[str, Any]],
    ) -> None:
        """Fit the best candidate on all rows, for as many epochs as it trained in the search."""
        best = clone(self.estimator).set_params(**clone(self.best_params_, safe=False))
        epochs = int(last[self.best_index_].get("n_resources") or self.max_iters)
        start = time.time()
        if method == "partial_fit":
            kwargs = dict(fit_params)
            if is_classifier(best):
                kwargs["classes"] = np.unique(y)
            for _ in range(epochs):
                best.partial_fit(X, y, **kwargs)
                kwargs.pop("classes", None)  # the first call's only (as in _fit._advance)
        else:
            if resource is not None:
                full = int(best.get_params()[resource])
                best.set_params(**{resource: max(1, -(-full * epochs // self.max_iters))})
            best.fit(X, y, **fit_params)
        self.refit_time_ = time.time() - start
        self.best_estimator_ = best
        if hasattr(best, "feature_names_in_"):
            self.feature_names_in_ = best.feature_names_in_

    def _run_search(self, evaluate_candidates: Any, *, callback_ctx: Any = None) -> None:
        raise TuneTypeError("tunefleet's search estimators run their search in fit()")


class TuneSearchCV(_TuneSearchBase):
    """Like ``RandomizedSearchCV``: ``n_trials`` candidates from ``param_distributions``.

    Values may be lists (uniform choice), scipy.stats distributions, or tunefleet domains
    (``tune.loguniform(1e-4, 1)``); a list of such dicts draws one dict per candidate;
    ``search_alg`` is any tunefleet searcher (default
    random). ``early_stopping=True`` (ASHA), ``"hyperband"``, ``"bohb"`` or a scheduler
    object stops poor candidates after an epoch of ``partial_fit`` or a ``warm_start``
    step; ``max_iters`` is the number of epochs (steps) a candidate may run.
    ``resource`` names an int parameter to grow instead, as ``HalvingRandomSearchCV``'s
    does: epoch ``e`` fits a fresh model with it at ``ceil(value * e / max_iters)``, and
    only where the scheduler reads a score (e.g. ``"max_iter"`` for an estimator whose
    ``partial_fit`` costs more per call than an iteration inside ``fit``).

    ``engine`` is any tunefleet engine; the default (None) runs the candidates as threads
    of this process when ``n_jobs`` is 1 or None (nothing starts and nothing is copied, as
    in scikit-learn's own sequential search) and in worker processes (``"local"``)
    otherwise, as joblib's default backend does.
    """

    _space_name = "param_distributions"

    def __init__(
        self,
        estimator: Any,
        param_distributions: Any,
        *,
        n_trials: int = 10,
        scoring: Any = None,
        n_jobs: int | None = None,
        refit: Any = True,
        cv: Any = None,
        verbose: int = 0,
        random_state: Any = None,
        error_score: Any = np.nan,
        return_train_score: bool = False,
        search_alg: Any = None,
        early_stopping: Any = False,
        scheduler: Any = None,
        max_iters: int = 10,
        resource: str | None = None,
        engine: Any = None,
    ) -> None:
        super().__init__(
            estimator=estimator,
            scoring=scoring,
            n_jobs=n_jobs,
            refit=refit,
            cv=cv,
            verbose=verbose,
            error_score=error_score,
            return_train_score=return_train_score,
        )
        self.resource = resource
        self.param_distributions = param_distributions
        self.n_trials = n_trials
        self.random_state = random_state
        self.search_alg = search_alg
        self.early_stopping = early_stopping
        self.scheduler = scheduler
        self.max_iters = max_iters
        self.engine = engine

    def _config(self) -> tuple[dict[str, Any], list[dict[str, Any]] | None, int]:
        if not (isinstance(self.n_trials, int) and self.n_trials >= 1):
            raise TuneValueError(f"n_trials={self.n_trials!r}: must be an int >= 1")
        seed = self.random_state if isinstance(self.random_state, int) else None
        space = self.param_distributions
        if isinstance(space, list):  # several spaces: a candidate draws one, then its values
            if not space:
                raise TuneValueError(f"{self._space_name}: the list of spaces is empty")
            parts = [_space.to_space(part, self._space_name, seed) for part in space]
            return {SUBSPACE: Categorical(parts)}, None, self.n_trials
        return _space.to_space(space, self._space_name, seed), None, self.n_trials


class TuneGridSearchCV(_TuneSearchBase):
    """Like ``GridSearchCV``: every point of ``param_grid`` (a dict or a list of dicts).

    ``cv_results_`` lists the candidates in ``GridSearchCV``'s order. Early stopping works
    as in :class:`TuneSearchCV`; a grid point stopped early keeps its last epoch's score.
    ``engine`` defaults as in :class:`TuneSearchCV`.
    """

    _space_name = "param_grid"

    def __init__(
        self,
        estimator: Any,
        param_grid: Any,
        *,
        scoring: Any = None,
        n_jobs: int | None = None,
        refit: Any = True,
        cv: Any = None,
        verbose: int = 0,
        error_score: Any = np.nan,
        return_train_score: bool = False,
        early_stopping: Any = False,
        scheduler: Any = None,
        max_iters: int = 10,
        resource: str | None = None,
        engine: Any = None,
    ) -> None:
        super().__init__(
            estimator=estimator,
            scoring=scoring,
            n_jobs=n_jobs,
            refit=refit,
            cv=cv,
            verbose=verbose,
            error_score=error_score,
            return_train_score=return_train_score,
        )
        self.resource = resource
        self.param_grid = param_grid
        self.early_stopping = early_stopping
        self.scheduler = scheduler
        self.max_iters = max_iters
        self.engine = engine

    search_alg = None
    random_state = None

    def _config(self) -> tuple[dict[str, Any], list[dict[str, Any]] | None, int]:
        from tunefleet.space import domains

        points = _space.grid_points(self.param_grid, self._space_name)
        return {"_point": domains.grid_search(list(range(len(points))))}, points, 1
