"""GPU utilisation while a system runs: NVML read by a background thread (10 Hz by default).

The bench's figures are device-wide, so the parent process samples while the system's child
runs; :func:`gpu_figures` then averages the samples inside the sweep's busy window (first
trial entry to last report, as for the CPU figures in :mod:`tunefleet.bench.measure`), per
device and over all of them. NVML's utilisation is the share of the last sample period in
which a kernel ran (nvidia-smi's ``utilization.gpu``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from tunefleet.worker.devices import Device, list_devices, nvml

__all__ = ["GpuSampler", "busy_gpu_figures", "gpu_figures"]


class GpuSampler:
    """Samples ``(time, utilisation % per device, memory used MiB per device)``.

    Use as a context manager around the work; without NVML or devices it samples nothing.
    """

    def __init__(
        self,
        interval_s: float = 0.1,
        module: Any | None = None,
        devices: list[Device] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.interval_s = interval_s
        self.module = module if module is not None else nvml()
        self.devices = devices if devices is not None else list_devices()
        self.clock = clock
        self.samples: list[tuple[float, list[float], list[float]]] = []
        self._handles: list[Any] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if self.module is not None:
            for d in self.devices:
                if d.id.isdigit():
                    self._handles.append(self.module.nvmlDeviceGetHandleByIndex(int(d.id)))
                else:
                    self._handles.append(self.module.nvmlDeviceGetHandleByUUID(d.uuid or d.id))

    @property
    def active(self) -> bool:
        return bool(self._handles)

    def sample(self) -> None:
        """Take one sample now."""
        nvml_: Any = self.module
        util = [float(nvml_.nvmlDeviceGetUtilizationRates(h).gpu) for h in self._handles]
        used = [nvml_.nvmlDeviceGetMemoryInfo(h).used / 2**20 for h in self._handles]
        self.samples.append((self.clock(), util, used))

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.sample()
            except Exception:  # a device lost mid-run: keep what was sampled
                return
            self._stop.wait(self.interval_s)

    def __enter__(self) -> GpuSampler:
        if self.active:
            self._thread = threading.Thread(target=self._loop, name="tf-gpu-sampler", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


def gpu_figures(
    samples: list[tuple[float, list[float], list[float]]],
    start: float | None = None,
    end: float | None = None,
) -> dict[str, Any]:
    """Mean utilisation per device and over all devices inside ``[start, end]`` (all samples
    when not given), and the peak memory used; empty without samples in the window."""
    inside = [
        s
        for s in samples
        if (start is None or s[0] >= start) and (end is None or s[0] <= end) and s[1]
    ]
    if not inside:
        return {}
    n = len(inside[0][1])
    per_device = [sum(s[1][i] for s in inside) / len(inside) / 100.0 for i in range(n)]
    return {
        "gpu_utilisation": sum(per_device) / n,
        "gpu_utilisation_per_device": per_device,
        "gpu_per_device": ", ".join(f"{u:.0%}" for u in per_device),
        "gpu_memory_peak_mb": max(max(s[2]) for s in inside),
        "gpu_samples": len(inside),
    }


def busy_gpu_figures(
    samples: list[tuple[float, list[float], list[float]]], outcome: dict[str, Any]
) -> dict[str, Any]:
    """:func:`gpu_figures` over a system's busy window (first trial entry to last report)."""
    rows = [r for r in outcome.get("rows", []) if isinstance(r.get("bench_time"), (int, float))]
    if not rows:
        return gpu_figures(samples)
    start = min(float(r.get("bench_entered", r["bench_time"])) for r in rows)
    return gpu_figures(samples, start, max(float(r["bench_time"]) for r in rows))
