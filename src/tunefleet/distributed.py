"""What a data-parallel trial's function uses: its place in the world and torch's DDP.

``tunefleet.run(train, resources_per_trial={"cpu": 1, "workers": 4})`` runs each trial of
``train`` as 4 processes (see :mod:`tunefleet.worker.data_parallel`). Inside ``train``::

    import tunefleet.distributed as dist

    def train(config):
        dist.init_process_group()                 # gloo over 127.0.0.1; no-op for 1 worker
        model = dist.prepare_model(make_model())  # DistributedDataParallel when > 1
        x, y = data[dist.shard(len(data))], ...   # this rank's contiguous part
        for epoch in range(10):
            loss = train_epoch(model, x, y)
            tunefleet.report({"loss": loss})      # rank 0's reports count

The same function runs unchanged with ``workers`` = 1 (or outside tunefleet): a world of
one process, where :func:`init_process_group` creates nothing and :func:`prepare_model`
returns the model as it is. torch is imported only by the functions that need it, so
importing this module stays cheap.
"""

from __future__ import annotations

import datetime
import os
import sys
from typing import Any

__all__ = [
    "destroy_process_group",
    "device",
    "init_process_group",
    "is_rank_zero",
    "local_rank",
    "prepare_model",
    "shard",
    "world_rank",
    "world_size",
]

#: torch's own default: how long a collective may wait for its peers.
DEFAULT_TIMEOUT_S = 1800.0


def _session() -> Any:
    from tunefleet.worker.session import current_session

    return current_session()


def world_rank() -> int:
    """This process's rank in the trial (0 when the trial is not data-parallel)."""
    s = _session()
    if s is not None:
        return int(s.get_world_rank())
    return int(os.environ.get("RANK", "0"))  # under torchrun, outside tunefleet


def world_size() -> int:
    """Processes in the trial (1 when it is not data-parallel)."""
    s = _session()
    if s is not None:
        return int(s.get_world_size())
    return int(os.environ.get("WORLD_SIZE", "1"))


def local_rank() -> int:
    """Rank among the trial's processes on this host (all of them: one host per trial)."""
    s = _session()
    if s is not None:
        return int(s.get_local_rank())
    return int(os.environ.get("LOCAL_RANK", "0"))


def is_rank_zero() -> bool:
    """True in the process whose reports count (and which should save checkpoints)."""
    return world_rank() == 0


def shard(n: int) -> slice:
    """This rank's contiguous part of ``n`` samples: ``data[shard(len(data))]``.

    Parts differ in size by at most one and together cover ``range(n)`` exactly once.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"shard(n): n must be an integer >= 0, got {n!r}")
    rank, size = world_rank(), world_size()
    return slice(n * rank // size, n * (rank + 1) // size)


def device() -> Any:
    """The ``torch.device`` this rank should compute on: its GPU when it was given one,
    else the CPU."""
    import torch

    if not torch.cuda.is_available():
        return torch.device("cpu")
    from tunefleet.worker.data_parallel import GPU_SPLIT_VAR

    if os.environ.get(GPU_SPLIT_VAR) == "1":  # CUDA_VISIBLE_DEVICES holds our GPUs only
        return torch.device("cuda", 0)
    return torch.device("cuda", local_rank() % torch.cuda.device_count())


def init_process_group(backend: str = "gloo", timeout_s: float = DEFAULT_TIMEOUT_S) -> bool:
    """Join the trial's process group (``env://``: the variables the launcher set).

    Returns True when a group exists afterwards; False in a world of one process, where
    nothing is created, so the same function runs with ``workers`` = 1. Idempotent.
    """
    if world_size() <= 1:
        return False
    import torch
    import torch.distributed as dist

    if dist.is_initialized():
        return True
    threads = os.environ.get("OMP_NUM_THREADS")
    if threads and threads.isdigit():
        torch.set_num_threads(int(threads))
    if backend == "nccl" and torch.cuda.is_available():
        torch.cuda.set_device(device())
    dist.init_process_group(
        backend=backend,
        init_method="env://",
        rank=world_rank(),
        world_size=world_size(),
        timeout=datetime.timedelta(seconds=float(timeout_s)),
    )
    return True


def prepare_model(model: Any, move_to_device: bool = True, **ddp_kwargs: Any) -> Any:
    """Wrap ``model`` in ``DistributedDataParallel`` when the trial has a process group
    (after :func:`init_process_group`); return it unwrapped otherwise. With
    ``move_to_device`` it is first moved to :func:`device` (a GPU when the rank has one)."""
    import torch.distributed as dist

    if move_to_device:
        dev = device()
        if dev.type != "cpu":
            model = model.to(dev)
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() <= 1:
        return model
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(model, **ddp_kwargs)


def destroy_process_group() -> None:
    """Leave the process group if there is one (the rank wrapper also does it at exit)."""
    if "torch.distributed" not in sys.modules:
        return  # never imported, so never initialised
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
