"""Outcome constraints, read from a trial's result the same way by every searcher.

A result is infeasible when it carries ``feasible=False``, or when it breaks one of the
``constraints``: each is a result key, whose value must be <= 0 (Optuna's convention for
``constraints_func``: ``c <= 0`` is satisfied), or a comparison of a key with a number,
``"latency <= 10"``, ``"accuracy >= 0.9"`` (operators ``<=``, ``<``, ``>=``, ``>``). A result
that lacks the key, or holds no number under it, breaks nothing (an intermediate report
need not carry every metric). Model-based searchers treat an infeasible result as the worst
possible score, so their model steers away from that region instead of learning from a
metric value that the user would never accept. The same rule decides which trials
``Results`` may pick as best or put on the Pareto front (run-level ``constraints=``).
"""

from __future__ import annotations

import functools
import math
import operator
import re
from collections.abc import Callable, Mapping
from typing import Any

from tunefleet.errors import TuneTypeError, TuneValueError

__all__ = ["check_constraints", "infeasible", "parse_constraint"]

_OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    ">=": operator.ge,
    "<": operator.lt,
    ">": operator.gt,
}
_COMPARISON = re.compile(r"^\s*(?P<key>[^<>=!\s]+)\s*(?P<op><=|>=|<|>)\s*(?P<bound>\S+)\s*$")


@functools.lru_cache(maxsize=256)
def parse_constraint(text: str) -> tuple[str, Callable[[float, float], bool], float]:
    """``(key, comparison, bound)`` of one constraint: a bare key means ``key <= 0``.

    Raises TuneValueError (without the parameter's name; callers add it) for anything else,
    e.g. ``"latency = 10"`` or a bound that is not a finite number."""
    if not isinstance(text, str) or not text.strip():
        raise TuneValueError(f"expected a result key or 'key <= number', got {text!r}")
    if not any(c in text for c in "<>=!") and len(text.split()) == 1:
        return text.strip(), operator.le, 0.0
    m = _COMPARISON.match(text)
    if m is None:
        raise TuneValueError(
            f"{text!r} is not a result key or a comparison 'key <= number' (operators <=, <, >=, >)"
        )
    try:
        bound = float(m["bound"])
    except ValueError:
        bound = math.nan
    if not math.isfinite(bound):
        raise TuneValueError(f"{text!r}: the bound {m['bound']!r} is not a finite number")
    return m["key"], _OPS[m["op"]], bound


def check_constraints(who: str, constraints: Any) -> list[str] | None:
    """The constraints as a list (None for none), each a key or a comparison (checked).
    Errors name ``who(constraints[i])``, or ``constraints[i]`` when ``who`` is empty (the
    run's own argument)."""
    if constraints is None:
        return None
    if isinstance(constraints, str) or not isinstance(constraints, list | tuple):
        raise TuneTypeError(
            f"{who + '(' if who else ''}constraints{'=...)' if who else ''}: expected a list of result keys or comparisons such as "
            f"'latency <= 10', got {constraints!r}"
        )
    for i, c in enumerate(constraints):
        label = f"{who}(constraints[{i}])" if who else f"constraints[{i}]"
        if not isinstance(c, str):
            raise TuneTypeError(
                f"{label}: expected a string ('latency <= 10' or a key whose "
                f"value must be <= 0), got {c!r:.80}; a rule no comparison can say is "
                "reported by the trainable as feasible=False"
            )
        try:
            parse_constraint(c)
        except TuneValueError as exc:
            raise TuneValueError(f"{label}: {exc}") from None
    return list(constraints) or None


def infeasible(result: Mapping[str, Any] | None, constraints: list[str] | None) -> bool:
    """Whether ``result`` breaks an outcome constraint (see the module docstring)."""
    if not result:
        return False
    if result.get("feasible") is False:
        return True
    for text in constraints or ():
        key, holds, bound = parse_constraint(text)
        value = result.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            try:
                value = float(value)  # type: ignore[arg-type]
            except (TypeError, ValueError):
                continue
        if not math.isnan(value) and not holds(float(value), bound):
            return True
    return False
