# Ray 2.0-2.6: air.FailureConfig retries from the last checkpoint; air.CheckpointConfig
import os
import tempfile

from ray import air, tune
from ray.air import Checkpoint, session


def flaky(config):
    start = 0
    ckpt = session.get_checkpoint()
    if ckpt:
        with ckpt.as_directory() as d, open(os.path.join(d, "n")) as f:
            start = int(f.read())
    for i in range(start, 4):
        d = tempfile.mkdtemp()
        with open(os.path.join(d, "n"), "w") as f:
            f.write(str(i + 1))
        session.report({"i": i, "start": start}, checkpoint=Checkpoint.from_directory(d))
        if i == 1 and start == 0:
            raise RuntimeError("crash once")


results = tune.Tuner(
    flaky,
    run_config=air.RunConfig(
        failure_config=air.FailureConfig(max_failures=1),
        checkpoint_config=air.CheckpointConfig(num_to_keep=2),
    ),
).fit()
result = results[0]
assert result.error is None and result.metrics["start"] == 2, result.metrics
print("ok")
