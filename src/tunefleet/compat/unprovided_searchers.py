"""Ray's search-algorithm modules with no tunefleet adapter, and Ray 1.x's distributed
trainable creators: importable, not provided.

``tune.search.skopt`` / ``.dragonfly`` / ``.sigopt`` / ``.flaml`` (and their
``tune.suggest`` paths) and ``tune.integration.torch`` import, so a script's import lines
run; creating one of their classes or calling their functions raises
:class:`~tunefleet.compat.unprovided.NotProvidedError` saying what to use instead.
"""

from __future__ import annotations

from tunefleet.compat.unprovided import not_provided_class, not_provided_function

__all__ = [
    "CFO",
    "BlendSearch",
    "DistributedTrainableCreator",
    "DragonflySearch",
    "SigOptSearch",
    "SkOptSearch",
    "distributed_checkpoint_dir",
]

_WHY = "tunefleet has no adapter for that library"
_INSTEAD = (
    "one of the adapters with Ray's arguments and the same Searcher interface: "
    "OptunaSearch, HyperOptSearch, BayesOptSearch, NevergradSearch, AxSearch, ZOOptSearch "
    "(tune.search.<library>), or TuneBOHB"
)
SkOptSearch = not_provided_class("ray.tune.search.skopt.SkOptSearch", __name__, _WHY, _INSTEAD)
DragonflySearch = not_provided_class(
    "ray.tune.search.dragonfly.DragonflySearch", __name__, _WHY, _INSTEAD
)
SigOptSearch = not_provided_class("ray.tune.search.sigopt.SigOptSearch", __name__, _WHY, _INSTEAD)
BlendSearch = not_provided_class("ray.tune.search.flaml.BlendSearch", __name__, _WHY, _INSTEAD)
CFO = not_provided_class("ray.tune.search.flaml.CFO", __name__, _WHY, _INSTEAD)

_DIST_WHY = "Ray 1.x launched a trial's processes as Ray actors; tunefleet launches them itself"
_DIST_INSTEAD = (
    'tune the function directly with resources_per_trial={"cpu": 1, "workers": N}: it runs '
    "as N processes joined by torch.distributed (tunefleet.distributed.init_process_group, "
    "prepare_model); rank 0 reports and checkpoints"
)
DistributedTrainableCreator = not_provided_class(
    "ray.tune.integration.torch.DistributedTrainableCreator", __name__, _DIST_WHY, _DIST_INSTEAD
)
distributed_checkpoint_dir = not_provided_function(
    "ray.tune.integration.torch.distributed_checkpoint_dir", __name__, _DIST_WHY, _DIST_INSTEAD
)
