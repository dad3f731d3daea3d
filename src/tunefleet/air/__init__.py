"""``from tunefleet import air``: the names Tune scripts take from ``ray.air`` (2.0-2.6).

``air.RunConfig``, ``air.CheckpointConfig``, ``air.FailureConfig``, ``air.ScalingConfig``,
``air.Checkpoint``, ``air.Result`` and ``air.session`` (``session.report`` and
friends); ``tunefleet.air.integrations.mlflow`` and the other Ray paths are aliases.
"""

from __future__ import annotations

import importlib
from typing import Any

from tunefleet.compat.aliases import install as _install
from tunefleet.compat.names import SHARED, resolve

_install()


def __getattr__(name: str) -> Any:
    if name == "session":
        return importlib.import_module("tunefleet.air.session")
    value = resolve(name, __name__)
    globals()[name] = value
    return value


__all__ = [*SHARED, "session"]
