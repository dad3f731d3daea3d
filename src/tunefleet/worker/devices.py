"""The GPUs of this machine as NVML (or ``nvidia-smi``) reports them, seen through
``CUDA_VISIBLE_DEVICES``: ids, names and memory, for placement and for the bench's sampler.

NVML comes from ``nvidia-ml-py`` (module ``pynvml``, the ``gpu`` extra), imported only when
asked. Tests and machines without a GPU set ``TUNEFLEET_FAKE_NVML`` to a JSON file that
describes devices: :mod:`tunefleet.testing.fake_nvml` then stands in for ``pynvml`` with the
same calls, so the code below runs the same path as on a real GPU.

Indices in ``CUDA_VISIBLE_DEVICES`` are CUDA's order, NVML's are PCI order; they agree when
``CUDA_DEVICE_ORDER=PCI_BUS_ID`` (what Ray and most clusters set). ``GPU-…`` UUIDs (or a
unique prefix of one) and ``MIG-…`` ids are looked up by UUID, which has no such ambiguity.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from typing import Any

__all__ = ["FAKE_NVML_VAR", "Device", "list_devices", "nvml", "visible_ids"]

#: Path of a JSON device description that replaces ``pynvml`` (tests, GPU-less machines).
FAKE_NVML_VAR = "TUNEFLEET_FAKE_NVML"


@dataclass(frozen=True, slots=True)
class Device:
    """One device a trial may be given: ``id`` is what goes into ``CUDA_VISIBLE_DEVICES``."""

    id: str
    name: str
    memory_mb: float
    uuid: str = ""


def nvml() -> Any | None:
    """The NVML module (initialised), the fake one when ``TUNEFLEET_FAKE_NVML`` is set, or
    None when neither ``pynvml`` nor a driver is there."""
    path = os.environ.get(FAKE_NVML_VAR)
    if path:
        from tunefleet.testing.fake_nvml import FakeNvml

        module: Any = FakeNvml.from_file(path)
    else:
        try:
            import pynvml
        except ImportError:
            return None
        module = pynvml
    try:
        module.nvmlInit()
    except Exception:  # no driver (pynvml.NVMLError and its subclasses)
        return None
    return module


def visible_ids() -> list[str] | None:
    """The entries of ``CUDA_VISIBLE_DEVICES`` up to the first invalid one (as CUDA reads
    it), or None when it is not set."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is None:
        return None
    ids: list[str] = []
    for item in visible.split(","):
        item = item.strip()
        if not item or item.startswith("-"):  # CUDA stops at the first invalid id
            break
        ids.append(item)
    return ids


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _nvml_devices(module: Any) -> list[Device]:
    out = []
    for i in range(int(module.nvmlDeviceGetCount())):
        handle = module.nvmlDeviceGetHandleByIndex(i)
        memory = module.nvmlDeviceGetMemoryInfo(handle)
        out.append(
            Device(
                id=str(i),
                name=_text(module.nvmlDeviceGetName(handle)),
                memory_mb=float(memory.total) / 2**20,
                uuid=_text(module.nvmlDeviceGetUUID(handle)),
            )
        )
    return out


def _smi_devices() -> list[Device]:
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return []
    query = "--query-gpu=index,name,memory.total,uuid"
    try:
        out = subprocess.run(
            [exe, query, "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=15,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return []
    if out.returncode != 0:
        return []
    devices = []
    for line in out.stdout.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) == 4 and parts[0].isdigit():
            memory = float(parts[2]) if parts[2].replace(".", "", 1).isdigit() else 0.0
            devices.append(Device(id=parts[0], name=parts[1], memory_mb=memory, uuid=parts[3]))
    return devices


def _match(item: str, physical: list[Device]) -> Device:
    """The device a ``CUDA_VISIBLE_DEVICES`` entry names; unknown ones keep their id."""
    if item.isdigit():
        index = int(item)
        if index < len(physical):
            found = physical[index]
            return Device(id=item, name=found.name, memory_mb=found.memory_mb, uuid=found.uuid)
    else:
        hits = [d for d in physical if d.uuid and d.uuid.startswith(item)]
        if len(hits) == 1:
            return Device(
                id=item, name=hits[0].name, memory_mb=hits[0].memory_mb, uuid=hits[0].uuid
            )
    return Device(id=item, name="unknown", memory_mb=0.0, uuid=item if "-" in item else "")


def list_devices() -> list[Device]:
    """The devices this process may hand to trials: NVML, else ``nvidia-smi``, narrowed to
    (and in the order of) ``CUDA_VISIBLE_DEVICES`` when it is set."""
    module = nvml()
    physical: list[Device] = []
    if module is not None:
        try:
            physical = _nvml_devices(module)
        except Exception:  # a driver/library mismatch: try the command line instead
            physical = []
    if not physical:
        physical = _smi_devices()
    visible = visible_ids()
    if visible is None:
        return physical
    return [_match(item, physical) for item in visible]
