"""What one trial runs on a worker: cross-validate one configuration, epoch by epoch.

An epoch advances every fold's model by one step and scores it, then reports the mean
score so that a scheduler (ASHA, Hyperband, BOHB) can stop the trial there. A step is
one ``partial_fit`` pass over the fold's training rows, or a ``warm_start`` refit that
grows ``n_estimators`` / ``max_iter`` to ``ceil(full * epoch / max_iters)``, or a fresh
fit with the grown parameter at that size (``n_estimators`` without ``warm_start``, or the
parameter named by the search's ``resource``, as ``HalvingRandomSearchCV`` grows it).
Without early stopping there is one step: a plain ``fit``, exactly what scikit-learn's
search estimators do. A grown parameter is fitted only at the epochs that are scored
(below): the next fresh fit would discard a fresh fit in between, and the next
``warm_start`` step grows the same trees in one call instead of several. For a forest or
gradient boosting with an int ``random_state`` a ``warm_start`` step is exact: the model
continued to a size is the one a fresh fit at that size gives (a forest draws its trees'
seeds in the same order; boosting keeps its random state on the model), so a survivor
pays only for the trees it adds, where ``HalvingRandomSearchCV`` refits from scratch.

Scoring costs about what a step costs on small data (a scorer validates its input and
predicts every test row), so under a scheduler that reads a trial's score only where it
may decide (ASHA's and Hyperband's rungs, ``max_t``: ``Plan.score_at_decisions``) the
folds are scored only at those epochs and at the last one; the reports in between carry
the epoch count and fit times, and nothing reads a score from them. The schedulers that
the search builds itself count epochs (``n_resources``), not reports, so the epochs in
between are not reported at all (``Plan.report_at_decisions``): a report costs the
driver a store write and, on the threads engine, a switch between threads. Likewise the models
are checkpointed (for a scheduler that pauses) only at reports where it may pause. Everything a worker
can compute once per plan (the folds' rows, the classes) is kept on the plan, which
reaches a worker once, so a trial pays only for its own models.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: Report key the scheduler and searcher rank trials by (the refit scorer's mean).
OBJECTIVE = "objective"
#: Config key of the drawn sub-space when ``param_distributions`` is a list of dicts.
SUBSPACE = "_space"
#: Report key of a scorer's error: [exception class name, message].
SCORE_ERROR = "score_error"
#: Report key of the epochs a candidate trained: the time attribute of the schedulers that
#: the search builds itself, so that only the epochs where they may decide are reported.
RESOURCE_ATTR = "n_resources"


@dataclass
class Plan:
    """Everything a trial needs besides its config; shipped once per worker."""

    estimator: Any
    X: Any
    y: Any
    splits: list[tuple[np.ndarray, np.ndarray]]
    scorers: dict[str, Any]
    objective: str  # the scorer whose mean is OBJECTIVE
    fit_params: dict[str, Any]
    error_score: Any
    return_train_score: bool
    method: str  # "fit", "partial_fit", "warm_start" or "fresh"
    resource: str | None  # the parameter grown per epoch (warm_start / fresh)
    max_iters: int
    points: list[dict[str, Any]] | None = None  # a grid: config["_point"] indexes it
    checkpoint: bool = False  # the scheduler may pause trials: save the models each epoch
    # the scheduler reads scores only at its decision points: score only there (and last)
    score_at_decisions: bool = False
    # ... and counts epochs (RESOURCE_ATTR), not reports: report only there (and last)
    report_at_decisions: bool = False
    # scikit-learn's configuration (set_config/config_context) where fit() was called: it
    # is thread-local, so a trial thread or worker process sets it again
    sklearn_config: dict[str, Any] = field(default_factory=dict)
    # the one scorer is plain accuracy (plain_accuracy): computed without its checks
    accuracy: bool = False
    _prepared: Any = field(default=None, init=False, repr=False, compare=False)

    def prepared(self) -> tuple[list[tuple[Any, ...]], Any]:
        """Each fold's ``(X_train, y_train, X_test, y_test, fit_params)`` and the classes
        (None for a regressor), computed once per worker and reused by its trials."""
        if self._prepared is None:
            from sklearn.base import is_classifier

            n = len(self.y) if self.y is not None else len(self.X)
            folds = [
                (
                    _subset(self.X, tr),
                    _subset(self.y, tr),
                    _subset(self.X, te),
                    _subset(self.y, te),
                    _fold_params(self.fit_params, n, tr),
                )
                for tr, te in self.splits
            ]
            classes = np.unique(self.y) if is_classifier(self.estimator) else None
            self._prepared = (folds, classes)
        return self._prepared

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_prepared"] = None  # rebuilt where it is used, never shipped
        return state


def incremental_method(estimator: Any, resource: str | None = None) -> tuple[str, str | None]:
    """How ``estimator`` can be trained a step at a time, and which parameter grows:
    ``resource`` (a fresh fit per step) when named, else the first that applies of
    ``partial_fit``, ``warm_start`` with ``n_estimators``/``max_iter``, ``n_estimators``."""
    if resource is not None:
        return "fresh", resource
    params = estimator.get_params(deep=False)
    if hasattr(estimator, "partial_fit"):
        return "partial_fit", None
    for name in ("n_estimators", "max_iter"):
        if "warm_start" in params and name in params:
            return "warm_start", name
    if "n_estimators" in params:
        return "fresh", "n_estimators"
    return "fit", None


def _subset(data: Any, rows: np.ndarray) -> Any:
    from sklearn.utils import _safe_indexing

    return None if data is None else _safe_indexing(data, rows)


def _step_size(full: Any, epoch: int, max_iters: int) -> int:
    return max(1, math.ceil(int(full) * epoch / max_iters))


def _advance(
    plan: Plan,
    model: Any,
    epoch: int,
    full: Any,
    data: tuple[Any, Any],
    classes: Any,
    fit_params: dict[str, Any],
) -> Any:
    """One step of ``plan.method`` on a fold's training rows; returns the model."""
    X, y = data
    if plan.method == "partial_fit":
        kwargs = dict(fit_params)
        if classes is not None and getattr(model, "classes_", None) is None:
            # scikit-learn's convention: needed on the first call only, and checked against
            # the labels (unique_labels) on every call it is given to
            kwargs["classes"] = classes
        model.partial_fit(X, y, **kwargs)
        return model
    if plan.method in ("warm_start", "fresh") and plan.resource is not None:
        params: dict[str, Any] = {plan.resource: _step_size(full, epoch, plan.max_iters)}
        if plan.method == "warm_start":
            params["warm_start"] = True
        model.set_params(**params)
    return model.fit(X, y, **fit_params)


