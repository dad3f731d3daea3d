# Ray 1.x-2.x: a Callback seeing Ray's arguments; CLIReporter and SyncConfig accepted
from ray import tune
from ray.tune import Callback, CLIReporter


class Collect(Callback):
    def __init__(self):
        self.rows = []

    def on_trial_result(self, iteration, trials, trial, result, **info):
        self.rows.append((trial.trial_id, trial.config["p"], result["m"], len(trials)))

    def on_trial_complete(self, iteration, trials, trial, **info):
        self.rows.append(("done", trial.last_result["m"]))


def f(config):
    for i in range(2):
        tune.report(m=config["p"] + i)


collect = Collect()
reporter = CLIReporter(metric_columns=["m"])
reporter.add_metric_column("training_iteration")
tune.run(
    f,
    config={"p": tune.grid_search([10, 20])},
    callbacks=[collect],
    progress_reporter=reporter,
    sync_config=tune.SyncConfig(),
    verbose=0,
)
results = [r for r in collect.rows if r[0] != "done"]
assert len(results) == 4 and {r[1] for r in results} == {10, 20}
assert sorted(r[1] for r in collect.rows if r[0] == "done") == [11, 21]
print("ok")
