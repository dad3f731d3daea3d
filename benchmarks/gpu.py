"""GPU sweeps: MLP (torch) and XGBoost on CUDA, 1, 2 and 4 trials per GPU, on tunefleet's
local, Ray and Dask engines and through Ray Tune on the same device (issue 18).

Each (workload, trials per GPU) pair is one ``tunefleet bench run`` (bench/run.py): every
system trains the same configurations, drawn once, in a fresh child process, while the
parent samples NVML at 10 Hz (bench/gpu_sampler.py). ``gpus_per_trial`` is 1, 0.5 and 0.25,
and ``concurrency`` is GPUs x trials per GPU, so several small models share a device: what
lifts utilisation on small models. Printed and written as JSON (``--out/gpu.json``):

* GPU utilisation: NVML ``utilization.gpu`` averaged over the busy window (first trial
  entered to last report), over all devices, and per device;
* trials per hour: trials / wall time of the sweep call (cluster start-up included);
* time to target: sweep start to the first report reaching the workload's target.

A short run: ``--trials 8`` per system on 20,000 synthetic rows, a few minutes on one GPU.
With no GPU (NVML and ``nvidia-smi`` find none, or ``CUDA_VISIBLE_DEVICES`` hides them) it
exits with status 2 and says so, before any compute.

    python benchmarks/gpu.py [--workloads mlp,xgboost] [--shares 1,0.5,0.25]
        [--engines local,ray,dask] [--peers raytune] [--trials 8] [--rows 20000] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", default="mlp,xgboost")
    parser.add_argument("--shares", default="1,0.5,0.25", help="GPUs per trial")
    parser.add_argument("--engines", default="local,ray,dask")
    parser.add_argument("--peers", default="raytune")
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per system")
    parser.add_argument("--out", default="bench_results/gpu")
    args = parser.parse_args()

    from tunefleet.worker.devices import list_devices

    devices = list_devices()
    if not devices:
        print(
            "benchmarks/gpu.py: no GPU on this machine (NVML and nvidia-smi found none, or "
            "CUDA_VISIBLE_DEVICES hides them); run it on a machine with an NVIDIA GPU",
            file=sys.stderr,
        )
        return 2

    from tunefleet.bench.run import BenchConfig, run_bench
    from tunefleet.bench.synth import synthesize

    out = Path(args.out)
    data = out / f"data-{args.rows}"
    if not (data / "metadata.json").is_file():
        synthesize(data, rows=args.rows, features=10, classes=2, informative=5, seed=0)
    split = [s.strip() for s in args.engines.split(",") if s.strip()]
    peers = [s.strip() for s in args.peers.split(",") if s.strip()]
    report: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "devices": [{"id": d.id, "name": d.name, "memory_mb": d.memory_mb} for d in devices],
        "trials": args.trials,
        "rows": args.rows,
        "runs": [],
    }
    for workload in [w.strip() for w in args.workloads.split(",") if w.strip()]:
        for share in [float(s) for s in args.shares.split(",")]:
            per_gpu = max(1, int(round(1.0 / share))) if share < 1 else 1
            cfg = BenchConfig(
                workload=workload,
                data=str(data),
                engines=split,
                peers=peers,
                trials=args.trials,
                concurrency=len(devices) * per_gpu,
                device="cuda",
                gpus_per_trial=share,
                out=str(out / f"{workload}-{share:g}"),
                timeout_s=args.timeout,
            )
            result = run_bench(cfg)
            for row in result["rows"]:
                report["runs"].append(
                    {
                        "workload": workload,
                        "gpus_per_trial": share,
                        "trials_per_gpu": per_gpu,
                        "system": row["system"],
                        "gpu_utilisation": row.get("gpu_utilisation"),
                        "gpu_utilisation_per_device": row.get("gpu_utilisation_per_device"),
                        "trials_per_hour": row.get("trials_per_hour"),
                        "time_to_target_s": row.get("time_to_target_s"),
                        "best": row.get("best"),
                        "error": row.get("error"),
                    }
                )
            write(out, report)
    print_table(report)
    print(json.dumps(report, indent=2))
    return 0


def write(out: Path, report: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "gpu.json").write_text(json.dumps(report, indent=2))


def print_table(report: dict[str, Any]) -> None:
    def fmt(value: Any, pattern: str) -> str:
        return pattern.format(value) if isinstance(value, (int, float)) else "n/a"

    print(
        f"{'workload':9} {'per GPU':>7} {'system':8} {'GPU util':>8} {'trials/h':>9} {'to target':>9}"
    )
    for r in report["runs"]:
        print(
            f"{r['workload']:9} {r['trials_per_gpu']:>7} {r['system']:8} "
            f"{fmt(r['gpu_utilisation'], '{:.0%}'):>8} {fmt(r['trials_per_hour'], '{:,.0f}'):>9} "
            f"{fmt(r['time_to_target_s'], '{:.1f} s'):>9}"
            + (f"  error: {r['error']}" if r["error"] else "")
        )


if __name__ == "__main__":
    sys.exit(main())
