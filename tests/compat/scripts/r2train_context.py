# Ray 2.7-2.40: train.get_context() inside a Tune trial
from ray import train, tune


def f(config):
    ctx = train.get_context()
    assert ctx.get_trial_name() == ctx.get_trial_id() and ctx.get_trial_dir()
    train.report({"rank": ctx.get_world_rank(), "size": ctx.get_world_size(), "x": config["x"]})


results = tune.Tuner(f, param_space={"x": tune.grid_search([1, 2])}).fit()
assert sorted(r.metrics["x"] for r in results) == [1, 2]
assert all(r.metrics["rank"] == 0 and r.metrics["size"] == 1 for r in results)
print("ok")
