"""Whole search spaces: nested dicts and lists of constants, Domains and grid markers.

A *path* is the tuple of keys and list indices leading to a node, e.g. ``("optim", "lr")``.
Grid axes are :class:`~tunefleet.space.domains.Grid` domains or Ray's literal
``{"grid_search": [...]}`` dicts. Tuples and other objects are constants (not searched).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from tunefleet.errors import TuneTypeError, TuneValueError
from tunefleet.space._view import PENDING, ConfigView, Path, Spec, Unresolved, unview
from tunefleet.space.domains import Domain, Function, decode_value, encode_value, plain

if TYPE_CHECKING:
    from tunefleet.space.lazy_rng import Rng

SPACE_FORMAT = "tunefleet.space/1"
_NO_VALUES: Mapping[Path, Any] = MappingProxyType({})
_MAX_FUNCTION_CHAIN = 100


def format_path(path: Path, name: str = "config") -> str:
    """``("optim", "lr")`` → ``config['optim']['lr']``, for error messages."""
    return name + "".join(f"[{k!r}]" for k in path)


def is_grid_marker(node: Any) -> bool:
    """Ray's literal ``{"grid_search": [...]}`` form."""
    return type(node) is dict and len(node) == 1 and "grid_search" in node


def is_grid(node: Any) -> bool:
    """A grid axis in either form."""
    return is_grid_marker(node) or (isinstance(node, Domain) and node.is_grid)


def grid_values(node: Any) -> list[Any]:
    """The values of a grid axis (either form)."""
    if is_grid_marker(node):
        return list(node["grid_search"])
    if isinstance(node, Domain) and node.is_grid:
        return node.values() or []
    raise TuneTypeError(f"grid_values: {node!r} is not a grid axis")


def find_domains(space: Any) -> list[tuple[Path, Any]]:
    """Every searchable node (Domain, sample_from, grid marker) with its path, in order."""
    out: list[tuple[Path, Any]] = []
    _find(space, (), out)
    return out


def _find(node: Any, path: Path, out: list[tuple[Path, Any]]) -> None:
    t = type(node)
    if t is dict:
        if len(node) == 1 and "grid_search" in node:
            out.append((path, node))
            return
        for k, v in node.items():
            _find(v, (*path, k), out)
    elif t is list:
        for i, v in enumerate(node):
            _find(v, (*path, i), out)
    elif isinstance(node, Domain):
        out.append((path, node))


def validate_space(space: Any, name: str = "config") -> None:
    """Check what only the context can tell; errors name the parameter's path."""
    if not isinstance(space, dict):
        raise TuneTypeError(f"{name} must be a dict, got {type(space).__name__}")
    if is_grid_marker(space):
        raise TuneValueError(f"{name} must be a dict of parameters, not a grid_search")
    _validate(space, (), name)


def _validate(node: Any, path: Path, name: str) -> None:
    where = format_path(path, name)
    if is_grid_marker(node):
        values = node["grid_search"]
        if isinstance(values, str | bytes | Mapping) or not isinstance(values, list | tuple):
            raise TuneTypeError(
                f"{where}: grid_search needs a list of values, got {type(values).__name__}"
            )
        if not values:
            raise TuneValueError(f"{where}: grid_search needs at least one value, got []")
        for i, v in enumerate(values):
            _validate(v, (*path, "grid_search", i), name)
    elif isinstance(node, dict):
        for k, v in node.items():
            if not isinstance(k, str):
                raise TuneTypeError(f"{where}: keys must be strings, got {k!r}")
            _validate(v, (*path, k), name)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            _validate(v, (*path, i), name)
    elif isinstance(node, Domain):
        try:
            node.validate()
        except (TuneValueError, TuneTypeError) as e:
            raise type(e)(f"{where}: {e}") from e


# ------------------------------------------------------------------------------ resolve


