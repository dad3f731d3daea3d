"""Gradient-boosted trees (LightGBM, XGBoost): one iteration is ``ROUNDS`` boosting rounds.

Both loops keep one booster alive for the whole trial and add rounds to it in place, so
each iteration costs ``ROUNDS`` rounds, not a re-prediction of every earlier tree (which
``xgb.train(xgb_model=...)`` or a fresh ``lgb.train(init_model=...)`` per chunk would do).
Validation accuracy comes from the boosters' incrementally updated validation scores.

A restored trial continues exactly where its checkpoint left off when no rows or columns
are subsampled; with bagging/subsampling, the draws after a restore start again from the
seed (neither library checkpoints its sampler), so the results differ slightly.
"""

from __future__ import annotations

from typing import Any

from tunefleet.bench.workload import Dataset, TrialSession, Workload
from tunefleet.bench.workloads._common import bench_device, float32, metrics, resume, seed_of

#: Boosting rounds per reported iteration.
ROUNDS = 10
#: Iterations per trial: 200 rounds in all.
MAX_ITERATIONS = 20


# ---------------------------------------------------------------------------- LightGBM


def lightgbm_space(tune: Any) -> dict[str, Any]:
    """The usual LightGBM knobs; ranges wide enough that a bad config is possible."""
    return {
        "learning_rate": tune.loguniform(0.01, 0.3),
        "num_leaves": tune.lograndint(7, 256),
        "min_child_samples": tune.lograndint(5, 300),
        "feature_fraction": tune.uniform(0.5, 1.0),
        "bagging_fraction": tune.uniform(0.5, 1.0),
        "lambda_l2": tune.loguniform(1e-3, 10.0),
    }


def lightgbm_grid(tune: Any) -> dict[str, Any]:
    """36 points over the knobs that matter most; the rest keep LightGBM's defaults."""
    return {
        "learning_rate": tune.grid_search([0.02, 0.05, 0.1, 0.3]),
        "num_leaves": tune.grid_search([15, 63, 255]),
        "min_child_samples": tune.grid_search([5, 30, 200]),
    }


def lightgbm_train(config: dict[str, Any], data: Dataset, session: TrialSession) -> None:
    """Train LightGBM ``ROUNDS`` rounds per iteration, reporting validation accuracy."""
    import lightgbm as lgb

    done, state = resume(session)
    if done >= MAX_ITERATIONS:
        return
    params: dict[str, Any] = {
        "learning_rate": float(config.get("learning_rate", 0.1)),
        "num_leaves": int(config.get("num_leaves", 31)),
        "min_child_samples": int(config.get("min_child_samples", 20)),
        "feature_fraction": float(config.get("feature_fraction", 1.0)),
        "bagging_fraction": float(config.get("bagging_fraction", 1.0)),
        "bagging_freq": 1 if float(config.get("bagging_fraction", 1.0)) < 1.0 else 0,
        "lambda_l2": float(config.get("lambda_l2", 0.0)),
        "num_threads": session.threads,
        "device_type": "gpu" if bench_device() == "cuda" else "cpu",  # PyPI wheels: OpenCL
        "seed": seed_of(config),
        "deterministic": True,
        "force_col_wise": True,  # skips LightGBM's row/col-wise timing probe
        "metric": "None",  # accuracy and log loss come from _score below
        "verbosity": -1,
    }
    if data.classes > 2:
        params.update(objective="multiclass", num_class=data.classes)
    else:
        params["objective"] = "binary"
    # free_raw_data=False: continuing from a restored model re-predicts its init scores.
    train_set = lgb.Dataset(float32(data.x_train), label=data.y_train, free_raw_data=False)
    valid_set = lgb.Dataset(
        float32(data.x_valid), label=data.y_valid, reference=train_set, free_raw_data=False
    )
    init = None if state is None else lgb.Booster(model_str=state["model"].decode())
    scores: dict[str, float] = {}

    def _score(preds: Any, _: Any) -> tuple[str, float, bool]:
        scores.update(metrics(preds, data.y_valid, data.classes))
        return "accuracy", scores["accuracy"], True

    booster = None
    for iteration in range(done + 1, MAX_ITERATIONS + 1):
        if booster is None:
            # The first chunk goes through lgb.train: it merges a restored model and attaches
            # the validation set; later chunks add rounds to the same booster.
            booster = lgb.train(
                params,
                train_set,
                num_boost_round=ROUNDS,
                valid_sets=[valid_set],
                valid_names=["valid"],
                init_model=init,
                keep_training_booster=True,
            )
        else:
            for _ in range(ROUNDS):
                booster.update()
        booster.eval_valid(feval=_score)
        model = booster.model_to_string().encode()
        session.report(dict(scores), state={"iteration": iteration, "model": model})


