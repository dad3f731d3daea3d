"""Ray names that import but are not implemented: using one says why and what to use.

A Ray Tune script must get past its import lines whatever it imports (``from
ray.train.torch import TorchTrainer`` in a file that also tunes plain functions). So each
Ray name tunefleet does not implement is still importable from its Ray path, as a class
or function standing in for it; creating, calling or reading an attribute of the stand-in
raises :class:`NotProvidedError` naming the Ray name, why it has no meaning here and what
to write instead. ``isinstance`` checks and subclassing in a script still work.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NoReturn

from tunefleet.errors import TuneError

__all__ = ["NotProvidedError", "not_provided_class", "not_provided_function"]


class NotProvidedError(TuneError, NotImplementedError):
    """A Ray Tune name that tunefleet keeps importable but does not implement."""


def _message(ray_name: str, why: str, instead: str) -> str:
    return f"{ray_name} is not provided by tunefleet: {why}. Instead: {instead}"


class _NotProvidedMeta(type):
    """Public class attributes of a stand-in (``TorchTrainer.restore``) raise too."""

    _tf_message: str

    def __getattr__(cls, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        raise NotProvidedError(cls._tf_message)


def not_provided_class(ray_name: str, module: str, why: str, instead: str) -> type:
    """A class named like ``ray_name``'s last part, whose construction raises."""
    message = _message(ray_name, why, instead)

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        raise NotProvidedError(message)

    name = ray_name.rpartition(".")[2]
    namespace = {
        "__init__": __init__,
        "__doc__": message,
        "__module__": module,
        "__qualname__": name,
        "_tf_message": message,
    }
    return _NotProvidedMeta(name, (), namespace)


def not_provided_function(ray_name: str, module: str, why: str, instead: str) -> Callable[..., Any]:
    """A function named like ``ray_name``'s last part, whose call raises."""
    message = _message(ray_name, why, instead)

    def stand_in(*args: Any, **kwargs: Any) -> NoReturn:
        raise NotProvidedError(message)

    stand_in.__name__ = stand_in.__qualname__ = ray_name.rpartition(".")[2]
    stand_in.__module__ = module
    stand_in.__doc__ = message
    return stand_in
