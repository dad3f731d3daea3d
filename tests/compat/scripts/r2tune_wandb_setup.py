# Ray >= 2.x: setup_wandb inside the trainable, offline
from ray import tune
from ray.air.integrations.wandb import setup_wandb


def f(config):
    run = setup_wandb(config, project="compat-inside", mode="offline")
    for i in range(2):
        run.log({"loss": config["a"] - i})
        tune.report({"loss": config["a"] - i})
    run.finish()


results = tune.Tuner(f, param_space={"a": tune.grid_search([1.0, 2.0])}).fit()
assert not results.errors
print("ok")
