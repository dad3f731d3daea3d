"""Searchers, schedulers and stoppers as JSON ``{"class": path, "params": {...}}``.

Why: a resumed experiment must continue with the components it started with (an ASHA and
Sobol sweep must not come back as FIFO and random search). Each component keeps its
constructor arguments (``get_params``, scikit-learn's rule, :mod:`tunefleet.params`), so
the experiment's spec records the class and its arguments and a resume calls the class
with them again. Learned state is recorded separately (``state_dict``).

Arguments are written as JSON; what plain JSON cannot hold exactly is written as a
one-key object whose key is a tag:

- ``{"__component__": {"class": ..., "params": ...}}``: a nested component (the searcher
  of a ConcurrencyLimiter, the stoppers of a CombinedStopper);
- ``{"__domain__": Domain.to_json()}``: a search-space domain (PBT's mutations, a space);
- ``{"__callable__": "module:qualname"}``: a function or class importable by its name;
- ``{"__tuple__": [...]}``, ``{"__dict__": [[key, value], ...]}`` (keys that are not
  strings, or a dict that would read as a tag) and ``{"__float__": "inf"}`` (NaN, ±inf).

Anything else (a lambda, a local function or class, one defined in ``__main__``, an
arbitrary object) is refused with a TuneValueError naming the argument and how to pass
the component again on resume; nothing is ever replaced by a default.
"""

from __future__ import annotations

import importlib
import inspect
import math
from collections.abc import Mapping
from typing import Any

from tunefleet.errors import TuneValueError
from tunefleet.params import construct

COMPONENT = "__component__"
CALLABLE = "__callable__"
DOMAIN = "__domain__"
TUPLE = "__tuple__"
DICT = "__dict__"
FLOAT = "__float__"
_TAGS = frozenset({COMPONENT, CALLABLE, DOMAIN, TUPLE, DICT, FLOAT})


class _Refused(Exception):
    """Internal: ``where`` (an argument path, "" for the component itself) and why."""

    def __init__(self, where: str, why: str) -> None:
        super().__init__(why)
        self.where = where
        self.why = why


def class_path(cls: type) -> str:
    """``"package.module:QualName"``, the form :func:`rebuild` imports."""
    return f"{cls.__module__}:{cls.__qualname__}"


def _how(param: str) -> str:
    return (
        f"pass it again: tunefleet.resume(name, {param}=...), or Tuner.restore(path, "
        "trainable, ...) with it in TuneConfig/RunConfig"
    )


def _message(param: str, cls: str, verb: str, err: _Refused) -> str:
    subject = f"argument {err.where}" if err.where else "it"
    return f"{param}: {cls} cannot be {verb}: {subject} {err.why}; {_how(param)}"


def _resolve(path: str) -> Any:
    """The object named ``"module:qualname"`` (ImportError/AttributeError if none)."""
    module, sep, qualname = path.partition(":")
    if not sep or not module or not qualname:
        raise ImportError(f"{path!r} is not of the form 'module:qualname'")
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def _not_importable(obj: Any) -> str | None:
    """Why ``obj`` (a class or function) cannot be found again by its name, or None."""
    module = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", None)
    if not isinstance(module, str) or not isinstance(qualname, str):
        return f"{obj!r}, which has no module and qualified name to import it by"
    if inspect.ismethod(obj):
        return f"the bound method {module}:{qualname}, which cannot be imported by name"
    if "<lambda>" in qualname:
        return f"a lambda ({module}:{qualname}), which cannot be imported by name"
    if "<locals>" in qualname:
        return f"{module}:{qualname}, defined inside a function, which cannot be imported"
    if module == "__main__":
        return f"{module}:{qualname}, defined in __main__ (a script), which a resume cannot import"
    try:
        found = _resolve(f"{module}:{qualname}")
    except (ImportError, AttributeError) as e:
        return f"{module}:{qualname}, which cannot be imported ({e})"
    if found is not obj:
        return f"{module}:{qualname}, a name that imports another object"
    return None


def _at(where: str, key: Any) -> str:
    if isinstance(key, int):
        return f"{where}[{key}]"
    if not isinstance(key, str) or not key.isidentifier():
        return f"{where}[{key!r}]"
    return f"{where}.{key}" if where else key


def _describe(obj: Any, where: str) -> dict[str, Any]:
    cls = type(obj)
    reason = _not_importable(cls)
    if reason is not None:
        raise _Refused(where, f"has the class {reason}")
    get_params = getattr(obj, "get_params", None)
    if not callable(get_params):
        raise _Refused(where, f"is a {cls.__qualname__}, which has no get_params()")
    try:
        params = get_params()
    except Exception as e:
        raise _Refused(where, f"could not list its arguments: {e}") from e
    if not isinstance(params, Mapping) or not all(isinstance(k, str) for k in params):
        raise _Refused(where, "has a get_params() that returned no dict of names")
    return {
        "class": class_path(cls),
        "params": {k: _encode(v, _at(where, k)) for k, v in params.items()},
    }


