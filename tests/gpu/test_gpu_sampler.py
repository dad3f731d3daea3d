"""The bench's NVML sampler against a fake NVML with scripted utilisation, and the GPU
columns of the bench's table and JSON."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tunefleet.bench import report
from tunefleet.bench.gpu_sampler import GpuSampler, busy_gpu_figures, gpu_figures
from tunefleet.testing.fake_nvml import FakeNvml
from tunefleet.worker.devices import Device

FakeGpus = Callable[..., Path]


def test_busy_window_average_per_device(fake_gpus: FakeGpus) -> None:
    # Idle before and after the sweep (0 %), busy 80/40 % in between.
    fake_gpus(
        [
            {"uuid": "GPU-a", "utilization": [0, 0, 80, 80, 80, 0], "memory_used_mb": [0, 500]},
            {"uuid": "GPU-b", "utilization": [0, 0, 40, 40, 40, 0]},
        ]
    )
    ticks = iter(range(100))
    sampler = GpuSampler(clock=lambda: float(next(ticks)))
    assert sampler.active and [d.id for d in sampler.devices] == ["0", "1"]
    for _ in range(6):
        sampler.sample()
    outcome = {"rows": [{"bench_entered": 2.0, "bench_time": 3.0}, {"bench_time": 4.0}]}
    fig = busy_gpu_figures(sampler.samples, outcome)
    assert fig["gpu_utilisation_per_device"] == pytest.approx([0.8, 0.4])
    assert fig["gpu_utilisation"] == pytest.approx(0.6)
    assert fig["gpu_samples"] == 3 and fig["gpu_per_device"] == "80%, 40%"
    assert fig["gpu_memory_peak_mb"] == pytest.approx(500)
    # Over the whole call the idle ends pull the mean down.
    assert gpu_figures(sampler.samples)["gpu_utilisation"] == pytest.approx(0.3)
    assert gpu_figures(sampler.samples, 50.0, 60.0) == {}


def test_thread_samples_while_work_runs() -> None:
    module = FakeNvml({"devices": [{"uuid": "GPU-a", "utilization": [10, 20, 30]}]})
    module.nvmlInit()
    devices = [Device(id="GPU-a", name="Fake", memory_mb=1024.0, uuid="GPU-a")]
    with GpuSampler(interval_s=0.01, module=module, devices=devices) as sampler:
        deadline = time.monotonic() + 5
        while len(sampler.samples) < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
    assert [s[1][0] for s in sampler.samples[:4]] == [10.0, 20.0, 30.0, 30.0]
    n = len(sampler.samples)
    time.sleep(0.05)
    assert len(sampler.samples) == n  # stopped on exit


def test_no_gpu_samples_nothing_and_table_has_no_gpu_columns(fake_gpus: FakeGpus) -> None:
    fake_gpus([])
    with GpuSampler(interval_s=0.01) as sampler:
        time.sleep(0.03)
    assert not sampler.active and sampler.samples == []
    rows = [{"system": "local", "utilisation": 0.5}]
    assert report.run_columns(rows) == report.RUN_COLUMNS
    assert "GPU" not in report.markdown_table(rows, report.run_columns(rows))


@pytest.mark.slow
def test_bench_run_shows_gpu_columns_with_the_fake_provider(
    fake_gpus: FakeGpus, tmp_path: Path
) -> None:
    pytest.importorskip("sklearn")
    from typer.testing import CliRunner

    from tunefleet.bench.synth import synthesize
    from tunefleet.cli import app

    fake_gpus([{"uuid": "GPU-a", "utilization": [55], "memory_used_mb": [1234]}])
    data = tmp_path / "data"
    synthesize(data, rows=600, features=4, classes=2, informative=2, seed=0, formats="parquet")
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        ["bench", "run", "--workload", "logreg", "--trials", "2", "--concurrency", "1"]
        + ["--data", str(data), "--out", str(out), "--target", "0.5"],
    )
    assert result.exit_code == 0, result.output
    row = json.loads((out / "bench.json").read_text())["rows"][0]
    assert row.get("error") is None, row
    assert row["gpu_utilisation"] == pytest.approx(0.55)
    assert row["gpu_utilisation_per_device"] == pytest.approx([0.55])
    assert row["gpu_memory_peak_mb"] == pytest.approx(1234)
    table = (out / "bench.md").read_text()
    assert "GPU util (busy)" in table and "55.0%" in table
    assert "GPU util" in result.output


def test_gpu_benchmark_script_exits_clearly_without_a_gpu(fake_gpus: FakeGpus) -> None:
    import subprocess
    import sys

    fake_gpus([])
    script = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu.py"
    proc = subprocess.run(
        [sys.executable, str(script), "--trials", "1"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2, proc.stderr
    assert "no GPU on this machine" in proc.stderr and proc.stdout == ""


def test_bench_job_asks_each_engine_for_its_gpu_share(tmp_path: Path) -> None:
    pytest.importorskip("distributed")
    from tunefleet.bench.systems import Job, _engine

    job = Job(
        system="dask", workload="xgboost", data=str(tmp_path), rows=None, trials=4,
        scheduler="fifo", search="random", cpus_per_trial=1, workers_per_trial=1,
        concurrency=4, seed=0, out=str(tmp_path), gpus_per_trial=0.25,
    )  # fmt: skip
    engine = _engine(job)
    assert engine.resources == {"GPU": 0.25} and engine.n_workers == 4
    assert Job.from_json(job.to_json()).gpus_per_trial == 0.25
