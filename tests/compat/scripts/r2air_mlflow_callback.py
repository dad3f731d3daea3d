# Ray 2.0-2.6: MLflowLoggerCallback into a local tracking store
import os
import tempfile

import mlflow
from ray import air, tune
from ray.air import session
from ray.air.integrations.mlflow import MLflowLoggerCallback

uri = "sqlite:///" + os.path.join(tempfile.mkdtemp(), "mlflow.db")


def f(config):
    for i in range(3):
        session.report({"loss": config["a"] / (i + 1)})


tune.Tuner(
    f,
    param_space={"a": tune.grid_search([1.0, 2.0])},
    run_config=air.RunConfig(
        callbacks=[MLflowLoggerCallback(tracking_uri=uri, experiment_name="compat")]
    ),
).fit()
client = mlflow.tracking.MlflowClient(tracking_uri=uri)
exp = client.get_experiment_by_name("compat")
runs = client.search_runs([exp.experiment_id])
assert len(runs) == 2
assert {r.data.params["a"] for r in runs} == {"1.0", "2.0"}
assert all(r.info.status == "FINISHED" for r in runs)
history = client.get_metric_history(runs[0].info.run_id, "loss")
assert [m.step for m in history] == [1, 2, 3]
print("ok")
