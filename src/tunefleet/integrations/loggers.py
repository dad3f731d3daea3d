"""Ray Tune's logger callbacks: every result of every trial written into the trial's
directory as ``progress.csv``, ``result.json`` (one JSON object per line) and TensorBoard
event files, plus ``params.json`` with the trial's config.

``LoggerCallback`` is Ray's base class: override ``log_trial_start``,
``log_trial_result`` and ``log_trial_end``. Ray 1.x's ``loggers=[CSVLogger, ...]`` classes
map onto these callbacks (:func:`as_callbacks`).

``csv`` and ``json`` are imported under private names: ``tunefleet.tune.logger.csv`` and
``.json`` alias this module, and importing a child binds its name on the parent.
"""

from __future__ import annotations

import csv as _csv
import json as _json
import math
import os
from typing import IO, Any

from tunefleet.callbacks import Callback
from tunefleet.integrations import require
from tunefleet.results import flatten

EXPR_PARAM_FILE = "params.json"
EXPR_PROGRESS_FILE = "progress.csv"
EXPR_RESULT_FILE = "result.json"


def _trial_dir(trial: Any) -> str:
    path = getattr(trial, "local_path", "") or getattr(trial, "logdir", "")
    os.makedirs(path, exist_ok=True)
    return str(path)


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return repr(value)


class LoggerCallback(Callback):
    """Base class: hooks per trial (start, result, end) instead of Ray's raw callback
    hooks. ``log_trial_end(trial, failed)`` runs for completed and errored trials."""

    def log_trial_start(self, trial: Any) -> None:
        pass

    def log_trial_result(self, iteration: int, trial: Any, result: dict[str, Any]) -> None:
        pass

    def log_trial_end(self, trial: Any, failed: bool = False) -> None:
        pass

    def on_trial_start(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self.log_trial_start(trial)

    def on_trial_result(
        self, iteration: int, trials: list[Any], trial: Any, result: dict[str, Any], **info: Any
    ) -> None:
        self.log_trial_result(iteration, trial, result)

    def on_trial_complete(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self.log_trial_end(trial, failed=False)

    def on_trial_error(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self.log_trial_end(trial, failed=True)


class JsonLoggerCallback(LoggerCallback):
    """``params.json`` at start, one line of ``result.json`` per result."""

    def __init__(self) -> None:
        self._files: dict[str, IO[str]] = {}

    def log_trial_start(self, trial: Any) -> None:
        path = _trial_dir(trial)
        with open(os.path.join(path, EXPR_PARAM_FILE), "w") as f:
            _json.dump(_json_safe(trial.config), f, indent=2, sort_keys=True)
        self._files[trial.trial_id] = open(os.path.join(path, EXPR_RESULT_FILE), "a")  # noqa: SIM115

    def log_trial_result(self, iteration: int, trial: Any, result: dict[str, Any]) -> None:
        f = self._files.get(trial.trial_id)
        if f is None:
            self.log_trial_start(trial)
            f = self._files[trial.trial_id]
        f.write(_json.dumps(_json_safe({**result, "config": trial.config})) + "\n")
        f.flush()

    def log_trial_end(self, trial: Any, failed: bool = False) -> None:
        f = self._files.pop(trial.trial_id, None)
        if f is not None:
            f.close()


class CSVLoggerCallback(LoggerCallback):
    """``progress.csv``: one row per result, flattened keys (``a/b``); the header is the
    first result's keys (later new keys are dropped, as in Ray)."""

    def __init__(self) -> None:
        self._files: dict[str, tuple[Any, _csv.DictWriter[str]]] = {}

    def log_trial_result(self, iteration: int, trial: Any, result: dict[str, Any]) -> None:
        row = flatten({k: v for k, v in result.items() if k != "config"})
        entry = self._files.get(trial.trial_id)
        if entry is None:
            path = os.path.join(_trial_dir(trial), EXPR_PROGRESS_FILE)
            fresh = not os.path.exists(path) or os.path.getsize(path) == 0
            f = open(path, "a", newline="")  # noqa: SIM115
            writer = _csv.DictWriter(f, fieldnames=list(row), extrasaction="ignore")
            if fresh:
                writer.writeheader()
            entry = self._files[trial.trial_id] = (f, writer)
        f, writer = entry
        writer.writerow(row)
        f.flush()

    def log_trial_end(self, trial: Any, failed: bool = False) -> None:
        entry = self._files.pop(trial.trial_id, None)
        if entry is not None:
            entry[0].close()


class TBXLoggerCallback(LoggerCallback):
    """TensorBoard event files (via tensorboardX) in each trial's directory: every numeric
    result under ``ray/tune/<key>`` at step ``training_iteration``, and the config as
    hyperparameters when the trial ends."""

    def __init__(self) -> None:
        self._writers: dict[str, Any] = {}
        self._last: dict[str, dict[str, Any]] = {}

    def log_trial_result(self, iteration: int, trial: Any, result: dict[str, Any]) -> None:
        writer = self._writers.get(trial.trial_id)
        if writer is None:
            tbx = require("tensorboardX", "tensorboard")
            writer = self._writers[trial.trial_id] = tbx.SummaryWriter(
                _trial_dir(trial), flush_secs=30
            )
        step = int(result.get("training_iteration", iteration))
        flat = flatten({k: v for k, v in result.items() if k != "config"})
        for key, value in flat.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                writer.add_scalar(f"ray/tune/{key}", value, global_step=step)
        self._last[trial.trial_id] = flat
        writer.flush()

    def log_trial_end(self, trial: Any, failed: bool = False) -> None:
        writer = self._writers.pop(trial.trial_id, None)
        if writer is None:
            return
        hparams = {
            k: v
            for k, v in flatten(dict(trial.config)).items()
            if isinstance(v, (int, float, str, bool))
        }
        last = self._last.pop(trial.trial_id, {})
        metrics = {
            f"ray/tune/{k}": v
            for k, v in last.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool)
        }
        if hparams:
            # into the trial's own event file (add_hparams would open another one)
            summary = require("tensorboardX.summary", "tensorboard")
            for part in summary.hparams(hparams, metrics):
                writer.file_writer.add_summary(part)
        writer.close()


# Ray 1.x's ``loggers=`` took Logger classes; each stands for the callback above.
class Logger:
    """Ray 1.x's per-trial logger base; pass the class in ``loggers=``."""

    callback: type[LoggerCallback] = LoggerCallback


class CSVLogger(Logger):
    callback = CSVLoggerCallback


class JsonLogger(Logger):
    callback = JsonLoggerCallback


class TBXLogger(Logger):
    callback = TBXLoggerCallback


DEFAULT_LOGGERS = (JsonLogger, CSVLogger, TBXLogger)


def as_callbacks(loggers: Any) -> list[Any]:
    """Ray 1.x ``loggers=``: Logger classes (or callback instances) -> callbacks."""
    from tunefleet.errors import TuneTypeError

    out: list[Any] = []
    for item in loggers:
        if isinstance(item, type) and issubclass(item, Logger):
            out.append(item.callback())
        elif isinstance(item, Callback):
            out.append(item)
        else:
            raise TuneTypeError(
                f"loggers: expected Logger classes (CSVLogger, JsonLogger, TBXLogger) or "
                f"callbacks, got {item!r:.60}"
            )
    return out


UnifiedLogger = Logger
