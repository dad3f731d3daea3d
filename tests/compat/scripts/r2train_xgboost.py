# Ray 2.x: XGBoost TuneReportCheckpointCallback, best booster loaded from its checkpoint
import numpy as np
import xgboost as xgb
from ray import train, tune
from ray.tune.integration.xgboost import TuneReportCheckpointCallback
from ray.tune.schedulers import ASHAScheduler

rng = np.random.default_rng(0)
X = rng.normal(size=(300, 5))
y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int)


def train_xgb(config):
    dtrain = xgb.DMatrix(X[:200], label=y[:200])
    dvalid = xgb.DMatrix(X[200:], label=y[200:])
    xgb.train(
        {"objective": "binary:logistic", "eval_metric": "logloss", "max_depth": config["depth"]},
        dtrain,
        num_boost_round=10,
        evals=[(dvalid, "validation")],
        verbose_eval=False,
        callbacks=[TuneReportCheckpointCallback({"loss": "validation-logloss"}, frequency=2)],
    )


results = tune.Tuner(
    train_xgb,
    param_space={"depth": tune.grid_search([1, 3, 6])},
    tune_config=tune.TuneConfig(
        metric="loss", mode="min", scheduler=ASHAScheduler(max_t=11, grace_period=4)
    ),
    run_config=train.RunConfig(verbose=0),
).fit()
best = results.get_best_result()
booster = TuneReportCheckpointCallback.get_model(best.checkpoint)
pred = booster.predict(xgb.DMatrix(X[200:]))
assert ((pred > 0.5) == y[200:]).mean() > 0.8
print("ok", best.metrics["loss"])
