# Ray 2.7-2.40: ray.tune.context, get_trial_resources, ray.air.constants, and the
# ray.train.torch loop helpers inside a plain Tune function trainable
import os

import torch
from ray import train, tune
from ray.air.constants import EXPR_RESULT_FILE, TRAINING_ITERATION
from ray.train.torch import get_device, prepare_model
from ray.tune.context import TuneContext
from ray.tune.logger import JsonLoggerCallback


def f(config):
    ctx = tune.get_context()
    assert isinstance(ctx, TuneContext)
    bundle = ctx.get_trial_resources().bundles[0]
    model = prepare_model(torch.nn.Linear(1, 1))
    x = torch.ones(4, 1, device=get_device())
    for _ in range(3):
        loss = float((model(x) - config["target"]).pow(2).mean())
        train.report({"loss": loss, "cpus": bundle["CPU"]})


trainable = tune.with_resources(f, {"cpu": 1})
results = tune.Tuner(
    trainable,
    param_space={"target": tune.grid_search([0.0, 1.0])},
    run_config=train.RunConfig(callbacks=[JsonLoggerCallback()]),
).fit()
assert len(results) == 2 and results.num_errors == 0
for r in results:
    assert r.metrics[TRAINING_ITERATION] == 3 and r.metrics["cpus"] == 1.0
    assert os.path.isfile(os.path.join(r.path, EXPR_RESULT_FILE)), os.listdir(r.path)
print("ok")
