"""A small PyTorch MLP on CPU: one iteration is one epoch over the training rows.

All randomness (initial weights, each epoch's shuffle and dropout masks) comes from
generators seeded by ``(seed, epoch)``, never torch's global generator, so that a trial
restored at epoch ``k`` replays epochs ``k + 1 ..`` exactly and concurrent trials in one
process do not disturb each other.

Data-parallel trials: when the process is one rank of several (``WORLD_SIZE`` > 1 in the
environment, as set by ``resources_per_trial={"workers": N}`` or torchrun, or a process
group already joined), each rank trains on its own equal share of the rows with
``batch_size // world`` rows per step and averages gradients over gloo, so an iteration is
still one epoch over all rows with the configured global batch. Only rank 0 hands its
state to ``report``: the ranks hold identical weights.
"""

from __future__ import annotations

import copy
import math
import os
import warnings
from typing import Any

import numpy as np

from tunefleet.bench.workload import Dataset, TrialSession, Workload
from tunefleet.bench.workloads._common import bench_device, float32, metrics, resume, seed_of

#: Epochs per trial.
MAX_ITERATIONS = 20
#: Rows per forward pass when scoring the validation set.
EVAL_BATCH = 65_536


def mlp_space(tune: Any) -> dict[str, Any]:
    """Width, depth, AdamW step and decay, batch size and dropout."""
    return {
        "hidden": tune.lograndint(16, 513),
        "layers": tune.randint(1, 4),
        "lr": tune.loguniform(1e-4, 3e-2),
        "weight_decay": tune.loguniform(1e-6, 1e-2),
        "batch_size": tune.choice([64, 128, 256, 512, 1024, 2048]),
        "dropout": tune.uniform(0.0, 0.5),
    }


def mlp_grid(tune: Any) -> dict[str, Any]:
    """27 points: width x learning rate x batch size, two hidden layers, no dropout."""
    return {
        "hidden": tune.grid_search([32, 128, 512]),
        "lr": tune.grid_search([3e-4, 1e-3, 3e-3]),
        "batch_size": tune.grid_search([128, 512, 2048]),
    }


def _stream_seed(seed: int, epoch: int, stream: int, rank: int = 0) -> int:
    """A distinct generator seed per (trial seed, epoch, purpose, rank)."""
    return (((seed * 1_000_003 + epoch) * 4 + stream) * 1_024 + rank) % (1 << 63)


def process_group() -> tuple[int, int]:
    """``(world size, rank)``: join the env:// process group when launched as one rank.

    ``(1, 0)`` for an ordinary single-process trial; nothing is created then.
    """
    import torch.distributed as dist

    if not dist.is_available():
        return 1, 0
    if not dist.is_initialized():
        if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
            return 1, 0
        dist.init_process_group(backend="gloo", init_method="env://")
    return dist.get_world_size(), dist.get_rank()


