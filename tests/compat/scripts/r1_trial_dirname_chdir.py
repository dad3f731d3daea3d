# Ray 1.x / 2.0-2.6: tune.run(trial_dirname_creator=...); trials run in their own directory
# (chdir_to_trial_dir defaults to True), so relative writes land there; the original
# directory is in TUNE_ORIG_WORKING_DIR
import os

from ray import tune

with open("data.txt", "w") as f:  # a data file next to the script
    f.write("3")


def short_dirname(trial):
    return f"{trial.trainable_name}_{trial.trial_id}"


def train_fn(config):
    with open(os.path.join(os.environ["TUNE_ORIG_WORKING_DIR"], "data.txt")) as f:
        base = int(f.read())
    with open("model.txt", "w") as f:  # relative: in this trial's directory
        f.write(str(config["lr"]))
    assert os.path.samefile(os.getcwd(), tune.get_trial_dir())
    tune.report(score=base * config["lr"])


analysis = tune.run(
    train_fn,
    config={"lr": tune.grid_search([0.1, 0.2, 0.3])},
    trial_dirname_creator=short_dirname,
    metric="score",
    mode="max",
    verbose=0,
)
for trial in analysis.trials:
    assert os.path.basename(trial.logdir) == f"train_fn_{trial.trial_id}", trial.logdir
    with open(os.path.join(trial.logdir, "model.txt")) as f:
        assert float(f.read()) == trial.config["lr"]
assert analysis.best_config["lr"] == 0.3
assert not os.path.exists("model.txt")
print("ok")
