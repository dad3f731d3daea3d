"""The search space as outside libraries see it: flat named parameters (see
:mod:`tunefleet.search._adapter` for why and how they are used).

Each searchable domain becomes a :class:`Param` named by its path joined with ``/``;
``decode``/``encode`` translate between a library's flat values and the space's values,
conditional choices included.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tunefleet.errors import TuneValueError
from tunefleet.space import (
    Categorical,
    Domain,
    Float,
    Grid,
    Integer,
    Path,
    find_domains,
    format_path,
    is_grid_marker,
    resolve,
)


@dataclass
class Param:
    """One searchable domain as the libraries see it (see the module docstring)."""

    name: str
    path: Path
    domain: Domain
    kind: str  # "float" | "int" | "cat" | "unit"
    low: float = 0.0
    high: float = 1.0
    log: bool = False
    children: list[list[Param]] | None = None  # per option, for a conditional choice

    @property
    def n(self) -> int:
        assert isinstance(self.domain, Categorical)
        return len(self.domain.categories)

    def decode(self, raw: Any) -> Any:
        """The domain's value for the library's ``raw`` value (children not filled in)."""
        if self.kind == "cat":
            assert isinstance(self.domain, Categorical)
            return self.domain.categories[int(raw)]
        if self.kind == "unit":
            return self.domain.from_unit(float(raw))
        return self.domain.from_unit(self.domain.to_unit(raw))

    def encode(self, value: Any) -> Any:
        """The library's raw value for a domain value (a point to evaluate)."""
        if self.kind == "cat":
            assert isinstance(self.domain, Categorical)
            return self.domain.index(value)
        if self.kind == "unit":
            return float(self.domain.to_unit(value))
        return int(value) if self.kind == "int" else float(value)


def _param(name: str, path: Path, node: Domain, who: str, conditional: bool) -> Param:
    if isinstance(node, Categorical):
        options = list(node.categories)
        nested = [find_domains(o) for o in options]
        if not any(nested):
            return Param(name, path, node, "cat")
        if not conditional:
            raise TuneValueError(
                f"{format_path(path)}: a choice whose options hold search domains is a "
                f"conditional space, which {who} has no form for; flatten it or use "
                "OptunaSearch or HyperOptSearch"
            )
        children = [
            [_sub(f"{name}/{i}/", path, sub, node2, who) for sub, node2 in found]
            for i, found in enumerate(nested)
        ]
        return Param(name, path, node, "cat", children=children)
    if isinstance(node, Float) and node.q is None:
        return Param(name, path, node, "float", node.lower, node.upper, node.log)
    if isinstance(node, Integer) and node.q in (None, 1) and not node.log:
        lo, hi = node.from_unit(0.0), node.from_unit(1.0)
        if lo < hi:
            return Param(name, path, node, "int", lo, hi)
    return Param(name, path, node, "unit")


def _sub(prefix: str, path: Path, sub: Path, node: Any, who: str) -> Param:
    full = (*path, *sub)
    if is_grid_marker(node) or isinstance(node, Grid):
        raise TuneValueError(f"{format_path(full)}: {who} does not search grid_search axes")
    if isinstance(node, Domain) and node.is_function:
        raise TuneValueError(
            f"{format_path(full)}: {who} cannot evaluate sample_from inside a choice's option"
        )
    name = prefix + "/".join(str(k) for k in sub)
    return _param(name, sub, node, who, True)


def space_params(space: Any, who: str, conditional: bool) -> list[Param]:
    """The Params of a tunefleet space, in the space's order (see the module docstring)."""
    out = []
    for path, node in find_domains(space):
        if is_grid_marker(node) or isinstance(node, Grid):
            raise TuneValueError(
                f"{format_path(path)}: {who} does not search grid_search axes; use a "
                "choice, or search_alg='grid'"
            )
        if isinstance(node, Domain) and node.is_function:
            continue  # evaluated by resolve() on the config
        out.append(_param("/".join(str(k) for k in path), path, node, who, conditional))
    return out


def _fill(option: Any, children: list[Param], raw: Mapping[str, Any]) -> Any:
    """A conditional option with its domains replaced by the library's values."""
    values: dict[Path, Any] = {}
    for p in children:
        if p.name in raw:
            values[("v", *p.path)] = _decode_one(p, raw)
    return resolve({"v": option}, values)["v"]


def _decode_one(p: Param, raw: Mapping[str, Any]) -> Any:
    value = p.decode(raw[p.name])
    if p.children is not None:
        i = int(raw[p.name])
        value = _fill(value, p.children[i], raw)
    return value


def decode(params: list[Param], raw: Mapping[str, Any]) -> dict[Path, Any]:
    """``{path: value}`` for ``resolve`` from the library's flat ``{name: raw}``."""
    return {p.path: _decode_one(p, raw) for p in params if p.name in raw}


def encode(params: list[Param], config: Mapping[str, Any]) -> dict[str, Any] | None:
    """The library's flat values for a config, or None where one cannot be encoded (a value
    outside its domain, a conditional choice)."""
    out: dict[str, Any] = {}
    for p in params:
        node: Any = config
        try:
            for k in p.path:
                node = node[k]
            if p.children is not None and find_domains(p.decode(p.encode(node))):
                return None
            if not p.domain.contains(node):
                return None
            out[p.name] = p.encode(node)
        except (KeyError, IndexError, TypeError, ValueError):
            return None
    return out


def unflatten(flat: Mapping[str, Any]) -> dict[str, Any]:
    """``{"a/b": 1}`` -> ``{"a": {"b": 1}}`` (Ray's flattened names back to a config)."""
    out: dict[str, Any] = {}
    for name, value in flat.items():
        node = out
        *head, last = name.split("/")
        for k in head:
            node = node.setdefault(k, {})
        node[last] = value
    return out


def merge_config(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in extra.items():
        old = out.get(k)
        if isinstance(old, dict) and isinstance(v, Mapping) and not is_grid_marker(old):
            out[k] = merge_config(old, v)
        else:
            out[k] = v
    return out


def _flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in config.items():
        if isinstance(v, Mapping):
            out.update(_flatten(v, f"{prefix}{k}/"))
        else:
            out[f"{prefix}{k}"] = v
    return out
