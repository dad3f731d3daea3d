"""The GPUs this process may hand to trials (the local executor's pool, data-parallel ranks).

In ``worker/`` because a data-parallel trial's launcher splits them among its ranks, and the
worker imports nothing from ``executors/``. Detection is in :mod:`tunefleet.worker.devices`.
"""

from __future__ import annotations

from tunefleet.worker.devices import list_devices, visible_ids


def detect_gpus() -> list[str]:
    """GPU ids this process may use: ``CUDA_VISIBLE_DEVICES`` if set (indices, ``GPU-…``
    UUIDs or ``MIG-…`` ids, as given), else the devices NVML or ``nvidia-smi`` reports."""
    visible = visible_ids()
    if visible is not None:
        return visible
    return [d.id for d in list_devices()]
