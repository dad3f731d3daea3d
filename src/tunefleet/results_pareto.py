"""The Pareto front of an experiment's trials, for ``Results.pareto_front`` and ``show``.

A trial is on the front when no other eligible trial is at least as good in every objective
and better in one (:mod:`tunefleet.pareto`). Eligible: its last result carries a finite
number for each metric and breaks no outcome constraint -- ``feasible=False`` in the
result, a value > 0 under a key named in ``constraints`` (Optuna's ``c <= 0`` convention),
or a comparison such as ``"latency <= 10"`` that does not hold (the same rule the
searchers use, :mod:`tunefleet.search.constraints`), so an infeasible trial can neither
sit on the front nor push a feasible one off it. By default the constraints are the run's
(``constraints=`` of ``run``/``TuneConfig``) and its searcher's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from tunefleet.errors import TuneValueError
from tunefleet.objectives import validate_objectives
from tunefleet.pareto import pareto_front
from tunefleet.search.constraints import check_constraints, infeasible

__all__ = ["front_ids", "objectives_of", "searcher_constraints"]


def searcher_constraints(spec: dict[str, Any]) -> list[str] | None:
    """The run's ``constraints`` and those its searcher was built with, from the run spec."""
    params = (spec.get("components") or {}).get("searcher", {}).get("params") or {}
    keys = [*(spec.get("constraints") or ()), *(params.get("constraints") or ())]
    return list(dict.fromkeys(k for k in keys if isinstance(k, str))) or None


def objectives_of(
    spec: dict[str, Any], metric: Any, mode: Any, experiment: str
) -> tuple[list[str], list[str]]:
    """The metric and mode lists to rank by: the arguments, else the experiment's own."""
    metric = spec.get("metric") if metric is None else metric
    mode = spec.get("mode") if mode is None else mode
    if metric is None or mode is None:
        raise TuneValueError(
            f"metric: experiment {experiment!r} was not run with metric/mode; pass "
            "metric=[...] and mode=[...]"
        )
    metric, mode = validate_objectives(metric, mode)
    if isinstance(metric, str):
        return [metric], [mode]
    return list(metric), list(mode)


def _vector(result: dict[str, Any], metrics: Sequence[str]) -> list[float] | None:
    out = []
    for m in metrics:
        v = result.get(m)
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            return None
        out.append(float(v))
    return out


def front_ids(
    last_results: dict[str, dict[str, Any]],
    metrics: Sequence[str],
    modes: Sequence[str],
    constraints: Sequence[str] | None = None,
) -> list[str]:
    """Ids (in the given order) of the non-dominated, feasible trials."""
    keys = check_constraints("pareto_front", list(constraints) if constraints else None)
    ids, points = [], []
    for trial_id, result in last_results.items():
        vec = _vector(result, metrics)
        if vec is None or infeasible(result, keys):
            continue
        ids.append(trial_id)
        points.append(vec)
    return [ids[i] for i in pareto_front(points, modes)]
