# Ray 2.0-2.6: air Checkpoint.from_dict / session.get_checkpoint under PBT
from ray import air, tune
from ray.air import Checkpoint, session
from ray.tune.schedulers import PopulationBasedTraining


def train(config):
    step, acc = 0, 0.0
    ckpt = session.get_checkpoint()
    if ckpt:
        state = ckpt.to_dict()
        step, acc = state["step"], state["acc"]
    while step < 6:
        step += 1
        acc += config["lr"]
        session.report({"acc": acc}, checkpoint=Checkpoint.from_dict({"step": step, "acc": acc}))


pbt = PopulationBasedTraining(
    time_attr="training_iteration",
    perturbation_interval=2,
    hyperparam_mutations={"lr": [0.1, 0.5, 1.0]},
)
results = tune.Tuner(
    train,
    param_space={"lr": tune.choice([0.1, 0.5, 1.0])},
    tune_config=tune.TuneConfig(metric="acc", mode="max", scheduler=pbt, num_samples=3),
    run_config=air.RunConfig(stop={"training_iteration": 6}, verbose=0),
).fit()
assert len(results) == 3 and not results.errors
assert results.get_best_result().checkpoint is not None
print("ok")
