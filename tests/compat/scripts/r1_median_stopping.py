# Ray 1.x: MedianStoppingRule with time_attr
from ray import tune
from ray.tune.schedulers import MedianStoppingRule


def f(config):
    for i in range(10):
        tune.report(episode_reward_mean=config["q"] * i, training_step=i)


sched = MedianStoppingRule(time_attr="training_iteration", grace_period=2, min_samples_required=2)
analysis = tune.run(
    f,
    config={"q": tune.grid_search([0.1, 0.2, 1.0, 2.0])},
    scheduler=sched,
    metric="episode_reward_mean",
    mode="max",
    verbose=0,
)
assert analysis.best_config == {"q": 2.0}
print("ok")