def _encode(v: Any, where: str) -> Any:
    t = type(v)
    if v is None or t is bool or t is int or t is str:
        return v
    if t is float:
        return v if math.isfinite(v) else {FLOAT: repr(v)}
    if t is list:
        return [_encode(x, _at(where, i)) for i, x in enumerate(v)]
    if t is tuple:
        return {TUPLE: [_encode(x, _at(where, i)) for i, x in enumerate(v)]}
    if t is dict:
        if all(type(k) is str for k in v) and not (len(v) == 1 and next(iter(v)) in _TAGS):
            return {k: _encode(x, _at(where, k)) for k, x in v.items()}
        return {DICT: [[_encode(k, where), _encode(x, _at(where, k))] for k, x in v.items()]}
    if t.__module__ == "numpy" and hasattr(v, "item") and getattr(v, "shape", None) == ():
        return _encode(v.item(), where)  # a numpy scalar
    if isinstance(v, type):
        return _callable(v, where)
    from tunefleet.space import Domain, domain_from_json

    if isinstance(v, Domain):
        if v.is_function:
            raise _Refused(where, "is a sample_from domain, whose function JSON cannot hold")
        data = v.to_json()
        if domain_from_json(data) != v:
            raise _Refused(where, f"is the domain {v!r}, whose values JSON cannot hold exactly")
        return {DOMAIN: data}
    if callable(getattr(v, "get_params", None)):
        return {COMPONENT: _describe(v, where)}
    if callable(v) and hasattr(v, "__qualname__"):  # a function, not a callable object
        return _callable(v, where)
    raise _Refused(where, f"is a {t.__qualname__} object, which cannot be written as JSON")


def _callable(v: Any, where: str) -> dict[str, str]:
    reason = _not_importable(v)
    if reason is not None:
        raise _Refused(where, f"is {reason}")
    return {CALLABLE: f"{v.__module__}:{v.__qualname__}"}


def describe(obj: Any, param: str) -> dict[str, Any]:
    """``{"class": "module:QualName", "params": {...}}``, JSON-serialisable, from which
    :func:`rebuild` makes an equivalent component. ``param`` is the argument the user
    passed it as ("search_alg", "scheduler", "stop"), for the error message.

    Raises TuneValueError naming ``param``, the class and the argument that cannot be
    written (a lambda, a local or ``__main__`` function or class, an arbitrary object).
    """
    try:
        return _describe(obj, "")
    except _Refused as e:
        cls = class_path(type(obj))
        raise TuneValueError(_message(param, cls, "recorded for a resume", e)) from None


def is_rebuildable(obj: Any, param: str = "component") -> str | None:
    """None if :func:`describe` can record ``obj``, else why not (its error message).
    Lets a runner record a spec at start and refuse only on a resume that needs it."""
    try:
        describe(obj, param)
    except TuneValueError as e:
        return str(e)
    return None


def _decode(v: Any, where: str) -> Any:
    if type(v) is list:
        return [_decode(x, _at(where, i)) for i, x in enumerate(v)]
    if type(v) is not dict:
        return v
    if len(v) != 1 or next(iter(v)) not in _TAGS:
        return {k: _decode(x, _at(where, k)) for k, x in v.items()}
    tag, data = next(iter(v.items()))
    try:
        if tag == FLOAT:
            return float(data)
        if tag == TUPLE:
            return tuple(_decode(x, _at(where, i)) for i, x in enumerate(data))
        if tag == DICT:
            return {_decode(k, where): _decode(x, _at(where, k)) for k, x in data}
        if tag == DOMAIN:
            from tunefleet.space import domain_from_json

            return domain_from_json(data)
        if tag == COMPONENT:
            return _rebuild(data, where)
        return _resolve(data)
    except _Refused:
        raise
    except Exception as e:
        raise _Refused(where, f"could not be read from {tag} ({type(e).__name__}: {e})") from e


def _rebuild(desc: Any, where: str) -> Any:
    if not isinstance(desc, Mapping) or not isinstance(desc.get("class"), str):
        raise _Refused(where, f"has no 'class' in its description {desc!r}")
    path = desc["class"]
    name = f"({path}) " if where else ""  # the message names the outer class already
    params = desc.get("params")
    if not isinstance(params, Mapping):
        why = desc.get("error", "its arguments were not recorded")
        raise _Refused(where, f"{name}was recorded without arguments: {why}")
    try:
        cls = _resolve(path)
    except (ImportError, AttributeError) as e:
        raise _Refused(where, f"{name}cannot be imported: {type(e).__name__}: {e}") from e
    if not isinstance(cls, type):
        raise _Refused(where, f"{name}is not a class")
    kwargs = {k: _decode(x, _at(where, k)) for k, x in params.items()}
    try:
        return construct(cls, kwargs)
    except Exception as e:
        raise _Refused(where, f"{name}refused its arguments: {type(e).__name__}: {e}") from e


def rebuild(desc: dict[str, Any], param: str) -> Any:
    """The component :func:`describe` recorded: its class imported and called with the
    decoded arguments. Every failure (module or class gone, an argument that cannot be
    read, the constructor refusing) raises TuneValueError naming ``param`` and the class
    path; a default is never returned instead."""
    path = desc.get("class") if isinstance(desc, Mapping) else None
    try:
        return _rebuild(desc, "")
    except _Refused as e:
        raise TuneValueError(_message(param, str(path), "rebuilt", e)) from e.__cause__
