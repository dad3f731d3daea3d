"""``tunefleet bench run``: one workload's sweep on every engine and peer, side by side.

Systems run one after another, each in a fresh child process (``python -m
tunefleet.bench.child``) with the same data, space, scheduler, trial count and
concurrency; the table compares them in the same run, so the machine's noise hits all.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tunefleet.bench import measure, report
from tunefleet.bench.gpu_sampler import GpuSampler, busy_gpu_figures
from tunefleet.bench.systems import ENGINES, PEERS, SCHEDULERS, Job
from tunefleet.bench.workloads._common import DEVICE_VAR
from tunefleet.errors import TuneValueError

RUN_PANELS = (
    ("time_to_target_s", "time to target (s)"),
    ("trials_per_hour", "trials per hour"),
    ("utilisation_busy", "worker utilisation (busy window)"),
    ("gpu_utilisation", "GPU utilisation (busy window)"),
    ("cost_per_1000", "cost per 1,000 trials"),
    ("recovery_s", "recovery after a kill (s)"),
)


@dataclass
class BenchConfig:
    """The arguments of ``tunefleet bench run``, validated by :func:`validate`."""

    workload: str
    data: str
    engines: Sequence[str] = ("local",)
    peers: Sequence[str] = ()
    trials: int = 20
    scheduler: str = "fifo"
    target: float | None = None
    inject_failure: bool = False
    price_per_core_hour: float | None = None
    spot_price_per_core_hour: float | None = None
    cpus_per_trial: int = 1
    workers_per_trial: int = 1
    concurrency: int | None = None
    rows: int | None = None
    seed: int = 0
    out: str = "bench_results"
    kill_after_s: float = 1.0
    timeout_s: float = 3600.0
    search: str = "random"
    device: str = "cpu"
    gpus_per_trial: float = 0.0


def validate(cfg: BenchConfig, check_data: bool = True) -> BenchConfig:
    """Check every argument before any compute; errors name the option.

    ``check_data=False`` when the dataset is about to be generated."""
    from tunefleet.bench.workloads import get_workload

    workload = get_workload(cfg.workload)
    missing = workload.missing()
    if missing:
        raise TuneValueError(
            f"--workload {cfg.workload}: needs {', '.join(missing)} "
            f"(pip install 'tunefleet[bench,torch]')"
        )
    if check_data and not (Path(cfg.data) / "metadata.json").is_file():
        raise TuneValueError(
            f"--data {cfg.data}: no dataset there (make one with `tunefleet data synth`)"
        )
    for name in cfg.engines:
        if name not in ENGINES:
            raise TuneValueError(
                f"--engines: unknown engine {name!r}; choose from {', '.join(ENGINES)}"
            )
    for name in cfg.peers:
        if name not in PEERS:
            raise TuneValueError(f"--peers: unknown peer {name!r}; choose from {', '.join(PEERS)}")
    if not cfg.engines and not cfg.peers:
        raise TuneValueError("--engines: give at least one engine or peer")
    if cfg.scheduler not in SCHEDULERS:
        raise TuneValueError(
            f"--scheduler: unknown {cfg.scheduler!r}; choose from {', '.join(SCHEDULERS)}"
        )
    for option, value, low in (
        ("--trials", cfg.trials, 1),
        ("--cpus-per-trial", cfg.cpus_per_trial, 1),
        ("--workers-per-trial", cfg.workers_per_trial, 1),
        ("--seed", cfg.seed, 0),
    ):
        if value < low:
            raise TuneValueError(f"{option}: must be >= {low}, got {value}")
    if cfg.rows is not None and cfg.rows < 10:
        raise TuneValueError(f"--rows: must be >= 10, got {cfg.rows}")
    for option, price in (
        ("--price-per-core-hour", cfg.price_per_core_hour),
        ("--spot-price-per-core-hour", cfg.spot_price_per_core_hour),
    ):
        if price is not None and price < 0:
            raise TuneValueError(f"{option}: must be >= 0, got {price}")
    if cfg.workers_per_trial > 1 and workload.name != "mlp":
        raise TuneValueError(
            f"--workers-per-trial: only the mlp workload trains across processes "
            f"(torch.distributed); {cfg.workload} runs in one process"
        )
    cores = os.cpu_count() or 1
    per_trial = cfg.cpus_per_trial * cfg.workers_per_trial
    concurrency = cfg.concurrency or max(1, cores // per_trial)
    if concurrency < 1:
        raise TuneValueError(f"--concurrency: must be >= 1, got {concurrency}")
    if not cfg.gpus_per_trial >= 0:
        raise TuneValueError(f"--gpus-per-trial: must be >= 0, got {cfg.gpus_per_trial}")
    if cfg.device not in ("cpu", "cuda"):
        raise TuneValueError(f"--device: must be cpu or cuda, got {cfg.device!r}")
    if cfg.device == "cuda":
        from tunefleet.worker.devices import list_devices

        if not list_devices():
            raise TuneValueError(
                "--device cuda: no GPU on this machine (NVML and nvidia-smi found none, "
                "or CUDA_VISIBLE_DEVICES hides them); run without --device cuda"
            )
        if workload.name not in ("mlp", "xgboost", "lightgbm"):
            raise TuneValueError(
                f"--device cuda: only mlp, xgboost and lightgbm train on CUDA, not {cfg.workload}"
            )
    target = cfg.target if cfg.target is not None else workload.default_target
    return replace(cfg, concurrency=concurrency, target=target)


def shared_configs(workload_name: str, trials: int, seed: int) -> list[dict[str, Any]]:
    """``trials`` configurations drawn once from the workload's space, as plain JSON values."""
    import numpy as np

    import tunefleet
    from tunefleet.bench.workloads import get_workload
    from tunefleet.space import resolve

    space = get_workload(workload_name).space(tunefleet)
    rng = np.random.default_rng([seed, 6])
    drawn = [resolve(space, rng=rng) for _ in range(trials)]
    plain: list[dict[str, Any]] = json.loads(
        json.dumps(drawn, default=lambda v: v.item() if hasattr(v, "item") else str(v))
    )
    return plain


