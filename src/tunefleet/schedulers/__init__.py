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
)

_REGISTRY: dict[str, str | Callable[[], Scheduler]] = {
    "fifo": "tunefleet.schedulers.base:FIFOScheduler",
}


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
        assert isinstance(made, Scheduler)
        return made
    if all(hasattr(scheduler, m) for m in ("on_result", "next_action")):
        return scheduler  # type: ignore[no-any-return]  # duck-typed scheduler
    raise TuneTypeError(
        f"scheduler: expected a name or a tunefleet Scheduler, got {type(scheduler).__name__}"
    )


__all__ = [
    "CONTINUE",
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
    "create_scheduler",
    "register_scheduler",
    "scheduler_names",
]
