"""The seven kinds as matplotlib figures (PNG/SVG/PDF), made without pyplot.

Each function takes the data :mod:`tunefleet.plots.render` gathered and a title prefix and
returns a ``matplotlib.figure.Figure``; ``save`` writes one.
"""

from __future__ import annotations

import io
import math
from typing import Any

from matplotlib.collections import LineCollection
from matplotlib.figure import Figure

from tunefleet.analysis import Curve, History, Lineage, ParamTable, slices
from tunefleet.plots.style import MARKER_STYLE, normalised_columns, pareto_steps

MAX_LINES = 2000  # parallel coordinates: more lines is ink, not information


class NotebookFigure(Figure):
    """A Figure that shows itself in Jupyter: made without pyplot, a plain Figure has no
    inline display (IPython only knows figures that pyplot registered)."""

    def _repr_png_(self) -> bytes:
        buf = io.BytesIO()
        self.savefig(buf, format="png", dpi=90, bbox_inches="tight")
        return buf.getvalue()


def save(fig: Figure, path: str) -> None:
    fig.savefig(path, dpi=110, bbox_inches="tight")


def history(h: History, title: str) -> Figure:
    fig = NotebookFigure(figsize=(11, 4.2), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    panels = (
        (axes[0], h.time_s, [p[0] for p in h.points], "wall time since start (s)"),
        (axes[1], h.iterations, [p[1] for p in h.points], "training iterations (all trials)"),
    )
    for ax, xs, pxs, label in panels:
        ax.scatter(pxs, [p[2] for p in h.points], s=6, alpha=0.3, color="0.5", label="result")
        ax.step(xs, h.best, where="post", color="C0", linewidth=2, label="best so far")
        ax.set_xlabel(label)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(h.metric)
    axes[0].legend(loc="best", fontsize="small")
    fig.suptitle(f"{title}best {h.metric} so far ({h.mode}), {h.num_results} results")
    return fig


def curves(data: tuple[str, list[Curve]], title: str) -> Figure:
    metric, cs = data
    fig = NotebookFigure(figsize=(9, 5), layout="constrained")
    ax = fig.subplots()
    # one collection, not one Line2D per trial: 10⁵ curves draw in seconds
    segments = [list(zip(c.iterations, c.values, strict=True)) for c in cs if c.values]
    many = len(segments) > 20
    colours = ["C0"] if many else [f"C{k % 10}" for k in range(len(segments))]
    lines = LineCollection(segments, colors=colours, linewidths=1, alpha=0.35 if many else 0.8)
    ax.add_collection(lines)
    ax.autoscale()
    seen: set[str] = set()
    for kind, (marker, color) in MARKER_STYLE.items():
        pts = [
            (m.iteration, m.value)
            for c in cs
            for m in c.markers
            if m.kind == kind and m.value is not None
        ]
        if pts:
            seen.add(kind)
            xs, ys = [p[0] for p in pts], [p[1] for p in pts]
            if marker == "o":  # hollow and larger: a promotion's triangle shows inside it
                style: dict[str, Any] = {"facecolors": "none", "edgecolors": color, "s": 90}
            else:
                style = {"color": color, "s": 36}
            ax.scatter(xs, ys, marker=marker, zorder=3, label=kind, **style)
    ax.set_xlabel("training iteration")
    ax.set_ylabel(metric)
    ax.grid(alpha=0.3)
    if seen:
        ax.legend(loc="best", fontsize="small", title="scheduler")
    ax.set_title(f"{title}learning curves of {len(cs)} trials")
    return fig


def parallel(table: ParamTable, title: str) -> Figure:
    names, cols, ticks = normalised_columns(table)
    order = sorted(range(len(table)), key=lambda i: table.scores[i])
    step = max(1, math.ceil(len(order) / MAX_LINES))
    fig = NotebookFigure(figsize=(max(6, 1.6 * len(names)), 4.8), layout="constrained")
    ax = fig.subplots()
    lo, hi = min(table.scores), max(table.scores)
    cmap = _cmap("viridis")
    xs = list(range(len(names)))
    kept = order[::step]  # worst first, so the best lines are drawn on top
    segments = [list(zip(xs, [col[i] for col in cols], strict=True)) for i in kept]
    shades = [(table.scores[i] - lo) / (hi - lo) if hi > lo else 0.5 for i in kept]
    ax.add_collection(LineCollection(segments, colors=cmap(shades), alpha=0.6, linewidths=1))
    ax.set_xlim(-0.1, len(names) - 0.9)
    for x, labels in zip(xs, ticks, strict=True):
        ax.axvline(x, color="0.3", linewidth=0.8)
        for y, text in labels:
            ax.annotate(text, (x, y), xytext=(3, 0), textcoords="offset points", fontsize=7)
    ax.set_xticks(xs, names)
    ax.set_yticks([])
    ax.set_ylim(-0.08, 1.08)
    fig.colorbar(_mappable(cmap, lo, hi), ax=ax, label=table.metric)
    ax.set_title(f"{title}parallel coordinates of {len(table)} trials", pad=14)
    return fig


def importance(shares: dict[str, float], title: str) -> Figure:
    names = list(shares)[::-1]
    fig = NotebookFigure(figsize=(7, 0.45 * len(names) + 1.6), layout="constrained")
    ax = fig.subplots()
    ax.barh(names, [shares[n] for n in names], color="C0")
    ax.set_xlabel("share of importance (random-forest permutation importance)")
    ax.set_xlim(0, max(1e-9, max(shares.values())) * 1.1)
    ax.grid(axis="x", alpha=0.3)
    ax.set_title(f"{title}parameter importance")
    return fig


def slice(table: ParamTable, title: str) -> Figure:  # noqa: A001 - the kind's name
    parts = slices(table)
    cols = min(3, len(parts))
    rows = math.ceil(len(parts) / cols)
    fig = NotebookFigure(figsize=(4.2 * cols, 3.4 * rows), layout="constrained")
    axes = fig.subplots(rows, cols, sharey=True, squeeze=False).ravel()
    order = list(range(len(table)))
    for ax, s in zip(axes, parts, strict=False):
        if s.categorical:
            pos = {c: k for k, c in enumerate(s.categories)}
            xs = [pos[v] + 0.15 * math.sin(7.0 * i) for i, v in enumerate(s.x)]
            ax.set_xticks(range(len(s.categories)), s.categories)
        else:
            xs = s.x
            if s.log:
                ax.set_xscale("log")
        points = ax.scatter(xs, s.y, c=order, cmap="viridis", s=14, alpha=0.8)
        ax.set_xlabel(s.param)
        ax.grid(alpha=0.3)
    for ax in axes[len(parts) :]:
        ax.set_visible(False)
    axes[0].set_ylabel(table.metric)
    fig.colorbar(points, ax=list(axes[: len(parts)]), label="trial number")
    fig.suptitle(f"{title}{table.metric} against each parameter")
    return fig


def pareto(data: tuple[Any, ...], title: str) -> Figure:
    names, modes, ids, points, front = data
    fig = NotebookFigure(figsize=(6.5, 5), layout="constrained")
    ax = fig.subplots()
    on = set(front)
    rest = [p for i, p in enumerate(points) if i not in on]
    if rest:
        ax.scatter([p[0] for p in rest], [p[1] for p in rest], s=14, color="0.6", label="trial")
    best = [points[i] for i in front]
    ax.scatter([p[0] for p in best], [p[1] for p in best], s=30, color="C3", label="Pareto front")
    xs, ys = pareto_steps(best, modes)
    ax.step(xs, ys, where="post", color="C3", linewidth=1)
    ax.set_xlabel(f"{names[0]} ({modes[0]})")
    ax.set_ylabel(f"{names[1]} ({modes[1]})")
    ax.legend(loc="best", fontsize="small")
    ax.grid(alpha=0.3)
    extra = f" (first two of {len(names)} objectives)" if len(names) > 2 else ""
    ax.set_title(f"{title}{len(front)} of {len(points)} trials on the front{extra}")
    return fig


def lineage(lin: Lineage, title: str) -> Figure:
    lane = {tid: k for k, tid in enumerate(lin.order)}
    fig = NotebookFigure(figsize=(9, 0.35 * len(lin.order) + 1.8), layout="constrained")
    ax = fig.subplots()
    for tid, k in lane.items():
        lo, hi = lin.spans.get(tid, (0.0, 0.0))
        ax.plot([lo, hi], [k, k], color="0.4", linewidth=2, solid_capstyle="butt")
    for e in lin.edges:
        if e.parent not in lane or e.child not in lane:
            continue
        x = e.iteration if e.iteration is not None else lin.spans.get(e.parent, (0, 0))[1]
        ax.annotate(
            "",
            xy=(x, lane[e.child]),
            xytext=(x, lane[e.parent]),
            arrowprops={"arrowstyle": "->", "color": "C3", "alpha": 0.8},
        )
    ax.set_yticks(range(len(lin.order)), lin.order)
    ax.invert_yaxis()
    ax.set_xlabel("training iteration (arrow: donor → trial that copied its checkpoint)")
    ax.grid(axis="x", alpha=0.3)
    ax.set_title(f"{title}PBT lineage: {len(lin.edges)} exploits")
    return fig


def _cmap(name: str) -> Any:
    import matplotlib

    return matplotlib.colormaps[name]


def _mappable(cmap: Any, lo: float, hi: float) -> Any:
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    return ScalarMappable(norm=Normalize(lo, hi if hi > lo else lo + 1), cmap=cmap)
