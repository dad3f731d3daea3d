# Ray 2.7-2.40: from ray import train, tune; train.report; train.RunConfig
from ray import train, tune


def objective(config):
    for i in range(4):
        train.report({"score": config["a"] * (i + 1)})


results = tune.Tuner(
    objective,
    param_space={"a": tune.uniform(0.5, 1.0)},
    tune_config=tune.TuneConfig(metric="score", mode="max", num_samples=3),
    run_config=train.RunConfig(name="train_basic", stop={"training_iteration": 3}),
).fit()
best = results.get_best_result()
assert best.metrics["training_iteration"] == 3
assert 0.5 <= best.config["a"] <= 1.0
print("ok")
