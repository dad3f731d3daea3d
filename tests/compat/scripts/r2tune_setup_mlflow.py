# Ray >= 2.x: setup_mlflow inside the trainable logs to the tracking store
import os
import tempfile

import mlflow
from ray import tune
from ray.air.integrations.mlflow import setup_mlflow

uri = "sqlite:///" + os.path.join(tempfile.mkdtemp(), "mlflow.db")
# the driver creates the store first (trials racing to create a fresh SQLite schema fail)
mlflow.tracking.MlflowClient(tracking_uri=uri).create_experiment("inside")


def f(config):
    ml = setup_mlflow(
        config, tracking_uri=uri, experiment_name="inside", create_experiment_if_not_exists=True
    )
    for i in range(2):
        ml.log_metric("loss", config["a"] - i, step=i)
        tune.report({"loss": config["a"] - i})
    ml.end_run()


tune.Tuner(f, param_space={"a": 3.0}).fit()
client = mlflow.tracking.MlflowClient(tracking_uri=uri)
runs = client.search_runs([client.get_experiment_by_name("inside").experiment_id])
assert [r.data.params["a"] for r in runs] == ["3.0"]
assert runs[0].data.metrics["loss"] == 2.0
print("ok")
