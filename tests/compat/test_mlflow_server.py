"""MLflowLoggerCallback and setup_mlflow against a real ``mlflow server`` on 127.0.0.1:
each trial is a run with its config as params, every result's metrics by step, and its
final status."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tunefleet import tune

mlflow = pytest.importorskip("mlflow")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("mlflow")
    port = _free_port()
    cmd = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port)]
    # the server's own backend is a folder: a fresh SQLite backend runs MLflow's schema
    # migrations first (~15 s more here); the corpus's MLflow script covers SQLite stores
    cmd += ["--backend-store-uri", str(root / "mlruns")]
    cmd += ["--default-artifact-root", str(root / "artifacts"), "--workers", "1"]
    env = {**os.environ, "MLFLOW_ALLOW_FILE_STORE": "true"}
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"mlflow server did not start (exit {proc.returncode})")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _fit(config: dict[str, float]) -> None:
    for i in range(3):
        tune.report({"loss": config["lr"] / (i + 1)})
    if config["lr"] > 1:
        raise RuntimeError("this trial fails after three results")


def test_logger_callback_logs_runs_to_a_real_server(server: str, tmp_path: Path) -> None:
    callback = tune.logger.__name__  # the alias module resolves before the callback is used
    from tunefleet.tune.integration.mlflow import MLflowLoggerCallback

    assert callback == "tunefleet.integrations.loggers"
    tune.Tuner(
        _fit,
        param_space={"lr": tune.grid_search([0.5, 2.0])},
        run_config=tune.RunConfig(
            storage_path=str(tmp_path),
            callbacks=[MLflowLoggerCallback(tracking_uri=server, experiment_name="srv")],
        ),
    ).fit()
    client = mlflow.tracking.MlflowClient(tracking_uri=server)
    exp = client.get_experiment_by_name("srv")
    runs = {r.data.params["lr"]: r for r in client.search_runs([exp.experiment_id])}
    assert set(runs) == {"0.5", "2.0"}
    assert runs["0.5"].info.status == "FINISHED" and runs["2.0"].info.status == "FAILED"
    history = client.get_metric_history(runs["0.5"].info.run_id, "loss")
    assert [(m.step, m.value) for m in history] == [(1, 0.5), (2, 0.25), (3, 0.5 / 3)]


def _inside(config: dict[str, float]) -> None:
    from tunefleet.air.integrations.mlflow import setup_mlflow

    ml = setup_mlflow(
        config,
        tracking_uri=config["uri"],
        experiment_name="inside",
        create_experiment_if_not_exists=True,
    )
    for i in range(2):
        ml.log_metric("loss", config["a"] - i, step=i)
        tune.report({"loss": config["a"] - i})
    ml.end_run()


def test_setup_mlflow_in_a_trial_logs_to_the_server(server: str, tmp_path: Path) -> None:
    tune.run(_inside, config={"a": 3.0, "uri": server}, storage_path=str(tmp_path), verbose=0)
    client = mlflow.tracking.MlflowClient(tracking_uri=server)
    runs = client.search_runs([client.get_experiment_by_name("inside").experiment_id])
    assert len(runs) == 1 and runs[0].data.params["a"] == "3.0"
    assert runs[0].data.metrics["loss"] == 2.0 and runs[0].info.run_name.endswith("_00000")
