"""Where the slots of a `tunefleet bench` sweep sat idle, as JSON.

Why: "utilisation (busy)" is in-function time over slots x the busy window (first entry to
last report), so everything a slot spends outside the trainable's function lowers it. This
splits that idle time, per training process, into

  head       from the sweep's first entry to this process's first entry;
  hand-offs  between one trial's last report and the next trial's entry on this process
             (the trial's end reaching the driver, the decision, the next launch);
  tail       from this process's last report to the sweep's last report (the slot idles
             while another runs the sweep's last trial);

and gives what the busy figure would be without the tail, for each system of each run.

    python benchmarks/bench_idle.py RUN_DIR [RUN_DIR ...]

``RUN_DIR`` is a ``tunefleet bench run --out`` folder; its ``jobs/*.outcome.json`` are read.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def idle(outcome: dict[str, Any], slots: int) -> dict[str, Any]:
    rows = [r for r in outcome.get("rows", []) if isinstance(r.get("bench_time"), (int, float))]
    attempts: dict[tuple[str, float], list[Any]] = {}
    for r in rows:
        key = (str(r["trial_id"]), float(r["bench_entered"]))
        a = attempts.setdefault(key, [key[1], 0.0, r.get("bench_pid")])
        a[1] = max(a[1], float(r["bench_time"]))
    if not attempts:
        return {"system": outcome.get("system"), "error": outcome.get("error") or "no reports"}
    start = min(a[0] for a in attempts.values())
    end = max(a[1] for a in attempts.values())
    window = end - start
    inside = sum(a[1] - a[0] for a in attempts.values())
    by_pid: dict[Any, list[list[Any]]] = {}
    for a in attempts.values():
        by_pid.setdefault(a[2], []).append(a)
    processes = []
    handoffs: list[float] = []
    tail_total = 0.0
    for spans in by_pid.values():
        spans.sort(key=lambda a: a[0])
        gaps = [b[0] - a[1] for a, b in zip(spans, spans[1:], strict=False)]
        handoffs += gaps
        tail = end - spans[-1][1]
        tail_total += tail
        processes.append(
            {
                "trials": len(spans),
                "head_s": round(spans[0][0] - start, 3),
                "handoffs_s": round(sum(gaps), 3),
                "tail_s": round(tail, 3),
            }
        )
    handoffs.sort()
    return {
        "system": outcome.get("system"),
        "window_s": round(window, 2),
        "busy": round(inside / (slots * window), 4),
        "busy_without_tail": round(inside / (slots * window - tail_total), 4),
        "handoff_ms": {
            "median": round(1000 * handoffs[len(handoffs) // 2], 1) if handoffs else None,
            "max": round(1000 * handoffs[-1], 1) if handoffs else None,
            "n": len(handoffs),
        },
        "processes": processes,
    }


def main() -> None:
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    for run in sys.argv[1:]:
        for path in sorted(Path(run, "jobs").glob("*.outcome.json")):
            job = json.loads(path.with_name(path.name.replace(".outcome", ".job")).read_text())
            row = idle(json.loads(path.read_text()), int(job.get("concurrency", 2)))
            row["run"] = run
            print(json.dumps(row))


if __name__ == "__main__":
    main()
