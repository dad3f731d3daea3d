"""MLflow (``ray.air.integrations.mlflow``): ``MLflowLoggerCallback`` logs every trial as
an MLflow run from the driver (params = the flattened config, metrics per result at step
``training_iteration``, status FINISHED / FAILED); ``setup_mlflow`` inside a trial starts
that trial's run and returns the ``mlflow`` module to log with.

The callback goes through ``MlflowClient`` with explicit run ids, not mlflow's global
active run, because several trials are open at once in the driver.
"""

from __future__ import annotations

import os
from typing import Any

from tunefleet.integrations import require
from tunefleet.integrations.loggers import LoggerCallback
from tunefleet.results import flatten


def _numeric(result: dict[str, Any]) -> dict[str, float]:
    flat = flatten({k: v for k, v in result.items() if k != "config"})
    return {
        k: float(v)
        for k, v in flat.items()
        if isinstance(v, (int, float)) and not isinstance(v, bool)
    }


def _experiment_id(client: Any, name: str | None, create: bool = True) -> str:
    name = name or os.environ.get("MLFLOW_EXPERIMENT_NAME") or "Default"
    exp = client.get_experiment_by_name(name)
    if exp is not None:
        return str(exp.experiment_id)
    if not create:
        raise ValueError(f"experiment_name: no MLflow experiment {name!r}")
    return str(client.create_experiment(name))


class MLflowLoggerCallback(LoggerCallback):
    """One MLflow run per trial, in ``experiment_name`` at ``tracking_uri``."""

    def __init__(
        self,
        tracking_uri: str | None = None,
        *,
        registry_uri: str | None = None,
        experiment_name: str | None = None,
        tags: dict[str, Any] | None = None,
        tracking_token: str | None = None,
        save_artifact: bool = False,
    ) -> None:
        self.tracking_uri = tracking_uri
        self.registry_uri = registry_uri
        self.experiment_name = experiment_name
        self.tags = dict(tags or {})
        self.save_artifact = save_artifact
        if tracking_token:
            os.environ["MLFLOW_TRACKING_TOKEN"] = tracking_token
        self._client: Any = None
        self._experiment_id = ""
        self._runs: dict[str, str] = {}

    def setup(self, **info: Any) -> None:
        tracking = require("mlflow.tracking", "mlflow")
        self._client = tracking.MlflowClient(
            tracking_uri=self.tracking_uri, registry_uri=self.registry_uri
        )
        self._experiment_id = _experiment_id(self._client, self.experiment_name)

    def log_trial_start(self, trial: Any) -> None:
        if self._client is None:
            self.setup()
        if trial.trial_id in self._runs:
            return
        tags = {**{k: str(v) for k, v in self.tags.items()}, "trial_name": str(trial)}
        run = self._client.create_run(self._experiment_id, tags=tags, run_name=str(trial))
        run_id = run.info.run_id
        self._runs[trial.trial_id] = run_id
        for key, value in flatten(dict(trial.config)).items():
            self._client.log_param(run_id, key, value)

    def log_trial_result(self, iteration: int, trial: Any, result: dict[str, Any]) -> None:
        if trial.trial_id not in self._runs:
            self.log_trial_start(trial)
        run_id = self._runs[trial.trial_id]
        step = int(result.get("training_iteration", iteration))
        entities = require("mlflow.entities", "mlflow")
        now = int(float(result.get("timestamp", 0)) * 1000)
        batch = [entities.Metric(k, v, now, step) for k, v in _numeric(result).items()]
        if batch:
            self._client.log_batch(run_id, metrics=batch)

    def log_trial_end(self, trial: Any, failed: bool = False) -> None:
        run_id = self._runs.pop(trial.trial_id, None)
        if run_id is None:
            return
        path = str(getattr(trial, "local_path", "") or "")
        if self.save_artifact and path and os.path.isdir(path):
            self._client.log_artifacts(run_id, path)
        self._client.set_terminated(run_id, status="FAILED" if failed else "FINISHED")


def setup_mlflow(
    config: dict[str, Any] | None = None,
    tracking_uri: str | None = None,
    registry_uri: str | None = None,
    experiment_id: str | None = None,
    experiment_name: str | None = None,
    tracking_token: str | None = None,
    artifact_location: str | None = None,
    run_name: str | None = None,
    create_experiment_if_not_exists: bool = False,
    tags: dict[str, Any] | None = None,
    rank_zero_only: bool = True,
) -> Any:
    """Inside a trial: point mlflow at the tracking server, start this trial's run (named
    after the trial, params = ``config``) and return the ``mlflow`` module."""
    mlflow = require("mlflow", "mlflow")
    from tunefleet.worker.session import current_session

    session = current_session()
    if rank_zero_only and session is not None and session.get_world_rank() != 0:
        return _NoopMlflow()
    if tracking_token:
        os.environ["MLFLOW_TRACKING_TOKEN"] = tracking_token
    if tracking_uri:
        mlflow.set_tracking_uri(tracking_uri)
    if registry_uri:
        mlflow.set_registry_uri(registry_uri)
    if experiment_id is None:
        client = mlflow.tracking.MlflowClient()
        name = experiment_name or os.environ.get("MLFLOW_EXPERIMENT_NAME") or "Default"
        experiment_id = _experiment_id(client, name, create=create_experiment_if_not_exists)
    trial_name = session.trial_id if session is not None else None
    mlflow.start_run(
        experiment_id=experiment_id, run_name=run_name or trial_name, tags=tags or None
    )
    if config:
        mlflow.log_params(flatten(dict(config)))
    return mlflow


class _NoopMlflow:
    """What ranks other than 0 get: every mlflow call does nothing."""

    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: None
