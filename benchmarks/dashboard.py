"""Dashboard response times on a large synthetic experiment (issue 15: 100,000 trials and
10 million results, every answer in ≤ 200 ms).

The store is built directly in the store's format (``SQLiteStore.create_experiment`` for
the file, then batched inserts of synthetic ``trial_created``/``trial_started``/``result``/
``trial_completed`` rows), then opened once by the store's writer, which fills its summary
tables from the log (:mod:`tunefleet.storage.stats`, what a real sweep's writer keeps up to
date as it appends), so a 10⁷-row log takes minutes, not the hours a real sweep would.
Then a real uvicorn server is started over it: the time to the first answer and until the
dashboard has caught up with the log (the cold start) is measured, every endpoint is asked
while it loads, and then ``--repeat`` rounds ask each endpoint once over HTTP: the first
round is computed from the model, later ones are the cached answers. Prints one JSON object.

    python benchmarks/dashboard.py --trials 100000 --results-per-trial 208   # ~10⁷ results
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import socket
import sqlite3
import statistics
import tempfile
import threading
import time
from typing import Any

import httpx
import uvicorn

from tunefleet.dashboard import views
from tunefleet.dashboard.app import create_app, encode
from tunefleet.storage.sqlite import SQLiteStore

NAME = "big"


SPEC = {"metric": ["loss", "acc"], "mode": ["min", "max"], "name": NAME}


def build(root: str, trials: int, per_trial: int, seed: int = 0) -> dict[str, Any]:
    """An ASHA-like log: a third of the trials run ``per_trial`` results, the rest stop at
    ``per_trial // 9`` or ``per_trial // 3`` (stopped records), one in 500 fails. Two
    objectives (loss, minimised; acc, maximised), so the Pareto view is measured too."""
    t0 = time.perf_counter()
    store = SQLiteStore(root)
    store.create_experiment(NAME, SPEC)
    path = store.db_path(NAME)
    store.close()
    rng = random.Random(seed)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-262144")
    seq = 0
    ts = 1.8e9
    rows: list[tuple[Any, ...]] = []
    insert = "INSERT INTO events (seq, kind, trial_id, ts, data) VALUES (?, ?, ?, ?, ?)"
    conn.execute("BEGIN")

    def emit(kind: str, tid: str | None, data: str) -> None:
        nonlocal seq, ts
        seq += 1
        ts += 0.001
        rows.append((seq, kind, tid, ts, data))
        if len(rows) >= 200_000:
            conn.executemany(insert, rows)
            rows.clear()

    emit("experiment_started", None, '{"run": 0}')
    for i in range(trials):
        tid = f"t{i:06d}"
        lr, wd, opt = 10 ** rng.uniform(-5, -1), rng.uniform(0, 0.1), rng.choice(["sgd", "adam"])
        cfg = json.dumps({"lr": lr, "wd": wd, "opt": opt, "layers": rng.randint(1, 8)})
        emit("trial_created", tid, f'{{"config": {cfg}, "index": {i}, "parent": null}}')
        emit("trial_started", tid, '{"attempt": 1, "checkpoint": null}')
        n = rng.choice([per_trial, max(1, per_trial // 3), max(1, per_trial // 9)])
        floor = abs(lr - 1e-3) * 10 + wd
        for it in range(1, n + 1):
            loss = floor + 1.0 / it + rng.random() * 0.01
            acc = 1.0 - floor / 2 - 0.5 / it - rng.random() * 0.01 - wd * it / per_trial
            emit(
                "result",
                tid,
                f'{{"loss": {loss:.6f}, "acc": {acc:.6f}, "training_iteration": {it}, '
                f'"time_this_iter_s": 0.01, "trial_id": "{tid}"}}',
            )
        if i % 500 == 499:
            emit("trial_completed", tid, '{"status": "ERROR", "error": "boom", "traceback": "T"}')
        else:
            stopped = "true" if n < per_trial else "false"
            emit("trial_completed", tid, f'{{"status": "TERMINATED", "stopped": {stopped}}}')
    emit("experiment_finished", None, '{"status": "completed", "reason": null}')
    conn.executemany(insert, rows)
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    built = time.perf_counter()
    store = SQLiteStore(root)  # the writer opens it: its summary tables are filled from the log
    store.create_experiment(NAME, SPEC, exist_ok=True)
    store.close()
    return {
        "rows": seq,
        "build_s": round(built - t0, 1),
        "summaries_s": round(time.perf_counter() - built, 1),
        "file_mb": round(os.path.getsize(path) / 2**20),
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def view_cpu(app: Any, repeat: int) -> dict[str, Any]:
    """The CPU time of each answer's computation (the view function and the JSON encoding,
    no cache, no HTTP) on the server's own loaded model, measured with the thread's CPU
    clock: what an answer costs whatever else the machine runs. Median and max of
    ``repeat`` calls."""
    live = app.state.registry.live[NAME]
    calls = {
        "trials(index)": lambda: views.trials_page(live),
        "trials(sort=score)": lambda: views.trials_page(live, sort="score"),
        "trials(filter)": lambda: views.trials_page(
            live, q="adam", status="TERMINATED", sort="last"
        ),
        "trials(filter 2 chars)": lambda: views.trials_page(
            live, q="t0", sort="iteration", desc=True
        ),
        "trial": lambda: views.trial_detail(live, "t000001"),
        "history": lambda: views.history(live),
        "curves": lambda: views.curves(live),
        "params": lambda: views.param_sample(live)[0],
        "lineage": lambda: views.lineage(live),
        "errors": lambda: views.errors(live),
        "pareto": lambda: views.pareto(live),
    }
    out = {}
    for key, fn in calls.items():
        ts = []
        for _ in range(repeat):
            t = time.thread_time()
            encode(fn())
            ts.append((time.thread_time() - t) * 1000)
        out[key] = {"median": round(statistics.median(ts), 1), "max": round(max(ts), 1)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--trials", type=int, default=100_000)
    ap.add_argument("--results-per-trial", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--storage-path", help="reuse (or build into) this directory")
    args = ap.parse_args()
    if args.trials < 1 or args.results_per_trial < 1:
        ap.error("--trials and --results-per-trial must be at least 1")
    root = args.storage_path or tempfile.mkdtemp(prefix="tf-dash-bench-")
    out: dict[str, Any] = {
        "command": "python benchmarks/dashboard.py "
        f"--trials {args.trials} --results-per-trial {args.results_per_trial} "
        f"--repeat {args.repeat}" + (f" --storage-path {root}" if args.storage_path else ""),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}",
        "load_before": os.getloadavg()[0],
    }
    if not os.path.exists(os.path.join(root, NAME, "experiment.db")):
        out["store"] = build(root, args.trials, args.results_per_trial)
    port = free_port()
    app = create_app(root)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    base = f"http://127.0.0.1:{port}/api/experiments"
    try:
        with httpx.Client(timeout=120) as client:
            t0 = time.perf_counter()
            first = client.get(f"{base}/{NAME}").json()
            out["first_answer_s"] = round(time.perf_counter() - t0, 3)
            out["first_was_loading"] = first["loading"]
            paths = {
                "list": base,
                "summary": f"{base}/{NAME}",
                "trials(index)": f"{base}/{NAME}/trials",
                "trials(sort=score)": f"{base}/{NAME}/trials?sort=score",
                "trials(filter)": f"{base}/{NAME}/trials?q=adam&status=TERMINATED&sort=last",
                "trials(filter 2 chars)": f"{base}/{NAME}/trials?q=t0&sort=iteration&desc=true",
                "trial": f"{base}/{NAME}/trials/t000001",
                "history": f"{base}/{NAME}/history",
                "curves": f"{base}/{NAME}/curves",
                "params": f"{base}/{NAME}/params",
                "importance": f"{base}/{NAME}/importance",
                "lineage": f"{base}/{NAME}/lineage",
                "errors": f"{base}/{NAME}/errors",
                "pareto": f"{base}/{NAME}/pareto",
            }
            loading_ms: list[float] = []  # every endpoint, asked while the model loads
            while client.get(f"{base}/{NAME}").json()["loading"]:
                for url in paths.values():
                    t = time.perf_counter()
                    r = client.get(url)
                    loading_ms.append((time.perf_counter() - t) * 1000)
                    if r.status_code != 404:  # a trial not loaded yet is not there yet
                        r.raise_for_status()
            out["catch_up_s"] = round(time.perf_counter() - t0, 2)
            out["while_loading_ms"] = {
                "answers": len(loading_ms),
                "median": round(statistics.median(loading_ms), 1) if loading_ms else None,
                "max": round(max(loading_ms), 1) if loading_ms else None,
            }
            summary = client.get(f"{base}/{NAME}").json()
            out["trials"], out["results"] = summary["trials"], summary["results"]
            times: dict[str, list[float]] = {k: [] for k in paths}
            for _ in range(args.repeat):  # interleaved: each round asks every endpoint once
                for key, url in paths.items():
                    t = time.perf_counter()
                    r = client.get(url)
                    times[key].append((time.perf_counter() - t) * 1000)
                    r.raise_for_status()
            out["ms"] = {  # first: computed from the model; cached: the later rounds
                k: {
                    "first": round(v[0], 1),
                    "cached_median": round(statistics.median(v[1:]), 1) if len(v) > 1 else None,
                    "max": round(max(v), 1),
                }
                for k, v in times.items()
            }
            out["max_ms_after_load"] = max(x["max"] for x in out["ms"].values())
        out["compute_cpu_ms"] = view_cpu(app, args.repeat)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    out["load_after"] = os.getloadavg()[0]
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
