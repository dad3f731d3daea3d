# Ray 1.x: report(done=True), stop={"done": True}, verbose=False
from ray import tune


def f(config):
    for i in range(100):
        tune.report(loss=1.0 / (i + 1), done=i == config["last"])


analysis = tune.run(
    f, config={"last": tune.grid_search([1, 3])}, stop={"done": True}, verbose=False
)
its = sorted(t.last_result["training_iteration"] for t in analysis.trials)
assert its == [2, 4], its
print("ok")
