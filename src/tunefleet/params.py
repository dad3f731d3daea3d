"""Constructor arguments of a component, read back from the component (scikit-learn's rule).

A resumed experiment must continue with the searcher, scheduler and stopper it started
with, not with defaults. Every component therefore keeps each constructor argument,
unchanged, under the attribute of the same name, and :func:`get_params` reads them back
by walking the ``__init__`` signature; :func:`construct` builds an equivalent object from
them. Learned state is not a parameter: it lives in ``state_dict``.

Where the attribute of that name holds something else at run time (``metric`` once
``setup`` has bound the experiment's metric, ``seed`` once it has bound the experiment's
seed), a class names the attribute that keeps the argument in ``_param_attrs``. A
``*args`` parameter is kept as a tuple under its name and passed back positionally; a
``**kwargs`` parameter is kept as a dict under its name and merged into the parameters.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from tunefleet.errors import TuneTypeError


def _signature(cls: type) -> inspect.Signature:
    try:
        return inspect.signature(cls)
    except (TypeError, ValueError) as e:
        raise TuneTypeError(f"{cls.__qualname__}: its constructor has no signature ({e})") from e


def get_params(obj: object) -> dict[str, Any]:
    """``{name: value}`` for every constructor parameter of ``type(obj)``, as given.

    Raises TuneTypeError naming the parameter when the object does not keep it.
    """
    cls = type(obj)
    aliases: Mapping[str, str] = getattr(cls, "_param_attrs", {})
    out: dict[str, Any] = {}
    for name, p in _signature(cls).parameters.items():
        attr = aliases.get(name, name)
        if not hasattr(obj, attr):
            raise TuneTypeError(
                f"{cls.__qualname__}: constructor argument {name!r} is not kept as "
                f"self.{attr}, so it cannot be recorded (scikit-learn's rule: store every "
                "argument unchanged, or override get_params)"
            )
        value = getattr(obj, attr)
        if p.kind is inspect.Parameter.VAR_KEYWORD:
            if not isinstance(value, Mapping):
                raise TuneTypeError(
                    f"{cls.__qualname__}: **{name} must be kept as a dict in self.{attr}, "
                    f"got {type(value).__name__}"
                )
            out.update(value)
        elif p.kind is inspect.Parameter.VAR_POSITIONAL:
            out[name] = tuple(value)
        else:
            out[name] = value
    return out


def construct(cls: type, params: Mapping[str, Any]) -> Any:
    """``cls`` built from :func:`get_params` output: ``cls(**params)``, except that
    positional-only parameters and the values of a ``*args`` parameter are passed
    positionally (they cannot be passed by name)."""
    args: list[Any] = []
    kwargs = dict(params)
    for name, p in _signature(cls).parameters.items():
        if name not in kwargs:
            continue
        if p.kind is inspect.Parameter.POSITIONAL_ONLY:
            args.append(kwargs.pop(name))
        elif p.kind is inspect.Parameter.VAR_POSITIONAL:
            args.extend(kwargs.pop(name))
    return cls(*args, **kwargs)
