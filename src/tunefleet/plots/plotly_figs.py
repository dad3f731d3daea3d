"""The seven kinds as interactive plotly figures (HTML).

Hover shows what a static image cannot: each point's trial, a marker's reason (the donor
of an exploit, the error), the config a PBT exploit changed. ``save`` embeds plotly.js in
the file so that it opens without a network.
"""

from __future__ import annotations

import html
import math
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from tunefleet.analysis import Curve, History, Lineage, ParamTable, slices
from tunefleet.plots.style import MARKER_STYLE, PLOTLY_SYMBOL, pareto_steps

MAX_LINES = 5000
MAX_TRACES = 50  # curves: one trace per trial up to this many


def save(fig: go.Figure, path: str) -> None:
    fig.write_html(path, include_plotlyjs=True, full_html=True)


def _layout(fig: go.Figure, title: str) -> go.Figure:
    fig.update_layout(title=html.escape(title), template="plotly_white", hovermode="closest")
    return fig


def history(h: History, title: str) -> go.Figure:
    fig = make_subplots(
        rows=1,
        cols=2,
        shared_yaxes=True,
        subplot_titles=("over wall time", "over compute"),
    )
    panels = (
        (1, h.time_s, 0, "wall time since start (s)"),
        (2, h.iterations, 1, "training iterations"),
    )
    for col, xs, k, label in panels:
        fig.add_trace(
            go.Scattergl(
                x=[p[k] for p in h.points],
                y=[p[2] for p in h.points],
                mode="markers",
                marker={"size": 4, "color": "rgba(120,120,120,0.35)"},
                name="result",
                showlegend=col == 1,
            ),
            row=1,
            col=col,
        )
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=h.best,
                mode="lines",
                line={"shape": "hv", "width": 2.5, "color": "#1f77b4"},
                name="best so far",
                text=h.trial_ids,
                hovertemplate="%{y}<br>trial %{text}<extra></extra>",
                showlegend=col == 1,
            ),
            row=1,
            col=col,
        )
        fig.update_xaxes(title_text=label, row=1, col=col)
    fig.update_yaxes(title_text=h.metric, row=1, col=1)
    return _layout(fig, f"{title}best {h.metric} so far ({h.mode}), {h.num_results} results")


def curves(data: tuple[str, list[Curve]], title: str) -> go.Figure:
    metric, cs = data
    fig = go.Figure()
    if len(cs) > MAX_TRACES:  # one WebGL trace, curves split by gaps: stays responsive
        xs: list[float | None] = []
        ys: list[float | None] = []
        who: list[str] = []
        for c in cs:
            xs += [*c.iterations, None]
            ys += [*c.values, None]
            who += [c.trial_id] * (len(c.values) + 1)
        fig.add_trace(
            go.Scattergl(
                x=xs,
                y=ys,
                mode="lines",
                name="trials",
                text=who,
                line={"width": 1, "color": "rgba(31,119,180,0.35)"},
                hovertemplate=f"trial %{{text}}<br>iter %{{x}}<br>{metric} %{{y}}<extra></extra>",
            )
        )
    for c in cs if len(cs) <= MAX_TRACES else ():
        fig.add_trace(
            go.Scatter(
                x=c.iterations,
                y=c.values,
                mode="lines",
                name=c.trial_id,
                line={"width": 1},
                opacity=0.7,
                hovertemplate=f"trial {c.trial_id}<br>iter %{{x}}<br>{metric} %{{y}}<extra></extra>",
            )
        )
    for kind, (marker, color) in MARKER_STYLE.items():
        hits = [(c, m) for c in cs for m in c.markers if m.kind == kind and m.value is not None]
        if not hits:
            continue
        fig.add_trace(
            go.Scatter(
                x=[m.iteration for _, m in hits],
                y=[m.value for _, m in hits],
                mode="markers",
                name=kind,
                marker={"symbol": PLOTLY_SYMBOL[marker], "size": 10, "color": color},
                text=[
                    f"trial {c.trial_id}: {kind}" + (f" ({m.detail})" if m.detail else "")
                    for c, m in hits
                ],
                hovertemplate="%{text}<extra></extra>",
            )
        )
    fig.update_xaxes(title_text="training iteration")
    fig.update_yaxes(title_text=metric)
    return _layout(fig, f"{title}learning curves of {len(cs)} trials")


