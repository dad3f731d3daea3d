"""Overhead of tunefleet against Optuna and Ray Tune on trivial trials, interleaved, as JSON.

Systems, each driven the way its users drive it:

  tunefleet  ``tunefleet.run`` on the local engine (worker processes), SQLite store in a
             fresh temporary directory, ``max_concurrent_trials=2``;
  tunefleet-threads
             the same with ``engine="threads"``: trials in two threads of the driver, as
             Optuna runs them (every result still goes to SQLite);
  raytune    Ray Tune's Tuner API, ``ray.init(num_cpus=2)``, ``max_concurrent_trials=2``,
             ``reuse_actors=True``;
  optuna     an in-memory study, ``RandomSampler(seed=0)``, ``NopPruner`` (FIFO, like the
             other two), ``n_jobs=2``.

Every trial of every system runs the same trivial function: sample ``x ~ uniform(0, 1)``,
report ``score = x`` once, return. Trial counts and concurrency (2) are the same for all.

Workloads, each in a fresh ``python`` process per system and repeat:

  first_result    a 20-trial sweep: seconds to the first result the driver sees (a driver
                  callback: tunefleet/Ray Tune ``Callback.on_trial_result``, Optuna's
                  ``optimize(callbacks=...)``) and to the return of the sweep call;
  throughput@N    N trivial trials (``--trials``, default 300; a comma list such as
                  ``300,3000`` also gives each system's fixed cost and marginal rate from
                  the two counts, per repeat);
  report_cost     microseconds per report: 4 trials x 2,000 reports, minus the same sweep
                  with 1 report per trial, both timed inside the process after an untimed
                  warm-up sweep (so the difference is the marginal cost of a report);
  and the driver's peak RSS in each (``ru_maxrss`` of the driver process).

How the clock runs (the same for every system): the parent takes ``time.time()`` right
before it spawns the child, so each time includes the interpreter's start-up and every
import; the child stamps its events with ``time.time()`` (the same wall clock), the first
of them as its first statement, before any import but ``time``. The JSON also gives, per
run, the interpreter's start-up, the system's import, and the whole process's wall time
until exit (that one includes shutting the system down, e.g. ``ray.shutdown()``).

Order: runs are interleaved, A B C A B C: for each repeat, for each workload, each system
in ``--systems`` order. One untimed warm-up run per system comes first (bytecode caches,
the OS file cache). Between runs the parent waits until the child's process session is
empty, so that one system's stragglers do not run during the next system's run.

The shared machine is noisy: compare systems only through the ratios, which are taken per
repeat (paired: the runs of one repeat are seconds apart) and given with their spread.
Ratios are ``system / reference`` in the metric's own unit: below 1 is better for times
and microseconds, above 1 is better for trials per second.

    python benchmarks/overhead.py [--systems tunefleet,raytune,optuna] [--repeat 3]
        [--trials 300[,3000]] [--workloads first_result,throughput,report_cost]
        [--out FILE]

The JSON goes to stdout (and to ``--out``); a short table of medians and spreads goes to
stderr. To measure a tunefleet other than the installed one, put its ``src`` first on
``PYTHONPATH``; the JSON records which file each child imported.
"""

from __future__ import annotations

import time

CHILD_START = time.time()  # the child's first stamp: nothing but ``time`` imported yet

import json  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
from typing import Any  # noqa: E402

SYSTEMS = ("tunefleet", "tunefleet-threads", "raytune", "optuna")
WORKLOADS = ("first_result", "throughput", "report_cost")
CONCURRENCY = 2
N_FIRST = 20
REPORT_TRIALS, REPORTS = 4, 2000


