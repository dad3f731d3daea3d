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
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

import httpx
import uvicorn

from tunefleet.dashboard import views
from tunefleet.dashboard.app import POLL_S, create_app, encode, objectives
from tunefleet.dashboard.live import LiveExperiment
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


def view_cpu(live: LiveExperiment, repeat: int, trials: int) -> dict[str, Any]:
    """The CPU time of each answer's computation (the view function and the JSON encoding,
    no cache, no HTTP) on the server's own loaded model, measured with the thread's CPU
    clock: what an answer costs whatever else the machine runs. Median and max of
    ``repeat`` calls."""
    calls = {
        "trials(index)": lambda i: views.trials_page(live),
        "trials(sort=score)": lambda i: views.trials_page(live, sort="score"),
        "trials(filter)": lambda i: views.trials_page(
            live, q=("adam", "sgd", "0.001")[i % 3], status="TERMINATED", sort="last"
        ),
        "trials(filter 2 chars)": lambda i: views.trials_page(
            live, q=f"t{i}", sort="iteration", desc=True
        ),
        "trial": lambda i: views.trial_detail(live, f"t{(trials // 3 + i) % trials:06d}"),
        "history": lambda i: views.history(live),
        "curves": lambda i: views.curves(live),
        "params": lambda i: views.param_sample(live)[0],
        "lineage": lambda i: views.lineage(live),
        "errors": lambda i: views.errors(live),
        "pareto": lambda i: views.pareto(live),
    }
    out = {}
    for key, fn in calls.items():
        ts = []
        for i in range(repeat):
            t = time.thread_time()
            encode(fn(i))
            ts.append((time.thread_time() - t) * 1000)
        out[key] = {"median": round(statistics.median(ts), 1), "max": round(max(ts), 1)}
    return out


def append_cost(rounds: int = 6, batches: int = 200, batch: int = 250) -> dict[str, Any]:
    """What the writer's summaries cost per appended result: ``SQLiteStore.append`` of
    batches of results (50 trials, as the driver's batched writer sends them) with the
    summaries kept, and with their per-batch update switched off, interleaved (A B A B);
    µs per result, each round on a fresh store."""
    from tunefleet.protocol import dumps
    from tunefleet.storage.records import Record
    from tunefleet.storage.stats import Summaries

    keep = Summaries.update
    out: dict[str, list[float]] = {"with summaries": [], "without": []}
    cpu: dict[str, list[float]] = {"with summaries": [], "without": []}  # this process's
    for r in range(rounds):
        for label in ("with summaries", "without") if r % 2 == 0 else ("without", "with summaries"):
            Summaries.update = keep if label == "with summaries" else (lambda *a: None)  # type: ignore[method-assign]
            root = tempfile.mkdtemp(prefix="tf-append-")
            store = SQLiteStore(root)
            store.create_experiment("a", {"metric": "loss", "mode": "min"})
            recs = []
            for b in range(batches):
                one = []
                for i in range(batch):
                    tid = f"t{i % 50}"
                    d = {
                        "loss": 1.0 / (b + i + 1),
                        "training_iteration": b + 1,
                        "time_this_iter_s": 0.01,
                        "trial_id": tid,
                    }
                    one.append(Record("result", tid, d, time.time(), 0, dumps(d)))
                recs.append(one)
            t, c = time.perf_counter(), time.process_time()
            for one in recs:
                store.append("a", one)
            out[label].append((time.perf_counter() - t) / (batches * batch) * 1e6)
            cpu[label].append((time.process_time() - c) / (batches * batch) * 1e6)
            store.close()
    Summaries.update = keep  # type: ignore[method-assign]
    med = {k: statistics.median(v) for k, v in out.items()}
    med_cpu = {k: statistics.median(v) for k, v in cpu.items()}
    return {
        "us_per_result": {k: [round(x, 2) for x in v] for k, v in out.items()},
        "median": {k: round(v, 2) for k, v in med.items()},
        "ratio": round(med["with summaries"] / med["without"], 2),
        "cpu_us_per_result": {k: [round(x, 2) for x in v] for k, v in cpu.items()},
        "cpu_median": {k: round(v, 2) for k, v in med_cpu.items()},
        "cpu_ratio": round(med_cpu["with summaries"] / med_cpu["without"], 2),
    }


