# Ray's example class trainable under HyperBand
from ray import tune
from ray.tune.schedulers import HyperBandScheduler
from ray.tune.utils.mock_trainable import MyTrainableClass

hb = HyperBandScheduler(time_attr="training_iteration", max_t=9, reduction_factor=3)
analysis = tune.run(
    MyTrainableClass,
    name="hyperband_test",
    num_samples=4,
    stop={"training_iteration": 9},
    config={"width": tune.randint(10, 90), "height": tune.randint(0, 100)},
    scheduler=hb,
    metric="episode_reward_mean",
    mode="max",
    verbose=0,
)
assert analysis.best_config["width"] >= 10
print("ok", analysis.best_result["episode_reward_mean"])