# ----------------------------------------------------------------------------- children
def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def child_tunefleet(workload: str, n: int, storage: str, engine: str = "local") -> dict[str, Any]:
    import tunefleet as tune

    out: dict[str, Any] = {"imported": time.time(), "module": tune.__file__}

    def trivial(config: dict[str, Any]) -> None:
        tune.report(score=config["x"])

    def many(config: dict[str, Any]) -> None:
        for i in range(config["n"]):
            tune.report(score=i)

    seen: list[float] = []

    class FirstSeen(tune.Callback):
        def on_trial_result(self, *args: Any, **kwargs: Any) -> None:
            if not seen:
                seen.append(time.time())

    def sweep(fn: Any, config: dict[str, Any], trials: int, **kw: Any) -> Any:
        return tune.run(
            fn,
            config=config,
            num_samples=trials,
            storage_path=storage,
            verbose=0,
            max_concurrent_trials=CONCURRENCY,
            engine=engine,
            **kw,
        )

    space = {"x": tune.uniform(0, 1)}
    if workload == "first_result":
        sweep(trivial, space, N_FIRST, callbacks=[FirstSeen()])
        out.update(first_seen=seen[0] if seen else None, end=time.time())
    elif workload == "throughput":
        sweep(trivial, space, n)
        out["end"] = time.time()
    elif workload == "report_cost":
        out.update(_report_cost(lambda reports: sweep(many, {"n": reports}, REPORT_TRIALS)))
    return out


def child_raytune(workload: str, n: int, storage: str) -> dict[str, Any]:
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    import ray
    from ray import tune

    out: dict[str, Any] = {"imported": time.time(), "module": tune.__file__}

    def trivial(config: dict[str, Any]) -> None:
        tune.report({"score": config["x"]})

    def many(config: dict[str, Any]) -> None:
        for i in range(config["n"]):
            tune.report({"score": i})

    seen: list[float] = []

    class FirstSeen(tune.Callback):
        def on_trial_result(self, *args: Any, **kwargs: Any) -> None:
            if not seen:
                seen.append(time.time())

    def sweep(fn: Any, space: dict[str, Any], trials: int, callbacks: Any = None) -> Any:
        tuner = tune.Tuner(
            fn,
            param_space=space,
            tune_config=tune.TuneConfig(
                num_samples=trials, max_concurrent_trials=CONCURRENCY, reuse_actors=True
            ),
            run_config=tune.RunConfig(storage_path=storage, verbose=0, callbacks=callbacks),
        )
        return tuner.fit()

    ray.init(
        num_cpus=CONCURRENCY,
        include_dashboard=False,
        log_to_driver=False,
        _temp_dir=os.path.join(storage, "ray"),
    )
    try:
        space = {"x": tune.uniform(0, 1)}
        if workload == "first_result":
            sweep(trivial, space, N_FIRST, callbacks=[FirstSeen()])
            out.update(first_seen=seen[0] if seen else None, end=time.time())
        elif workload == "throughput":
            sweep(trivial, space, n)
            out["end"] = time.time()
        elif workload == "report_cost":
            out.update(_report_cost(lambda reports: sweep(many, {"n": reports}, REPORT_TRIALS)))
    finally:
        ray.shutdown()
    return out


def child_optuna(workload: str, n: int, storage: str) -> dict[str, Any]:
    import optuna

    out: dict[str, Any] = {"imported": time.time(), "module": optuna.__file__}
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    def trivial(trial: Any) -> float:
        return trial.suggest_float("x", 0, 1)

    def study() -> Any:
        return optuna.create_study(
            sampler=optuna.samplers.RandomSampler(seed=0), pruner=optuna.pruners.NopPruner()
        )

    seen: list[float] = []

    def first_seen(study: Any, trial: Any) -> None:
        if not seen:
            seen.append(time.time())

    def sweep_reports(reports: int) -> None:
        def many(trial: Any) -> float:
            trial.suggest_float("x", 0, 1)
            for i in range(reports):
                trial.report(float(i), i)
                trial.should_prune()
            return 0.0

        study().optimize(many, n_trials=REPORT_TRIALS, n_jobs=CONCURRENCY)

    if workload == "first_result":
        study().optimize(trivial, n_trials=N_FIRST, n_jobs=CONCURRENCY, callbacks=[first_seen])
        out.update(first_seen=seen[0] if seen else None, end=time.time())
    elif workload == "throughput":
        study().optimize(trivial, n_trials=n, n_jobs=CONCURRENCY)
        out["end"] = time.time()
    elif workload == "report_cost":
        out.update(_report_cost(sweep_reports))
    return out