def start_server(root: str, port: int, how: str) -> tuple[Any, Any]:
    """The dashboard over ``root``: as ``tunefleet dashboard`` in its own process (what a
    user runs; the HTTP client here does not share its interpreter), or in this process."""
    if how == "inprocess":
        app = create_app(root)
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)

        def stop_thread() -> None:
            server.should_exit = True
            thread.join(timeout=10)

        return app, stop_thread
    cmd = [sys.executable, "-c", "from tunefleet.cli import main; main()", "dashboard"]
    env = dict(os.environ)
    env.pop("TUNEFLEET_DASHBOARD_LOADER", None)
    if how == "process-loader":  # the start-up load in a process of its own
        env["TUNEFLEET_DASHBOARD_LOADER"] = "process"
    proc = subprocess.Popen([*cmd, "--storage-path", root, "--port", str(port)], env=env)
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the dashboard did not start") from None
            time.sleep(0.05)

    def stop_proc() -> None:
        proc.terminate()
        proc.wait(timeout=10)

    return proc, stop_proc


def loaded_model(root: str) -> LiveExperiment:
    """The experiment's model, loaded to the log's end in this process."""
    store = SQLiteStore(root)
    metrics, modes = objectives(store.get_spec(NAME))
    live = LiveExperiment(store.db_path(NAME), metrics, modes)
    store.close()
    while True:
        live.refresh(budget_s=10.0)
        if not live.loading:
            return live


def _stats(v: list[float]) -> dict[str, float]:
    return {
        "first": round(v[0], 1),
        "median": round(statistics.median(v), 1),
        "max": round(max(v), 1),
    }


