# Ray 2.7-2.40: RAY_CHDIR_TO_TRIAL_DIR=0 keeps trials in the launch directory; outputs go to
# train.get_context().get_trial_dir(), whose name trial_dirname_creator chose
import os

os.environ["RAY_CHDIR_TO_TRIAL_DIR"] = "0"

from ray import train, tune  # noqa: E402
from ray.train import RunConfig  # noqa: E402

with open("offset.txt", "w") as f:
    f.write("10")


def objective(config):
    with open("offset.txt") as f:  # relative: still the launch directory
        offset = float(f.read())
    trial_dir = train.get_context().get_trial_dir()
    with open(os.path.join(trial_dir, "note.txt"), "w") as f:
        f.write(f"{config['x']}")
    train.report({"y": offset + config["x"] ** 2})


tuner = tune.Tuner(
    objective,
    param_space={"x": tune.grid_search([-1, 0, 2])},
    tune_config=tune.TuneConfig(
        metric="y", mode="min", trial_dirname_creator=lambda t: f"x={t.config['x']}_{t.trial_id}"
    ),
    run_config=RunConfig(name="env_chdir"),
)
grid = tuner.fit()
best = grid.get_best_result()
assert best.config["x"] == 0 and best.metrics["y"] == 10
for result in grid:
    name = os.path.basename(result.path)
    assert name.startswith(f"x={result.config['x']}_"), name
    with open(os.path.join(result.path, "note.txt")) as f:
        assert f.read() == str(result.config["x"])
print("ok")
