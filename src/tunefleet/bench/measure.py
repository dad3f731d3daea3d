"""Turn a system's raw reports into the figures people compare tuning systems on.

Definitions (also in docs/benchmarks.md):

* time to target: from the start of the sweep call (cluster start-up included) to the
  first report whose metric reaches the target;
* trials per hour: trials that ended (any status) per hour of the sweep call;
* worker utilisation: the share of slot-seconds spent inside the user's function. An
  attempt's in-function time runs from its entry to its last report; the denominator is
  ``concurrency x`` the window: the whole call, and the busy window (first entry to last
  report), which leaves out cluster start-up and shut-down; and per process (slot): the
  in-function time over the sum of each training process's span, from its first entry to
  its last report. The busy window also counts a slot that idles at the end while the
  last trial runs (with few trials that tail, set by which trials run longest, dominates
  the figure); the per-process figure leaves it out and measures the hand-offs between
  trials and the waits for decisions, which are what the system itself costs;
* training utilisation: the busy window's figure less the time the attempts spent inside
  the framework's own ``report`` calls before their last report (``bench_report_s``). A
  report that waits for the driver (Ray Tune's function trainables block until the
  controller takes the result) keeps the slot from training, yet counts as in-function
  time in the two figures above;
* cost per 1,000 trials: ``wall hours x cores x price per core-hour / trials x 1000``,
  with ``cores = concurrency x cpus per trial x workers per trial``;
* recovery: from the harness's SIGKILL of a running trial's process to that trial's
  function running again (its next attempt entering), and to its next report.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any


def _reached(value: Any, target: float, mode: str) -> bool:
    if not isinstance(value, (int, float)):
        return False
    return value >= target if mode == "max" else value <= target


def figures(
    outcome: dict[str, Any],
    *,
    metric: str,
    mode: str,
    target: float | None,
    concurrency: int,
    cores: float,
    price: float | None = None,
    spot_price: float | None = None,
) -> dict[str, Any]:
    """One table row from a child's :class:`~tunefleet.bench.systems.Outcome` (as a dict)."""
    row: dict[str, Any] = {
        "system": outcome["system"],
        "trials": outcome.get("trials", 0),
        "errored": outcome.get("errored", 0),
        "load_s": outcome.get("load_s"),
        "notes": [n for n in outcome.get("notes", []) if "Traceback" not in n],
        "error": outcome.get("error"),
    }
    if outcome.get("error"):
        return row
    t0, t_end = float(outcome["t0"]), float(outcome["t_end"])
    wall = max(t_end - t0, 1e-9)
    rows = sorted(
        (r for r in outcome["rows"] if isinstance(r.get("bench_time"), (int, float))),
        key=lambda r: r["bench_time"],
    )
    row["wall_s"] = wall
    row["reports"] = len(rows)
    row["first_result_s"] = rows[0]["bench_time"] - t0 if rows else None
    hit = (
        next((r for r in rows if _reached(r.get(metric), target, mode)), None)
        if target is not None
        else None
    )
    row["time_to_target_s"] = hit["bench_time"] - t0 if hit else None
    values = [r[metric] for r in rows if isinstance(r.get(metric), (int, float))]
    row["best"] = (max(values) if mode == "max" else min(values)) if values else None
    trials = row["trials"] or len({r["trial_id"] for r in rows})
    row["trials_per_hour"] = trials / wall * 3600.0
    # Utilisation from the attempts' entry and last report.
    attempts: dict[tuple[str, float], float] = defaultdict(float)
    in_report: dict[tuple[str, float], float] = defaultdict(float)
    for r in rows:
        key = (r["trial_id"], float(r["bench_entered"]))
        attempts[key] = max(attempts[key], float(r["bench_time"]))
        in_report[key] = max(in_report[key], float(r.get("bench_report_s") or 0.0))
    inside = sum(last - entered for (_, entered), last in attempts.items())
    row["utilisation"] = inside / (concurrency * wall)
    if attempts:
        start = min(entered for (_, entered) in attempts)
        end = max(attempts.values())
        window = max(end - start, 1e-9)
        row["utilisation_busy"] = inside / (concurrency * window)
        reporting = sum(in_report.values())
        row["report_s_per_report"] = reporting / max(len(rows), 1)
        row["utilisation_training"] = (inside - reporting) / (concurrency * window)
        row["overhead_per_trial_s"] = (concurrency * window - inside) / max(trials, 1)
        spans: dict[Any, list[float]] = {}
        for r in rows:
            span = spans.setdefault(r.get("bench_pid"), [float(r["bench_entered"]), 0.0])
            span[0] = min(span[0], float(r["bench_entered"]))
            span[1] = max(span[1], float(r["bench_time"]))
        spanned = sum(end - start for start, end in spans.values())
        row["utilisation_slots"] = inside / max(spanned, 1e-9)
    core_hours = wall / 3600.0 * cores
    if price is not None and trials:
        row["cost_per_1000"] = core_hours * price / trials * 1000.0
    if spot_price is not None and trials:
        row["cost_per_1000_spot"] = core_hours * spot_price / trials * 1000.0
    row.update(recovery(outcome, rows))
    return row


def recovery(outcome: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, Any]:
    kill = outcome.get("kill")
    if not kill:
        return {}
    t, trial = float(kill["time"]), str(kill["trial"])
    again = [
        float(e["entered"])
        for e in outcome.get("entries", [])
        if str(e["trial"]) == trial and float(e["entered"]) > t
    ]
    reports = [
        float(r["bench_time"])
        for r in rows
        if r["trial_id"] == trial and float(r["bench_entered"]) > t
    ]
    return {
        "killed_trial": trial,
        "recovery_s": min(again) - t if again else None,
        "recovery_report_s": min(reports) - t if reports else None,
    }


def best_so_far(outcome: dict[str, Any], metric: str, mode: str) -> list[tuple[float, float]]:
    """(seconds since the sweep started, best metric so far) at every improvement."""
    if outcome.get("error"):
        return []
    t0 = float(outcome["t0"])
    points: list[tuple[float, float]] = []
    best: float | None = None
    for r in sorted(outcome["rows"], key=lambda r: r["bench_time"]):
        v = r.get(metric)
        if not isinstance(v, (int, float)):
            continue
        if best is None or (v > best if mode == "max" else v < best):
            best = float(v)
            points.append((float(r["bench_time"]) - t0, best))
    return points
