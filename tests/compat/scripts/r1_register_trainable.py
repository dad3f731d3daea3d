# Ray 1.x: register a trainable, run it by name
from ray import tune


def f(config):
    tune.report(y=config["x"] ** 2)


tune.register_trainable("squared", f)
analysis = tune.run("squared", config={"x": tune.grid_search([-2, 1])}, metric="y", mode="min")
assert analysis.best_config == {"x": 1}
print("ok")