LIGHTGBM = Workload(
    name="lightgbm",
    description=f"LightGBM, {ROUNDS} boosting rounds per iteration, "
    f"{ROUNDS * MAX_ITERATIONS} in all",
    space=lightgbm_space,
    grid=lightgbm_grid,
    train=lightgbm_train,
    max_iterations=MAX_ITERATIONS,
    requires=("lightgbm",),
    default_target=0.94,  # about the 75th percentile of random configs' best (see _common.py)
)


# ----------------------------------------------------------------------------- XGBoost


def xgboost_space(tune: Any) -> dict[str, Any]:
    """The usual XGBoost knobs (hist trees)."""
    return {
        "eta": tune.loguniform(0.01, 0.3),
        "max_depth": tune.randint(2, 11),
        "min_child_weight": tune.loguniform(0.5, 50.0),
        "subsample": tune.uniform(0.5, 1.0),
        "colsample_bytree": tune.uniform(0.5, 1.0),
        "lambda": tune.loguniform(1e-2, 10.0),
    }


def xgboost_grid(tune: Any) -> dict[str, Any]:
    """36 points over learning rate, depth and leaf weight; the rest keep XGBoost's defaults."""
    return {
        "eta": tune.grid_search([0.02, 0.05, 0.1, 0.3]),
        "max_depth": tune.grid_search([3, 6, 10]),
        "min_child_weight": tune.grid_search([1.0, 5.0, 25.0]),
    }


def xgboost_train(config: dict[str, Any], data: Dataset, session: TrialSession) -> None:
    """Train XGBoost ``ROUNDS`` rounds per iteration, reporting validation accuracy."""
    import xgboost as xgb

    done, state = resume(session)
    if done >= MAX_ITERATIONS:
        return
    params: dict[str, Any] = {
        "eta": float(config.get("eta", 0.3)),
        "max_depth": int(config.get("max_depth", 6)),
        "min_child_weight": float(config.get("min_child_weight", 1.0)),
        "subsample": float(config.get("subsample", 1.0)),
        "colsample_bytree": float(config.get("colsample_bytree", 1.0)),
        "lambda": float(config.get("lambda", 1.0)),
        "tree_method": "hist",
        "nthread": session.threads,
        "device": bench_device(),
        "seed": seed_of(config),
        "verbosity": 0,
    }
    if data.classes > 2:
        params.update(objective="multi:softprob", num_class=data.classes)
    else:
        params["objective"] = "binary:logistic"
    dtrain = xgb.QuantileDMatrix(float32(data.x_train), label=data.y_train, nthread=session.threads)
    dvalid = xgb.QuantileDMatrix(
        float32(data.x_valid), label=data.y_valid, ref=dtrain, nthread=session.threads
    )
    # Both matrices in the cache: predict(dvalid) then adds only the new trees' outputs.
    model = None if state is None else bytearray(state["model"])
    booster = xgb.Booster(params, [dtrain, dvalid], model_file=model)
    for iteration in range(done + 1, MAX_ITERATIONS + 1):
        for round_ in range((iteration - 1) * ROUNDS, iteration * ROUNDS):
            booster.update(dtrain, round_)
        scores = metrics(booster.predict(dvalid), data.y_valid, data.classes)
        raw = bytes(booster.save_raw())
        session.report(scores, state={"iteration": iteration, "model": raw})


XGBOOST = Workload(
    name="xgboost",
    description=f"XGBoost (hist), {ROUNDS} boosting rounds per iteration, "
    f"{ROUNDS * MAX_ITERATIONS} in all",
    space=xgboost_space,
    grid=xgboost_grid,
    train=xgboost_train,
    max_iterations=MAX_ITERATIONS,
    requires=("xgboost",),
    default_target=0.935,  # about the 75th percentile of random configs' best (see _common.py)
)
