"""Keras callbacks (``ray.tune.integration.keras`` 1.x-2.0, ``ray.air.integrations.keras``
2.x): report ``logs`` at a hook (``on="epoch_end"`` by default) and, for the checkpointing
callbacks, the saved model with them, so PBT and promotion-ASHA resume it with
``keras.models.load_model``. Importing this module imports keras (a script importing it
trains with keras); Keras 3 runs on any backend (torch here).
"""

from __future__ import annotations

import os
from typing import Any

import keras

from tunefleet.errors import TuneValueError
from tunefleet.integrations._report import metric_map, report_with

_HOOKS = {
    "epoch_end": "on_epoch_end",
    "train_batch_end": "on_train_batch_end",
    "batch_end": "on_train_batch_end",
    "test_end": "on_test_end",
    "train_end": "on_train_end",
}


class _Report(keras.callbacks.Callback):
    _checkpoints = False

    def __init__(
        self,
        metrics: str | list[str] | dict[str, str] | None = None,
        filename: str = "model.keras",
        frequency: int = 1,
        on: str | list[str] = "epoch_end",
    ) -> None:
        super().__init__()
        hooks = [on] if isinstance(on, str) else list(on)
        bad = [h for h in hooks if h not in _HOOKS]
        if bad:
            raise TuneValueError(f"on: {bad} not among {sorted(_HOOKS)}")
        self._hooks = {_HOOKS[h] for h in hooks}
        self._metrics = metric_map(metrics)
        self._filename = filename
        self._frequency = max(1, int(frequency))
        self._calls = 0

    def _report(self, hook: str, logs: dict[str, Any] | None) -> None:
        if hook not in self._hooks:
            return
        self._calls += 1
        logged = {k: float(v) for k, v in (logs or {}).items()}
        if self._metrics is None:
            metrics = logged
        else:
            metrics = {n: logged[s] for n, s in self._metrics.items() if s in logged}
        model = self.model
        due = self._checkpoints and self._calls % self._frequency == 0

        def save(d: str) -> None:
            model.save(os.path.join(d, self._filename))

        report_with(metrics, save if due else None)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._report("on_epoch_end", logs)

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self._report("on_train_batch_end", logs)

    def on_test_end(self, logs: dict[str, Any] | None = None) -> None:
        self._report("on_test_end", logs)

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        self._report("on_train_end", logs)


class TuneReportCallback(_Report):
    """Report ``logs`` (all, or ``metrics`` by name) at the ``on`` hook(s)."""


class TuneReportCheckpointCallback(_Report):
    """Report and save the model (``<checkpoint>/<filename>``) every ``frequency`` calls."""

    _checkpoints = True


class ReportCheckpointCallback(TuneReportCheckpointCallback):
    """Ray 2.x's name (``ray.air.integrations.keras``): ``report_metrics_on`` /
    ``checkpoint_on`` choose the hooks."""

    def __init__(
        self,
        checkpoint_on: str | list[str] = "epoch_end",
        report_metrics_on: str | list[str] = "epoch_end",
        metrics: str | list[str] | dict[str, str] | None = None,
    ) -> None:
        super().__init__(metrics=metrics, on=report_metrics_on)
        ckpt = [checkpoint_on] if isinstance(checkpoint_on, str) else list(checkpoint_on)
        self._ckpt_hooks = {_HOOKS.get(h, h) for h in ckpt}
        self._hooks |= self._ckpt_hooks

    def _report(self, hook: str, logs: dict[str, Any] | None) -> None:
        self._checkpoints = hook in self._ckpt_hooks
        super()._report(hook, logs)


TuneCallback = TuneReportCallback
