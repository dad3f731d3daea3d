"""Weights & Biases (``ray.air.integrations.wandb``): ``WandbLoggerCallback`` logs every
trial as a W&B run from the driver (config, one ``log`` per result, ``finish`` at the
end); ``setup_wandb`` inside a trial starts that trial's run and returns it. Offline mode
(``WANDB_MODE=offline`` or ``mode="offline"``) writes runs under ``dir`` for a later
``wandb sync``.
"""

from __future__ import annotations

import os
from typing import Any

from tunefleet.integrations import require
from tunefleet.integrations.loggers import LoggerCallback
from tunefleet.results import flatten

# result keys that are bookkeeping, not metrics (Ray leaves them out too)
_EXCLUDED = {"done", "trial_id", "config", "timestamp", "date", "hostname", "node_ip", "pid"}


def _api_key(api_key: str | None, api_key_file: str | None) -> None:
    if api_key_file:
        with open(os.path.expanduser(api_key_file)) as f:
            api_key = f.readline().strip()
    if api_key:
        os.environ["WANDB_API_KEY"] = api_key


def _loggable(result: dict[str, Any], excludes: set[str]) -> dict[str, Any]:
    flat = flatten({k: v for k, v in result.items() if k not in _EXCLUDED | excludes})
    return {k: v for k, v in flat.items() if isinstance(v, (int, float, str, bool))}


class WandbLoggerCallback(LoggerCallback):
    """One W&B run per trial in ``project`` / ``group``."""

    def __init__(
        self,
        project: str | None = None,
        group: str | None = None,
        api_key_file: str | None = None,
        api_key: str | None = None,
        excludes: list[str] | None = None,
        log_config: bool = False,
        upload_checkpoints: bool = False,
        save_checkpoints: bool = False,
        upload_timeout: int = 1800,
        **kwargs: Any,
    ) -> None:
        self.project = project
        self.group = group
        self.excludes = set(excludes or [])
        self.log_config = log_config
        self.kwargs = kwargs
        _api_key(api_key, api_key_file)
        self._runs: dict[str, Any] = {}

    def log_trial_start(self, trial: Any) -> None:
        if trial.trial_id in self._runs:
            return
        wandb = require("wandb", "wandb")
        kwargs = {
            "project": self.project,
            "group": self.group or getattr(trial, "trainable_name", None),
            "name": str(trial),
            "id": trial.trial_id,
            "config": dict(trial.config),
            "reinit": "create_new",
            **self.kwargs,
        }
        if getattr(trial, "local_path", "") and "dir" not in kwargs:
            os.makedirs(trial.local_path, exist_ok=True)
            kwargs["dir"] = trial.local_path
        self._runs[trial.trial_id] = wandb.init(**kwargs)

    def log_trial_result(self, iteration: int, trial: Any, result: dict[str, Any]) -> None:
        if trial.trial_id not in self._runs:
            self.log_trial_start(trial)
        run = self._runs[trial.trial_id]
        data = _loggable(result, self.excludes)
        if self.log_config:
            run.config.update(dict(trial.config), allow_val_change=True)
        run.log(data, step=int(result.get("training_iteration", iteration)))

    def log_trial_end(self, trial: Any, failed: bool = False) -> None:
        run = self._runs.pop(trial.trial_id, None)
        if run is not None:
            run.finish(exit_code=1 if failed else 0)


def setup_wandb(
    config: dict[str, Any] | None = None,
    api_key: str | None = None,
    api_key_file: str | None = None,
    rank_zero_only: bool = True,
    **kwargs: Any,
) -> Any:
    """Inside a trial: start this trial's W&B run (id and name = the trial id, config =
    ``config``) and return it."""
    wandb = require("wandb", "wandb")
    from tunefleet.worker.session import current_session

    session = current_session()
    if rank_zero_only and session is not None and session.get_world_rank() != 0:
        return None
    _api_key(api_key, api_key_file)
    if session is not None:
        kwargs.setdefault("id", session.trial_id)
        kwargs.setdefault("name", session.trial_id)
        if session.trial_dir:
            os.makedirs(session.trial_dir, exist_ok=True)
            kwargs.setdefault("dir", session.trial_dir)
    kwargs.setdefault("reinit", "create_new")
    return wandb.init(config=config, **kwargs)
