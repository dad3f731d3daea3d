# Ray: the stopper classes
from ray import tune
from ray.tune.stopper import CombinedStopper, MaximumIterationStopper, TrialPlateauStopper


def f(config):
    for _ in range(50):
        tune.report(loss=config["c"])


stopper = CombinedStopper(
    MaximumIterationStopper(max_iter=20),
    TrialPlateauStopper(metric="loss", num_results=3, grace_period=3),
)
analysis = tune.run(f, config={"c": tune.grid_search([1.0, 2.0])}, stop=stopper, verbose=0)
assert all(t.last_result["training_iteration"] < 20 for t in analysis.trials)
print("ok")
