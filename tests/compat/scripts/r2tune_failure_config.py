# Ray >= 2.41: tune.FailureConfig(max_failures=...) with a trial that fails once
import os

from ray import tune


def sometimes(config):
    marker = os.path.join(os.getcwd(), f"failed-{config['i']}")
    if config["i"] == 1 and not os.path.exists(marker):
        open(marker, "w").close()
        raise RuntimeError("transient")
    tune.report({"ok": 1, "i": config["i"]})


results = tune.Tuner(
    sometimes,
    param_space={"i": tune.grid_search([0, 1])},
    run_config=tune.RunConfig(failure_config=tune.FailureConfig(max_failures=2)),
).fit()
assert not results.errors
assert sorted(r.metrics["i"] for r in results) == [0, 1]
print("ok")
