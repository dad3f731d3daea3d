# Ray >= 2.41: tune.get_context().get_trial_dir(); artifacts written by relative paths land
# in the trial's directory (the default working directory), named by trial_dirname_creator
import json
import os

from ray import tune


def train_fn(config):
    os.makedirs("artifacts", exist_ok=True)
    for step in range(3):
        loss = (config["a"] - 1) ** 2 + 1 / (step + 1)
        with open(os.path.join("artifacts", f"step{step}.json"), "w") as f:
            json.dump({"loss": loss}, f)
        tune.report({"loss": loss, "trial_dir": tune.get_context().get_trial_dir()})


tuner = tune.Tuner(
    train_fn,
    param_space={"a": tune.grid_search([0.5, 1.0, 3.0])},
    tune_config=tune.TuneConfig(
        metric="loss",
        mode="min",
        trial_dirname_creator=lambda trial: f"a{trial.config['a']}-{trial.trial_id[-5:]}",
    ),
    run_config=tune.RunConfig(name="artifacts", stop={"training_iteration": 3}),
)
results = tuner.fit()
best = results.get_best_result()
assert best.config["a"] == 1.0
for result in results:
    assert result.metrics["trial_dir"] == result.path
    assert os.path.basename(result.path).startswith(f"a{result.config['a']}-")
    assert sorted(os.listdir(os.path.join(result.path, "artifacts"))) == [
        "step0.json",
        "step1.json",
        "step2.json",
    ]
assert not os.path.exists("artifacts")
print("ok")