def _job(cfg: BenchConfig, system: str, configs: list[dict[str, Any]] | None) -> Job:
    assert cfg.concurrency is not None
    return Job(
        system=system,
        workload=cfg.workload,
        data=os.path.abspath(cfg.data),
        rows=cfg.rows,
        trials=cfg.trials,
        scheduler=cfg.scheduler,
        search=cfg.search,
        cpus_per_trial=cfg.cpus_per_trial,
        workers_per_trial=cfg.workers_per_trial,
        concurrency=cfg.concurrency,
        seed=cfg.seed,
        out=os.path.abspath(cfg.out),
        inject_failure=cfg.inject_failure,
        kill_after_s=cfg.kill_after_s,
        configs=configs,
        gpus_per_trial=cfg.gpus_per_trial,
    )


def run_child(job: Job, timeout_s: float, device: str = "cpu") -> dict[str, Any]:
    """Run one system in a fresh interpreter; a crash or timeout becomes an error row."""
    work = Path(job.out) / "jobs"
    work.mkdir(parents=True, exist_ok=True)
    job_file = work / f"{job.system}.job.json"
    out_file = work / f"{job.system}.outcome.json"
    out_file.unlink(missing_ok=True)
    job_file.write_text(job.to_json())
    env = dict(os.environ, OMP_NUM_THREADS=str(job.cpus_per_trial), **{DEVICE_VAR: device})
    log = work / f"{job.system}.log"
    with open(log, "wb") as f:
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "tunefleet.bench.child", str(job_file), str(out_file)],
                stdout=f,
                stderr=subprocess.STDOUT,
                env=env,
                timeout=timeout_s,
                check=False,
            )
            rc: int | None = proc.returncode
        except subprocess.TimeoutExpired:
            rc = None
    if out_file.is_file():
        outcome: dict[str, Any] = json.loads(out_file.read_text())
        return outcome
    why = "timed out" if rc is None else f"exited with {rc}"
    return {
        "system": job.system,
        "error": f"child process {why}; see {log}",
        "notes": [],
    }


