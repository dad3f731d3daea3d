"""Best-so-far over wall time and over compute: the anytime performance of a sweep.

Every reported result counts (Ray's ``scope="all"``), so a value seen at a low fidelity
before a scheduler stopped its trial is a value the sweep had found by then. Only the
points where the best improves are kept (plus the last one), so the series is small even
for 10⁷ results; ``points`` keeps an evenly strided sample of the raw results to draw.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from tunefleet.protocol import EXPERIMENT_STARTED, RESULT, Record

HISTORY_KINDS = (EXPERIMENT_STARTED, RESULT)


def number(v: object) -> float | None:
    """A finite float, or None for anything else (bools, strings, NaN, ±inf)."""
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    x = float(v)
    return x if math.isfinite(x) else None


def best_so_far(values: Sequence[float | None], mode: str) -> list[float | None]:
    """Running best of ``values`` under ``mode`` ('min'/'max'); None until a finite value."""
    if mode not in ("min", "max"):
        raise ValueError(f"mode: must be 'min' or 'max', got {mode!r}")
    out: list[float | None] = []
    best: float | None = None
    for v in values:
        x = number(v)
        if x is not None and (best is None or (x > best if mode == "max" else x < best)):
            best = x
        out.append(best)
    return out


@dataclass(slots=True)
class History:
    """Step points of the best-so-far: the i-th best was reached at ``time_s[i]`` seconds
    after the experiment started (the latest result timestamp seen so far), after ``iterations[i]`` results (training iterations of
    all trials together) and ``compute_s[i]`` summed training seconds, by ``trial_ids[i]``."""

    metric: str
    mode: str
    time_s: list[float] = field(default_factory=list)
    iterations: list[int] = field(default_factory=list)
    compute_s: list[float] = field(default_factory=list)
    best: list[float] = field(default_factory=list)
    trial_ids: list[str] = field(default_factory=list)
    # a sample of every result: (time_s, iterations, value)
    points: list[tuple[float, int, float]] = field(default_factory=list)
    num_results: int = 0


def history(records: Iterable[Record], metric: str, mode: str, max_points: int = 5000) -> History:
    """Best-so-far of ``metric`` from an experiment's records (``HISTORY_KINDS`` suffice)."""
    if mode not in ("min", "max"):
        raise ValueError(f"mode: must be 'min' or 'max', got {mode!r}")
    h = History(metric, mode)
    start: float | None = None
    raw: list[tuple[float, int, float]] = []
    count = 0
    compute = 0.0
    best: float | None = None
    last: tuple[float, int, float] | None = None
    for rec in records:
        if rec.kind == EXPERIMENT_STARTED:
            start = rec.ts if start is None else start
            continue
        if rec.kind != RESULT:
            continue
        if start is None:
            start = rec.ts
        count += 1
        compute += number(rec.data.get("time_this_iter_s")) or 0.0
        x = number(rec.data.get(metric))
        # workers stamp their results and batches arrive interleaved: the running maximum
        # is when the driver could have known the value, and keeps the time axis monotone
        t = max(rec.ts - start, last[0] if last is not None else 0.0)
        last = (t, count, compute)
        if x is None:
            continue
        raw.append((t, count, x))
        if best is None or (x > best if mode == "max" else x < best):
            best = x
            h.time_s.append(t)
            h.iterations.append(count)
            h.compute_s.append(compute)
            h.best.append(x)
            h.trial_ids.append(rec.trial_id or "")
    if best is not None and last is not None and h.iterations[-1] != count:
        # the flat tail up to the last result, so the line reaches the end of the sweep
        h.time_s.append(last[0])
        h.iterations.append(last[1])
        h.compute_s.append(last[2])
        h.best.append(best)
        h.trial_ids.append(h.trial_ids[-1])
    step = max(1, math.ceil(len(raw) / max(1, max_points)))
    h.points = raw[::step]
    h.num_results = count
    return h