def resolve(
    space: dict[str, Any],
    values: Mapping[Path, Any] | None = None,
    rng: Rng | None = None,
) -> dict[str, Any]:
    """A new config: ``values`` placed at their paths, other domains sampled from ``rng``,
    then ``sample_from`` functions evaluated (repeatedly, so they may read each other).

    Cost: one pass over the space plus one pass per dependency level of ``sample_from``.
    """
    if values is None:
        values = _NO_VALUES
    if rng is None:
        from tunefleet.space.lazy_rng import LazyGenerator

        rng = LazyGenerator()
    pending: list[tuple[Path, Function]] = []
    out = _build(space, (), values, rng, pending)
    if pending:
        _run_functions(out, pending, rng)
    return out


def _build(
    node: Any,
    path: Path,
    values: Mapping[Path, Any],
    rng: Rng,
    pending: list[tuple[Path, Function]],
) -> Any:
    t = type(node)
    if t is dict:
        if len(node) == 1 and "grid_search" in node:
            if path in values:
                v = values[path]
            else:
                options = node["grid_search"]
                i = int(rng.random() * len(options))
                v = options[min(i, len(options) - 1)]
            return _build(v, path, _NO_VALUES, rng, pending)
        return {k: _build(v, (*path, k), values, rng, pending) for k, v in node.items()}
    if t is list:
        return [_build(v, (*path, i), values, rng, pending) for i, v in enumerate(node)]
    if isinstance(node, Domain):
        if path in values:
            v = values[path]
        elif node.is_function:
            pending.append((path, node))  # type: ignore[arg-type]
            return PENDING
        else:
            v = node.sample(rng)
        if isinstance(v, dict | list | Domain):  # e.g. a choice of sub-configs
            v = _build(v, path, _NO_VALUES, rng, pending)
        return v
    return node


def _assign(config: Any, path: Path, value: Any) -> None:
    node = config
    for k in path[:-1]:
        node = node[k]
    node[path[-1]] = value


def _run_functions(out: dict[str, Any], pending: list[tuple[Path, Function]], rng: Rng) -> None:
    spec = Spec(ConfigView(out))
    while pending:
        waiting: list[tuple[Path, Function, Path]] = []
        found: list[tuple[Path, Function]] = []
        for path, fn in pending:
            try:
                value = _evaluate(fn, spec, path, rng, found)
            except Unresolved as e:
                waiting.append((path, fn, e.path))
                continue
            _assign(out, path, value)
        if waiting and len(waiting) == len(pending) and not found:
            stuck = ", ".join(
                f"{format_path(p)} (reads {format_path(dep)})" for p, _, dep in waiting
            )
            raise TuneValueError(
                f"sample_from functions cannot be resolved, they depend on each other: {stuck}"
            )
        pending = [(p, f) for p, f, _ in waiting] + found


def _evaluate(
    fn: Function,
    spec: Spec,
    path: Path,
    rng: Rng,
    found: list[tuple[Path, Function]],
) -> Any:
    value: Any = fn
    try:
        for _ in range(_MAX_FUNCTION_CHAIN):
            if isinstance(value, Function):
                value = unview(value.call(spec))
            elif isinstance(value, Domain):
                value = value.sample(rng)
            else:
                break
        else:
            raise TuneValueError(f"{format_path(path)}: sample_from keeps returning functions")
    except Unresolved:
        raise
    except Exception as e:
        e.add_note(f"while evaluating sample_from at {format_path(path)}")
        raise
    value = plain(value)
    if isinstance(value, dict | list):
        return _build(value, path, _NO_VALUES, rng, found)
    return value


# --------------------------------------------------------------------------------- JSON


def space_to_json(space: Any) -> dict[str, Any]:
    """A JSON form of the space, for the experiment spec (functions kept as descriptions)."""
    return {"format": SPACE_FORMAT, "space": encode_value(space)}


def space_from_json(d: Mapping[str, Any]) -> Any:
    """Inverse of :func:`space_to_json`; ``sample_from`` comes back as a placeholder."""
    if not isinstance(d, Mapping) or d.get("format") != SPACE_FORMAT:
        raise TuneValueError(f"space_from_json: not a {SPACE_FORMAT} document")
    return decode_value(d["space"])


def space_fingerprint(space: Any) -> str:
    """A stable hash of the space's JSON form (key order ignored), to detect changed spaces."""
    text = json.dumps(space_to_json(space), sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()
