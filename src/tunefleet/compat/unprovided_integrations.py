"""Ray 1.x's Horovod and TensorFlow trainable creators and Ray Train's TorchXLA config:
importable, not provided.

``tune.integration.horovod`` and ``tune.integration.tensorflow`` (Ray 1.x) launched a
trial's processes as Ray actors; ``train.torch.xla`` configures TPU training through Ray
Train. A script's import lines run; creating one of these classes raises
:class:`~tunefleet.compat.unprovided.NotProvidedError` saying what to use instead.
"""

from __future__ import annotations

from tunefleet.compat.unprovided import not_provided_class

__all__ = ["DistributedTrainableCreator", "TorchXLAConfig"]

DistributedTrainableCreator = not_provided_class(
    "ray.tune.integration.{horovod,tensorflow}.DistributedTrainableCreator",
    __name__,
    "Ray 1.x launched a trial's Horovod or TensorFlow processes as Ray actors; tunefleet "
    "launches a trial's processes itself and joins them with torch.distributed only",
    'tune the function directly with resources_per_trial={"cpu": 1, "workers": N} (N '
    "processes, one trial; see 'Data-parallel trials' in docs/architecture.md), or run "
    "Horovod/TensorFlow's own launcher inside one trial",
)
TorchXLAConfig = not_provided_class(
    "ray.train.torch.xla.TorchXLAConfig",
    __name__,
    "tunefleet runs no Ray Train trainers and has no TPU placement",
    "tune a function that sets torch_xla up itself; a trial is one process (or N with "
    '"workers": N)',
)
