# Ray 2.0-2.6: ResultGrid access (errors, dataframe, best result's metrics)
from ray import air, tune


def f(config):
    if config["bad"]:
        raise ValueError("this config fails")
    session_value = config["v"] * 2
    from ray.air import session

    session.report({"score": session_value})


results = tune.Tuner(
    f,
    param_space={"v": tune.grid_search([1, 2]), "bad": tune.grid_search([False, True])},
    tune_config=tune.TuneConfig(metric="score", mode="max"),
    run_config=air.RunConfig(verbose=0),
).fit()
assert len(results) == 4
assert results.num_errors == 2 and len(results.errors) == 2
assert results.get_best_result().metrics["score"] == 4
df = results.get_dataframe()
assert len(df) == 4
print("ok")
