# Ray 1.x: fn(config, checkpoint_dir=None) + tune.checkpoint_dir under PBT
import json
import os

from ray import tune
from ray.tune.schedulers import PopulationBasedTraining


def train(config, checkpoint_dir=None):
    step, value = 0, 0.0
    if checkpoint_dir:
        with open(os.path.join(checkpoint_dir, "state.json")) as f:
            state = json.load(f)
        step, value = state["step"], state["value"]
    while step < 6:
        value += config["lr"]
        step += 1
        with tune.checkpoint_dir(step=step) as d, open(os.path.join(d, "state.json"), "w") as f:
            json.dump({"step": step, "value": value}, f)
        tune.report(value=value)


pbt = PopulationBasedTraining(
    time_attr="training_iteration",
    perturbation_interval=2,
    hyperparam_mutations={"lr": tune.uniform(0.1, 1.0)},
)
analysis = tune.run(
    train,
    metric="value",
    mode="max",
    scheduler=pbt,
    num_samples=3,
    config={"lr": tune.uniform(0.1, 1.0)},
    stop={"training_iteration": 6},
    verbose=0,
)
# A trial that exploits a donor which already reached step 6 restores that state and
# returns without a further report, so not every trial's own last result is at 6.
assert all(t.status == "TERMINATED" for t in analysis.trials)
assert max(t.last_result["training_iteration"] for t in analysis.trials) == 6
print("best value", analysis.best_result["value"])
