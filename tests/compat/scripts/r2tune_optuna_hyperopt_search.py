# Ray >= 2.x: OptunaSearch (behind a ConcurrencyLimiter) and HyperOptSearch with
# points_to_evaluate, as in Ray's search-algorithm examples
from ray import tune
from ray.tune.search import ConcurrencyLimiter
from ray.tune.search.hyperopt import HyperOptSearch
from ray.tune.search.optuna import OptunaSearch


def objective(config):
    tune.report({"loss": (config["x"] - 0.3) ** 2 + (0.1 if config["act"] == "tanh" else 0.0)})


space = {"x": tune.uniform(-1.0, 1.0), "act": tune.choice(["relu", "tanh"])}
for algo in (
    ConcurrencyLimiter(OptunaSearch(seed=1), max_concurrent=2),
    HyperOptSearch(points_to_evaluate=[{"x": 0.3, "act": "relu"}], n_initial_points=3),
):
    results = tune.Tuner(
        objective,
        param_space=space,
        tune_config=tune.TuneConfig(metric="loss", mode="min", search_alg=algo, num_samples=6),
    ).fit()
    best = results.get_best_result()
    assert len(results) == 6, len(results)
    assert -1.0 <= best.config["x"] <= 1.0 and best.metrics["loss"] < 0.5, best.metrics
print("ok")
