"""LightGBM callbacks (``ray.tune.integration.lightgbm``): report the validation metrics
after every boosting round and checkpoint the booster, so ASHA stops bad trials early and
PBT / promotion-ASHA resume from the checkpoint
(``lgb.train(..., init_model=TuneReportCheckpointCallback.get_model(ckpt))``).

Metric names are ``<valid set>-<metric>`` (``"valid_0-binary_logloss"``). LightGBM
callbacks are plain callables, so importing this module does not import lightgbm.
"""

from __future__ import annotations

import os
from typing import Any

from tunefleet.integrations import require
from tunefleet.integrations._report import ReportOptions, local_dir, pick, report_with


class TuneReportCheckpointCallback(ReportOptions):
    """Report after each round; checkpoint every ``frequency`` rounds and at the end."""

    CHECKPOINT_NAME = "model.txt"
    order = 20  # after LightGBM's own evaluation callbacks

    _checkpoints = True

    @classmethod
    def get_model(cls, checkpoint: Any, filename: str = CHECKPOINT_NAME) -> Any:
        """The booster saved in ``checkpoint`` (a Checkpoint or a directory)."""
        lgb = require("lightgbm", "lightgbm")
        with local_dir(checkpoint) as path:
            return lgb.Booster(model_file=os.path.join(path, filename))

    def __call__(self, env: Any) -> None:
        log: dict[str, float] = {}
        for item in env.evaluation_result_list or []:
            data, name, value = item[0], item[1], item[2]
            log[f"{data}-{name}"] = float(value)
        metrics = pick(log, self._metrics)
        if self._post:
            metrics = self._post(metrics)
        rounds = env.iteration + 1
        last = rounds >= env.end_iteration
        due = (self._frequency > 0 and rounds % self._frequency == 0) or (
            last and self._checkpoint_at_end
        )
        model = env.model
        save = (lambda d: model.save_model(os.path.join(d, self._filename))) if due else None
        report_with(metrics, save if self._checkpoints else None)


class TuneReportCallback(TuneReportCheckpointCallback):
    """Report the metrics after each round; no checkpoints."""

    _checkpoints = False


TuneCallback = TuneReportCallback
