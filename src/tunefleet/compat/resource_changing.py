"""``ray.tune.schedulers.resource_changing_scheduler``: importable, not provided.

Ray's ``ResourceChangingScheduler`` changes a live trial's resources by restarting it in a
bigger (or smaller) placement group. A tunefleet executor reserves one resource request
for every trial of a run (``resources_per_trial``) and a trial keeps its slot until it
ends, so there is nothing such a scheduler could change. The names import (a script's
import lines run); creating one raises :class:`~tunefleet.compat.unprovided.NotProvidedError`.
``PopulationBasedTrainingReplay`` (``tune.schedulers``), the other scheduler tunefleet
does not provide, stands here too.
"""

from __future__ import annotations

from tunefleet.compat.unprovided import not_provided_class, not_provided_function

__all__ = [
    "DistributeResources",
    "DistributeResourcesToTopJob",
    "PopulationBasedTrainingReplay",
    "ResourceChangingScheduler",
    "evenly_distribute_cpus_gpus",
    "evenly_distribute_cpus_gpus_distributed",
]

_PATH = "ray.tune.schedulers.resource_changing_scheduler"
_WHY = (
    "resources are fixed per trial here (an executor reserves one resources_per_trial "
    "request for every trial of a run and a trial keeps its slot until it ends), so a "
    "scheduler cannot change a running trial's resources"
)
_INSTEAD = (
    "pass the scheduler it would wrap (e.g. ASHAScheduler) directly, and give every trial "
    "the resources it needs with resources_per_trial / tune.with_resources "
    '({"cpu": c, "gpu": g, "workers": n} for a data-parallel trial)'
)

ResourceChangingScheduler = not_provided_class(
    f"{_PATH}.ResourceChangingScheduler", __name__, _WHY, _INSTEAD
)
DistributeResources = not_provided_class(f"{_PATH}.DistributeResources", __name__, _WHY, _INSTEAD)
DistributeResourcesToTopJob = not_provided_class(
    f"{_PATH}.DistributeResourcesToTopJob", __name__, _WHY, _INSTEAD
)
evenly_distribute_cpus_gpus = not_provided_function(
    f"{_PATH}.evenly_distribute_cpus_gpus", __name__, _WHY, _INSTEAD
)
evenly_distribute_cpus_gpus_distributed = not_provided_function(
    f"{_PATH}.evenly_distribute_cpus_gpus_distributed", __name__, _WHY, _INSTEAD
)
PopulationBasedTrainingReplay = not_provided_class(
    "ray.tune.schedulers.PopulationBasedTrainingReplay",
    __name__,
    "tunefleet's PBT records its exploits in the run's event log (tunefleet.analysis draws "
    "the lineage) but writes no Ray policy file, and no scheduler replays one",
    "read the best trial's config history from the event log and run it as a schedule "
    "inside the trainable",
)
