# Ray 1.x/2.x: resources_per_trial with a PlacementGroupFactory
from ray import tune
from ray.tune.execution.placement_groups import PlacementGroupFactory


def f(config):
    tune.report(v=config["v"])


analysis = tune.run(
    f,
    config={"v": tune.grid_search([1, 2])},
    resources_per_trial=PlacementGroupFactory([{"CPU": 1}]),
    metric="v",
    mode="max",
)
assert analysis.best_config["v"] == 2
assert tune.PlacementGroupFactory is PlacementGroupFactory
print("ok")
