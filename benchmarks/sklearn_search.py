"""TuneSearchCV against scikit-learn's and Optuna's search estimators, at equal compute.

By default the estimator is SGD (``--estimator`` below for tree ensembles). Compute is
counted in SGD epochs over a fold's training rows (one ``partial_fit`` pass,
or one of ``max_iter`` passes inside ``fit`` with ``tol=None``), summed over candidates and
folds. HalvingRandomSearchCV (``resource="max_iter"``, factor 3, 1 to ``--epochs`` epochs,
``n_candidates="exhaust"``, ``return_train_score=False`` as for every method) sets the budget B: with 27 epochs, 27 candidates at 1 epoch, 9
at 3, 3 at 9 and 1 at 27, each rung fitting from scratch. RandomizedSearchCV and
OptunaSearchCV get ``B / epochs`` full-length candidates. TuneSearchCV runs two ways:

* ``tunefleet_hyperband``: ``early_stopping="hyperband"`` (reduction factor 3) with
  ``n_trials`` = ``--epochs`` candidates, which is Hyperband's first bracket: halving's
  ladder (27, 9, 3, 1), but a survivor trains on from where it paused (``partial_fit``)
  instead of from scratch, so it spends less than B (0.75 B for 27 epochs);
* ``tunefleet_asha``: asynchronous ASHA (reduction factor 3, rungs 1, 3, 9 epochs) with
  ``B / 4`` candidates per fold (with one candidate at a time ASHA promotes the first
  arrivals through its empty rungs: about 4 epochs a candidate), which spends about B;
* ``tunefleet_hyperband_fresh``: as ``tunefleet_hyperband`` with ``resource="max_iter"``:
  each rung fits from scratch with ``max_iter`` = the rung's epochs (one ``fit`` call
  instead of one ``partial_fit`` call per epoch), which spends B exactly, as halving does.

Every method's measured compute is printed beside its score. Same space, estimator, folds,
``--n-jobs`` candidates at a time for every method (default 1: TuneSearchCV's default
engine is then threads of this process; for more it is worker processes, ``engine="local"``;
a method named ``name@threads`` or ``name@local`` is TuneSearchCV's ``name`` on that engine)
and one BLAS thread for all; features standardised once. Methods run interleaved (all
methods for repeat 1, then repeat 2 ...). Prints one JSON object: per dataset and method,
the best CV score, the held-out test accuracy of ``best_estimator_``, wall time (until
``fit`` returns), CPU time (this process and its worker processes, reaped or still alive
as joblib's reusable workers are, including TuneSearchCV's removal of its temporary store,
which runs after ``fit`` returns: a measure that a loaded machine inflates far less than
wall time), compute (epochs), each as median with min/max over repeats, and the load
average before and after each dataset.

``tunefleet_1x1`` is not a search: one candidate, one epoch per fold, no early stopping.
It measures what a ``TuneSearchCV.fit`` costs before any search work, on the same data.

``tunefleet_asha_local`` (off by default) is ``tunefleet_asha`` on the local engine (one
worker process, which imports scikit-learn: the default before ``engine=None``).
``tunefleet_asha_every`` (off by default) is ``tunefleet_asha`` scoring the folds after
every epoch instead of only at ASHA's rungs: what the rung-only scoring saves.

``synth`` (off by default; ``--datasets synth``) is ``tunefleet data synth``'s generator
in memory: ``--synth-rows`` rows, 40 features, 2 classes, seed 0.

``--warmup`` fits every method once, untimed, before timing: joblib's worker pool
(``n_jobs`` > 1) is then started once and reused, as by a session's later searches.

``--estimator rf|et|gbm`` tunes a random forest, extra trees or gradient boosting
(``random_state`` = the repeat's seed) instead of SGD: the resource is ``n_estimators``
in units of ``--unit`` trees (boosting stages for ``gbm``), 1 to ``--epochs`` units, and
compute is counted in trees fitted, summed over folds. Halving grows ``n_estimators``
(``resource="n_estimators"``, ``min_resources`` = one unit) and refits every rung from
scratch; ``tunefleet_hyperband`` continues a survivor by ``warm_start`` (the same trees
as a fresh fit: a forest draws its trees' seeds in order, boosting keeps its random state)
and so fits 0.75 of halving's trees for the same models; ``tunefleet_hyperband_fresh``
fits each rung from scratch as halving does (``resource="n_estimators"``).

    python benchmarks/sklearn_search.py --repeats 3
    python benchmarks/sklearn_search.py --repeats 5 --estimator rf --unit 2 \\
        --datasets digits,breast_cancer,wine,synth --synth-rows 2000 \\
        --methods halving,tunefleet_hyperband,tunefleet_hyperband_fresh,random,optuna
    python benchmarks/sklearn_search.py --repeats 3 --n-jobs 2 --warmup \\
        --methods halving,tunefleet_hyperband_fresh,tunefleet_hyperband_fresh@threads
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import time
import warnings
from typing import Any

import numpy as np
from scipy.stats import loguniform, randint, uniform
from sklearn import datasets
from sklearn.ensemble import (
    ExtraTreesClassifier,
    GradientBoostingClassifier,
    RandomForestClassifier,
)
from sklearn.linear_model import SGDClassifier
from sklearn.model_selection import RandomizedSearchCV, StratifiedKFold, train_test_split
from sklearn.preprocessing import StandardScaler

DATASETS = {
    "digits": datasets.load_digits,
    "breast_cancer": datasets.load_breast_cancer,
    "wine": datasets.load_wine,
}


def _synth(rows: int) -> tuple[np.ndarray, np.ndarray]:
    from tunefleet.bench.synth import SynthSpec

    x, y = SynthSpec(rows=rows, features=40, classes=2, seed=0).rows_between(0, rows)
    return np.ascontiguousarray(x.T, dtype=np.float64), y


CATEGORIES = {
    "penalty": ["l2", "l1", "elasticnet"],
    "learning_rate": ["optimal", "invscaling", "constant", "adaptive"],
    "average": [False, True],
}


def _scipy_space() -> dict[str, Any]:
    return {
        "alpha": loguniform(1e-7, 1e-1),
        "l1_ratio": uniform(0, 1),
        "eta0": loguniform(1e-4, 1.0),
        **CATEGORIES,
    }


def _optuna_space() -> dict[str, Any]:
    from optuna.distributions import CategoricalDistribution, FloatDistribution

    return {
        "alpha": FloatDistribution(1e-7, 1e-1, log=True),
        "l1_ratio": FloatDistribution(0, 1),
        "eta0": FloatDistribution(1e-4, 1.0, log=True),
        **{k: CategoricalDistribution(v) for k, v in CATEGORIES.items()},
    }


def _sgd(epochs: int, seed: int) -> SGDClassifier:
    return SGDClassifier(max_iter=epochs, tol=None, random_state=seed)


def _forest_scipy_space() -> dict[str, Any]:
    return {
        "max_depth": randint(2, 17),
        "min_samples_leaf": randint(1, 11),
        "max_features": uniform(0.1, 0.8),
        "criterion": ["gini", "entropy"],
    }


def _forest_optuna_space() -> dict[str, Any]:
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    return {
        "max_depth": IntDistribution(2, 16),
        "min_samples_leaf": IntDistribution(1, 10),
        "max_features": FloatDistribution(0.1, 0.9),
        "criterion": CategoricalDistribution(["gini", "entropy"]),
    }


def _gbm_scipy_space() -> dict[str, Any]:
    return {
        "learning_rate": loguniform(0.01, 1.0),
        "max_depth": randint(1, 6),
        "min_samples_leaf": randint(1, 21),
        "max_features": uniform(0.2, 0.8),
    }


def _gbm_optuna_space() -> dict[str, Any]:
    from optuna.distributions import FloatDistribution, IntDistribution

    return {
        "learning_rate": FloatDistribution(0.01, 1.0, log=True),
        "max_depth": IntDistribution(1, 5),
        "min_samples_leaf": IntDistribution(1, 20),
        "max_features": FloatDistribution(0.2, 1.0),
    }


class Estimator:
    """The estimator every method tunes, grown in units of its resource: SGD epochs
    (``max_iter``), or ``unit`` trees (``n_estimators``; boosting stages for ``gbm``)."""

    def __init__(self, name: str, unit: int) -> None:
        if name not in ("sgd", "rf", "et", "gbm"):
            raise ValueError(f"--estimator {name!r}: expected sgd, rf, et or gbm")
        self.name = name
        self.unit = 1 if name == "sgd" else unit
        self.resource = "max_iter" if name == "sgd" else "n_estimators"

    def full(self, units: int, seed: int) -> Any:
        """The estimator at ``units`` units (its full size, as halving's max_resources)."""
        if self.name == "sgd":
            return _sgd(units, seed)
        size = units * self.unit
        if self.name == "rf":
            return RandomForestClassifier(n_estimators=size, random_state=seed)
        if self.name == "et":
            return ExtraTreesClassifier(n_estimators=size, random_state=seed)
        return GradientBoostingClassifier(n_estimators=size, random_state=seed)

    def incremental(self, units: int, seed: int) -> Any:
        """What TuneSearchCV continues: SGD by ``partial_fit``, trees by ``warm_start``."""
        return SGDClassifier(random_state=seed) if self.name == "sgd" else self.full(units, seed)

    def scipy_space(self) -> dict[str, Any]:
        if self.name == "sgd":
            return _scipy_space()
        return _gbm_scipy_space() if self.name == "gbm" else _forest_scipy_space()

    def optuna_space(self) -> dict[str, Any]:
        if self.name == "sgd":
            return _optuna_space()
        return _gbm_optuna_space() if self.name == "gbm" else _forest_optuna_space()


def _compute(search: Any, name: str, epochs: int, folds: int, unit: int = 1) -> int:
    """Units (SGD epochs over a fold's training rows, or trees) that the search fitted,
    summed over folds (refit not counted). A ``warm_start`` candidate (TuneSearchCV's
    Hyperband on trees) fits only the trees it ends with, as ``partial_fit`` does epochs."""
    if name == "halving":  # n_resources in the resource's own units (epochs or trees)
        return int(np.sum(search.cv_results_["n_resources"])) * folds
    return _units(search, name, epochs, folds) * unit


def _units(search: Any, name: str, epochs: int, folds: int) -> int:
    if name == "optuna":
        return len(search.trials_) * epochs * folds
    if name == "tunefleet_1x1":
        return folds
    results = search.cv_results_
    if name == "tunefleet_hyperband_fresh":  # one fit from scratch at each rung reached
        rungs = [3**k for k in range(int(round(np.log(epochs) / np.log(3))) + 1)]
        return sum(r for n in results["n_resources"] for r in rungs if r <= n) * folds
    if "n_resources" in results:  # halving and tunefleet: epochs each candidate trained
        return int(np.sum(results["n_resources"])) * folds
    return len(results["params"]) * epochs * folds


def _score_every_epoch(**kwargs: Any) -> Any:
    """ASHA under another class: TuneSearchCV then scores every epoch (as it did before it
    scored only at the scheduler's decision points); same decisions, same results."""
    from tunefleet.schedulers import ASHAScheduler

    return type("ScoreEveryEpochASHA", (ASHAScheduler,), {})(**kwargs)


def run_one(
    method: str,
    X: Any,
    y: Any,
    seed: int,
    epochs: int,
    budget: int,
    folds: int,
    n_jobs: int = 1,
    est: Estimator | None = None,
) -> Any:
    """The search ``method`` (not fitted); ``budget`` in units (epochs, or ``est.unit``
    trees) summed over folds."""
    est = est or Estimator("sgd", 1)
    if "@" in method:  # a TuneSearchCV method on a named engine: name@threads, name@local
        base, engine = method.split("@", 1)
        search = run_one(base, X, y, seed, epochs, budget, folds, n_jobs, est)
        return search.set_params(engine=engine)
    cv = StratifiedKFold(folds, shuffle=True, random_state=seed)
    full_candidates = max(1, budget // (epochs * folds))
    if method == "tunefleet_asha_local":
        search = run_one("tunefleet_asha", X, y, seed, epochs, budget, folds, n_jobs, est)
        return search.set_params(engine="local")
    if method in ("tunefleet_asha", "tunefleet_asha_every"):
        from tunefleet.schedulers import ASHAScheduler
        from tunefleet.sklearn import TuneSearchCV

        kind = ASHAScheduler if method == "tunefleet_asha" else _score_every_epoch
        asha = kind(max_t=epochs, grace_period=1, reduction_factor=3)
        return TuneSearchCV(
            est.incremental(epochs, seed),
            est.scipy_space(),
            n_trials=budget // (4 * folds),  # async ASHA, factor 3: about 4 epochs a candidate
            cv=cv,
            n_jobs=n_jobs,
            early_stopping=asha,
            max_iters=epochs,
            random_state=seed,
        )
    if method == "tunefleet_hyperband":
        from tunefleet.sklearn import TuneSearchCV

        return TuneSearchCV(
            est.incremental(epochs, seed),
            est.scipy_space(),
            n_trials=epochs,  # Hyperband's first bracket (factor 3): halving's ladder
            cv=cv,
            n_jobs=n_jobs,
            early_stopping="hyperband",
            max_iters=epochs,
            random_state=seed,
        )
    if method == "tunefleet_hyperband_fresh":
        from tunefleet.sklearn import TuneSearchCV

        return TuneSearchCV(
            est.full(epochs, seed),
            est.scipy_space(),
            n_trials=epochs,
            cv=cv,
            n_jobs=n_jobs,
            early_stopping="hyperband",
            max_iters=epochs,
            resource=est.resource,  # a fresh fit at the rung's size, as halving does
            random_state=seed,
        )
    if method == "tunefleet_1x1":
        from tunefleet.sklearn import TuneSearchCV

        return TuneSearchCV(
            est.full(1, seed),
            est.scipy_space(),
            n_trials=1,
            cv=cv,
            n_jobs=n_jobs,
            random_state=seed,
        )
    if method == "random":
        return RandomizedSearchCV(
            est.full(epochs, seed),
            est.scipy_space(),
            n_iter=full_candidates,
            cv=cv,
            n_jobs=n_jobs,
            random_state=seed,
        )
    if method == "halving":
        from sklearn.experimental import enable_halving_search_cv  # noqa: F401
        from sklearn.model_selection import HalvingRandomSearchCV

        return HalvingRandomSearchCV(
            est.full(epochs, seed),
            est.scipy_space(),
            resource=est.resource,
            min_resources=est.unit,
            max_resources=epochs * est.unit,
            factor=3,
            cv=cv,
            n_jobs=n_jobs,
            random_state=seed,
            return_train_score=False,  # its default (True) would score the training folds too
        )
    if method == "optuna":
        from optuna_integration import OptunaSearchCV

        return OptunaSearchCV(
            est.full(epochs, seed),
            est.optuna_space(),
            n_trials=full_candidates,
            cv=cv,
            n_jobs=n_jobs,
            random_state=seed,
            verbose=0,
        )
    raise ValueError(f"method={method!r}")


def _cpu_s() -> float:
    """CPU seconds of this process, of its reaped children (TuneSearchCV's worker processes,
    reaped when ``fit`` returns) and of its live descendants (joblib's loky workers, which
    outlive a ``fit`` and are reused by the next)."""
    import psutil

    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    live = 0.0
    for child in psutil.Process().children(recursive=True):
        try:
            times = child.cpu_times()
        except psutil.Error:  # exited since listed
            continue
        live += times.user + times.system
    return time.process_time() + children.ru_utime + children.ru_stime + live


def _join_cleanup() -> None:
    """Wait for TuneSearchCV's temporary store to be removed (a background thread that
    ``fit`` does not wait for), so that its CPU time is not counted to the next method."""
    import threading

    for thread in threading.enumerate():
        if thread.name == "tunefleet-sklearn-cleanup":
            thread.join()


def _spread(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=27)
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument(
        "--methods",
        default="halving,tunefleet_hyperband_fresh,tunefleet_hyperband,tunefleet_asha,random,optuna,"
        "tunefleet_1x1",
    )
    parser.add_argument("--synth-rows", type=int, default=100_000)
    parser.add_argument(
        "--estimator",
        default="sgd",
        help="sgd (resource: epochs, max_iter), or rf / et / gbm (random forest, extra trees, "
        "gradient boosting; resource: n_estimators, grown in --unit trees)",
    )
    parser.add_argument(
        "--unit",
        type=int,
        default=2,
        help="trees per unit of resource for rf / et / gbm: a candidate grows from 1 unit "
        "to --epochs units (stages for gbm)",
    )
    parser.add_argument(
        "--n-jobs",
        type=int,
        default=1,
        help="n_jobs of every method (candidates at once; TuneSearchCV's engine=None then "
        "picks worker processes for n_jobs > 1, name@threads forces threads)",
    )
    parser.add_argument(
        "--warmup",
        action="store_true",
        help="fit every method once, untimed, on the first dataset before timing (starts "
        "joblib's reusable worker pool, which later fits reuse, as a session's second search would)",
    )
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    import optuna
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)  # the driver's BLAS as single-threaded as the workers'

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # every method's modules imported before any is timed (else its first repeat pays them)
    import optuna_integration  # noqa: F401
    from sklearn.experimental import enable_halving_search_cv  # noqa: F401

    import tunefleet.executors.local
    import tunefleet.executors.threads
    import tunefleet.schedulers
    import tunefleet.sklearn._search  # noqa: F401

    methods = args.methods.split(",")
    est = Estimator(args.estimator, args.unit)
    compute_key = "epochs" if est.name == "sgd" else "trees"
    # Halving's budget with min 1, max E epochs, factor 3, exhaust: 1 x E + 3 x E/3 + ...
    rungs = int(round(np.log(args.epochs) / np.log(3))) + 1
    budget = rungs * args.epochs * args.folds
    out: dict[str, Any] = {
        "command": "python benchmarks/sklearn_search.py "
        + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items()),
        "machine": f"{platform.machine()} {os.cpu_count()} cpus, load {os.getloadavg()[0]:.1f}",
        "n_jobs": args.n_jobs,
        "estimator": est.name,
        "resource": f"{est.resource}, {est.unit} per unit",
        f"budget_{compute_key}": budget * est.unit,
        "datasets": {},
    }
    for i, name in enumerate(args.datasets.split(",")):
        if name == "synth":
            X, y = _synth(args.synth_rows)
        else:
            X, y = DATASETS[name](return_X_y=True)
        X = StandardScaler().fit_transform(X)
        if args.warmup and i == 0:
            for method in methods:
                run_one(method, X, y, 0, args.epochs, budget, args.folds, args.n_jobs, est).fit(
                    X, y
                )
            _join_cleanup()
        load_before = os.getloadavg()[0]
        raw: dict[str, dict[str, list[float]]] = {
            m: {"cv": [], "test": [], "wall_s": [], "cpu_s": [], compute_key: []} for m in methods
        }
        for seed in range(args.repeats):
            x_tr, x_te, y_tr, y_te = train_test_split(
                X, y, test_size=0.25, random_state=seed, stratify=y
            )
            for method in methods:
                search = run_one(
                    method, x_tr, y_tr, seed, args.epochs, budget, args.folds, args.n_jobs, est
                )
                cpu = _cpu_s()
                start = time.perf_counter()
                search.fit(x_tr, y_tr)
                raw[method]["wall_s"].append(time.perf_counter() - start)
                _join_cleanup()  # TuneSearchCV's store removal: its CPU is its own
                raw[method]["cpu_s"].append(_cpu_s() - cpu)
                raw[method]["cv"].append(float(search.best_score_))
                raw[method]["test"].append(float(search.score(x_te, y_te)))
                raw[method][compute_key].append(
                    _compute(search, method.split("@")[0], args.epochs, args.folds, est.unit)
                )
        out["datasets"][name] = {
            "shape": list(X.shape),
            "load_before_after": [round(load_before, 1), round(os.getloadavg()[0], 1)],
            **{m: {key: _spread(v) for key, v in r.items()} for m, r in raw.items()},
        }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