def _report_cost(sweep: Any) -> dict[str, Any]:
    """Time a sweep of 1 report per trial and one of REPORTS, after an untimed warm-up."""
    sweep(1)
    t0 = time.perf_counter()
    sweep(1)
    t1 = time.perf_counter()
    sweep(REPORTS)
    t2 = time.perf_counter()
    return {"seconds_1": t1 - t0, "seconds_n": t2 - t1, "end": time.time()}


def child_tunefleet_threads(workload: str, n: int, storage: str) -> dict[str, Any]:
    return child_tunefleet(workload, n, storage, engine="threads")


CHILDREN = {
    "tunefleet": child_tunefleet,
    "tunefleet-threads": child_tunefleet_threads,
    "raytune": child_raytune,
    "optuna": child_optuna,
}


def child_main(argv: list[str]) -> None:
    system, workload, n, storage, out_file = argv
    out = CHILDREN[system](workload, int(n), storage)
    out.update(child_start=CHILD_START, driver_peak_rss_mb=_peak_rss_mb())
    with open(out_file, "w") as f:
        json.dump(out, f)


# ----------------------------------------------------------------------------- parent
def _session_members(sid: int) -> list[int]:
    """Processes still in session ``sid`` (the child's, started with a new session)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid:  # state ppid pgrp session ...
            pids.append(int(entry))
    return pids


def run_child(system: str, workload: str, n: int, timeout: float) -> dict[str, Any]:
    """One fresh process; its times are counted from just before it is spawned."""
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory(prefix="tf-bench-", ignore_cleanup_errors=True) as tmp:
        out_file = os.path.join(tmp, "out.json")
        storage = os.path.join(tmp, "store")
        os.mkdir(storage)
        env = dict(os.environ, PYTHONWARNINGS="ignore")
        # Installed packages ship compiled bytecode; let an editable checkout cache its own
        # too, so that every system is timed with warm .pyc files.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        cmd = [sys.executable, os.path.abspath(__file__), "--child"]
        cmd += [system, workload, str(n), storage, out_file]
        load = os.getloadavg()[0]
        spawned = time.time()
        p0 = time.perf_counter()
        proc = subprocess.Popen(
            cmd,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            start_new_session=True,
        )
        try:
            _, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
            err = f"timed out after {timeout} s\n{err}"
        wall = time.perf_counter() - p0
        settle_until, stragglers = time.monotonic() + 30.0, _session_members(proc.pid)
        while stragglers and time.monotonic() < settle_until:
            time.sleep(0.1)
            stragglers = _session_members(proc.pid)
        run = {"system": system, "workload": workload, "n": n, "spawned": spawned}
        run.update(load_1min_before=load, process_wall_s=wall, stragglers_after_30s=stragglers)
        if proc.returncode != 0 or not os.path.exists(out_file):
            run["error"] = f"exit {proc.returncode}: {err[-3000:]}"
            return run
        with open(out_file) as f:
            run["child"] = json.load(f)
        return run


def metrics_of(run: dict[str, Any]) -> dict[str, float]:
    """The figures of one run, every time counted from just before the spawn."""
    c, t0, n, w = run["child"], run["spawned"], run["n"], run["workload"]
    tag = f"{w}@{n}" if w == "throughput" else w
    m = {
        f"{tag}.interpreter_start_s": c["child_start"] - t0,
        f"{tag}.import_s": c["imported"] - c["child_start"],
        f"{tag}.driver_peak_rss_mb": c["driver_peak_rss_mb"],
    }
    if w == "first_result":
        if c.get("first_seen") is not None:
            m["first_result_s"] = c["first_seen"] - t0
        m["sweep_20_s"] = c["end"] - t0
        m["first_result.process_exit_s"] = run["process_wall_s"]
    elif w == "throughput":
        m[f"trials_per_s@{n}"] = n / (c["end"] - t0)
        m[f"trials_per_s_after_import@{n}"] = n / (c["end"] - c["imported"])
        m[f"sweep_s@{n}"] = c["end"] - t0
    elif w == "report_cost":
        extra = REPORT_TRIALS * (REPORTS - 1)
        m["us_per_report"] = 1e6 * (c["seconds_n"] - c["seconds_1"]) / extra
    return m


def spread(samples: list[float], digits: int = 4) -> dict[str, Any]:
    import statistics

    return {
        "min": round(min(samples), digits),
        "median": round(statistics.median(samples), digits),
        "max": round(max(samples), digits),
        "samples": [round(s, digits) for s in samples],
    }


def fixed_cost(per_repeat: dict[int, dict[str, float]], counts: list[int]) -> dict[str, float]:
    """Least-squares line through (N, seconds from spawn to the end of N trials)."""
    pts = [(n, per_repeat[f"sweep_s@{n}"]) for n in counts if f"sweep_s@{n}" in per_repeat]
    if len(pts) < 2:
        return {}
    mx = sum(n for n, _ in pts) / len(pts)
    my = sum(s for _, s in pts) / len(pts)
    slope = sum((n - mx) * (s - my) for n, s in pts) / sum((n - mx) ** 2 for n, _ in pts)
    return {"fixed_cost_s": my - slope * mx, "marginal_trials_per_s": 1.0 / slope}


def machine_info() -> dict[str, Any]:
    import platform

    mem = ""
    try:
        with open("/proc/meminfo") as f:
            mem = f.readline().split(":", 1)[1].strip()
    except OSError:
        pass
    return {
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)),
        "mem_total": mem,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
    }


def versions() -> dict[str, Any]:
    from importlib import metadata

    out: dict[str, Any] = {}
    for dist in ("tunefleet", "ray", "optuna"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    return out


def checkout_info() -> dict[str, Any]:
    """The git commit of this checkout and whether its src/ has uncommitted changes."""
    import subprocess

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

    def git(*args: str) -> str:
        r = subprocess.run(["git", "-C", root, *args], capture_output=True, text=True)
        return r.stdout.strip() if r.returncode == 0 else ""

    return {
        "checkout": root,
        "commit": git("rev-parse", "HEAD"),
        "src_modified_files": len(git("status", "--porcelain", "--", "src").splitlines()),
        "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
    }


def available(system: str) -> bool:
    from importlib.util import find_spec

    module = {"raytune": "ray", "optuna": "optuna"}.get(system, "tunefleet")
    return find_spec(module) is not None


def summarise(report: dict[str, Any], systems: list[str], repeat: int) -> None:
    """Per system and metric: spread over repeats; per repeat ratios against the peers."""
    per: dict[str, dict[int, dict[str, float]]] = {s: {} for s in systems}
    for run in report["runs"]:
        if run.get("warm_up") or "child" not in run:
            continue
        slot = per[run["system"]].setdefault(run["repeat"], {})
        slot.update(metrics_of(run))
    counts = report["settings"]["trials"]
    for s in systems:
        for slot in per[s].values():
            slot.update(fixed_cost(slot, counts))
            rss = [v for k, v in slot.items() if k.endswith("driver_peak_rss_mb")]
            if rss:
                slot["driver_peak_rss_mb"] = max(rss)
    results: dict[str, Any] = {}
    for s in systems:
        keys = sorted({k for slot in per[s].values() for k in slot})
        results[s] = {
            k: spread([per[s][r][k] for r in range(repeat) if k in per[s].get(r, {})]) for k in keys
        }
    report["results"] = results
    ratios: dict[str, Any] = {}
    for ref in ("optuna", "raytune"):
        if ref not in systems:
            continue
        for s in systems:
            if s == ref:
                continue
            table = {}
            for k in results.get(s, {}):
                paired = [
                    per[s][r][k] / per[ref][r][k]
                    for r in range(repeat)
                    if k in per[s].get(r, {}) and per[ref].get(r, {}).get(k)
                ]
                if paired:
                    table[k] = spread(paired, 3)
            if table:
                ratios[f"{s}_vs_{ref}"] = table
    report["ratios"] = ratios


def print_table(report: dict[str, Any]) -> None:
    def headline(k: str) -> bool:
        return "." not in k or k == "first_result.import_s"

    lines = []
    for s, table in report["results"].items():
        lines.append(f"{s}:")
        for k, v in table.items():
            if not headline(k):
                continue
            lines.append(f"  {k:40s} {v['median']:>12.4g}  ({v['min']:.4g} .. {v['max']:.4g})")
    for pair, table in report["ratios"].items():
        lines.append(f"ratio {pair} (per repeat):")
        for k, v in table.items():
            if not headline(k):
                continue
            lines.append(f"  {k:40s} {v['median']:>12.3g}  ({v['min']:.3g} .. {v['max']:.3g})")
    print("\n".join(lines), file=sys.stderr)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child_main(sys.argv[2:])
        return
    import argparse

    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--systems", default=",".join(SYSTEMS))
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--trials", default="300", help="throughput trial counts, e.g. 300,3000")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per process")
    parser.add_argument("--no-warm-up", action="store_true")
    parser.add_argument("--out", help="also write the JSON here")
    args = parser.parse_args()
    systems = [s for s in args.systems.split(",") if s]
    workloads = [w for w in args.workloads.split(",") if w]
    counts = [int(n) for n in args.trials.split(",") if n]
    for name, given, known in (("system", systems, SYSTEMS), ("workload", workloads, WORKLOADS)):
        unknown = sorted(set(given) - set(known))
        if unknown:
            parser.error(f"unknown {name}(s): {', '.join(unknown)}")
    skipped = [s for s in systems if not available(s)]
    systems = [s for s in systems if s not in skipped]

    report: dict[str, Any] = {
        "benchmark": "overhead",
        "command": [os.path.relpath(sys.executable), *sys.argv],
        "date_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
        "machine": machine_info(),
        "load_avg_start": os.getloadavg(),
        "versions": versions(),
        "tunefleet_checkout": checkout_info(),
        "clock": "seconds from the parent's time.time() just before spawning a fresh python "
        "process (interpreter start-up and imports included); child events stamped with "
        "time.time(); us_per_report timed with perf_counter inside the process",
        "settings": {
            "systems": systems,
            "workloads": workloads,
            "repeat": args.repeat,
            "trials": counts,
            "concurrency": CONCURRENCY,
            "first_result_trials": N_FIRST,
            "report_cost": f"{REPORT_TRIALS} trials x {REPORTS} reports minus "
            f"{REPORT_TRIALS} x 1, after a warm-up sweep",
            "order": "interleaved: for each repeat, for each workload, each system in order",
        },
        "skipped": [f"{s}: not installed (pip install tunefleet[peers])" for s in skipped],
        "runs": [],
    }
    plan: list[tuple[str, int]] = []
    for w in workloads:
        plan += [(w, n) for n in counts] if w == "throughput" else [(w, 0)]
    runs = report["runs"]
    if not args.no_warm_up:
        for s in systems:
            run = run_child(s, "first_result", 0, args.timeout)
            run["warm_up"] = True
            runs.append(run)
    for r in range(args.repeat):
        for w, n in plan:
            for s in systems:
                run = run_child(s, w, n, args.timeout)
                run["repeat"] = r
                runs.append(run)
                status = "FAILED" if "error" in run else f"{run['process_wall_s']:.2f} s"
                print(f"repeat {r} {w}@{n} {s}: {status}", file=sys.stderr, flush=True)
    report["load_avg_end"] = os.getloadavg()
    report["failures"] = [
        {k: run[k] for k in ("system", "workload", "n", "error")} | {"repeat": run.get("repeat")}
        for run in runs
        if "error" in run
    ]
    report["tunefleet_module"] = sorted(
        {
            run["child"]["module"]
            for run in runs
            if run["system"].startswith("tunefleet") and "child" in run
        }
    )
    summarise(report, systems, args.repeat)
    text = json.dumps(report, indent=2)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    print(text)
    print_table(report)


if __name__ == "__main__":
    main()
