"""The analysis functions fed from a :class:`tunefleet.Results` (one experiment's store).

Each ``*_of`` resolves the metric/mode (the experiment's own by default), refuses what the
experiment cannot show with an error naming the parameter, then reads only the record
kinds its function needs. The dashboard, which holds a store rather than a Results, calls
the functions of the sibling modules on ``store.read(name, kinds=...)`` directly.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from tunefleet.analysis.curves import CURVE_KINDS, Curve, curves
from tunefleet.analysis.history import HISTORY_KINDS, History, history, number
from tunefleet.analysis.lineage import LINEAGE_KINDS, Lineage, lineage
from tunefleet.analysis.params import ParamTable, param_table
from tunefleet.errors import TuneValueError
from tunefleet.protocol import TRIAL_CREATED, TRIAL_RESTARTED, Record

if TYPE_CHECKING:
    from tunefleet.results import Results


def records(results: Results, kinds: Iterable[str]) -> Iterator[Record]:
    return results._store.read(results.name, kinds=tuple(kinds))


def reported_metrics(results: Results) -> list[str]:
    """Numeric keys of the trials' last results, sorted: what --metric may name."""
    keys: set[str] = set()
    for t in results.trials:
        keys.update(k for k, v in t.last_result.items() if number(v) is not None)
    return sorted(keys)


def check_metric(results: Results, metric: str | None) -> str:
    """The metric to plot (the experiment's by default), refused when no trial reported it."""
    chosen = metric if metric is not None else results.default_metric
    if not chosen:
        raise TuneValueError(
            f"metric: experiment {results.name!r} was run without a metric; pass one"
        )
    known = reported_metrics(results)
    if chosen not in known:
        listing = ", ".join(known) if known else "(no trial has reported yet)"
        raise TuneValueError(
            f"metric: no trial of experiment {results.name!r} reported a number for "
            f"{chosen!r}; reported: {listing}"
        )
    return chosen


def check_mode(results: Results, mode: str | None) -> str:
    chosen = mode if mode is not None else results.default_mode
    if chosen not in ("min", "max"):
        raise TuneValueError(
            f"mode: must be 'min' or 'max' (experiment {results.name!r} has no default); "
            f"got {chosen!r}"
        )
    return chosen


def history_of(results: Results, metric: str | None = None, mode: str | None = None) -> History:
    m = check_metric(results, metric)
    return history(records(results, HISTORY_KINDS), m, check_mode(results, mode))


def curves_of(results: Results, metric: str | None = None) -> list[Curve]:
    return curves(records(results, CURVE_KINDS), check_metric(results, metric))


def table_of(results: Results, metric: str | None = None) -> ParamTable:
    """Each trial's config and the last value of ``metric`` it reported."""
    m = check_metric(results, metric)
    return param_table(((t.trial_id, t.config, t.last_result.get(m)) for t in results.trials), m)


def importance_of(results: Results, metric: str | None = None) -> dict[str, float]:
    from tunefleet.analysis.forest_importance import importance

    table = table_of(results, metric)
    try:
        return importance(table)
    except ValueError as e:
        raise TuneValueError(f"kind: {e}") from None


def lineage_of(results: Results) -> Lineage:
    found = lineage(records(results, LINEAGE_KINDS))
    if not found.edges:
        scheduler = results.spec.get("scheduler")
        name = scheduler.get("type") if isinstance(scheduler, dict) else scheduler
        raise TuneValueError(
            f"kind: lineage needs PBT/PB2 exploits and experiment {results.name!r} has none "
            f"(scheduler: {name or 'none recorded'})"
        )
    return found


def has_lineage(results: Results) -> bool:
    for rec in records(results, (TRIAL_RESTARTED, TRIAL_CREATED)):
        if rec.kind == TRIAL_RESTARTED or rec.data.get("parent"):
            return True
    return False


def split_list(value: str | Sequence[str] | None) -> list[str]:
    """'a,b' or ['a', 'b'] → ['a', 'b']; None → []."""
    if value is None:
        return []
    items = value.split(",") if isinstance(value, str) else list(value)
    return [s.strip() for s in items if s.strip()]


def pareto_of(
    results: Results, metrics: str | Sequence[str] | None, modes: str | Sequence[str] | None
) -> tuple[list[str], list[str], list[str], list[list[float]], list[int]]:
    """(metrics, modes, trial ids, points, indices of the front) over trials that reported
    every metric; metrics default to the experiment's when it has several."""
    names = split_list(metrics)
    if not names:
        spec_metric: Any = results.spec.get("metric")
        names = [str(m) for m in spec_metric] if isinstance(spec_metric, list) else []
    if len(names) < 2:
        raise TuneValueError(
            "metric: the pareto kind needs two or more metrics, e.g. --metric loss,latency "
            f"--mode min,min; got {names or 'none'}"
        )
    dirs = split_list(modes)
    if not dirs:
        spec_mode: Any = results.spec.get("mode")
        dirs = [str(m) for m in spec_mode] if isinstance(spec_mode, list) else []
    if len(dirs) != len(names) or any(d not in ("min", "max") for d in dirs):
        raise TuneValueError(
            f"mode: the pareto kind needs one 'min' or 'max' per metric ({len(names)}), "
            f"e.g. --mode {','.join(['min'] * len(names))}; got {dirs or 'none'}"
        )
    for m in names:
        check_metric(results, m)
    ids: list[str] = []
    points: list[list[float]] = []
    for t in results.trials:
        row = [number(t.last_result.get(m)) for m in names]
        if all(v is not None for v in row):
            ids.append(t.trial_id)
            points.append([float(v) for v in row if v is not None])
    return names, dirs, ids, points, _front(points, dirs)


def _front(points: list[list[float]], modes: list[str]) -> list[int]:
    from tunefleet.pareto import pareto_front as non_dominated

    return non_dominated(points, modes)
