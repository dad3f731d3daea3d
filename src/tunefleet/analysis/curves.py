"""Learning curves of every trial, with what the scheduler did to each marked on them.

Markers come from the log's lifecycle records: ``paused`` (trial_paused), ``resumed`` (a
start after a pause: ASHA/Hyperband promotion), ``exploited`` (trial_restarted: PBT/PB2
copied another trial's checkpoint and config), ``stopped`` (trial_completed with
``stopped``, or a trial that ended while paused: an early-stopping decision), ``failed``
(a failure that is retried) and ``error`` (the trial's final failure). A marker sits at the
trial's last reported iteration and value at that moment.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

from tunefleet.analysis.history import number
from tunefleet.protocol import (
    RESULT,
    TRIAL_COMPLETED,
    TRIAL_CREATED,
    TRIAL_FAILED,
    TRIAL_PAUSED,
    TRIAL_RESTARTED,
    TRIAL_STARTED,
    Record,
)

CURVE_KINDS = (
    TRIAL_CREATED,
    TRIAL_STARTED,
    RESULT,
    TRIAL_PAUSED,
    TRIAL_RESTARTED,
    TRIAL_FAILED,
    TRIAL_COMPLETED,
)
MARKERS = ("paused", "resumed", "exploited", "stopped", "failed", "error")


@dataclass(slots=True)
class Marker:
    kind: str  # one of MARKERS
    iteration: float
    value: float | None  # the metric at that point (None before the first result)
    detail: str = ""  # exploited: the donor trial; failed/error: the error's first line


@dataclass(slots=True)
class Curve:
    trial_id: str
    index: int
    iterations: list[float] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    markers: list[Marker] = field(default_factory=list)
    status: str = "PENDING"


def curves(
    records: Iterable[Record], metric: str, max_points_per_trial: int | None = None
) -> list[Curve]:
    """One curve per trial in creation order, from records of ``CURVE_KINDS``.

    A result without a finite ``metric`` adds no point but still moves the trial's
    iteration. ``max_points_per_trial`` strides long curves (the last point is kept)."""
    by_id: dict[str, Curve] = {}
    last_it: dict[str, float] = {}
    last_val: dict[str, float | None] = {}
    paused: set[str] = set()

    def curve(tid: str) -> Curve:
        c = by_id.get(tid)
        if c is None:
            c = by_id[tid] = Curve(tid, len(by_id))
        return c

    def mark(tid: str, kind: str, detail: str = "") -> None:
        c = curve(tid)
        c.markers.append(Marker(kind, last_it.get(tid, 0.0), last_val.get(tid), detail))

    for rec in records:
        tid = rec.trial_id or ""
        kind = rec.kind
        data = rec.data
        if kind == RESULT:
            c = curve(tid)
            it = number(data.get("training_iteration"))
            it = it if it is not None else last_it.get(tid, 0.0) + 1
            last_it[tid] = it
            x = number(data.get(metric))
            if x is not None:
                c.iterations.append(it)
                c.values.append(x)
                last_val[tid] = x
        elif kind == TRIAL_CREATED:
            c = curve(tid)
            c.index = int(data.get("index", c.index))
        elif kind == TRIAL_PAUSED:
            paused.add(tid)
            curve(tid).status = "PAUSED"
            mark(tid, "paused")
        elif kind == TRIAL_STARTED:
            curve(tid).status = "RUNNING"
            if tid in paused:
                paused.discard(tid)
                mark(tid, "resumed")
        elif kind == TRIAL_RESTARTED:
            mark(tid, "exploited", str(data.get("from_trial") or ""))
            donor_it = number(data.get("iteration"))
            if donor_it is not None:  # it continues from the donor's checkpoint, there
                last_it[tid] = donor_it
            curve(tid).status = "PENDING"
        elif kind == TRIAL_FAILED:
            retry = bool(data.get("will_retry"))
            mark(tid, "failed" if retry else "error", _first_line(data.get("error")))
            curve(tid).status = "PENDING" if retry else "ERROR"
        elif kind == TRIAL_COMPLETED:
            c = curve(tid)
            if data.get("status") == "ERROR":
                if c.status != "ERROR":  # not already marked by its trial_failed
                    mark(tid, "error", _first_line(data.get("error")))
                c.status = "ERROR"
            else:
                if data.get("stopped") or tid in paused:
                    if not (c.markers and c.markers[-1].kind == "paused" and tid in paused):
                        mark(tid, "stopped")
                    else:  # ended at the rung it paused at: the pause was the stop
                        c.markers[-1].kind = "stopped"
                c.status = "TERMINATED"
            paused.discard(tid)
    out = sorted(by_id.values(), key=lambda c: c.index)
    if max_points_per_trial is not None and max_points_per_trial > 0:
        for c in out:
            _thin(c, max_points_per_trial)
    return out


def _thin(c: Curve, limit: int) -> None:
    n = len(c.iterations)
    if n <= limit:
        return
    step = math.ceil(n / limit)
    keep = list(range(0, n, step))
    if keep[-1] != n - 1:
        keep.append(n - 1)
    c.iterations = [c.iterations[i] for i in keep]
    c.values = [c.values[i] for i in keep]


def _first_line(text: object) -> str:
    s = str(text or "").strip()
    return s.splitlines()[0][:120] if s else ""
