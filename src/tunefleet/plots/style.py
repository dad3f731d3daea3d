"""What both renderers share: marker styles and the geometry of parallel coordinates and
the Pareto staircase. No plotting library here."""

from __future__ import annotations

import math
from collections.abc import Sequence

from tunefleet.analysis import ParamTable

# marker kind → (matplotlib marker, colour); plotly maps the marker names itself
MARKER_STYLE = {
    "stopped": ("X", "#d62728"),
    "paused": ("o", "#ff7f0e"),
    "resumed": ("^", "#2ca02c"),
    "exploited": ("D", "#9467bd"),
    "failed": ("v", "#7f7f7f"),
    "error": ("X", "#000000"),
}
PLOTLY_SYMBOL = {
    "X": "x",
    "o": "circle-open",
    "^": "triangle-up",
    "D": "diamond",
    "v": "triangle-down",
}


def normalised_columns(
    table: ParamTable,
) -> tuple[list[str], list[list[float]], list[list[tuple[float, str]]]]:
    """Axis names (parameters, then the metric), each column scaled to [0, 1] (log10 for
    log-scaled parameters, category codes spread evenly) and each axis's labels as
    (position, text): every category, or the low and high values."""
    names: list[str] = []
    cols: list[list[float]] = []
    ticks: list[list[tuple[float, str]]] = []
    for p in table.params:
        if p.categorical:
            top = max(1, len(p.categories) - 1)
            cols.append([v / top for v in p.values])
            ticks.append([(k / top, c) for k, c in enumerate(p.categories)])
        else:
            cols.append(_unit([math.log10(v) for v in p.values] if p.log else list(p.values)))
            ticks.append(_ends(p.values))
        names.append(p.name)
    names.append(table.metric)
    cols.append(_unit(table.scores))
    ticks.append(_ends(table.scores))
    return names, cols, ticks


def _ends(vals: list[float]) -> list[tuple[float, str]]:
    return [(0.0, f"{min(vals):.4g}"), (1.0, f"{max(vals):.4g}")]


def _unit(vals: list[float]) -> list[float]:
    lo, hi = min(vals), max(vals)
    return [(v - lo) / (hi - lo) if hi > lo else 0.5 for v in vals]


def pareto_steps(
    front: Sequence[Sequence[float]], modes: Sequence[str]
) -> tuple[list[float], list[float]]:
    """The front's first two objectives sorted along the first: the staircase joining them."""
    pts = sorted(front, key=lambda p: p[0], reverse=modes[0] == "max")
    return [p[0] for p in pts], [p[1] for p in pts]
