# Ray >= 2.x: HyperBandScheduler in TuneConfig, tune.sample_from depending on another key
from ray import tune
from ray.tune.schedulers import HyperBandScheduler


def f(config):
    assert config["b"] == config["a"] * 2
    for i in range(9):
        tune.report({"m": config["a"] * (i + 1)})


results = tune.Tuner(
    f,
    param_space={"a": tune.randint(1, 10), "b": tune.sample_from(lambda spec: spec.config.a * 2)},
    tune_config=tune.TuneConfig(
        metric="m", mode="max", num_samples=4, scheduler=HyperBandScheduler(max_t=9)
    ),
).fit()
assert not results.errors and len(results) == 4
print("ok")
