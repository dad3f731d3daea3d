# Ray 1.x: loggers= with the classic logger classes, local_dir
import glob
import os
import tempfile

from ray import tune
from ray.tune.logger import CSVLogger, JsonLogger


def f(config):
    for i in range(2):
        tune.report(metric=i * config["k"])


local = tempfile.mkdtemp()
tune.run(
    f,
    name="logged",
    config={"k": tune.grid_search([1, 2])},
    loggers=[CSVLogger, JsonLogger],
    local_dir=local,
    verbose=0,
)
csvs = glob.glob(os.path.join(local, "logged", "**", "progress.csv"), recursive=True)
assert len(csvs) == 2, csvs
print("ok")
