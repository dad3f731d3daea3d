# Ray 1.x: ExperimentAnalysis(path) on a finished experiment
import os
import tempfile

from ray import tune
from ray.tune import ExperimentAnalysis


def f(config):
    tune.report(acc=config["a"])


local = tempfile.mkdtemp()
tune.run(f, name="exp", local_dir=local, config={"a": tune.grid_search([3, 1, 2])}, verbose=0)
analysis = ExperimentAnalysis(os.path.join(local, "exp"))
assert analysis.get_best_config(metric="acc", mode="max") == {"a": 3}
assert len(analysis.trials) == 3
print("ok")
