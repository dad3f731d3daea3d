# Ray 2.x: LightGBM TuneReportCheckpointCallback
import lightgbm as lgb
import numpy as np
from ray import tune
from ray.tune.integration.lightgbm import TuneReportCheckpointCallback

rng = np.random.default_rng(1)
X = rng.normal(size=(300, 4))
y = (X[:, 0] - X[:, 2] > 0).astype(int)


def train_lgb(config):
    dtrain = lgb.Dataset(X[:200], label=y[:200])
    dvalid = lgb.Dataset(X[200:], label=y[200:], reference=dtrain)
    lgb.train(
        {
            "objective": "binary",
            "metric": "binary_logloss",
            "num_leaves": config["leaves"],
            "verbose": -1,
        },
        dtrain,
        num_boost_round=8,
        valid_sets=[dvalid],
        valid_names=["eval"],
        callbacks=[TuneReportCheckpointCallback({"loss": "eval-binary_logloss"})],
    )


results = tune.Tuner(
    train_lgb,
    param_space={"leaves": tune.grid_search([2, 8])},
    tune_config=tune.TuneConfig(metric="loss", mode="min"),
).fit()
best = results.get_best_result()
assert best.metrics["training_iteration"] == 8
model = TuneReportCheckpointCallback.get_model(best.checkpoint)
assert ((model.predict(X[200:]) > 0.5) == y[200:]).mean() > 0.8
print("ok")
