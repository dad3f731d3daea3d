"""Per-trial and per-report overhead of tunefleet against Ray Tune and Optuna, as JSON.

Workloads (issue 2), each run in a fresh Python process so start-up and memory are real:

  a) first_result: seconds from process start to the first reported result of a 20-trial
     sweep of a trivial function, and to the end of that sweep;
  b) throughput: trials per second for 300 trivial trials, 2 concurrent;
  c) report_cost: microseconds per report, 4 trials x 2,000 reports under FIFO
     (marginal: the same sweep with 1 report per trial is subtracted);
  d) peak RSS of the driver process over (a)-(c).

Ray Tune (Tuner API) and Optuna (in-memory study, RandomSampler, n_jobs=2) run the same
workloads in the same invocation when installed (``pip install tunefleet[peers]``).

    python benchmarks/overhead.py [--systems tunefleet,raytune,optuna] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

N_FIRST = 20
N_THROUGHPUT = 300
REPORT_TRIALS, REPORTS = 4, 2000


# ----------------------------------------------------------------------------- children
def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def child_tunefleet(workload: str, storage: str) -> dict[str, Any]:
    import tunefleet as tune

    if workload != "first_result":
        # ``import tunefleet`` is lazy; load what run() needs before the clock starts, as
        # ``import ray`` / ``import optuna`` do for the peers.
        import tunefleet.runner  # noqa: F401

    def trivial(config: dict[str, Any]) -> None:
        tune.report(score=config["x"], t=time.time())

    def many(config: dict[str, Any]) -> None:
        for i in range(config["n"]):
            tune.report(score=i)

    common = {"storage_path": storage, "verbose": 0, "max_concurrent_trials": 2}
    if workload == "first_result":
        res = tune.run(trivial, config={"x": tune.uniform(0, 1)}, num_samples=N_FIRST, **common)
        ts = [t.last_result["t"] for t in res.trials]
        return {"first_result_at": min(ts), "end_at": time.time()}
    if workload == "throughput":
        t0 = time.perf_counter()
        tune.run(trivial, config={"x": tune.uniform(0, 1)}, num_samples=N_THROUGHPUT, **common)
        return {"seconds": time.perf_counter() - t0}
    if workload == "report_cost":
        out = {}
        for n in (1, REPORTS):
            t0 = time.perf_counter()
            tune.run(many, config={"n": n}, num_samples=REPORT_TRIALS, **common)
            out[n] = time.perf_counter() - t0
        return {"seconds_1": out[1], "seconds_n": out[REPORTS]}
    raise SystemExit(f"unknown workload {workload}")


def child_raytune(workload: str, storage: str) -> dict[str, Any]:
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    import ray
    from ray import tune

    def trivial(config: dict[str, Any]) -> None:
        tune.report({"score": config["x"], "t": time.time()})

    def many(config: dict[str, Any]) -> None:
        for i in range(config["n"]):
            tune.report({"score": i})

    def fit(fn: Any, space: dict[str, Any], n: int) -> Any:
        tuner = tune.Tuner(
            fn,
            param_space=space,
            tune_config=tune.TuneConfig(num_samples=n, max_concurrent_trials=2, reuse_actors=True),
            run_config=tune.RunConfig(storage_path=storage, verbose=0),
        )
        return tuner.fit()

    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        _temp_dir=os.path.join(tempfile.gettempdir(), f"rt{os.getpid()}"),
    )
    try:
        if workload == "first_result":
            grid = fit(trivial, {"x": tune.uniform(0, 1)}, N_FIRST)
            ts = [r.metrics["t"] for r in grid if r.metrics]
            return {"first_result_at": min(ts), "end_at": time.time()}
        if workload == "throughput":
            t0 = time.perf_counter()
            fit(trivial, {"x": tune.uniform(0, 1)}, N_THROUGHPUT)
            return {"seconds": time.perf_counter() - t0}
        if workload == "report_cost":
            out = {}
            for n in (1, REPORTS):
                t0 = time.perf_counter()
                fit(many, {"n": n}, REPORT_TRIALS)
                out[n] = time.perf_counter() - t0
            return {"seconds_1": out[1], "seconds_n": out[REPORTS]}
    finally:
        ray.shutdown()
    raise SystemExit(f"unknown workload {workload}")


def child_optuna(workload: str, storage: str) -> dict[str, Any]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    stamps: list[float] = []

    def trivial(trial: Any) -> float:
        x = trial.suggest_float("x", 0, 1)
        stamps.append(time.time())
        return x

    def study() -> Any:
        return optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))

    if workload == "first_result":
        study().optimize(trivial, n_trials=N_FIRST, n_jobs=2)
        return {"first_result_at": min(stamps), "end_at": time.time()}
    if workload == "throughput":
        t0 = time.perf_counter()
        study().optimize(trivial, n_trials=N_THROUGHPUT, n_jobs=2)
        return {"seconds": time.perf_counter() - t0}
    if workload == "report_cost":
        out = {}
        for n in (1, REPORTS):

            def many(trial: Any, n: int = n) -> float:
                trial.suggest_float("x", 0, 1)
                for i in range(n):
                    trial.report(float(i), i)
                    trial.should_prune()
                return 0.0

            t0 = time.perf_counter()
            study().optimize(many, n_trials=REPORT_TRIALS, n_jobs=2)
            out[n] = time.perf_counter() - t0
        return {"seconds_1": out[1], "seconds_n": out[REPORTS]}
    raise SystemExit(f"unknown workload {workload}")


CHILDREN = {"tunefleet": child_tunefleet, "raytune": child_raytune, "optuna": child_optuna}


# ----------------------------------------------------------------------------- parent
def run_child(system: str, workload: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="tf-bench-") as storage:
        env = dict(os.environ, PYTHONWARNINGS="ignore")
        # Installed packages ship compiled bytecode; let the editable checkout cache its own
        # too, so that every system is timed with warm .pyc files.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        t0 = time.time()
        proc = subprocess.run(
            [sys.executable, __file__, "--child", system, workload, storage],
            capture_output=True,
            text=True,
            env=env,
            timeout=900,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"{system}/{workload} failed:\n{proc.stderr[-3000:]}")
        out = json.loads(proc.stdout.strip().splitlines()[-1])
        out["process_start"] = t0
        return out


def available(system: str) -> bool:
    module = {"tunefleet": "tunefleet", "raytune": "ray.tune", "optuna": "optuna"}[system]
    probe = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True)
    return probe.returncode == 0


def measure(system: str, repeat: int) -> dict[str, Any]:
    run_child(system, "first_result")  # warm-up: bytecode caches, OS file cache
    first, whole, tps, us, rss = [], [], [], [], []
    for _ in range(repeat):
        a = run_child(system, "first_result")
        first.append(a["first_result_at"] - a["process_start"])
        whole.append(a["end_at"] - a["process_start"])
        b = run_child(system, "throughput")
        tps.append(N_THROUGHPUT / b["seconds"])
        c = run_child(system, "report_cost")
        us.append(1e6 * (c["seconds_n"] - c["seconds_1"]) / (REPORT_TRIALS * (REPORTS - 1)))
        rss.append(max(a["peak_rss_mb"], b["peak_rss_mb"], c["peak_rss_mb"]))
    med = statistics.median
    return {
        "first_result_s": round(med(first), 3),
        "whole_20_trial_sweep_s": round(med(whole), 3),
        "trials_per_s": round(med(tps), 1),
        "us_per_report": round(med(us), 1),
        "driver_peak_rss_mb": round(med(rss), 1),
        "runs": repeat,
    }


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        system, workload, storage = sys.argv[2:5]
        out = CHILDREN[system](workload, storage)
        out["peak_rss_mb"] = _peak_rss_mb()
        print(json.dumps(out))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--systems", default="tunefleet,raytune,optuna")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    report: dict[str, Any] = {
        "benchmark": "overhead",
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "machine": f"{platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}",
        "workloads": {
            "first_result": f"{N_FIRST} trivial trials, from process start",
            "throughput": f"{N_THROUGHPUT} trivial trials, 2 concurrent",
            "report_cost": f"{REPORT_TRIALS} trials x {REPORTS} reports, FIFO, marginal",
        },
        "results": {},
        "skipped": [],
    }
    for system in args.systems.split(","):
        if not available(system):
            report["skipped"].append(f"{system}: not installed (pip install tunefleet[peers])")
            continue
        report["results"][system] = measure(system, args.repeat)
    tf = report["results"].get("tunefleet")
    if tf:
        ratios: dict[str, Any] = {}
        for peer in ("raytune", "optuna"):
            p = report["results"].get(peer)
            if not p:
                continue
            ratios[f"vs_{peer}"] = {
                "trials_per_s_x": round(tf["trials_per_s"] / p["trials_per_s"], 2),
                "first_result_speedup_x": round(p["first_result_s"] / tf["first_result_s"], 2),
                "report_cost_speedup_x": round(
                    p["us_per_report"] / max(tf["us_per_report"], 1e-9), 2
                ),
                "driver_rss_ratio": round(tf["driver_peak_rss_mb"] / p["driver_peak_rss_mb"], 2),
            }
        report["ratios"] = ratios
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
