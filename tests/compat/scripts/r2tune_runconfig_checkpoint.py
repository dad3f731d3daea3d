# Ray >= 2.41: tune.RunConfig, tune.CheckpointConfig, tune.report(metrics, checkpoint=...)
import os
import tempfile

from ray import tune


def train_fn(config):
    start = 0
    ckpt = tune.get_checkpoint()
    if ckpt:
        with ckpt.as_directory() as d, open(os.path.join(d, "it")) as f:
            start = int(f.read())
    for it in range(start, 5):
        d = tempfile.mkdtemp()
        with open(os.path.join(d, "it"), "w") as f:
            f.write(str(it + 1))
        tune.report({"loss": config["w"] / (it + 1)}, checkpoint=tune.Checkpoint.from_directory(d))


results = tune.Tuner(
    train_fn,
    param_space={"w": tune.loguniform(1e-2, 1.0)},
    tune_config=tune.TuneConfig(metric="loss", mode="min", num_samples=3),
    run_config=tune.RunConfig(
        name="modern",
        checkpoint_config=tune.CheckpointConfig(
            num_to_keep=2, checkpoint_score_attribute="loss", checkpoint_score_order="min"
        ),
    ),
).fit()
best = results.get_best_result()
assert best.checkpoint is not None and best.metrics["training_iteration"] == 5
print("ok")
