"""Trials as a table of parameters and a score: what parallel coordinates, the slice plots
and parameter importance read.

Each varying scalar config key (nested keys flattened as ``a/b``) becomes a column. Numbers
stay numbers (``log`` is set when the values are positive and span more than two decades,
so axes and the importance model see them on the scale they were searched on); anything
else (strings, bools, None) is categorical and coded 0, 1, ... in order of first
appearance. Trials without a finite score are left out.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tunefleet.analysis.history import number
from tunefleet.results import flatten


@dataclass(slots=True)
class Param:
    name: str
    categorical: bool
    log: bool = False
    categories: list[str] = field(default_factory=list)  # labels of codes 0, 1, ...
    values: list[float] = field(default_factory=list)  # one per row; codes if categorical
    raw: list[Any] = field(default_factory=list)  # the config's values as they were


@dataclass(slots=True)
class ParamTable:
    metric: str
    trial_ids: list[str]
    scores: list[float]
    params: list[Param]

    def __len__(self) -> int:
        return len(self.trial_ids)

    def names(self) -> list[str]:
        return [p.name for p in self.params]

    def column(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)


def param_table(
    trials: Iterable[tuple[str, Mapping[str, Any], object]], metric: str = "score"
) -> ParamTable:
    """``trials``: (trial_id, config, score) triples; the score's column is ``metric``."""
    ids: list[str] = []
    scores: list[float] = []
    rows: list[dict[str, Any]] = []
    for tid, config, score in trials:
        x = number(score)
        if x is None:
            continue
        ids.append(tid)
        scores.append(x)
        rows.append(flatten(dict(config)))
    keys: dict[str, None] = {}
    for r in rows:
        keys.update(dict.fromkeys(r))
    params = []
    for key in keys:
        raw = [r.get(key) for r in rows]
        if any(isinstance(v, list | tuple | dict | set) for v in raw):
            continue  # not a scalar: no axis for it
        if len({repr(v) for v in raw}) < 2:
            continue  # constant: nothing to learn or show
        params.append(_column(key, raw))
    return ParamTable(metric, ids, scores, params)


def _column(name: str, raw: list[Any]) -> Param:
    nums = [number(v) if not isinstance(v, bool) else None for v in raw]
    if all(x is not None for x in nums):
        xs = [float(x) for x in nums if x is not None]
        log = min(xs) > 0 and max(xs) / min(xs) > 100
        return Param(name, False, log, values=xs, raw=raw)
    codes: dict[str, int] = {}
    values = [
        float(codes.setdefault(repr(v) if not isinstance(v, str) else v, len(codes))) for v in raw
    ]
    return Param(name, True, False, categories=list(codes), values=values, raw=raw)


def model_inputs(table: ParamTable) -> list[list[float]]:
    """Rows of the table as a model sees them: log10 of log-scaled params, codes for
    categories."""
    cols = [[math.log10(v) for v in p.values] if p.log else p.values for p in table.params]
    return [list(row) for row in zip(*cols, strict=True)] if cols else [[] for _ in table.trial_ids]


@dataclass(slots=True)
class Slice:
    """Score against one parameter: ``x[i]`` is trial ``trial_ids[i]``'s value of it."""

    param: str
    categorical: bool
    log: bool
    x: list[Any]
    y: list[float]
    trial_ids: list[str]
    categories: list[str] = field(default_factory=list)


def slices(table: ParamTable) -> list[Slice]:
    """One slice per parameter of the table, in column order."""
    return [
        Slice(
            p.name,
            p.categorical,
            p.log,
            [p.categories[int(c)] for c in p.values] if p.categorical else list(p.values),
            list(table.scores),
            list(table.trial_ids),
            list(p.categories),
        )
        for p in table.params
    ]