def _score(plan: Plan, model: Any, X: Any, y: Any) -> dict[str, float]:
    if plan.accuracy and getattr(y, "ndim", 0) == 1:
        # ClassifierMixin.score through the default scorer is accuracy_score(y, predict(X)),
        # whose checks of y's type cost more than the comparison on small folds; same value
        return {"score": float(np.mean(np.asarray(model.predict(X)) == np.asarray(y)))}
    return {name: float(scorer(model, X, y)) for name, scorer in plan.scorers.items()}


def plain_accuracy(estimator: Any, scoring: Any) -> bool:
    """Whether the score of ``estimator`` under ``scoring`` is plain accuracy that
    :func:`_score` may compute itself: the default scorer, a classifier whose ``score`` is
    ``ClassifierMixin.score``, and scikit-learn's numpy (not array API) dispatch."""
    from sklearn import get_config
    from sklearn.base import ClassifierMixin

    return (
        scoring is None
        and type(estimator).score is ClassifierMixin.score
        and not get_config().get("array_api_dispatch", False)
        and not get_config().get("enable_metadata_routing", False)
    )


def _failed(plan: Plan, exc: BaseException) -> dict[str, float]:
    """``error_score`` for every scorer, or the error itself under ``error_score="raise"``."""
    if plan.error_score == "raise":
        raise exc
    return dict.fromkeys(plan.scorers, float(plan.error_score))


def _fold_params(fit_params: dict[str, Any], n_samples: int, rows: np.ndarray) -> dict[str, Any]:
    """Fit parameters with one entry per sample (``sample_weight``) cut to the fold's rows."""
    return {
        k: _subset(v, rows) if hasattr(v, "__len__") and len(v) == n_samples else v
        for k, v in fit_params.items()
    }


def _start(plan: Plan, params: dict[str, Any]) -> dict[str, Any]:
    """A trial's state: resumed from its checkpoint after a pause, or fresh."""
    from sklearn.base import clone

    from tunefleet.worker.session import get_checkpoint

    checkpoint = get_checkpoint()
    if checkpoint is not None:
        return checkpoint.to_dict()
    k = len(plan.splits)
    models = [clone(plan.estimator).set_params(**params) for _ in range(k)]
    return {
        "models": models,
        # the full size the grown parameter reaches at max_iters (the models' own changes)
        "full": models[0].get_params()[plan.resource] if plan.resource else None,
        "fit_time": np.zeros(k),
        "score_time": np.zeros(k),
        "dead": [False] * k,
        "errors": [],
        "epoch": 0,
        "size": None,  # the grown parameter's value at the last fit (warm_start / fresh)
    }


def _fits_at(plan: Plan, scoring: bool, state: dict[str, Any], full: Any, epoch: int) -> bool:
    """Whether this epoch fits the models. A ``partial_fit`` pass always does. A grown
    parameter is fitted only where the folds are scored: a fresh fit that nothing scores is
    thrown away by the next one, and a ``warm_start`` step that nothing scores adds trees
    (iterations) that the next scored step would add anyway, in fewer ``fit`` calls
    (a forest draws its trees' seeds in the same order, and gradient boosting keeps its
    random state on the model, so the grown models are the same; tested). Nor is it
    fitted again at the size it already has (``n_estimators`` below ``max_iters``)."""
    if plan.method == "partial_fit":
        return True
    if not scoring:
        return False
    return plan.resource is None or state.get("size") != _step_size(full, epoch, plan.max_iters)


