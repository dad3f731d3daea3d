"""``ray.tune.integration.ray_train``: importable, not provided.

Ray's ``TuneReportCallback`` forwards what Ray Train workers report to the Tune trial that
launched a Ray Train run. tunefleet has no Ray Train: a data-parallel trial's processes
report to the trial themselves (rank 0's reports count), so there is nothing to forward.
"""

from __future__ import annotations

from tunefleet.compat.unprovided import not_provided_class

__all__ = ["TuneReportCallback"]

TuneReportCallback = not_provided_class(
    "ray.tune.integration.ray_train.TuneReportCallback",
    __name__,
    "it forwards Ray Train workers' reports to Tune, and tunefleet runs no Ray Train",
    "run the training function as the trial itself, data-parallel with "
    'resources_per_trial={"cpu": 1, "workers": N}, and call tune.report in it '
    "(rank 0's reports count)",
)