def measure(client: httpx.Client, base: str, args: Any, out: dict[str, Any]) -> None:
    """The cold start, every endpoint while the model loads (the page's polls and new
    questions), then ``--repeat`` rounds after the load."""
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
    words = ["adam", "sgd", '"layers": 3', "0.0012", '"opt": "s', "9999", "t0123"]
    alphabet = "0123456789abcdefghijklmnopqrstuvwxyz"

    def needle(i: int) -> str:
        """A search text never asked before in this run (the server keeps recent answers):
        the fixed words first, then 4- and 3-digit strings, each used once."""
        if i < len(words):
            return words[i]
        j = i - len(words)
        return f"{(j * 7919) % 10000:04d}" if j % 2 else f"{(j * 31) % 1000:03d}"

    def pair(i: int) -> str:
        """A two-character search text, a different one every round."""
        k = (i * 37) % (len(alphabet) ** 2)
        return alphabet[k // len(alphabet)] + alphabet[k % len(alphabet)]

    def new_questions(i: int) -> dict[str, str]:
        """Questions not asked before: computed on the request's path."""
        tid = f"t{(args.trials // 2 + i * 7919) % args.trials:06d}"
        return {
            "filter": f"{base}/{NAME}/trials?q={needle(i)}&sort=last&offset={i}",
            "filter 2 chars": f"{base}/{NAME}/trials?q={pair(i)}&status=TERMINATED&offset={i}",
            "sort": f"{base}/{NAME}/trials?sort={('score', 'last', 'iteration')[i % 3]}"
            f"&desc={'true' if i % 2 else 'false'}&offset={100 * (i % 50)}",
            "trial": f"{base}/{NAME}/trials/{tid}",
            "curve of one trial": f"{base}/{NAME}/curves?trial={tid}",
        }

    def ask(url: str, into: list[float], missing_ok: bool = False) -> None:
        t = time.perf_counter()
        r = client.get(url)
        into.append((time.perf_counter() - t) * 1000)
        if not (missing_ok and r.status_code == 404):  # a trial not loaded yet is not there yet
            r.raise_for_status()

    loading_ms: dict[str, list[float]] = {k: [] for k in paths}
    loading_new: dict[str, list[float]] = {}
    i = 0
    round_start = time.perf_counter()
    while client.get(f"{base}/{NAME}").json()["loading"]:
        for key, url in paths.items():  # every endpoint, asked while the model loads
            ask(url, loading_ms[key], missing_ok=True)
        for key, url in new_questions(10_000 + i).items():
            ask(url, loading_new.setdefault(key, []), missing_ok=True)
        i += 1
        # a round every 0.5 s (an open page polls once a second; two pages here)
        round_start += 0.5
        time.sleep(max(0.0, round_start - time.perf_counter()))
        round_start = time.perf_counter()
    out["catch_up_s"] = round(time.perf_counter() - t0, 2)
    every = [x for d in (loading_ms, loading_new) for v in d.values() for x in v]
    later = [x for d in (loading_ms, loading_new) for v in d.values() for x in v[1:]]
    named = {**loading_ms, **{f"new {k}": v for k, v in loading_new.items()}}
    out["while_loading_ms"] = {
        "answers": len(every),
        "median": round(statistics.median(every), 1) if every else None,
        "p99": round(statistics.quantiles(every, n=100)[98], 1) if len(every) > 1 else None,
        "max": {k: round(max(v), 1) for k, v in loading_ms.items() if v},
        "max_new_questions": {k: round(max(v), 1) for k, v in loading_new.items() if v},
        "max_all": round(max(every), 1) if every else None,
        # the first round asks every view of a model that has just started loading: each
        # answer computed on the request (none cached yet); the later rounds poll
        "first_round": {k: round(v[0], 1) for k, v in named.items() if v},
        "max_after_first_round": round(max(later), 1) if later else None,
        # where in the load each of the slowest answers came (round number, of `rounds`)
        "slowest": sorted(
            ((round(x, 1), k, r) for k, v in named.items() for r, x in enumerate(v)),
            reverse=True,
        )[:8],
        "rounds": i,
    }
    summary = client.get(f"{base}/{NAME}").json()
    out["trials"], out["results"] = summary["trials"], summary["results"]
    time.sleep(2 * POLL_S)  # the refresher's next round recomputes what was asked
    times: dict[str, list[float]] = {k: [] for k in paths}
    fresh: dict[str, list[float]] = {}
    for i in range(args.repeat):  # interleaved: each round asks every endpoint once
        for key, url in paths.items():
            ask(url, times[key])
        for key, url in new_questions(i).items():
            ask(url, fresh.setdefault(key, []))
    out["ms_polled"] = {k: _stats(v) for k, v in times.items()}  # the page's polls
    out["ms_on_request"] = {k: _stats(v) for k, v in fresh.items()}  # new questions
    out["max_ms_after_load"] = max(
        x["max"] for d in (out["ms_polled"], out["ms_on_request"]) for x in d.values()
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--trials", type=int, default=100_000)
    ap.add_argument("--results-per-trial", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--storage-path", help="reuse (or build into) this directory")
    ap.add_argument(
        "--server",
        choices=("process", "process-loader", "inprocess"),
        default="process",
        help="run the dashboard as its own process (default) or in this one;"
        " process-loader: its own process, a large log loaded by a loader process"
        " (TUNEFLEET_DASHBOARD_LOADER=process)",
    )
    ap.add_argument(
        "--append-cost",
        action="store_true",
        help="measure only what the summaries cost the writer per appended result",
    )
    args = ap.parse_args()
    if args.append_cost:
        print(
            json.dumps(
                {
                    "load_before": os.getloadavg()[0],
                    **append_cost(),
                    "load_after": os.getloadavg()[0],
                },
                indent=1,
            )
        )
        return
    if args.trials < 1 or args.results_per_trial < 1:
        ap.error("--trials and --results-per-trial must be at least 1")
    root = args.storage_path or tempfile.mkdtemp(prefix="tf-dash-bench-")
    out: dict[str, Any] = {
        "command": "python benchmarks/dashboard.py "
        f"--trials {args.trials} --results-per-trial {args.results_per_trial} "
        f"--repeat {args.repeat}"
        + (f" --storage-path {root}" if args.storage_path else "")
        + (f" --server {args.server}" if args.server != "process" else ""),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}",
        "load_before": os.getloadavg()[0],
    }
    if not os.path.exists(os.path.join(root, NAME, "experiment.db")):
        out["store"] = build(root, args.trials, args.results_per_trial)
    port = free_port()
    base = f"http://127.0.0.1:{port}/api/experiments"
    server, stop = start_server(root, port, args.server)
    try:
        with httpx.Client(timeout=120) as client:
            measure(client, base, args, out)
    finally:
        stop()
    # the CPU per view: on the server's model, or on one loaded here (a server process)
    inproc = args.server == "inprocess"
    live = server.state.registry.live[NAME] if inproc else loaded_model(root)
    out["compute_cpu_ms"] = view_cpu(live, args.repeat, args.trials)
    out["load_after"] = os.getloadavg()[0]
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
