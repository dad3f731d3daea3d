"""XGBoost callbacks (``ray.tune.integration.xgboost``): report the evaluation metrics
after every boosting round and checkpoint the booster, so ASHA stops bad trials early and
PBT / promotion-ASHA resume a booster from its checkpoint
(``xgb.train(..., xgb_model=TuneReportCheckpointCallback.get_model(ckpt))``).

Metric names are XGBoost's ``<eval set>-<metric>`` (``"validation-logloss"``); pass
``metrics={"loss": "validation-logloss"}`` to report under another name. Importing this
module imports xgboost (a script importing it trains with xgboost).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import xgboost as xgb

from tunefleet.integrations._report import ReportOptions, local_dir, pick, report_with


class TuneReportCheckpointCallback(ReportOptions, xgb.callback.TrainingCallback):
    """Report after each round; checkpoint every ``frequency`` rounds (0: only at the end
    when ``checkpoint_at_end``) into ``<checkpoint>/<filename>``."""

    CHECKPOINT_NAME = "model.ubj"
    _last: dict[str, float] | None = None

    @classmethod
    def get_model(cls, checkpoint: Any, filename: str = CHECKPOINT_NAME) -> xgb.Booster:
        """The booster saved in ``checkpoint`` (a Checkpoint or a directory)."""
        booster = xgb.Booster()
        with local_dir(checkpoint) as path:
            booster.load_model(os.path.join(path, filename))
        return booster

    def _metrics_of(self, evals_log: dict[str, dict[str, list[Any]]]) -> dict[str, float]:
        log: dict[str, float] = {}
        for data, per_metric in evals_log.items():
            for name, values in per_metric.items():
                last = values[-1]
                log[f"{data}-{name}"] = float(last[0] if isinstance(last, tuple) else last)
        out = pick(log, self._metrics)
        return self._post(out) if self._post else out

    def _save(self, model: xgb.Booster) -> Callable[[str], None]:
        return lambda d: model.save_model(os.path.join(d, self._filename))

    def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
        metrics = self._metrics_of(evals_log)
        self._last = metrics
        due = self._frequency > 0 and (epoch + 1) % self._frequency == 0
        report_with(metrics, self._save(model) if due and self._checkpoints else None)
        return False

    def after_training(self, model: Any) -> Any:
        just_saved = self._frequency > 0 and model.num_boosted_rounds() % self._frequency == 0
        if self._checkpoints and self._checkpoint_at_end and self._last and not just_saved:
            report_with(dict(self._last), self._save(model))
        return model

    _checkpoints = True


class TuneReportCallback(TuneReportCheckpointCallback):
    """Report the metrics after each round; no checkpoints."""

    _checkpoints = False


TuneCallback = TuneReportCallback
