"""How long a Ray slot idles between two trials, as JSON.

Why: the busy utilisation of a sweep on the Ray engine is in-function time over slots x
the busy window; what the engine itself costs there is the hand-off on each actor, from a
trial's last report to the next trial's function being entered (the trial's end reaching
the driver, the engine's bookkeeping, the next launch reaching the actor, the session and
the trainable's wrapper). This measures that gap directly with a trivial trainable: each
trial sleeps ``--step-ms`` per report for ``--reports`` reports, ``--trials`` trials on
``--slots`` actors of a private local Ray.

``--src LABEL=DIR`` (repeatable) runs the tunefleet under ``DIR`` (put first on
``PYTHONPATH``), e.g. ``git archive`` of an older commit, so that two versions are compared
in one interleaved run (A B A B ...); each measurement is a fresh ``python`` process.

    python benchmarks/ray_handoff.py [--trials 40] [--slots 2] [--reports 3] [--step-ms 20]
        [--repeat 3] [--src old=/tmp/old/src --src new=src]

Output: one JSON object per measurement (``label``, ``gaps_ms`` median / p90 / max over
every hand-off on every actor, ``per_process`` in-function time over each actor's span),
then a summary with the medians per label.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import textwrap

CHILD = textwrap.dedent(
    """
    import json, os, sys, time
    import tunefleet

    def trainable(config):
        entered = time.time()
        for _ in range(config["reports"]):
            time.sleep(config["step"])
            tunefleet.report({"entered": entered, "at": time.time(), "pid": os.getpid()})

    rows = []

    class Collect(tunefleet.Callback):
        def on_trial_result(self, iteration, trials, trial, result, **info):
            rows.append((trial.trial_id, result["entered"], result["at"], result["pid"]))

    def main():
        a = json.loads(sys.argv[1])
        tunefleet.run(
            trainable,
            config={"reports": a["reports"], "step": a["step_ms"] / 1000.0,
                    "x": tunefleet.uniform(0, 1)},
            num_samples=a["trials"], max_concurrent_trials=a["slots"],
            resources_per_trial={"cpu": 1}, engine=tunefleet.executors.ray.RayExecutor(
                num_cpus=a["slots"]),
            storage_path=a["out"], verbose=0, callbacks=[Collect()],
        )
        print("ROWS" + json.dumps(rows))

    import tunefleet.executors.ray
    main()
    """
)


def _measure(label: str, src: str | None, args: argparse.Namespace, out: str) -> dict:
    env = dict(os.environ)
    if src:
        env["PYTHONPATH"] = os.path.abspath(src) + os.pathsep + env.get("PYTHONPATH", "")
    spec = {
        "trials": args.trials,
        "slots": args.slots,
        "reports": args.reports,
        "step_ms": args.step_ms,
        "out": out,
    }
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(spec)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("ROWS")), None)
    if line is None:
        return {"label": label, "error": proc.stderr[-2000:]}
    rows = json.loads(line[4:])
    attempts: dict[tuple[str, float], list[float]] = {}
    for tid, entered, at, pid in rows:
        a = attempts.setdefault((tid, entered), [entered, at, pid])
        a[1] = max(a[1], at)
    by_pid: dict[int, list[list[float]]] = {}
    for a in attempts.values():
        by_pid.setdefault(int(a[2]), []).append(a)
    gaps: list[float] = []
    inside = spanned = 0.0
    for spans in by_pid.values():
        spans.sort()
        gaps += [(b[0] - a[1]) * 1000.0 for a, b in zip(spans, spans[1:], strict=False)]
        inside += sum(s[1] - s[0] for s in spans)
        spanned += spans[-1][1] - spans[0][0]
    gaps.sort()
    return {
        "label": label,
        "trials": len(attempts),
        "actors": len(by_pid),
        "gaps_ms": {
            "median": round(statistics.median(gaps), 2),
            "p90": round(gaps[int(0.9 * (len(gaps) - 1))], 2),
            "max": round(gaps[-1], 2),
            "n": len(gaps),
        },
        "per_process": round(inside / spanned, 4),
        "load": [round(x, 2) for x in os.getloadavg()],
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--trials", type=int, default=40)
    p.add_argument("--slots", type=int, default=2)
    p.add_argument("--reports", type=int, default=3)
    p.add_argument("--step-ms", type=float, default=20.0)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--src", action="append", default=[], help="LABEL=DIR (repeatable)")
    p.add_argument("--out", default=None, help="storage folder (default: a temporary one)")
    args = p.parse_args()
    import tempfile

    versions = [tuple(s.split("=", 1)) for s in args.src] or [("current", None)]
    out = args.out or tempfile.mkdtemp(prefix="ray-handoff-")
    results = []
    for r in range(args.repeat):
        for label, src in versions:
            row = _measure(label, src, args, os.path.join(out, f"{label}-{r}"))
            row["repeat"] = r
            print(json.dumps(row), flush=True)
            results.append(row)
    summary = {}
    for label, _ in versions:
        ok = [x for x in results if x["label"] == label and "error" not in x]
        if ok:
            summary[label] = {
                "gap_median_ms": [x["gaps_ms"]["median"] for x in ok],
                "gap_p90_ms": [x["gaps_ms"]["p90"] for x in ok],
                "per_process": [x["per_process"] for x in ok],
            }
    print(json.dumps({"summary": summary}))


if __name__ == "__main__":
    main()
