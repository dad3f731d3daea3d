"""``ray.train.torch``: the training-loop helpers over :mod:`tunefleet.distributed`.

``get_device``, ``get_devices``, ``prepare_model``, ``prepare_data_loader`` and
``enable_reproducibility`` work inside a tunefleet trial, data-parallel or not (a trial of
``resources_per_trial={"cpu": 1, "workers": N}`` runs the function as N processes;
``prepare_model`` joins their process group first, which Ray's ``TorchTrainer`` does
before the loop). ``TorchTrainer`` and ``TorchConfig`` import but are not provided: the
trial is the unit tunefleet runs, so the loop a ``TorchTrainer`` would launch is the
trainable itself. torch is imported only when a helper is called.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from typing import Any

from tunefleet import distributed as _dist
from tunefleet.compat.unprovided import NotProvidedError, not_provided_class
from tunefleet.errors import TuneValueError

__all__ = [
    "TorchConfig",
    "TorchTrainer",
    "enable_reproducibility",
    "get_device",
    "get_devices",
    "prepare_data_loader",
    "prepare_model",
]

_WHY = (
    "tunefleet has no Ray Train: the trial is what it runs, so the loop a TorchTrainer "
    "would launch on its workers is the trainable itself"
)
_INSTEAD = (
    "tune the training loop function directly (tune.run(train_loop, config=...) or "
    'tune.Tuner(train_loop, param_space=...)), with resources_per_trial={"cpu": 1, '
    '"workers": N} for N data-parallel processes; train.torch.prepare_model and '
    "prepare_data_loader work inside it"
)
TorchTrainer = not_provided_class("ray.train.torch.TorchTrainer", __name__, _WHY, _INSTEAD)
TorchConfig = not_provided_class("ray.train.torch.TorchConfig", __name__, _WHY, _INSTEAD)


def get_device() -> Any:
    """The ``torch.device`` this process computes on (its GPU when it has one)."""
    return _dist.device()


def get_devices() -> list[Any]:
    """This process's devices: one here (a rank is given at most one GPU to compute on)."""
    return [_dist.device()]


def prepare_model(
    model: Any,
    move_to_device: Any = True,
    parallel_strategy: str | None = "ddp",
    parallel_strategy_kwargs: dict[str, Any] | None = None,
) -> Any:
    """Move ``model`` to :func:`get_device` (or to ``move_to_device`` when it is a device)
    and, in a data-parallel trial, wrap it in ``DistributedDataParallel`` after joining
    the trial's process group. ``parallel_strategy=None`` only moves it; ``"fsdp"`` is
    not provided."""
    if parallel_strategy == "fsdp":
        raise NotProvidedError(
            "ray.train.torch.prepare_model(parallel_strategy='fsdp') is not provided by "
            "tunefleet: its data-parallel trials use DistributedDataParallel. Instead: "
            "parallel_strategy='ddp', or wrap the model in FSDP yourself after "
            "tunefleet.distributed.init_process_group()"
        )
    if parallel_strategy not in ("ddp", None):
        raise TuneValueError(
            f"prepare_model: parallel_strategy must be 'ddp', 'fsdp' or None, "
            f"got {parallel_strategy!r}"
        )
    if isinstance(move_to_device, bool):
        to_device = move_to_device
    else:
        model = model.to(move_to_device)
        to_device = False
    if parallel_strategy is None:
        return _dist.prepare_model(model, move_to_device=to_device) if to_device else model
    _dist.init_process_group()  # no-op in a world of one process, and when already joined
    return _dist.prepare_model(model, move_to_device=to_device, **(parallel_strategy_kwargs or {}))


class _OnDevice:
    """Iterates a DataLoader, moving each batch's tensors to ``device``."""

    def __init__(self, loader: Any, device: Any) -> None:
        self._loader = loader
        self._device = device

    def __len__(self) -> int:
        return len(self._loader)

    def __iter__(self) -> Iterator[Any]:
        for batch in self._loader:
            yield _to_device(batch, self._device)

    def __getattr__(self, name: str) -> Any:  # sampler.set_epoch(...), dataset, ...
        return getattr(self._loader, name)


def _to_device(value: Any, device: Any) -> Any:
    if hasattr(value, "to") and hasattr(value, "device"):
        return value.to(device)
    if isinstance(value, dict):
        return {k: _to_device(v, device) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        moved = [_to_device(v, device) for v in value]
        return type(value)(*moved) if hasattr(value, "_fields") else type(value)(moved)
    return value


def prepare_data_loader(
    data_loader: Any,
    add_dist_sampler: bool = True,
    move_to_device: bool = True,
    auto_transfer: bool = True,
) -> Any:
    """In a data-parallel trial, give ``data_loader`` a ``DistributedSampler`` (each rank
    iterates its own part; shuffled when the loader shuffled); with ``move_to_device``,
    batches arrive on :func:`get_device` (a GPU when the rank has one). In a trial of one
    process the loader comes back as it is. ``auto_transfer`` (CUDA-stream prefetch) is
    accepted; batches are moved when they are taken."""
    from torch.utils.data import (
        DataLoader,
        DistributedSampler,
        IterableDataset,
        RandomSampler,
    )

    size = _dist.world_size()
    if (
        add_dist_sampler
        and size > 1
        and data_loader.batch_size is not None  # a custom batch_sampler: left as it is
        and not isinstance(data_loader.dataset, IterableDataset)
        and not isinstance(data_loader.sampler, DistributedSampler)
    ):
        sampler: Any = DistributedSampler(
            data_loader.dataset,
            num_replicas=size,
            rank=_dist.world_rank(),
            shuffle=isinstance(data_loader.sampler, RandomSampler),
        )
        data_loader = DataLoader(
            data_loader.dataset,
            batch_size=data_loader.batch_size,
            sampler=sampler,
            num_workers=data_loader.num_workers,
            collate_fn=data_loader.collate_fn,
            pin_memory=data_loader.pin_memory,
            drop_last=data_loader.drop_last,
            timeout=data_loader.timeout,
            worker_init_fn=data_loader.worker_init_fn,
            generator=data_loader.generator,
        )
    if move_to_device:
        device = _dist.device()
        if device.type != "cpu":
            return _OnDevice(data_loader, device)
    return data_loader


def enable_reproducibility(seed: int = 0) -> None:
    """Seed Python's, numpy's and torch's generators with ``seed`` and make torch use
    deterministic algorithms (cuDNN autotuning off, cuBLAS's deterministic workspace)."""
    import torch

    torch.manual_seed(seed)
    random.seed(seed)
    try:
        import numpy
    except ImportError:  # pragma: no cover - numpy is a core dependency
        pass
    else:
        numpy.random.seed(seed)
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.benchmark = False
    os.environ["CUBLAS_WORKSPACE_CONFIG"] = ":4096:8"
