# Ray 2.1-2.6: TuneConfig(chdir_to_trial_dir=False, trial_dirname_creator=...): relative
# paths stay relative to the script's directory; outputs go to session.get_trial_dir()
import os

from ray import air, tune
from ray.air import session

here = os.getcwd()
with open("labels.txt", "w") as f:
    f.write("a,b,c")


def trainable(config):
    with open("labels.txt") as f:  # relative to the original working directory
        labels = f.read().split(",")
    assert os.getcwd() == here
    out = os.path.join(session.get_trial_dir(), "out.txt")
    with open(out, "w") as f:
        f.write(labels[config["i"]])
    session.report({"label": labels[config["i"]], "i": config["i"]})


tuner = tune.Tuner(
    trainable,
    param_space={"i": tune.grid_search([0, 1, 2])},
    tune_config=tune.TuneConfig(
        chdir_to_trial_dir=False,
        trial_dirname_creator=lambda trial: "trial_" + trial.trial_id,
    ),
    run_config=air.RunConfig(name="chdir_off"),
)
results = tuner.fit()
assert not results.errors
for result in results:
    assert os.path.basename(result.path).startswith("trial_")
    with open(os.path.join(result.path, "out.txt")) as f:
        assert f.read() == result.metrics["label"] == "abc"[result.metrics["i"]]
print("ok")
