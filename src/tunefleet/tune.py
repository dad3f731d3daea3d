"""``from tunefleet import tune``: the same names as ``import tunefleet as tune``.

Also makes Ray Tune's submodule paths importable under tunefleet.tune
(``tunefleet.tune.schedulers``, ``tunefleet.tune.search``, ``tunefleet.tune.stopper``), so
``from ray.tune.schedulers import X`` migrates to ``from tunefleet.tune.schedulers import X``.
"""

from __future__ import annotations

import sys
from typing import Any

import tunefleet as _tf
import tunefleet.schedulers as schedulers
import tunefleet.search as search
import tunefleet.stoppers as stopper
from tunefleet import *  # noqa: F403
from tunefleet import __all__ as _names

sys.modules[__name__ + ".schedulers"] = schedulers
sys.modules[__name__ + ".search"] = search
sys.modules[__name__ + ".stopper"] = stopper

__all__ = [*_names, "schedulers", "search", "stopper"]


def __getattr__(name: str) -> Any:
    return getattr(_tf, name)
