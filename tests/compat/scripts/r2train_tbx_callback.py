# Ray 2.x: TBXLoggerCallback writes TensorBoard event files TensorBoard can read
import glob
import os

from ray import train, tune
from ray.tune.logger import TBXLoggerCallback
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator


def f(config):
    for i in range(3):
        train.report({"loss": config["lr"] * (3 - i)})


results = tune.Tuner(
    f,
    param_space={"lr": tune.grid_search([0.1, 0.2])},
    run_config=train.RunConfig(name="tb", callbacks=[TBXLoggerCallback()]),
).fit()
events = glob.glob(
    os.path.join(results.experiment_path, "**", "events.out.tfevents.*"), recursive=True
)
assert len(events) >= 2, events
acc = EventAccumulator(os.path.dirname(events[0]))
acc.Reload()
assert "ray/tune/loss" in acc.Tags()["scalars"]
assert [e.step for e in acc.Scalars("ray/tune/loss")] == [1, 2, 3]
print("ok")
