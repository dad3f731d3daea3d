# Ray 2.7-2.40: train.Checkpoint.from_directory / train.get_checkpoint with ASHA
import json
import os
import tempfile

from ray import train, tune
from ray.tune.schedulers import ASHAScheduler


def trainable(config):
    start = 0
    checkpoint = train.get_checkpoint()
    if checkpoint:
        with checkpoint.as_directory() as d, open(os.path.join(d, "state.json")) as f:
            start = json.load(f)["epoch"]
    for epoch in range(start, 8):
        with tempfile.TemporaryDirectory() as d:
            with open(os.path.join(d, "state.json"), "w") as f:
                json.dump({"epoch": epoch + 1}, f)
            train.report(
                {"acc": config["q"] * (epoch + 1)}, checkpoint=train.Checkpoint.from_directory(d)
            )


results = tune.Tuner(
    trainable,
    param_space={"q": tune.uniform(0, 1)},
    tune_config=tune.TuneConfig(
        metric="acc",
        mode="max",
        num_samples=6,
        scheduler=ASHAScheduler(max_t=8, grace_period=2),
    ),
    run_config=train.RunConfig(checkpoint_config=train.CheckpointConfig(num_to_keep=1)),
).fit()
iters = sorted(r.metrics["training_iteration"] for r in results)
assert iters[0] < 8 and iters[-1] == 8, iters
assert results.get_best_result().checkpoint is not None
print("ok")
