# Ray 2.x: LightGBM TuneReportCheckpointCallback under PBT: exploited trials continue the
# booster of the trial they copy (init_model from the checkpoint)
import lightgbm as lgb
import numpy as np
from ray import train, tune
from ray.tune.integration.lightgbm import TuneReportCheckpointCallback
from ray.tune.schedulers import PopulationBasedTraining

rng = np.random.default_rng(1)
X = rng.normal(size=(300, 4))
y = (X[:, 0] - X[:, 2] > 0).astype(int)
ROUNDS = 8


def train_lgb(config):
    dtrain = lgb.Dataset(X[:200], label=y[:200], free_raw_data=False)
    dvalid = lgb.Dataset(X[200:], label=y[200:], reference=dtrain)
    init = None
    checkpoint = train.get_checkpoint()
    if checkpoint:
        init = TuneReportCheckpointCallback.get_model(checkpoint)
    done = init.current_iteration() if init else 0
    if done >= ROUNDS:  # PBT copied a donor that had already trained all its rounds
        return
    lgb.train(
        {
            "objective": "binary",
            "metric": "binary_logloss",
            "verbose": -1,
            "num_leaves": 4,
            "learning_rate": config["lr"],
        },
        dtrain,
        num_boost_round=ROUNDS - done,
        init_model=init,
        valid_sets=[dvalid],
        valid_names=["eval"],
        callbacks=[TuneReportCheckpointCallback({"loss": "eval-binary_logloss"}, frequency=1)],
    )


pbt = PopulationBasedTraining(
    time_attr="training_iteration",
    perturbation_interval=2,
    hyperparam_mutations={"lr": tune.uniform(0.01, 0.5)},
)
results = tune.Tuner(
    train_lgb,
    param_space={"lr": tune.uniform(0.01, 0.5)},
    tune_config=tune.TuneConfig(metric="loss", mode="min", scheduler=pbt, num_samples=3),
).fit()
assert not results.errors, results.errors
best = results.get_best_result()
model = TuneReportCheckpointCallback.get_model(best.checkpoint)
# however often PBT restarted it, the best booster has all its rounds
assert model.current_iteration() == ROUNDS, model.current_iteration()
assert ((model.predict(X[200:]) > 0.5) == y[200:]).mean() > 0.8
print("ok", best.metrics["training_iteration"])
