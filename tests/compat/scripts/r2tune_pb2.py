# Ray >= 2.0: PB2 from its module path, the same class as tune.schedulers.PB2
from ray import tune
from ray.tune.schedulers import PB2 as PB2_pkg
from ray.tune.schedulers.pb2 import PB2

assert PB2 is PB2_pkg


def train(config):
    state = tune.get_checkpoint()
    x = state.to_dict()["x"] if state else 0.0
    for _ in range(6):
        x += config["lr"]
        tune.report({"x": x}, checkpoint=tune.Checkpoint.from_dict({"x": x}))


pb2 = PB2(
    time_attr="training_iteration", perturbation_interval=2, hyperparam_bounds={"lr": [0.01, 1.0]}
)
results = tune.Tuner(
    train,
    param_space={"lr": tune.uniform(0.01, 1.0)},
    tune_config=tune.TuneConfig(metric="x", mode="max", scheduler=pb2, num_samples=3),
    run_config=tune.RunConfig(stop={"training_iteration": 6}),
).fit()
assert len(results) == 3 and not results.errors
print("ok")
