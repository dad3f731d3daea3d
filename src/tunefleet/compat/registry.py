"""``tune.register_trainable(name, fn)``: a trainable run by name (``tune.run("name")``).

RLlib's ``register_env`` has no meaning without RLlib; it records the creator so scripts
that call it still run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tunefleet.errors import TuneTypeError, TuneValueError

_TRAINABLES: dict[str, Any] = {}
_ENVS: dict[str, Callable[..., Any]] = {}


def register_trainable(name: str, trainable: Any, warn: bool = True) -> None:
    if not isinstance(name, str) or not name:
        raise TuneTypeError(f"name: expected a non-empty string, got {name!r}")
    if not callable(trainable):
        raise TuneTypeError(f"trainable: expected a function or Trainable class, got {trainable!r}")
    _TRAINABLES[name] = trainable


def register_env(name: str, env_creator: Callable[..., Any]) -> None:
    if not callable(env_creator):
        raise TuneTypeError(f"env_creator: expected a callable, got {env_creator!r}")
    _ENVS[name] = env_creator


def get_trainable(name: str) -> Any:
    """The trainable registered under ``name`` (``run("name")``)."""
    if name not in _TRAINABLES:
        known = ", ".join(sorted(_TRAINABLES)) or "none"
        raise TuneValueError(
            f"run_or_experiment: no trainable registered as {name!r} (registered: {known})"
        )
    return _TRAINABLES[name]
