"""``ray.train.huggingface`` and ``ray.train.huggingface.transformers``.

``prepare_trainer(trainer)`` returns the trainer as it is: Ray's version only swaps the
Trainer's data loaders when its datasets are Ray Data iterables, and tunefleet has no Ray
Data. ``RayTrainReportCallback`` and the Ray Train trainers (``TransformersTrainer``,
``HuggingFaceTrainer``, ``AccelerateTrainer``) import but are not provided.
"""

from __future__ import annotations

from typing import Any

from tunefleet.compat.unprovided import not_provided_class

__all__ = [
    "AccelerateTrainer",
    "HuggingFaceTrainer",
    "RayTrainReportCallback",
    "TransformersTrainer",
    "prepare_trainer",
]


def prepare_trainer(trainer: Any) -> Any:
    """Ray's ``prepare_trainer``: the Hugging Face ``Trainer`` unchanged (no Ray Data)."""
    return trainer


RayTrainReportCallback = not_provided_class(
    "ray.train.huggingface.transformers.RayTrainReportCallback",
    __name__,
    "it reports to a Ray Train run, and tunefleet runs no Ray Train",
    "a transformers.TrainerCallback whose on_evaluate calls tune.report(metrics) (and "
    "on_save passes checkpoint=tune.Checkpoint.from_directory(<the saved folder>))",
)
_WHY = "tunefleet has no Ray Train: the trial is what it runs"
_INSTEAD = (
    "tune a function that builds and runs the transformers.Trainer and calls tune.report "
    'from a TrainerCallback; resources_per_trial={"cpu": 1, "workers": N} for N '
    "data-parallel processes"
)
TransformersTrainer = not_provided_class(
    "ray.train.huggingface.TransformersTrainer", __name__, _WHY, _INSTEAD
)
HuggingFaceTrainer = not_provided_class(
    "ray.train.huggingface.HuggingFaceTrainer", __name__, _WHY, _INSTEAD
)
AccelerateTrainer = not_provided_class(
    "ray.train.huggingface.AccelerateTrainer", __name__, _WHY, _INSTEAD
)
