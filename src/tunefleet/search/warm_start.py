"""``run(warm_start_from=[NAME, ...])``: start a sweep's model from earlier experiments.

Each earlier experiment's trials that reported the run's metric give one (config, metric
value, budget) triple — the last result, at its ``training_iteration`` — and the searcher is
told them through ``add_evaluated_point`` before it suggests anything. Only model-based
searchers take them (TPE, DEHB, Hyper-Tune); the others are refused by name, since
silently ignoring earlier results would look like a warm start that did not happen.

The store is passed in (duck-typed: ``experiment_names``, ``read``), so this module imports
no storage backend.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from tunefleet.errors import TuneTypeError, TuneValueError
from tunefleet.search.base import Searcher


def check_warm_start(store: Any, names: Any, searcher: Searcher, where: str) -> list[str]:
    """The names, validated before any compute: a list of existing experiments, and a
    searcher that can take their results."""
    if names is None:
        return []
    if isinstance(names, str) or not isinstance(names, Sequence):
        raise TuneTypeError(
            f"warm_start_from: expected a list of experiment names, got {type(names).__name__}"
        )
    known = set(store.experiment_names())
    for name in names:
        if not isinstance(name, str):
            raise TuneTypeError(f"warm_start_from: {name!r} is not an experiment name")
        if name not in known:
            raise TuneValueError(
                f"warm_start_from: no experiment {name!r} in {where!r}; known: "
                + (", ".join(sorted(known)) or "none")
            )
    if names and not callable(getattr(searcher, "add_evaluated_point", None)):
        raise TuneValueError(
            f"warm_start_from: {type(searcher).__name__} cannot learn from earlier results; "
            "use a model-based searcher (search_alg='tpe', 'dehb' or 'hypertune')"
        )
    return list(names)


def evaluated_points(
    store: Any, names: list[str], metric: str, time_attr: str = "training_iteration"
) -> list[tuple[dict[str, Any], float, float | None]]:
    """(config, metric value, budget) of every trial in ``names`` whose last result has a
    finite ``metric``; the budget is the result's ``time_attr`` (None if absent)."""
    from tunefleet.storage.replay import replay

    out = []
    for name in names:
        for snap in replay(store.read(name)).trials_in_order():
            last = snap.last_result or {}
            value = last.get(metric)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            if not math.isfinite(value):
                continue
            budget = last.get(time_attr)
            b = float(budget) if isinstance(budget, (int, float)) else None
            out.append((dict(snap.config), float(value), b))
    return out


def warm_start(store: Any, names: list[str], searcher: Searcher) -> int:
    """Tell ``searcher`` (after its setup) the earlier experiments' results; how many."""
    if not names or searcher.metric is None:
        return 0
    time_attr = str(getattr(searcher, "time_attr", "training_iteration"))
    points = evaluated_points(store, names, searcher.metric, time_attr)
    add = searcher.add_evaluated_point  # type: ignore[attr-defined]
    for config, value, budget in points:
        add(config, value, budget)
    return len(points)
