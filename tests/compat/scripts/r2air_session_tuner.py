# Ray 2.0-2.6: ray.air session.report + Tuner with air.RunConfig
from ray import air, tune
from ray.air import session


def objective(config):
    for i in range(3):
        session.report({"loss": (config["x"] - 1) ** 2 + 0.1 * i})


tuner = tune.Tuner(
    objective,
    param_space={"x": tune.grid_search([0.0, 1.0, 3.0])},
    tune_config=tune.TuneConfig(metric="loss", mode="min"),
    run_config=air.RunConfig(name="air_basic", stop={"training_iteration": 2}),
)
results = tuner.fit()
best = results.get_best_result()
assert best.config == {"x": 1.0}
assert best.metrics["training_iteration"] == 2
print("ok")
