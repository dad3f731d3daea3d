"""A stand-in for ``pynvml`` built from a device description: the test double of the NVML
calls tunefleet makes (placement, the bench's GPU sampler), for machines without a GPU.

Describe devices as JSON (``TUNEFLEET_FAKE_NVML=path`` makes every tunefleet process use it)
or as a dict::

    {"devices": [{"name": "NVIDIA A100", "uuid": "GPU-1a2b", "memory_mb": 40960,
                  "utilization": [0, 80, 95], "memory_used_mb": [0, 900, 1200]}]}

``utilization`` and ``memory_used_mb`` are scripted series: each read returns the next value
and then keeps the last one. ``{"no_driver": true}`` makes ``nvmlInit`` fail as it does on a
machine with ``pynvml`` but no driver.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class NVMLError(Exception):
    """What ``pynvml`` raises (``pynvml.NVMLError``)."""


@dataclass
class _Memory:
    total: int
    used: int
    free: int


@dataclass
class _Utilization:
    gpu: int
    memory: int


class _Series:
    def __init__(self, values: list[float]) -> None:
        self.values = [float(v) for v in values] or [0.0]
        self.reads = 0

    def next(self) -> float:
        value = self.values[min(self.reads, len(self.values) - 1)]
        self.reads += 1
        return value


class FakeNvml:
    """The ``pynvml`` functions tunefleet calls, answering from a description."""

    NVMLError = NVMLError

    def __init__(self, description: dict[str, Any]) -> None:
        self.devices: list[dict[str, Any]] = list(description.get("devices", []))
        self.no_driver = bool(description.get("no_driver", False))
        self._util = [_Series(d.get("utilization", [0])) for d in self.devices]
        self._used = [_Series(d.get("memory_used_mb", [0])) for d in self.devices]
        self._lock = threading.Lock()
        self.initialised = 0

    @classmethod
    def from_file(cls, path: str | Path) -> FakeNvml:
        return cls(json.loads(Path(path).read_text()))

    def nvmlInit(self) -> None:  # noqa: N802 - pynvml's names
        if self.no_driver:
            raise NVMLError("NVML Shared Library Not Found")
        self.initialised += 1

    def nvmlShutdown(self) -> None:  # noqa: N802
        self.initialised = max(0, self.initialised - 1)

    def _check(self) -> None:
        if not self.initialised:
            raise NVMLError("Uninitialized")

    def nvmlDeviceGetCount(self) -> int:  # noqa: N802
        self._check()
        return len(self.devices)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:  # noqa: N802
        self._check()
        if not 0 <= index < len(self.devices):
            raise NVMLError("Invalid Argument")
        return index

    def nvmlDeviceGetHandleByUUID(self, uuid: str | bytes) -> int:  # noqa: N802
        self._check()
        text = uuid.decode() if isinstance(uuid, bytes) else uuid
        for i, d in enumerate(self.devices):
            if d.get("uuid") == text:
                return i
        raise NVMLError("Not Found")

    def nvmlDeviceGetName(self, handle: int) -> str:  # noqa: N802
        return str(self.devices[handle].get("name", "Fake GPU"))

    def nvmlDeviceGetUUID(self, handle: int) -> str:  # noqa: N802
        return str(self.devices[handle].get("uuid", f"GPU-fake-{handle}"))

    def nvmlDeviceGetMemoryInfo(self, handle: int) -> _Memory:  # noqa: N802
        total = int(float(self.devices[handle].get("memory_mb", 16384)) * 2**20)
        with self._lock:
            used = int(self._used[handle].next() * 2**20)
        return _Memory(total=total, used=used, free=total - used)

    def nvmlDeviceGetUtilizationRates(self, handle: int) -> _Utilization:  # noqa: N802
        with self._lock:
            gpu = int(self._util[handle].next())
        return _Utilization(gpu=gpu, memory=0)