def mlp_train(config: dict[str, Any], data: Dataset, session: TrialSession) -> None:
    """Train with AdamW, one epoch per iteration; report validation accuracy and log loss."""
    import torch
    from torch import nn

    done, state = resume(session)
    if done >= MAX_ITERATIONS:
        return
    torch.set_num_threads(session.threads)
    world, rank = process_group()
    seed = seed_of(config)
    hidden = int(config.get("hidden", 128))
    layers = int(config.get("layers", 2))
    dropout = float(config.get("dropout", 0.0))
    batch_size = max(1, int(config.get("batch_size", 256)) // world)

    with warnings.catch_warnings():
        # Shared, read-only arrays (e.g. from an object store) are never written here.
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        x_train = torch.from_numpy(float32(data.x_train))
        y_train = torch.from_numpy(np.ascontiguousarray(data.y_train, dtype=np.int64))
        x_valid = torch.from_numpy(float32(data.x_valid))
    mean = x_train.mean(dim=0)
    scale = x_train.std(dim=0).clamp_min(1e-12)
    # This rank's rows (views, no copies). Equal shares, so all ranks take equal steps.
    share = len(y_train) // world
    x_train = x_train[rank * share : (rank + 1) * share]
    y_train = y_train[rank * share : (rank + 1) * share]
    device = torch.device(bench_device())
    x_train, y_train, x_valid = x_train.to(device), y_train.to(device), x_valid.to(device)
    mean, scale = mean.to(device), scale.to(device)

    linears: list[nn.Linear] = []
    width = x_train.shape[1]
    for _ in range(layers):
        linears.append(nn.Linear(width, hidden))
        width = hidden
    head = nn.Linear(width, data.classes)
    params = nn.ModuleList([*linears, head])  # one state_dict for the whole stack
    init = torch.Generator().manual_seed(_stream_seed(seed, 0, 0))
    with torch.no_grad():
        for layer in [*linears, head]:
            bound = 1.0 / math.sqrt(layer.in_features)  # nn.Linear's own init range
            layer.weight.uniform_(-bound, bound, generator=init)
            layer.bias.uniform_(-bound, bound, generator=init)
    params.to(device)
    optimizer = torch.optim.AdamW(
        params.parameters(),
        lr=float(config.get("lr", 1e-3)),
        weight_decay=float(config.get("weight_decay", 1e-4)),
    )
    if state is not None:
        params.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])

    def forward(x: torch.Tensor, masks: torch.Generator | None) -> torch.Tensor:
        h = (x - mean) / scale  # standardise per batch: the shared arrays stay uncopied
        for layer in linears:
            h = torch.relu(layer(h))
            if masks is not None and dropout > 0.0:
                keep = torch.rand(h.shape, generator=masks).to(h.device) >= dropout
                h = h * keep / (1.0 - dropout)
        return head(h)

    def average_gradients() -> None:
        import torch.distributed as dist

        grads = [p.grad for p in params.parameters() if p.grad is not None]
        flat = torch.cat([g.reshape(-1) for g in grads])  # one collective per step
        dist.all_reduce(flat)
        flat /= world
        offset = 0
        for g in grads:
            g.copy_(flat[offset : offset + g.numel()].view_as(g))
            offset += g.numel()

    n = len(y_train)
    for epoch in range(done + 1, MAX_ITERATIONS + 1):
        shuffle = torch.Generator().manual_seed(_stream_seed(seed, epoch, 1, rank))
        order = torch.randperm(n, generator=shuffle)
        masks = torch.Generator().manual_seed(_stream_seed(seed, epoch, 2, rank))
        for start in range(0, n, batch_size):
            batch = order[start : start + batch_size].to(device)
            loss = nn.functional.cross_entropy(forward(x_train[batch], masks), y_train[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if world > 1:
                average_gradients()
            optimizer.step()
        with torch.inference_mode():
            proba = torch.cat(
                [
                    torch.softmax(forward(x_valid[i : i + EVAL_BATCH], None), dim=1)
                    for i in range(0, len(x_valid), EVAL_BATCH)
                ]
            )
        scores = metrics(proba.cpu().numpy(), data.y_valid, data.classes)
        if rank != 0:
            session.report(scores)
            continue
        # Copies: the optimizer updates these tensors in place after report returns.
        snapshot = {
            "iteration": epoch,
            "model": {k: v.detach().cpu().clone() for k, v in params.state_dict().items()},
            "optimizer": copy.deepcopy(optimizer.state_dict()),
        }
        session.report(scores, state=snapshot)


MLP = Workload(
    name="mlp",
    description="PyTorch MLP on CPU or CUDA (AdamW), one epoch per iteration",
    space=mlp_space,
    grid=mlp_grid,
    train=mlp_train,
    max_iterations=MAX_ITERATIONS,
    requires=("torch",),
    default_target=0.95,  # about the 75th percentile of random configs' best (see _common.py)
)