def parallel(table: ParamTable, title: str) -> go.Figure:
    keep = list(range(len(table)))[:: max(1, math.ceil(len(table) / MAX_LINES))]
    dims = []
    for p in table.params:
        vals = [math.log10(p.values[i]) if p.log else p.values[i] for i in keep]
        dim: dict[str, Any] = {"label": p.name + (" (log10)" if p.log else ""), "values": vals}
        if p.categorical:
            dim["tickvals"] = list(range(len(p.categories)))
            dim["ticktext"] = p.categories
        dims.append(dim)
    scores = [table.scores[i] for i in keep]
    dims.append({"label": table.metric, "values": scores})
    fig = go.Figure(
        go.Parcoords(
            line={"color": scores, "colorscale": "Viridis", "showscale": True},
            dimensions=dims,
        )
    )
    return _layout(fig, f"{title}parallel coordinates of {len(table)} trials")


def importance(shares: dict[str, float], title: str) -> go.Figure:
    names = list(shares)[::-1]
    fig = go.Figure(go.Bar(x=[shares[n] for n in names], y=names, orientation="h"))
    fig.update_xaxes(title_text="share of importance (random-forest permutation importance)")
    return _layout(fig, f"{title}parameter importance")


def slice(table: ParamTable, title: str) -> go.Figure:  # noqa: A001 - the kind's name
    parts = slices(table)
    cols = min(3, len(parts))
    rows = math.ceil(len(parts) / cols)
    fig = make_subplots(rows=rows, cols=cols, shared_yaxes=True)
    for k, s in enumerate(parts):
        r, c = k // cols + 1, k % cols + 1
        fig.add_trace(
            go.Scatter(
                x=s.x,
                y=s.y,
                mode="markers",
                name=s.param,
                text=s.trial_ids,
                hovertemplate=f"trial %{{text}}<br>{s.param} %{{x}}<br>{table.metric} %{{y}}<extra></extra>",
                marker={"color": list(range(len(s.y))), "colorscale": "Viridis", "size": 6},
                showlegend=False,
            ),
            row=r,
            col=c,
        )
        fig.update_xaxes(title_text=s.param, type="log" if s.log else None, row=r, col=c)
    fig.update_yaxes(title_text=table.metric, row=1, col=1)
    return _layout(fig, f"{title}{table.metric} against each parameter")


def pareto(data: tuple[Any, ...], title: str) -> go.Figure:
    names, modes, ids, points, front = data
    on = set(front)
    fig = go.Figure()
    rest = [i for i in range(len(points)) if i not in on]
    for label, idx, color in (("trial", rest, "#999999"), ("Pareto front", list(front), "#d62728")):
        fig.add_trace(
            go.Scatter(
                x=[points[i][0] for i in idx],
                y=[points[i][1] for i in idx],
                mode="markers",
                name=label,
                text=[ids[i] for i in idx],
                hovertemplate="trial %{text}<br>%{x}, %{y}<extra></extra>",
                marker={"color": color, "size": 8},
            )
        )
    xs, ys = pareto_steps([points[i] for i in front], modes)
    fig.add_trace(
        go.Scatter(
            x=xs, y=ys, mode="lines", line={"shape": "hv", "color": "#d62728"}, showlegend=False
        )
    )
    fig.update_xaxes(title_text=f"{names[0]} ({modes[0]})")
    fig.update_yaxes(title_text=f"{names[1]} ({modes[1]})")
    return _layout(fig, f"{title}{len(front)} of {len(points)} trials on the front")


def lineage(lin: Lineage, title: str) -> go.Figure:
    lane = {tid: k for k, tid in enumerate(lin.order)}
    fig = go.Figure()
    for tid, k in lane.items():
        lo, hi = lin.spans.get(tid, (0.0, 0.0))
        fig.add_trace(
            go.Scatter(
                x=[lo, hi],
                y=[k, k],
                mode="lines",
                line={"color": "#666666", "width": 3},
                name=tid,
                hovertemplate=f"trial {tid}<extra></extra>",
                showlegend=False,
            )
        )
    for e in lin.edges:
        if e.parent not in lane or e.child not in lane:
            continue
        x = e.iteration if e.iteration is not None else lin.spans.get(e.parent, (0, 0))[1]
        changed = ", ".join(f"{k}: {old!r} → {new!r}" for k, (old, new) in e.changed.items())
        fig.add_annotation(
            x=x,
            y=lane[e.child],
            ax=x,
            ay=lane[e.parent],
            xref="x",
            yref="y",
            axref="x",
            ayref="y",
            showarrow=True,
            arrowhead=2,
            arrowcolor="#d62728",
            hovertext=html.escape(f"{e.parent} → {e.child} at {x}: {changed or 'same config'}"),
        )
    fig.update_yaxes(tickvals=list(lane.values()), ticktext=list(lane), autorange="reversed")
    fig.update_xaxes(title_text="training iteration (arrow: donor → trial that copied it)")
    return _layout(fig, f"{title}PBT lineage: {len(lin.edges)} exploits")
