# Ray 2.x: tune.with_parameters + tune.with_resources + air.ScalingConfig imported
from ray import air, tune
from ray.air import session

data = list(range(100))


def train(config, data=None):
    session.report({"total": sum(data) * config["m"]})


trainable = tune.with_resources(tune.with_parameters(train, data=data), {"cpu": 1})
results = tune.Tuner(
    trainable,
    param_space={"m": tune.grid_search([1, 2])},
    tune_config=tune.TuneConfig(metric="total", mode="max"),
).fit()
assert results.get_best_result().metrics["total"] == 9900
assert air.ScalingConfig(num_workers=2).required_resources == {"cpu": 2.0}
print("ok")
