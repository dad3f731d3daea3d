"""Resume cost: time and driver memory to resume an experiment of 10,000 trials and
1,000,000 reported results (issue 4's target: ≤ 2 s, driver ≤ 300 MB).

The experiment is made for real: a 10,000-trial sweep whose trials report 100 results
each, on the local engine. Then a fresh Python process resumes it with num_samples raised
by 10, so resuming must rebuild all 10,000 trials and the searcher's state from the log
before it can start the new ones. Printed as JSON.

With ``--sweep asha_bohb`` the sweep is ASHA (``max_t`` = results per trial, rungs at
1, 3, 9, ...) with BOHB's KDE searcher: both keep state per trial, which every commit
must carry (issue 11). The JSON then also breaks the log down by record kind (rows and
bytes), with the bytes of component state per result and what full snapshots at every
state write would have taken: the state part must grow linearly with the results.

    python benchmarks/resume.py [--trials 10000] [--results-per-trial 100] [--keep DIR]
                                [--sweep fifo|asha_bohb]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from typing import Any

import tunefleet as tune


def chatty(config: dict[str, Any]) -> None:
    for i in range(config["n"]):
        tune.report(score=config["x"] + i * 1e-6)


def components(sweep: str, per_trial: int) -> dict[str, Any]:
    if sweep == "fifo":
        return {}
    from tunefleet.schedulers import ASHAScheduler

    return {
        "scheduler": ASHAScheduler(max_t=per_trial, grace_period=1, reduction_factor=3),
        "search_alg": "bohb",
    }


def make(storage: str, trials: int, per_trial: int, sweep: str) -> float:
    t0 = time.perf_counter()
    tune.run(
        chatty,
        config={"x": tune.uniform(0, 1), "n": per_trial},
        num_samples=trials,
        metric="score",
        mode="max",
        name="big",
        storage_path=storage,
        verbose=0,
        seed=0,
        **components(sweep, per_trial),
    )
    return time.perf_counter() - t0


def log_breakdown(db: str) -> dict[str, Any]:
    """Rows and bytes per record kind, and the state's share of the log."""
    import sqlite3

    conn = sqlite3.connect(db)
    rows = conn.execute(
        "SELECT kind, COUNT(*), SUM(LENGTH(data)), MAX(LENGTH(data)) FROM events GROUP BY kind"
    ).fetchall()
    conn.close()
    kinds = {k: {"rows": n, "bytes": b, "largest": m} for k, n, b, m in rows}
    results = kinds.get("result", {"rows": 0, "bytes": 0})
    state = kinds.get("state", {"rows": 0, "bytes": 0, "largest": 0})
    delta = kinds.get("state_delta", {"rows": 0, "bytes": 0})
    state_bytes = state["bytes"] + delta["bytes"]
    writes = state["rows"] + delta["rows"]
    return {
        "by_kind": kinds,
        "state_bytes": state_bytes,
        "state_bytes_per_result": round(state_bytes / max(1, results["rows"]), 1),
        "result_bytes_per_result": round(results["bytes"] / max(1, results["rows"]), 1),
        # Upper bound for full snapshots at every state write: writes x the final size.
        "full_snapshots_bytes_at_most": writes * state["largest"],
    }


def child(storage: str, trials: int, per_trial: int, sweep: str) -> None:
    """Runs in a fresh process: resume, then report timings and peak RSS."""
    import tunefleet.runner  # noqa: F401 - imported before timing, like the peers' imports
    from tunefleet.restore import replay_for_resume as _replay_for_resume
    from tunefleet.storage import open_store

    t0 = time.perf_counter()
    replayed, state = _replay_for_resume(open_store(storage), "big")
    rebuild = time.perf_counter() - t0
    t1 = time.perf_counter()
    res = tune.run(
        chatty,
        config={"x": tune.uniform(0, 1), "n": per_trial},
        num_samples=trials + 10,
        metric="score",
        mode="max",
        name="big",
        storage_path=storage,
        resume=True,
        verbose=0,
        seed=0,
        **components(sweep, per_trial),
    )
    whole = time.perf_counter() - t1
    print(
        json.dumps(
            {
                "rebuild_log_s": round(rebuild, 3),
                "trials_rebuilt": len(replayed.trials),
                "resume_run_s": round(whole, 3),
                "trials_after": len(res),
                "driver_peak_rss_mb": round(
                    resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1
                ),
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--results-per-trial", type=int, default=100)
    parser.add_argument("--keep", default=None, help="reuse/keep the experiment in this dir")
    parser.add_argument("--sweep", choices=("fifo", "asha_bohb"), default="fifo")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]), int(args.child[2]), args.child[3])
        return
    storage = args.keep or tempfile.mkdtemp(prefix="tf-resume-")
    made = None
    if not os.path.exists(os.path.join(storage, "big", "experiment.db")):
        made = make(storage, args.trials, args.results_per_trial, args.sweep)
    db = os.path.join(storage, "big", "experiment.db")
    db_mb = os.path.getsize(db) / 2**20
    breakdown = log_breakdown(db)
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "--child",
            storage,
            str(args.trials),
            str(args.results_per_trial),
            args.sweep,
        ],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    measured = json.loads(out.stdout.strip().splitlines()[-1])
    print(
        json.dumps(
            {
                "benchmark": "resume",
                "date": time.strftime("%Y-%m-%d %H:%M:%S"),
                "machine": f"{platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}",
                "command": " ".join(["python", "benchmarks/resume.py", *sys.argv[1:]]),
                "sweep": args.sweep,
                "trials": args.trials,
                "results": args.trials * args.results_per_trial,
                "log_size_mb": round(db_mb, 1),
                "made_in_s": None if made is None else round(made, 1),
                **measured,
                "log": breakdown,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
