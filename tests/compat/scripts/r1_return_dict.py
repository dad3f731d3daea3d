# Ray: a function trainable that returns its final metrics
from ray import tune


def f(config):
    return {"score": -abs(config["x"] - 0.3)}


analysis = tune.run(f, config={"x": tune.grid_search([0.0, 0.3, 0.9])}, metric="score", mode="max")
best = analysis.get_best_trial()
assert best is not None and best.config == {"x": 0.3}
print("ok")
