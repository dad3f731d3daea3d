"""What a benchmark workload is: a model, its search space and a framework-neutral loop.

A workload's ``train`` never imports tunefleet, Ray Tune or Optuna. It talks to a
:class:`TrialSession`, and :mod:`tunefleet.bench.adapters` turns that session into
``tunefleet.report``, ``ray.tune.report`` or ``optuna.Trial.report``. This is what lets
``tunefleet bench run`` give every system exactly the same work.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np


@dataclass
class Dataset:
    """Training and validation arrays, loaded once and shared with every trial."""

    x_train: np.ndarray  # float32, (n_train, features)
    y_train: np.ndarray  # int64 class labels 0..classes-1
    x_valid: np.ndarray
    y_valid: np.ndarray
    classes: int
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return int(len(self.y_train) + len(self.y_valid))


class TrialSession(Protocol):
    """The only thing a workload's training loop may call."""

    def report(self, metrics: dict[str, float], state: Any | None = None) -> None:
        """Report one iteration's metrics; ``state`` (picklable) is checkpointed when given.

        The metrics carry ``training_iteration``-independent values only (the adapter
        counts iterations). A session may end the trial here (early stopping): it then
        raises an exception the loop must not catch.
        """
        ...

    def restore(self) -> Any | None:
        """The ``state`` of the checkpoint this trial continues from, or None."""
        ...

    @property
    def threads(self) -> int:
        """CPU threads the model may use (the trial's CPU share)."""
        ...


TrainFn = Callable[[dict[str, Any], Dataset, TrialSession], None]
SpaceFn = Callable[[Any], dict[str, Any]]


@dataclass(frozen=True)
class Workload:
    """A model to tune: its space, its grid, its training loop and iteration budget.

    ``space(tune)`` and ``grid(tune)`` receive a module with Ray Tune's search-space API
    (``tunefleet`` or ``ray.tune``) and return a param_space. ``max_iterations`` is the
    budget schedulers allocate (boosting rounds in steps, epochs, trees in steps); 1 for
    models that cannot be trained incrementally (KNN).
    """

    name: str
    description: str
    space: SpaceFn
    grid: SpaceFn
    train: TrainFn
    max_iterations: int
    requires: tuple[str, ...]
    metric: str = "accuracy"
    mode: str = "max"
    default_target: float = 0.8

    def missing(self) -> list[str]:
        """The required packages that cannot be imported here."""
        import importlib.util

        return [name for name in self.requires if importlib.util.find_spec(name) is None]
