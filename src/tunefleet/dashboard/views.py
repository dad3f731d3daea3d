"""The dashboard's answers, as plain JSON-ready dicts built from a :class:`LiveExperiment`.

Every answer is bounded whatever the experiment's size: tables are paged, curves are
thinned to a fixed number of points and drawn for a bounded set of trials (the best ones
and the running ones), parameter views sample a bounded set of trials. So an answer costs
O(trials) at most, never O(results) (DESIGN.md §6: 10⁷ results per experiment).
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Iterable
from operator import itemgetter
from typing import Any

from tunefleet.dashboard.live import STATUSES, LiveExperiment, short
from tunefleet.results import flatten
from tunefleet.storage.replay import ERROR, TrialSnapshot

SORT_KEYS = ("index", "trial_id", "status", "score", "last", "iteration", "started")
MAX_PAGE = 500


def _f(v: float | None) -> float | None:
    return None if v is None or not math.isfinite(v) else v


def trial_row(live: LiveExperiment, t: TrialSnapshot) -> dict[str, Any]:
    tid = t.trial_id
    return {
        "trial_id": tid,
        "index": t.index,
        "status": t.status,
        "iteration": int(live.last_it.get(tid, 0)),
        "results": live.counts.get(tid, 0),
        "score": _f(live.score(t.trial_id)),
        "last": _f(live.last_value(t.trial_id)),
        "config": flatten(t.config),
        "parent": t.parent_trial_id,
        "started": t.started,
        "finished": t.finished,
        "error": (t.error or "").split("\n", 1)[0] or None,
    }


def trials_page(
    live: LiveExperiment,
    sort: str = "index",
    desc: bool = False,
    q: str = "",
    status: str = "",
    offset: int = 0,
    limit: int = 100,
) -> dict[str, Any]:
    """One page of the trial table, sorted and filtered on the server."""
    if sort not in SORT_KEYS:
        raise ValueError(f"sort: must be one of {', '.join(SORT_KEYS)}, got {sort!r}")
    limit = max(1, min(limit, MAX_PAGE))
    with live.lock:
        trials: Iterable[TrialSnapshot] = live.replay.trials.values()
        wanted = {s.strip().upper() for s in status.split(",")} if status else None
        want = offset + limit
        by_row = len(live.text.ids) == len(live.replay.trials)  # every trial has a row
        if by_row and ((q and sort == "index") or sort in live.by_row):
            top, total = _filtered_rows(live, q, wanted, sort, desc, want)
        else:
            if q or wanted:
                trials = _filtered(live, trials, q, wanted, ordered=sort == "index")
            if sort == "index":  # the log's order (a filtered list keeps it): no sort
                ordered = trials if isinstance(trials, list) else list(trials)
                total = len(ordered)
                top = (ordered[::-1] if desc else ordered)[:want]
            else:
                top, total = _select(live, trials, sort, desc, want)
        rows = [trial_row(live, t) for t in top[offset:want]]
        return {"total": total, "offset": offset, "rows": rows, "seq": live.last_seq}


def _matching_rows(live: LiveExperiment, q: str) -> list[int] | set[int]:
    """The text index's row numbers of the trials whose id, logged config, status or error
    holds ``q`` (case-insensitive): the config through the index, the status by status
    name, the error among the few trials that have one."""
    needle = q.lower()
    every = live.replay.trials
    text = live.text
    rows: list[int] | set[int] = text.search(needle)
    by_status = {st for st in STATUSES if needle in st.lower()}
    extra = [
        tid
        for tid in live.errors
        if (t := every.get(tid)) is not None and t.error is not None and needle in t.error.lower()
    ]
    if by_status:
        extra += [t.trial_id for t in every.values() if t.status in by_status]
    if extra:
        rowid = text.rowid
        merged = set(rows)
        merged.update(r for tid in extra if (r := rowid.get(tid)) is not None)
        rows = merged
    return rows


def _filtered_rows(
    live: LiveExperiment, q: str, wanted: set[str] | None, sort: str, desc: bool, want: int
) -> tuple[list[TrialSnapshot], int]:
    """A page filtered by text and status, ordered by the log or by a per-trial number:
    over the row numbers, with the per-version numpy columns (:mod:`.columns`)."""
    import numpy as np

    from tunefleet.dashboard import columns

    ids = live.text.ids
    if q:
        rows = np.fromiter(sorted(_matching_rows(live, q)), dtype=np.int64)
    else:
        rows = np.arange(len(ids), dtype=np.int64)
    if wanted:
        codes = columns.status_codes(live)[rows]
        rows = rows[np.isin(codes, [i for i, st in enumerate(STATUSES) if st in wanted])]
    top_rows, total = columns.select(live, rows, sort, desc, want)
    get = live.replay.trials.get
    return [t for r in top_rows if (t := get(ids[r])) is not None], total


def _filtered(
    live: LiveExperiment,
    trials: Iterable[TrialSnapshot],
    q: str,
    wanted: set[str] | None,
    ordered: bool,
) -> list[TrialSnapshot]:
    """The trials whose status is ``wanted`` and whose id, logged config, status or error
    holds ``q`` (case-insensitive): the config through the text index, the status by
    status name, the error among the few trials that have one. In the log's order if
    ``ordered`` (the index numbers trials as they were first logged)."""
    if not q:
        return [t for t in trials if t.status in wanted] if wanted else list(trials)
    every = live.replay.trials
    text = live.text
    rows = _matching_rows(live, q)
    if ordered:
        rows = sorted(rows)
    ids = text.ids
    get = every.get
    out = [t for r in rows if (t := get(ids[r])) is not None]
    if wanted:
        out = [t for t in out if t.status in wanted]
    return out


def _select(
    live: LiveExperiment, trials: Iterable[TrialSnapshot], sort: str, desc: bool, want: int
) -> tuple[list[TrialSnapshot], int]:
    """The first ``want`` trials in the order asked (trials without a value last) and how
    many there are: heap selection, O(n log want), not a full sort; for the scores, over
    the (trial, value) dict itself, with C-level keys."""
    every = live.replay.trials
    subset = trials if isinstance(trials, list) else None
    pick = heapq.nlargest if desc else heapq.nsmallest
    if sort in ("score", "last", "iteration"):
        values: dict[str, float] = {
            "score": live.scores,
            "last": live.lasts,
            "iteration": live.last_it,
        }[sort]
        items: Iterable[tuple[str, float]] = values.items()
        if subset is not None:
            get = values.get
            items = [(t.trial_id, v) for t in subset if (v := get(t.trial_id)) is not None]
        top = [every[tid] for tid, _ in pick(want, items, key=itemgetter(1)) if tid in every]
        has_value: Any = values
    else:
        key = _sort_key(live, sort)
        keyed = [(k, t.index, t) for t in (subset or every.values()) if (k := key(t)) is not None]
        top = [r[2] for r in pick(want, keyed, key=lambda r: (r[0], r[1]))]
        has_value = {r[2].trial_id for r in keyed}
    pool = subset if subset is not None else list(every.values())
    if len(top) < want:
        top += [t for t in pool if t.trial_id not in has_value][: want - len(top)]
    return top, len(pool)


def _sort_key(live: LiveExperiment, sort: str) -> Any:
    return lambda t: getattr(t, sort)


def trial_detail(live: LiveExperiment, tid: str) -> dict[str, Any] | None:
    """Everything about one trial: config, last result, checkpoints, worker, error."""
    live.ensure_series([tid])  # reads the file without the model's lock
    with live.lock:
        t = live.replay.trials.get(tid)
        if t is None:
            return None
        info = live.info.get(tid)
        out = trial_row(live, t)
        out.update(
            config=t.config,
            attempt=t.attempt,
            num_failures=t.num_failures,
            checkpoint=t.checkpoint,
            checkpoints=list(info.checkpoints) if info else [],
            worker=info.worker if info else None,
            markers=live.markers(tid),
            error=t.error,
            traceback=t.traceback,
        )
    last = live.last_result(tid)
    out["last_result"] = last
    if last is not None and out["worker"] is None:
        for k in ("worker", "hostname", "node_ip", "pid"):
            if last.get(k) is not None:
                out["worker"] = f"{k}={last[k]}"
                break
    return out


def _thin(n: int, limit: int) -> range:
    step = max(1, math.ceil(n / limit))
    return range(0, n, step)


def history(live: LiveExperiment, max_points: int = 2000) -> dict[str, Any]:
    """Best so far over wall time and over compute: the improvements only (a step plot)."""
    with live.lock:
        imps = list(live.improvements)
        start = live.first_ts or 0.0
        end = {
            "time": (live.last_ts or start) - start,
            "compute": live.compute,
            "results": live.num_results,
        }
    idx = list(_thin(len(imps), max_points))
    if imps and idx[-1] != len(imps) - 1:
        idx.append(len(imps) - 1)
    pts = [imps[i] for i in idx]
    return {
        "metric": live.metrics[0] if live.metrics else None,
        "mode": live.modes[0] if live.modes else None,
        "time": [p.ts - start for p in pts],
        "compute": [p.compute for p in pts],
        "results": [p.results for p in pts],
        "best": [p.value for p in pts],
        "trial": [p.trial_id for p in pts],
        "end": end,
    }


def curves(
    live: LiveExperiment, max_trials: int = 200, max_points: int = 200, trial: str = ""
) -> dict[str, Any]:
    """Learning curves of up to ``max_trials`` trials (running ones and the best), each
    thinned to ``max_points`` points, with the scheduler's decisions as markers."""
    out = []
    sign = -1.0 if live.modes and live.modes[0] == "max" else 1.0
    with live.lock:
        if trial:
            chosen = [trial] if trial in live.counts else []
        else:
            running = [t for t, s in live.replay.trials.items() if s.status == "RUNNING"]
            skip = set(running)
            room = max(0, max_trials - len(running))
            pick = heapq.nlargest if sign < 0 else heapq.nsmallest
            best = pick(room + len(skip), live.scores.items(), key=itemgetter(1))
            chosen = (running + [tid for tid, _ in best if tid not in skip][:room])[:max_trials]
    live.ensure_series(chosen)  # reads the file without the model's lock
    with live.lock:
        for tid in chosen:
            s = live.series.get(tid)
            if s is None:
                continue
            n = len(s.iteration)
            idx = list(_thin(n, max_points))
            if n and idx[-1] != n - 1:
                idx.append(n - 1)  # the last point always: a stopped curve ends at its rung
            vals = s.values[0] if s.values else None
            out.append(
                {
                    "trial_id": tid,
                    "x": [float(s.iteration[i]) for i in idx],
                    "y": [None if vals is None else short(vals[i]) for i in idx],
                    "markers": live.markers(tid),
                }
            )
        total = len(live.counts)
    return {"metric": live.metrics[0] if live.metrics else None, "total": total, "curves": out}


