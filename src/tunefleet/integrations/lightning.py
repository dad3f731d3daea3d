"""PyTorch Lightning callbacks (``ray.tune.integration.pytorch_lightning``): report the
trainer's logged metrics at a hook (``on="validation_end"`` by default) and, for
``TuneReportCheckpointCallback``, the trainer's checkpoint with them, so PBT and
promotion-ASHA resume a model with ``trainer.fit(model, ckpt_path=...)``.

The classes derive from ``lightning.pytorch.Callback`` and ``pytorch_lightning.Callback``
(whichever are installed), so either package's ``Trainer`` accepts them.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

from tunefleet.errors import TuneValueError
from tunefleet.integrations._report import metric_map, report_with


def _bases() -> tuple[type, ...]:
    found = []
    for name in ("lightning.pytorch", "pytorch_lightning"):
        try:
            found.append(importlib.import_module(name).Callback)
        except ImportError:
            continue
    if not found:
        raise ImportError("lightning is needed here: pip install lightning")
    return tuple(found)


# Ray's ``on`` names -> the Lightning hook that reports
_HOOKS = {
    "validation_end": "on_validation_end",
    "validation_epoch_end": "on_validation_epoch_end",
    "epoch_end": "on_train_epoch_end",
    "train_epoch_end": "on_train_epoch_end",
    "train_end": "on_train_end",
    "fit_end": "on_fit_end",
    "test_end": "on_test_end",
}


class _Report(*_bases()):  # type: ignore[misc]
    _checkpoints = False

    def __init__(
        self,
        metrics: str | list[str] | dict[str, str] | None = None,
        filename: str = "checkpoint",
        on: str | list[str] = "validation_end",
        save_checkpoints: bool = True,
    ) -> None:
        super().__init__()
        hooks = [on] if isinstance(on, str) else list(on)
        bad = [h for h in hooks if h not in _HOOKS]
        if bad:
            raise TuneValueError(f"on: {bad} not among {sorted(_HOOKS)}")
        self._hooks = {_HOOKS[h] for h in hooks}
        self._metrics = metric_map(metrics)
        self._filename = filename
        self._save_checkpoints = save_checkpoints and self._checkpoints

    def _report(self, hook: str, trainer: Any) -> None:
        if hook not in self._hooks or getattr(trainer, "sanity_checking", False):
            return
        logged = {k: float(v) for k, v in trainer.callback_metrics.items()}
        if self._metrics is None:
            metrics = logged
        else:
            metrics = {n: logged[s] for n, s in self._metrics.items() if s in logged}
            if not metrics:
                return  # none of the named metrics is logged at this point

        def save(d: str) -> None:
            trainer.save_checkpoint(os.path.join(d, self._filename))

        report_with(metrics, save if self._save_checkpoints else None)

    def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
        self._report("on_validation_end", trainer)

    def on_validation_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        self._report("on_validation_epoch_end", trainer)

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        self._report("on_train_epoch_end", trainer)

    def on_train_end(self, trainer: Any, pl_module: Any) -> None:
        self._report("on_train_end", trainer)

    def on_fit_end(self, trainer: Any, pl_module: Any) -> None:
        self._report("on_fit_end", trainer)

    def on_test_end(self, trainer: Any, pl_module: Any) -> None:
        self._report("on_test_end", trainer)


class TuneReportCallback(_Report):
    """Report the logged metrics (all, or ``metrics`` by name) at the ``on`` hook(s)."""


class TuneReportCheckpointCallback(_Report):
    """Report and save the trainer's checkpoint as ``<checkpoint>/<filename>``."""

    _checkpoints = True
