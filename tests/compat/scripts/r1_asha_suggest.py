# Ray 1.x: tune.suggest paths, ConcurrencyLimiter, ASHA with its own metric/mode
from ray import tune
from ray.tune.schedulers import ASHAScheduler
from ray.tune.suggest import ConcurrencyLimiter
from ray.tune.suggest.basic_variant import BasicVariantGenerator


def trainable(config):
    for i in range(1, 9):
        tune.report(score=config["a"] * i)


algo = ConcurrencyLimiter(BasicVariantGenerator(), max_concurrent=2)
sched = ASHAScheduler(metric="score", mode="max", max_t=8, grace_period=2, reduction_factor=2)
analysis = tune.run(
    trainable, config={"a": tune.uniform(0, 1)}, num_samples=6, search_alg=algo, scheduler=sched
)
its = sorted(t.last_result["training_iteration"] for t in analysis.trials)
assert its[0] < 8 and its[-1] == 8, its
print("iterations", its)
