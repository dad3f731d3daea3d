"""``ray.tune.logger.aim`` and ``ray.air.integrations.comet``: importable, not provided.

No test against a real Aim repository or a Comet offline run has been written, so neither
callback is offered; the names import so a script's import lines run, and creating one
says so.
"""

from __future__ import annotations

from tunefleet.compat.unprovided import not_provided_class

__all__ = ["AimLoggerCallback", "CometLoggerCallback"]

_WHY = "no tunefleet callback for it has been tested against the real library yet"
_INSTEAD = (
    "subclass tune.logger.LoggerCallback and call the library in log_trial_start / "
    "log_trial_result / log_trial_end (they receive Ray's trial views)"
)
AimLoggerCallback = not_provided_class(
    "ray.tune.logger.aim.AimLoggerCallback", __name__, _WHY, _INSTEAD
)
CometLoggerCallback = not_provided_class(
    "ray.air.integrations.comet.CometLoggerCallback", __name__, _WHY, _INSTEAD
)
