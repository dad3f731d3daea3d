# Ray 2.0-2.6: WandbLoggerCallback in offline mode
import glob
import os

from ray import air, tune
from ray.air import session
from ray.air.integrations.wandb import WandbLoggerCallback


def f(config):
    for i in range(2):
        session.report({"acc": config["p"] * i})


results = tune.Tuner(
    f,
    param_space={"p": tune.grid_search([1, 2])},
    run_config=air.RunConfig(
        name="wb", callbacks=[WandbLoggerCallback(project="compat", mode="offline")]
    ),
).fit()
runs = glob.glob(os.path.join(results.experiment_path, "**", "offline-run-*"), recursive=True)
assert len(runs) == 2, runs
print("ok")
