"""Trial schedulers: decide to continue, stop, pause or restart trials from their results.

``create_scheduler`` accepts None, a Scheduler instance or a name. Names resolve through a
registry of lazily imported classes, so schedulers added by later modules (ASHA,
Hyperband, PBT, ...) plug in without touching the engine.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from tunefleet.errors import TuneTypeError, TuneValueError
from tunefleet.schedulers.base import (
    CONTINUE,
    NEW_TRIAL,
    PAUSE,
    STOP,
    Action,
    Decision,
    FIFOScheduler,
    NewTrial,
    Restart,
    Resume,
    Scheduler,
    SchedulerView,
    Terminate,
)

_REGISTRY: dict[str, str | Callable[[], Scheduler]] = {
    "fifo": "tunefleet.schedulers.base:FIFOScheduler",
    "asha": "tunefleet.schedulers.asha:ASHAScheduler",
    "async_hyperband": "tunefleet.schedulers.asha:AsyncHyperBandScheduler",
    "asha_promotion": "tunefleet.schedulers.asha:asha_promotion",
    "hyperband": "tunefleet.schedulers.hyperband:HyperBandScheduler",
    "median": "tunefleet.schedulers.median:MedianStoppingRule",
    "median_stopping": "tunefleet.schedulers.median:MedianStoppingRule",
    "pbt": "tunefleet.schedulers.pbt:PopulationBasedTraining",
    "pb2": "tunefleet.schedulers.pb2:PB2",
    "bohb": "tunefleet.schedulers.bohb:HyperBandForBOHB",
    "hyperband_bohb": "tunefleet.schedulers.bohb:HyperBandForBOHB",
    "dehb": "tunefleet.schedulers.dehb:HyperBandForDEHB",
    "hypertune": "tunefleet.schedulers.hypertune:HyperTuneASHA",
    "mo_asha": "tunefleet.schedulers.mo_asha:MOASHAScheduler",
    "mo_asha_promotion": "tunefleet.schedulers.mo_asha:mo_asha_promotion",
    "pareto_stopping": "tunefleet.schedulers.mo_asha:ParetoStoppingRule",
}

_LAZY_CLASSES = {
    "ASHAScheduler": "tunefleet.schedulers.asha",
    "AsyncHyperBandScheduler": "tunefleet.schedulers.asha",
    "HyperBandScheduler": "tunefleet.schedulers.hyperband",
    "MedianStoppingRule": "tunefleet.schedulers.median",
    "PopulationBasedTraining": "tunefleet.schedulers.pbt",
    "PB2": "tunefleet.schedulers.pb2",
    "HyperBandForBOHB": "tunefleet.schedulers.bohb",
    "HyperBandForDEHB": "tunefleet.schedulers.dehb",
    "HyperTuneASHA": "tunefleet.schedulers.hypertune",
    "MOASHAScheduler": "tunefleet.schedulers.mo_asha",
    "ParetoStoppingRule": "tunefleet.schedulers.mo_asha",
    # Ray's names that import but are not provided (using one raises, saying why)
    "ResourceChangingScheduler": "tunefleet.compat.resource_changing",
    "PopulationBasedTrainingReplay": "tunefleet.compat.resource_changing",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY_CLASSES:
        return getattr(importlib.import_module(_LAZY_CLASSES[name]), name)
    raise AttributeError(f"module 'tunefleet.schedulers' has no attribute {name!r}")


def register_scheduler(name: str, factory: str | Callable[[], Scheduler]) -> None:
    """Make ``scheduler=name`` available; ``factory`` is a callable or "module:Class"."""
    _REGISTRY[name.lower()] = factory


def scheduler_names() -> list[str]:
    return sorted(_REGISTRY)


def create_scheduler(scheduler: Any) -> Scheduler:
    if scheduler is None:
        return FIFOScheduler()
    if isinstance(scheduler, Scheduler):
        return scheduler
    if isinstance(scheduler, str):
        factory = _REGISTRY.get(scheduler.lower())
        if factory is None:
            raise TuneValueError(
                f"scheduler: unknown scheduler {scheduler!r}; valid names are "
                f"{', '.join(scheduler_names())}"
            )
        if isinstance(factory, str):
            module, _, attr = factory.partition(":")
            factory = getattr(importlib.import_module(module), attr)
        made = factory()
        if not isinstance(made, Scheduler):
            raise TuneTypeError(f"scheduler: factory for {scheduler!r} returned {made!r}")
        return made
    if all(hasattr(scheduler, m) for m in ("on_result", "next_action")):
        return scheduler  # duck-typed scheduler
    raise TuneTypeError(
        f"scheduler: expected a name or a tunefleet Scheduler, got {type(scheduler).__name__}"
    )


__all__ = [
    "ASHAScheduler",
    "AsyncHyperBandScheduler",
    "CONTINUE",
    "HyperBandForBOHB",
    "HyperBandScheduler",
    "MOASHAScheduler",
    "MedianStoppingRule",
    "PB2",
    "ParetoStoppingRule",
    "PopulationBasedTraining",
    "NEW_TRIAL",
    "PAUSE",
    "STOP",
    "Action",
    "Decision",
    "FIFOScheduler",
    "NewTrial",
    "Restart",
    "Resume",
    "Scheduler",
    "SchedulerView",
    "Terminate",
    "create_scheduler",
    "register_scheduler",
    "scheduler_names",
]
