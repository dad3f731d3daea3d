"""The run's objective(s): one ``metric``/``mode`` pair, or lists of them for several objectives.

Several objectives change what "best" means (a Pareto front, not one trial), so every
component that ranks trials must say it can rank by several: a searcher or scheduler with
``multi_objective = True``, or one that ranks nothing (random/grid/Sobol searchers, FIFO).
Any other is refused here, before compute, instead of silently optimising the first metric.
"""

from __future__ import annotations

from typing import Any

from tunefleet.errors import TuneTypeError, TuneValueError

__all__ = [
    "check_components",
    "is_multi",
    "metric_names",
    "tell_constraints",
    "validate_objectives",
]


def is_multi(metric: Any) -> bool:
    """True for a list of metric names (several objectives)."""
    return isinstance(metric, list | tuple)


def metric_names(metric: Any) -> list[str]:
    """The metric names as a list (empty for None)."""
    if metric is None:
        return []
    return list(metric) if is_multi(metric) else [metric]


def validate_objectives(metric: Any, mode: Any) -> tuple[Any, Any]:
    """Check ``metric``/``mode`` and return them (lists for several objectives, else str)."""
    if not is_multi(metric) and not is_multi(mode):
        if mode is not None and mode not in ("min", "max"):
            raise TuneValueError(f"mode: must be 'min' or 'max', got {mode!r}")
        if metric is not None and not isinstance(metric, str):
            raise TuneTypeError(f"metric: expected a string, got {type(metric).__name__}")
        if metric is not None and mode is None:
            raise TuneValueError(
                f"mode: metric={metric!r} was given, so mode must be 'min' or 'max'"
            )
        if mode is not None and metric is None:
            raise TuneValueError(f"metric: mode={mode!r} was given, so a metric name is needed")
        return metric, mode
    if not is_multi(metric):
        raise TuneValueError(
            f"metric: mode={mode!r} is a list, so metric must be a list of as many names"
        )
    if not is_multi(mode):
        raise TuneValueError(
            f"mode: metric={list(metric)!r} is a list, so mode must be a list of 'min'/'max'"
        )
    metrics, modes = list(metric), list(mode)
    if not metrics:
        raise TuneValueError("metric: an empty list names no objective")
    for m in metrics:
        if not isinstance(m, str) or not m:
            raise TuneTypeError(f"metric: each entry must be a non-empty string, got {m!r}")
    dup = sorted({m for m in metrics if metrics.count(m) > 1})
    if dup:
        raise TuneValueError(f"metric: {dup} named more than once")
    if len(modes) != len(metrics):
        raise TuneValueError(
            f"mode: {len(modes)} modes for {len(metrics)} metrics {metrics!r}; give one each"
        )
    for m in modes:
        if m not in ("min", "max"):
            raise TuneValueError(f"mode: each entry must be 'min' or 'max', got {m!r}")
    if len(metrics) == 1:  # one objective written as a list
        return metrics[0], modes[0]
    return metrics, modes


def _ranks_nothing(component: Any) -> bool:
    from tunefleet.schedulers.base import FIFOScheduler
    from tunefleet.search.variant import VariantSearcher

    return type(component) is FIFOScheduler or isinstance(component, VariantSearcher)


def check_components(metric: Any, searcher: Any, scheduler: Any) -> None:
    """Refuse, naming the parameter, a searcher or scheduler that cannot rank by several
    objectives when ``metric`` is a list."""
    if not is_multi(metric):
        return
    inner = getattr(searcher, "searcher", None)  # ConcurrencyLimiter, Repeater
    checked = inner if inner is not None and hasattr(inner, "suggest") else searcher
    for param, component in (("search_alg", checked), ("scheduler", scheduler)):
        if getattr(component, "multi_objective", False) or _ranks_nothing(component):
            continue
        raise TuneValueError(
            f"{param}: {type(component).__name__} ranks trials by one metric, but "
            f"metric={list(metric)!r} names several; use a multi-objective one (search_alg: "
            "OptunaSearch(sampler='nsgaii'|'motpe'), ScalarizedSearch, or random/grid; "
            "scheduler: MOASHAScheduler, ParetoStoppingRule, or none) or give one metric"
        )


def tell_constraints(constraints: Any, searcher: Any) -> list[str]:
    """Check the run's outcome ``constraints`` (errors name ``constraints[i]``) and tell a
    searcher that takes constraints (it has a ``constraints`` attribute: the native TPE,
    BOHB, DEHB, HyperTune, ScalarizedSearch) by adding them to its own, so that its model
    scores an infeasible result as the worst. Returns them as a list (empty: none)."""
    from tunefleet.search.constraints import check_constraints

    keys = check_constraints("", constraints) or []
    inner = getattr(searcher, "searcher", None)  # ConcurrencyLimiter, Repeater
    target = inner if inner is not None and hasattr(inner, "suggest") else searcher
    if keys and hasattr(target, "constraints"):
        own = list(getattr(target, "constraints", None) or [])
        target.constraints = own + [k for k in keys if k not in own]
    return keys