def param_sample(live: LiveExperiment, max_trials: int = 2000) -> tuple[dict[str, Any], Any]:
    """Scored trials for parallel coordinates and the metric-vs-parameter scatters: all of
    them up to ``max_trials``, else the best tenth plus a seeded random sample of the rest."""
    from tunefleet.analysis import param_table

    scored, total = scored_sample(live, max_trials)
    table = param_table(scored, metric=live.metrics[0] if live.metrics else "score")
    params = [
        {
            "name": p.name,
            "categorical": p.categorical,
            "log": p.log,
            "categories": p.categories,
            "values": p.values,
        }
        for p in table.params
    ]
    return {
        "metric": table.metric,
        "mode": live.modes[0] if live.modes else None,
        "trial_ids": table.trial_ids,
        "scores": table.scores,
        "params": params,
        "sampled": total > max_trials,
        "total": total,
    }, table


def scored_sample(
    live: LiveExperiment, max_trials: int
) -> tuple[list[tuple[str, Any, float]], int]:
    """(trial_id, config, score) of the sample :func:`param_sample` draws, and how many
    trials have a score."""
    sign = -1.0 if live.modes and live.modes[0] == "max" else 1.0
    with live.lock:
        trials = live.replay.trials
        scores = live.scores
        total = len(scores)
        if total > max_trials:
            pick = heapq.nlargest if sign < 0 else heapq.nsmallest
            top = [tid for tid, _ in pick(max_trials // 10, scores.items(), key=itemgetter(1))]
            chosen = set(top)
            every = list(scores)  # C-level; sample positions, then drop the top ones
            picks = random.Random(0).sample(range(len(every)), max_trials)
            rest = [tid for i in picks if (tid := every[i]) not in chosen]
            ids = top + rest[: max_trials - len(top)]
        else:
            ids = list(scores)
        scored = [(tid, trials[tid].config, scores[tid]) for tid in ids if tid in trials]
    return scored, total


def lineage(live: LiveExperiment) -> dict[str, Any]:
    """PBT/PB2 ancestry: each exploit (child took parent's weights) and each spawn."""
    with live.lock:
        edges = live.edges[-5000:]
        total = len(live.edges)
    return {"edges": edges, "total": total}


def errors(live: LiveExperiment, limit: int = 200) -> dict[str, Any]:
    with live.lock:
        failed = [t for t in live.replay.trials.values() if t.status == ERROR or t.error]
        rows = [
            {
                "trial_id": t.trial_id,
                "status": t.status,
                "error": t.error,
                "traceback": t.traceback,
                "failures": t.num_failures,
            }
            for t in failed[:limit]
        ]
    return {"total": len(failed), "rows": rows}


def pareto(live: LiveExperiment, max_points: int = 5000) -> dict[str, Any] | None:
    """Each trial's last values of every objective (as Results.pareto_front ranks them)
    and which are non-dominated over all objectives; the page plots any pair of them."""
    if len(live.metrics) < 2:
        return None
    import numpy as np

    from tunefleet.pareto import pareto_front

    with live.lock:
        tids = list(live.last_values)
        # from a generator: 3x faster than np.array of 10⁵ lists, and not one C call
        # holding the GIL for ~50 ms (a request waits for none of it)
        values = live.last_values.values()
        arr = np.fromiter((v for vs in values for v in vs), dtype=float)
    arr = arr.reshape(len(tids), len(live.metrics))
    eligible = np.flatnonzero(~np.isnan(arr).any(axis=1))
    arr = arr[eligible]
    cand = _front_candidates(arr, live.modes)
    front_in_cand = pareto_front(arr[cand].tolist(), live.modes)
    front = cand[front_in_cand]
    on = np.zeros(len(arr), dtype=bool)
    on[front] = True
    others = np.flatnonzero(~on)
    if len(front) + len(others) > max_points:
        rng = np.random.default_rng(0)
        others = np.sort(rng.choice(others, max(0, max_points - len(front)), replace=False))
    points = [
        {"trial_id": tids[eligible[i]], "values": arr[i].tolist(), "front": bool(on[i])}
        for i in [*front.tolist(), *others.tolist()]
    ]
    return {
        "metrics": live.metrics,
        "modes": live.modes,
        "points": points,
        "front_size": len(front),
        "total": len(arr),
    }


def _front_candidates(arr: Any, modes: list[str], anchors: int = 16) -> Any:
    """Indices of the points that no "anchor" dominates: the minimisers of random positive
    weightings of the (scaled) objectives, each of them on the front. Dominance is
    transitive, so every point off the front stays dominated by one that is kept, and the
    front of what is kept is the front of all (tunefleet.pareto computes it on far fewer
    points)."""
    import numpy as np

    n = len(arr)
    if n <= 1000:
        return np.arange(n)
    signs = np.array([1.0 if m == "min" else -1.0 for m in modes])
    pts = arr * signs
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    scaled = (pts - lo) / np.where(hi > lo, hi - lo, 1.0)
    rng = np.random.default_rng(0)
    weights = rng.dirichlet(np.ones(len(modes)), size=anchors) + 1e-6
    best = np.unique(np.argmin(weights @ scaled.T, axis=1))
    cols = [np.ascontiguousarray(pts[:, j]) for j in range(len(modes))]
    keep = np.ones(n, dtype=bool)
    for a in best:
        ge = np.ones(n, dtype=bool)
        gt = np.zeros(n, dtype=bool)
        for j, c in enumerate(cols):
            ge &= c >= pts[a, j]
            gt |= c > pts[a, j]
        keep &= ~(ge & gt)
    return np.flatnonzero(keep)
