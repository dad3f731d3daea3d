# Ray: ray.init / is_initialized / shutdown around tune.run
import ray
from ray import tune

ray.init(num_cpus=2, ignore_reinit_error=True, include_dashboard=False)
assert ray.is_initialized()


def f(config):
    tune.report(v=config["v"])


analysis = tune.run(f, config={"v": tune.grid_search([1, 2])}, metric="v", mode="max")
assert analysis.best_config == {"v": 2}
ray.shutdown()
assert not ray.is_initialized()
print("ok")
