"""PBT/PB2 ancestry: which trial copied which, when, and what it changed.

An exploit (``trial_restarted``, Jaderberg et al. 2017, "Population Based Training of
Neural Networks") makes a trial continue from a donor's checkpoint with a perturbed copy of
the donor's config; a trial created with a ``parent`` started from one. Each is an
:class:`Edge` from donor to recipient at the donor's checkpoint iteration. ``spans`` gives
each trial's first and last reported iteration, so a plot can draw one lane per trial.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from tunefleet.analysis.history import number
from tunefleet.protocol import RESULT, TRIAL_CREATED, TRIAL_RESTARTED, Record
from tunefleet.results import flatten

LINEAGE_KINDS = (TRIAL_CREATED, RESULT, TRIAL_RESTARTED)


@dataclass(slots=True)
class Edge:
    parent: str  # the donor
    child: str  # the trial that continued from the donor's checkpoint
    iteration: float | None  # the donor's checkpoint iteration
    ts: float
    changed: dict[str, tuple[Any, Any]] = field(default_factory=dict)  # key: (old, new)


@dataclass(slots=True)
class Lineage:
    edges: list[Edge]
    spans: dict[str, tuple[float, float]]  # trial: (first, last iteration reported)
    order: list[str]  # trials in creation order

    def ancestors(self, trial_id: str) -> list[str]:
        """Donors of ``trial_id`` back to the root, latest first (one step per exploit)."""
        out: list[str] = []
        seen = {trial_id}
        current = trial_id
        while True:
            into = [e for e in self.edges if e.child == current]
            if not into:
                return out
            parent = into[-1].parent
            if parent in seen:
                return out
            out.append(parent)
            seen.add(parent)
            current = parent


def lineage(records: Iterable[Record]) -> Lineage:
    """Edges and spans from records of ``LINEAGE_KINDS``, in log order."""
    configs: dict[str, dict[str, Any]] = {}
    spans: dict[str, tuple[float, float]] = {}
    order: list[str] = []
    edges: list[Edge] = []
    for rec in records:
        tid = rec.trial_id or ""
        data = rec.data
        if rec.kind == TRIAL_CREATED:
            order.append(tid)
            configs[tid] = flatten(data.get("config") or {})
            if data.get("parent"):
                it = number(data.get("checkpoint_iteration"))
                edges.append(Edge(str(data["parent"]), tid, it, rec.ts))
        elif rec.kind == TRIAL_RESTARTED:
            new = flatten(data.get("config") or {})
            old = configs.get(tid, {})
            changed = {k: (old.get(k), v) for k, v in new.items() if old.get(k) != v}
            configs[tid] = new
            edges.append(
                Edge(
                    str(data.get("from_trial") or ""),
                    tid,
                    number(data.get("iteration")),
                    rec.ts,
                    changed,
                )
            )
        elif rec.kind == RESULT:
            it = number(rec.data.get("training_iteration"))
            if it is None:
                continue
            lo, hi = spans.get(tid, (it, it))
            spans[tid] = (min(lo, it), max(hi, it))
    return Lineage(edges, spans, order)
