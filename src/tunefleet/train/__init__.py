"""``from tunefleet import train``: the names Tune scripts take from ``ray.train`` (2.7+).

``train.RunConfig``, ``train.CheckpointConfig``, ``train.FailureConfig``,
``train.ScalingConfig``, ``train.Checkpoint``, ``train.report``, ``train.get_checkpoint``,
``train.get_context``: the same objects as under ``tunefleet.tune``.
"""

from __future__ import annotations

from typing import Any

from tunefleet.compat.aliases import install as _install
from tunefleet.compat.names import SHARED, resolve

_install()


def __getattr__(name: str) -> Any:
    value = resolve(name, __name__)
    globals()[name] = value
    return value


__all__ = list(SHARED)
