"""Device detection and GPU placement against a fake NVML: ids, CUDA_VISIBLE_DEVICES (indices,
UUIDs, MIG), the nvidia-smi fallback, packing on the local engine, data-parallel ranks, and
the refusals of every engine."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tunefleet.errors import TuneValueError
from tunefleet.executors.gpu_requests import dask_gpu_refusal, spark_gpu_refusal
from tunefleet.executors.local import LocalExecutor
from tunefleet.protocol import Resources
from tunefleet.worker.data_parallel import GPU_SPLIT_VAR, rank_environments
from tunefleet.worker.devices import list_devices
from tunefleet.worker.gpus import detect_gpus

FakeGpus = Callable[..., Path]


def test_nvml_devices_ids_names_memory(fake_gpus: FakeGpus) -> None:
    fake_gpus()
    devices = list_devices()
    assert [d.id for d in devices] == ["0", "1"]
    assert [d.uuid for d in devices] == ["GPU-aaaa-1111", "GPU-bbbb-2222"]
    assert devices[0].name == "Fake A100" and devices[0].memory_mb == pytest.approx(40960)
    assert detect_gpus() == ["0", "1"]


def test_cuda_visible_devices_narrows_and_orders(
    fake_gpus: FakeGpus, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_gpus()
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1,0")
    assert [d.uuid for d in list_devices()] == ["GPU-bbbb-2222", "GPU-aaaa-1111"]
    # A UUID prefix and a MIG id are kept as given (CUDA accepts them); the UUID is resolved.
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-bbbb,MIG-0f1e2d3c,-1,0")
    devices = list_devices()
    assert [d.id for d in devices] == ["GPU-bbbb", "MIG-0f1e2d3c"]  # CUDA stops at -1
    assert devices[0].uuid == "GPU-bbbb-2222" and devices[0].memory_mb > 0
    assert detect_gpus() == ["GPU-bbbb", "MIG-0f1e2d3c"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert list_devices() == [] and detect_gpus() == []


def test_no_driver_falls_back_to_nvidia_smi(
    fake_gpus: FakeGpus, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_gpus(no_driver=True)
    assert list_devices() == []  # no driver, no nvidia-smi on PATH
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    smi = bin_dir / "nvidia-smi"
    smi.write_text(
        "#!/bin/sh\necho '0, Tesla T4, 15360, GPU-t4-0'\necho '1, Tesla T4, 15360, GPU-t4-1'\n"
    )
    smi.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    devices = list_devices()
    assert [(d.id, d.name, d.memory_mb) for d in devices] == [
        ("0", "Tesla T4", 15360.0),
        ("1", "Tesla T4", 15360.0),
    ]


@pytest.mark.parametrize(
    ("gpu", "cpus", "expected"),
    [
        (1.0, 4, ["0", "1"]),
        (0.5, 8, ["0", "0", "1", "1"]),
        (0.25, 8, ["0", "0", "0", "0", "1", "1", "1", "1"]),
        (2.0, 4, ["0,1"]),
    ],
)
def test_local_packs_whole_and_fractional_gpus_from_nvml(
    fake_gpus: FakeGpus, gpu: float, cpus: int, expected: list[str]
) -> None:
    fake_gpus()
    ex = LocalExecutor(num_cpus=cpus)
    ex.validate_resources(Resources(cpu=1, gpu=gpu))
    envs = ex._slot_envs(Resources(cpu=1, gpu=gpu), None)
    assert [e["CUDA_VISIBLE_DEVICES"] for e in envs] == expected


def test_local_honours_cuda_visible_devices_uuids(
    fake_gpus: FakeGpus, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_gpus()
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-bbbb-2222")
    envs = LocalExecutor(num_cpus=4)._slot_envs(Resources(cpu=1, gpu=0.5), None)
    assert [e["CUDA_VISIBLE_DEVICES"] for e in envs] == ["GPU-bbbb-2222"] * 2


def test_local_refuses_more_gpus_than_the_machine_has(fake_gpus: FakeGpus) -> None:
    fake_gpus()
    with pytest.raises(TuneValueError, match=r"resources_per_trial: gpu=3 but 2 GPU\(s\)"):
        LocalExecutor(num_cpus=4).validate_resources(Resources(cpu=1, gpu=3))
    fake_gpus([])
    with pytest.raises(TuneValueError, match=r"gpu=0.5 but 0 GPU"):
        LocalExecutor(num_cpus=4).validate_resources(Resources(cpu=1, gpu=0.5))


def test_data_parallel_ranks_get_one_device_each(
    fake_gpus: FakeGpus, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_gpus()
    envs = rank_environments(2, 1.0, 1.0)
    assert [e["CUDA_VISIBLE_DEVICES"] for e in envs] == ["0", "1"]
    assert all(e[GPU_SPLIT_VAR] == "1" for e in envs)
    # Inside a slot the local engine gave two UUIDs: one each, as given.
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-aaaa-1111,GPU-bbbb-2222")
    envs = rank_environments(2, 1.0, 1.0)
    assert [e["CUDA_VISIBLE_DEVICES"] for e in envs] == ["GPU-aaaa-1111", "GPU-bbbb-2222"]
    # Four ranks at 0.5 each: two per device.
    envs = rank_environments(4, 1.0, 0.5)
    assert [e["CUDA_VISIBLE_DEVICES"] for e in envs] == ["GPU-aaaa-1111"] * 2 + [
        "GPU-bbbb-2222"
    ] * 2


def test_ray_packs_fractional_gpus_per_node() -> None:
    from tunefleet.executors.ray import RayExecutor

    node = {"CPU": 8.0, "GPU": 2.0}
    assert RayExecutor._fits(node, RayExecutor._request(Resources(cpu=1, gpu=0.25))) == 8
    assert RayExecutor._fits(node, RayExecutor._request(Resources(cpu=1, gpu=0.5))) == 4
    assert RayExecutor._fits(node, RayExecutor._request(Resources(cpu=1, gpu=3))) == 0


def test_dask_refusal_says_how_to_declare_gpus() -> None:
    words = dask_gpu_refusal(Resources(gpu=1), [{"CPU": 2.0}, {}])
    assert "no Dask worker declares a GPU resource" in words and "--resources GPU=" in words
    words = dask_gpu_refusal(Resources(gpu=2), [{"GPU": 1.0}])
    assert "gpu=2 per trial" in words and "GPU=1" in words
    assert dask_gpu_refusal(Resources(cpu=1), [{}]) == ""


def test_spark_local_master_refuses_gpus_before_starting() -> None:
    assert spark_gpu_refusal(Resources(gpu=1), "local-cluster[2,1,1024]") is None
    assert spark_gpu_refusal(Resources(gpu=1), "spark://10.0.0.1:7077") is None
    assert spark_gpu_refusal(Resources(cpu=1), "local[2]") is None
    pytest.importorskip("pyspark")
    from tunefleet.executors.spark import SparkExecutor

    ex = SparkExecutor(master="local[2]")
    with pytest.raises(TuneValueError, match=r"resources_per_trial: gpu=0.5.*'local\[2\]'"):
        ex.validate_resources(Resources(cpu=1, gpu=0.5))
    assert "pyspark.context" not in sys.modules or ex._sc is None  # nothing started


def test_bench_device_cuda_without_gpu_fails_before_compute(
    fake_gpus: FakeGpus, tmp_path: Path
) -> None:
    from tunefleet.bench.run import BenchConfig, validate

    fake_gpus([])
    cfg = BenchConfig(workload="mlp", data=str(tmp_path), device="cuda")
    with pytest.raises(TuneValueError, match="--device cuda: no GPU"):
        validate(cfg, check_data=False)
    fake_gpus()
    with pytest.raises(TuneValueError, match="--device cuda: only mlp"):
        validate(BenchConfig(workload="knn", data=str(tmp_path), device="cuda"), False)
    with pytest.raises(TuneValueError, match="--device: must be cpu or cuda"):
        validate(BenchConfig(workload="mlp", data=str(tmp_path), device="tpu"), False)
    assert os.environ.get("CUDA_VISIBLE_DEVICES") is None


def test_dask_refuses_gpu_trials_when_no_worker_declares_gpus() -> None:
    pytest.importorskip("distributed")
    from tunefleet.executors.dask import DaskExecutor

    ex = DaskExecutor(n_workers=1, threads_per_worker=2)  # planned, not started
    with pytest.raises(TuneValueError, match=r"resources_per_trial.*no Dask worker declares a GPU"):
        ex.validate_resources(Resources(cpu=1, gpu=0.5))
    ex = DaskExecutor(n_workers=1, threads_per_worker=2, resources={"GPU": 1})
    ex.validate_resources(Resources(cpu=1, gpu=0.5))
    with pytest.raises(TuneValueError, match=r"gpu=2 per trial.*GPU=1"):
        ex.validate_resources(Resources(cpu=1, gpu=2))
