"""Dashboard response times on a large synthetic experiment (issue 15: 100,000 trials and
10 million results, every answer in ≤ 200 ms).

The store is built directly in the store's format (``SQLiteStore.create_experiment`` for
the file, then one bulk insert of synthetic ``trial_created``/``trial_started``/``result``/
``trial_completed`` rows, the indexes included), so a 10⁷-row log takes minutes, not the
hours a real sweep would. Then a real uvicorn server is started over it, the time for the
dashboard to catch up with the log is measured once (the cold start), and each endpoint
is requested ``--repeat`` times over HTTP. Prints one JSON object.

    python benchmarks/dashboard.py --trials 100000 --results-per-trial 100
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

from tunefleet.dashboard.app import create_app
from tunefleet.storage.sqlite import SQLiteStore

NAME = "big"


def build(root: str, trials: int, per_trial: int, seed: int = 0) -> dict[str, Any]:
    """An ASHA-like log: a third of the trials run ``per_trial`` results, the rest stop at
    ``per_trial // 9`` or ``per_trial // 3`` (stopped records), one in 500 fails."""
    t0 = time.perf_counter()
    store = SQLiteStore(root)
    store.create_experiment(NAME, {"metric": "loss", "mode": "min", "name": NAME})
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
            emit(
                "result",
                tid,
                f'{{"loss": {loss:.6f}, "training_iteration": {it}, '
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
    return {
        "rows": seq,
        "build_s": round(time.perf_counter() - t0, 1),
        "file_mb": round(os.path.getsize(path) / 2**20),
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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
        f"--trials {args.trials} --results-per-trial {args.results_per_trial}",
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}",
        "load_before": os.getloadavg()[0],
    }
    if not os.path.exists(os.path.join(root, NAME, "experiment.db")):
        out["store"] = build(root, args.trials, args.results_per_trial)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(root), host="127.0.0.1", port=port, log_level="warning")
    )
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
            while client.get(f"{base}/{NAME}").json()["loading"]:
                time.sleep(0.2)
            out["catch_up_s"] = round(time.perf_counter() - t0, 1)
            summary = client.get(f"{base}/{NAME}").json()
            out["trials"], out["results"] = summary["trials"], summary["results"]
            out["first_was_loading"] = first["loading"]
            tid = client.get(f"{base}/{NAME}/trials?limit=1").json()["rows"][0]["trial_id"]
            paths = {
                "list": base,
                "summary": f"{base}/{NAME}",
                "trials(index)": f"{base}/{NAME}/trials",
                "trials(sort=score)": f"{base}/{NAME}/trials?sort=score",
                "trials(filter)": f"{base}/{NAME}/trials?q=adam&status=TERMINATED&sort=last",
                "trial": f"{base}/{NAME}/trials/{tid}",
                "history": f"{base}/{NAME}/history",
                "curves": f"{base}/{NAME}/curves",
                "params": f"{base}/{NAME}/params",
                "importance": f"{base}/{NAME}/importance",
                "lineage": f"{base}/{NAME}/lineage",
                "errors": f"{base}/{NAME}/errors",
            }
            times: dict[str, list[float]] = {k: [] for k in paths}
            for _ in range(args.repeat):  # interleaved: each round asks every endpoint once
                for key, url in paths.items():
                    t = time.perf_counter()
                    r = client.get(url)
                    times[key].append((time.perf_counter() - t) * 1000)
                    r.raise_for_status()
            out["ms"] = {
                k: {"median": round(statistics.median(v), 1), "max": round(max(v), 1)}
                for k, v in times.items()
            }
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    out["load_after"] = os.getloadavg()[0]
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
