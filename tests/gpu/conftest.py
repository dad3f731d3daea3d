"""A fake NVML (tunefleet.testing.fake_nvml) described by a JSON file, for GPU-less machines."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tunefleet.worker.devices import FAKE_NVML_VAR

TWO_GPUS = [
    {"name": "Fake A100", "uuid": "GPU-aaaa-1111", "memory_mb": 40960},
    {"name": "Fake A100", "uuid": "GPU-bbbb-2222", "memory_mb": 40960},
]


@pytest.fixture
def fake_gpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Path]:
    """``fake_gpus(devices, **extra)`` makes every NVML call in this process (and its
    children) answer from ``devices``; CUDA_VISIBLE_DEVICES is cleared and nvidia-smi hidden."""
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))

    def make(devices: list[dict[str, Any]] | None = None, **extra: Any) -> Path:
        path = tmp_path / "nvml.json"
        path.write_text(json.dumps({"devices": TWO_GPUS if devices is None else devices, **extra}))
        monkeypatch.setenv(FAKE_NVML_VAR, str(path))
        return path

    return make
