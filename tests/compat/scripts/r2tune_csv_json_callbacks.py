# Ray >= 2.x: CSVLoggerCallback / JsonLoggerCallback given explicitly
import csv
import glob
import os

from ray import tune
from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback


def f(config):
    for i in range(3):
        tune.report({"loss": config["k"] + i})


results = tune.Tuner(
    f,
    param_space={"k": tune.grid_search([1, 2])},
    run_config=tune.RunConfig(name="files", callbacks=[CSVLoggerCallback(), JsonLoggerCallback()]),
).fit()
csvs = glob.glob(os.path.join(results.experiment_path, "**", "progress.csv"), recursive=True)
assert len(csvs) == 2
with open(csvs[0]) as fh:
    rows = list(csv.DictReader(fh))
assert [int(r["training_iteration"]) for r in rows] == [1, 2, 3]
print("ok")
