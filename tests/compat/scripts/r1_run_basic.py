# Ray 1.x: tune.run with a function trainable and tune.report(**metrics)
from ray import tune


def objective(config):
    for step in range(3):
        tune.report(mean_loss=(config["x"] - 2) ** 2 + 1.0 / (step + 1), step=step)


analysis = tune.run(
    objective,
    config={"x": tune.grid_search([0, 2, 5]), "unused": tune.choice([1, 2])},
    metric="mean_loss",
    mode="min",
    verbose=1,
)
assert analysis.get_best_config(metric="mean_loss", mode="min")["x"] == 2
print("best", analysis.best_config)
