"""Outcome constraints, read from a trial's result the same way by every searcher.

A result is infeasible when it carries ``feasible=False``, or when any key named in the
searcher's ``constraints`` holds a value > 0 (Optuna's convention for ``constraints_func``:
``c <= 0`` is satisfied). Model-based searchers treat an infeasible result as the worst
possible score, so their model steers away from that region instead of learning from a
metric value that the user would never accept.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tunefleet.errors import TuneTypeError


def check_constraints(who: str, constraints: Any) -> list[str] | None:
    """The constraint keys as a list (None for none), refusing anything but strings."""
    if constraints is None:
        return None
    if isinstance(constraints, str) or not isinstance(constraints, list | tuple):
        raise TuneTypeError(
            f"{who}(constraints=...): expected a list of result keys, got {constraints!r}"
        )
    bad = [c for c in constraints if not isinstance(c, str)]
    if bad:
        raise TuneTypeError(f"{who}(constraints=...): keys must be strings, got {bad[0]!r}")
    return list(constraints) or None


def infeasible(result: Mapping[str, Any] | None, constraints: list[str] | None) -> bool:
    """Whether ``result`` breaks an outcome constraint (see the module docstring)."""
    if not result:
        return False
    if result.get("feasible") is False:
        return True
    return any(_violated(result.get(key)) for key in constraints or ())


def _violated(value: Any) -> bool:
    try:
        return float(value) > 0
    except (TypeError, ValueError):
        return False
