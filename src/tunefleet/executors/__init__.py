"""Executors: where trials run. ``create_executor`` turns the ``engine=`` argument into one.

Engines are looked up in a registry of ``name -> "module:Class"`` strings and imported only
when asked for, so optional engines (Ray, Dask, Spark) cost nothing until used. An engine
string may carry an address (``"ray://host:10001"``, ``"dask://host:8786"``): the part
before ``://`` picks the engine and the whole string is passed as ``address=``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from tunefleet.errors import TuneTypeError, TuneValueError

if TYPE_CHECKING:
    from tunefleet.executors.base import Executor
    from tunefleet.executors.local import LocalExecutor
    from tunefleet.executors.simulated import SimulatedExecutor
    from tunefleet.executors.threads import ThreadExecutor
    from tunefleet.protocol import Event, Failed, Finished, Launch, Reported, Resources, Started

# Imported on first use: importing a submodule (local_spawn, early) must not load every
# executor, since run() starts the local workers before the driver's heavier imports.
_LAZY = {
    "Executor": "tunefleet.executors.base",
    "LocalExecutor": "tunefleet.executors.local",
    "SimulatedExecutor": "tunefleet.executors.simulated",
    "ThreadExecutor": "tunefleet.executors.threads",
    **dict.fromkeys(
        ("Event", "Failed", "Finished", "Launch", "Reported", "Resources", "Started"),
        "tunefleet.protocol",
    ),
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "Event",
    "Executor",
    "Failed",
    "Finished",
    "Launch",
    "LocalExecutor",
    "Reported",
    "Resources",
    "SimulatedExecutor",
    "Started",
    "ThreadExecutor",
    "available_engines",
    "create_executor",
    "register_executor",
]

_REGISTRY: dict[str, str] = {
    "local": "tunefleet.executors.local:LocalExecutor",
    "simulated": "tunefleet.executors.simulated:SimulatedExecutor",
    "threads": "tunefleet.executors.threads:ThreadExecutor",
    "ray": "tunefleet.executors.ray:RayExecutor",
    "dask": "tunefleet.executors.dask:DaskExecutor",
    "spark": "tunefleet.executors.spark:SparkExecutor",
}

# Names kept for the cluster engines, which are not part of this version yet.
_RESERVED: tuple[str, ...] = ()


def register_executor(name: str, target: str) -> None:
    """Make ``engine=name`` create ``target`` (``"package.module:ClassName"``), lazily."""
    if not isinstance(name, str) or not name or "://" in name:
        raise TuneValueError(f"name must be a non-empty engine name, got {name!r}")
    if not isinstance(target, str) or target.count(":") != 1:
        raise TuneValueError(f"target must look like 'package.module:ClassName', got {target!r}")
    _REGISTRY[name.lower()] = target


def available_engines() -> list[str]:
    """Engine names that ``create_executor`` accepts in this installation."""
    return sorted(_REGISTRY)


def _load(target: str) -> type[Executor]:
    from tunefleet.executors.base import Executor

    module_name, _, class_name = target.partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    if not (isinstance(cls, type) and issubclass(cls, Executor)):
        raise TuneTypeError(f"engine target {target!r} is not an Executor subclass")
    return cls


def create_executor(engine: str | Executor | None = None, **kwargs: Any) -> Executor:
    """The executor for ``engine``: None/"local", "simulated", a registered name, or an
    :class:`Executor` instance (returned as is). ``kwargs`` go to the executor's class."""
    from tunefleet.executors.base import Executor

    if isinstance(engine, Executor):
        if kwargs:
            raise TuneValueError(
                f"engine: an Executor instance was given, so {sorted(kwargs)} cannot be "
                "applied; pass them to its constructor"
            )
        return engine
    if engine is None:
        engine = "local"
    if not isinstance(engine, str):
        raise TuneTypeError(
            f"engine must be a name such as 'local' or an Executor, got {type(engine).__name__}"
        )
    spec = engine.strip()
    scheme, sep, _ = spec.partition("://")
    name = scheme.lower()
    target = _REGISTRY.get(name)
    if target is None:
        valid = ", ".join(repr(n) for n in available_engines())
        if name in _RESERVED:
            raise TuneValueError(
                f"engine={engine!r}: the {name} engine is not available yet in this version "
                f"of tunefleet; available engines: {valid}"
            )
        raise TuneValueError(
            f"engine={engine!r} is not a known engine; valid names: {valid} "
            "(or pass an Executor instance)"
        )
    if sep:
        kwargs.setdefault("address", spec)
    return _load(target)(**kwargs)