def _may_decide(epoch: int, last: int) -> bool:
    """Could the scheduler decide on this trial's report of ``epoch`` (``last``: the epoch
    of this attempt's previous report, or where it resumed)? True where that is not known
    (no decision points: any report may be read)."""
    from tunefleet.worker.session import current_session

    session = current_session()
    if session is None or session.wait_rule is None:
        return True
    rule = session.wait_rule
    if rule.points is not None and rule.attr == RESOURCE_ATTR:
        # the scheduler counts epochs, not reports: its next point after the last report
        return epoch >= rule.points.next_after(float(last))
    return session.next_report_may_wait()


def cv_trial(config: dict[str, Any], plan: Plan) -> None:
    """Cross-validate one configuration, reporting after every epoch, under the
    scikit-learn configuration that ``fit`` was called with."""
    from sklearn import config_context

    with config_context(**plan.sklearn_config):
        _cross_validate(config, plan)


def _cross_validate(config: dict[str, Any], plan: Plan) -> None:
    from tunefleet.checkpoint import Checkpoint
    from tunefleet.worker.session import report

    if plan.points is not None:
        params = plan.points[config["_point"]]
    else:
        params = dict(config.get(SUBSPACE, config))
    state = _start(plan, params)
    models, dead, errors = state["models"], state["dead"], state["errors"]
    fit_time, score_time = state["fit_time"], state["score_time"]
    k = len(plan.splits)
    full = state["full"]
    folds, classes = plan.prepared()
    epochs = 1 if plan.method == "fit" else plan.max_iters
    last = state["epoch"]  # of the previous report, or where this attempt resumed
    for epoch in range(state["epoch"] + 1, epochs + 1):
        decides = _may_decide(epoch, last)
        scoring = decides or epoch >= epochs or not plan.score_at_decisions
        fitting = _fits_at(plan, scoring, state, full, epoch)
        result: dict[str, Any] = {}
        for i, (x_train, y_train, x_test, y_test, fit_params) in enumerate(folds):
            test_scores: dict[str, float] | None = None
            try:  # a failed fit: error_score decides (raise, or score it and go on)
                if dead[i]:
                    raise RuntimeError("an earlier epoch failed")
                if fitting:
                    start = time.perf_counter()
                    models[i] = _advance(
                        plan, models[i], epoch, full, (x_train, y_train), classes, fit_params
                    )
                    fit_time[i] += time.perf_counter() - start
            except Exception as exc:
                test_scores = train_scores = _failed(plan, exc)
                if not dead[i]:
                    errors.append(f"{type(exc).__name__}: {exc}")
                dead[i] = True
            else:  # a failed score is raised by fit() in the driver, as scikit-learn does
                if scoring:
                    start = time.perf_counter()
                    try:
                        test_scores = _score(plan, models[i], x_test, y_test)
                        if plan.return_train_score:
                            train_scores = _score(plan, models[i], x_train, y_train)
                    except Exception as exc:
                        report({SCORE_ERROR: [type(exc).__name__, str(exc)], OBJECTIVE: math.nan})
                        return
                    score_time[i] += time.perf_counter() - start
            if scoring and test_scores is not None:
                for name, value in test_scores.items():
                    result[f"split{i}_test_{name}"] = value
                    if plan.return_train_score:
                        result[f"split{i}_train_{name}"] = train_scores[name]
            result[f"split{i}_fit_time"] = float(fit_time[i])
            result[f"split{i}_score_time"] = float(score_time[i])
        if scoring:
            result[OBJECTIVE] = float(
                np.mean([result[f"split{i}_test_{plan.objective}"] for i in range(k)])
            )
        if fitting and plan.resource is not None:
            state["size"] = _step_size(full, epoch, plan.max_iters)
        result[RESOURCE_ATTR] = epoch
        if errors:  # the driver warns (FitFailedWarning), as scikit-learn does
            result["fit_failed"] = len(errors)
            result["fit_error"] = errors[0]
        state["epoch"] = epoch
        if plan.report_at_decisions and not scoring:
            continue  # nothing reads this epoch: the next report carries the epoch count
        last = epoch
        # Only a scheduler that pauses (Hyperband, BOHB, promotion ASHA) needs the models
        # back, and only where it may pause; a stopping one never resumes, so nothing is
        # pickled for it.
        keep = plan.checkpoint and decides and epoch < epochs
        checkpoint = Checkpoint.from_dict(state) if keep else None
        report(result, checkpoint=checkpoint)
