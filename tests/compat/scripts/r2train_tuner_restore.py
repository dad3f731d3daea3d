# Ray 2.x: Tuner.restore on a finished experiment
import os
import tempfile

from ray import train, tune


def f(config):
    train.report({"v": config["v"]})


storage = tempfile.mkdtemp()
tune.Tuner(
    f,
    param_space={"v": tune.grid_search([1, 2, 3])},
    run_config=train.RunConfig(name="restorable", storage_path=storage),
).fit()
path = os.path.join(storage, "restorable")
assert tune.Tuner.can_restore(path)
restored = tune.Tuner.restore(path, trainable=f)
results = restored.get_results()
assert sorted(r.metrics["v"] for r in results) == [1, 2, 3]
print("ok")