def run_bench(
    cfg: BenchConfig, on_event: Callable[[str, dict[str, Any]], None] | None = None
) -> dict[str, Any]:
    """Run every system of ``cfg`` and write ``bench.json``, ``bench.md`` and charts."""
    from tunefleet.bench.dataset import describe
    from tunefleet.bench.workloads import get_workload

    cfg = validate(cfg)
    workload = get_workload(cfg.workload)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    assert cfg.concurrency is not None
    cores = cfg.concurrency * cfg.cpus_per_trial * cfg.workers_per_trial
    rows: list[dict[str, Any]] = []
    curves: dict[str, list[tuple[float, float]]] = {}
    configs = None
    if cfg.search == "random" and cfg.scheduler != "bohb":  # BOHB's model picks its own
        configs = shared_configs(cfg.workload, cfg.trials, cfg.seed)
    for system in [*cfg.engines, *cfg.peers]:
        if on_event:
            on_event("start", {"system": system})
        t = time.time()
        with GpuSampler() as sampler:
            outcome = run_child(_job(cfg, system, configs), cfg.timeout_s, cfg.device)
        row = measure.figures(
            outcome,
            metric=workload.metric,
            mode=workload.mode,
            target=cfg.target,
            concurrency=cfg.concurrency,
            cores=cores,
            price=cfg.price_per_core_hour,
            spot_price=cfg.spot_price_per_core_hour,
        )
        row.update(busy_gpu_figures(sampler.samples, outcome))
        rows.append(row)
        curves[system] = measure.best_so_far(outcome, workload.metric, workload.mode)
        if on_event:
            on_event("end", {"system": system, "seconds": time.time() - t, "row": row})
    meta = describe(cfg.data)
    result: dict[str, Any] = {
        "workload": cfg.workload,
        "metric": workload.metric,
        "mode": workload.mode,
        "target": cfg.target,
        "scheduler": cfg.scheduler,
        "trials": cfg.trials,
        "concurrency": cfg.concurrency,
        "cpus_per_trial": cfg.cpus_per_trial,
        "workers_per_trial": cfg.workers_per_trial,
        "device": cfg.device,
        "gpus_per_trial": cfg.gpus_per_trial,
        "inject_failure": cfg.inject_failure,
        "data": {"path": os.path.abspath(cfg.data), "rows_used": cfg.rows, **meta},
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "rows": rows,
    }
    report.write_json(out / "bench.json", result)
    (out / "bench.md").write_text(run_markdown(result) + "\n")
    report.bar_charts(
        out / "bench.png", rows, RUN_PANELS, f"{cfg.workload}: {cfg.trials} trials, {cfg.scheduler}"
    )
    report.curve_chart(out / "bench_curve.png", curves, workload.metric, cfg.target)
    return result


def run_markdown(result: dict[str, Any]) -> str:
    head = (
        f"**{result['workload']}** — {result['trials']} trials, scheduler {result['scheduler']}, "
        f"{result['concurrency']} at a time × {result['cpus_per_trial']} CPU"
        f"{' × ' + str(result['workers_per_trial']) + ' workers' if result['workers_per_trial'] > 1 else ''}, "
        f"target {result['metric']} {'≥' if result['mode'] == 'max' else '≤'} {result['target']}"
        f"{', one worker killed' if result['inject_failure'] else ''}; "
        f"{result['data'].get('rows_used') or result['data'].get('rows')} rows; {result['date']}, "
        f"{result['machine']['summary']}"
    )
    notes = [f"- {r['system']}: {n}" for r in result["rows"] for n in r.get("notes", [])]
    notes += [f"- {r['system']}: {r['error']}" for r in result["rows"] if r.get("error")]
    body = report.markdown_table(result["rows"], report.run_columns(result["rows"]))
    return "\n\n".join([head, body, *(["\n".join(notes)] if notes else [])])


def machine() -> dict[str, Any]:
    import platform

    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    cores = os.cpu_count() or 1
    return {
        "cores": cores,
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "load_avg_1m": round(load[0], 2),
        "summary": f"{cores} cores, {platform.system()} {platform.machine()}, load {load[0]:.1f}",
    }
