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
from typing import Any

from tunefleet.dashboard.live import LiveExperiment, short
from tunefleet.results import flatten
from tunefleet.storage.replay import ERROR, TrialSnapshot

SORT_KEYS = ("index", "trial_id", "status", "score", "last", "iteration", "started")
MAX_PAGE = 500


def _f(v: float | None) -> float | None:
    return None if v is None or not math.isfinite(v) else v


def trial_row(live: LiveExperiment, t: TrialSnapshot) -> dict[str, Any]:
    s = live.series.get(t.trial_id)
    return {
        "trial_id": t.trial_id,
        "index": t.index,
        "status": t.status,
        "iteration": int(s.iteration[-1]) if s is not None and len(s.iteration) else 0,
        "results": len(s.iteration) if s is not None else 0,
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
        if status:
            wanted = {s.strip().upper() for s in status.split(",")}
            trials = [t for t in trials if t.status in wanted]
        if q:
            needle = q.lower()
            trials = [t for t in trials if _matches(live, t, needle)]
        key = _sort_key(live, sort)
        # trials without a value sort last either way; only the page asked for is ordered
        keyed = [(k, t.index, t) for t in trials if (k := key(t)) is not None]
        missing = (
            [t for t in trials if key(t) is None] if len(keyed) < len(live.replay.trials) else []
        )
        total = len(keyed) + len(missing)
        want = offset + limit
        pick = heapq.nlargest if desc else heapq.nsmallest
        top = [t for _, _, t in pick(want, keyed, key=lambda r: (r[0], r[1]))]
        if len(top) < want:
            missing.sort(key=lambda t: t.index)
            top += missing[: want - len(top)]
        rows = [trial_row(live, t) for t in top[offset:want]]
        return {"total": total, "offset": offset, "rows": rows, "seq": live.last_seq}


def _matches(live: LiveExperiment, t: TrialSnapshot, needle: str) -> bool:
    """The filter box: a substring of the id, the config (as logged), the status, the error."""
    return (
        needle in live.text.get(t.trial_id, t.trial_id.lower())
        or needle in t.status.lower()
        or (t.error is not None and needle in t.error.lower())
    )


def _sort_key(live: LiveExperiment, sort: str) -> Any:
    if sort == "score":
        return lambda t: live.score(t.trial_id)
    if sort == "last":
        return lambda t: live.last_value(t.trial_id)
    if sort == "iteration":
        return lambda t: len(live.series[t.trial_id].iteration) if t.trial_id in live.series else 0
    return lambda t: getattr(t, sort)


def trial_detail(live: LiveExperiment, tid: str) -> dict[str, Any] | None:
    """Everything about one trial: config, last result, checkpoints, worker, error."""
    with live.lock:
        t = live.replay.trials.get(tid)
        if t is None:
            return None
        s = live.series.get(tid)
        out = trial_row(live, t)
        out.update(
            config=t.config,
            attempt=t.attempt,
            num_failures=t.num_failures,
            checkpoint=t.checkpoint,
            checkpoints=list(s.checkpoints) if s else [],
            worker=s.worker if s else None,
            markers=[{"iteration": i, "kind": k, "detail": d} for i, k, d in s.markers]
            if s
            else [],
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
            chosen = [trial] if trial in live.series else []
        else:
            running = [t for t, s in live.replay.trials.items() if s.status == "RUNNING"]
            skip = set(running)
            scored = [
                (sign * v, tid)
                for tid, s in live.series.items()
                if s.best and (v := s.best[0]) is not None and tid not in skip
            ]
            best = heapq.nsmallest(max(0, max_trials - len(running)), scored)
            chosen = (running + [tid for _, tid in best])[:max_trials]
        for tid in chosen:
            s = live.series[tid]
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
                    "markers": [{"iteration": i, "kind": k, "detail": d} for i, k, d in s.markers],
                }
            )
        total = len(live.series)
    return {"metric": live.metrics[0] if live.metrics else None, "total": total, "curves": out}


def param_sample(live: LiveExperiment, max_trials: int = 2000) -> tuple[dict[str, Any], Any]:
    """Scored trials for parallel coordinates and the metric-vs-parameter scatters: all of
    them up to ``max_trials``, else the best tenth plus a seeded random sample of the rest."""
    from tunefleet.analysis import param_table

    sign = -1.0 if live.modes and live.modes[0] == "max" else 1.0
    with live.lock:
        scored = [
            (tid, t.config, v)
            for tid, t in live.replay.trials.items()
            if (v := live.score(tid)) is not None
        ]
    total = len(scored)
    if total > max_trials:
        top = heapq.nsmallest(max_trials // 10, scored, key=lambda r: sign * r[2])
        chosen = {r[0] for r in top}
        rest = [r for r in scored if r[0] not in chosen]
        scored = top + random.Random(0).sample(rest, max_trials - len(top))
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


def lineage(live: LiveExperiment) -> dict[str, Any]:
    """PBT/PB2 ancestry: each exploit (child took parent's weights) and each spawn."""
    edges = []
    with live.lock:
        for tid, s in live.series.items():
            for it, kind, detail in s.markers:
                if kind == "exploited":
                    edges.append({"child": tid, "parent": detail[5:], "iteration": it})
        for t in live.replay.trials.values():
            if t.parent_trial_id:
                edges.append({"child": t.trial_id, "parent": t.parent_trial_id, "iteration": 0})
    return {"edges": edges[:5000], "total": len(edges)}


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
    """Trials' best values of the first two objectives and which are non-dominated."""
    if len(live.metrics) < 2:
        return None
    from tunefleet.analysis import non_dominated

    with live.lock:
        pts = []
        for tid, s in live.series.items():
            b = s.best
            if all(v is not None for v in b):
                pts.append((tid, [float(v) for v in b if v is not None]))
    front = set(non_dominated([p for _, p in pts], live.modes))
    keep = [i for i in range(len(pts)) if i in front]
    others = [i for i in range(len(pts)) if i not in front]
    if len(keep) + len(others) > max_points:
        others = random.Random(0).sample(others, max(0, max_points - len(keep)))
    return {
        "metrics": live.metrics,
        "modes": live.modes,
        "points": [
            {"trial_id": pts[i][0], "values": pts[i][1], "front": i in front} for i in keep + others
        ],
        "front_size": len(keep),
    }
