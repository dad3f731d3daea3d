"""Build the real two-objective table of benchmarks/multi_objective.py: `tunefleet bench`'s MLP.

The workload is ``tunefleet bench``'s own ``mlp`` training loop
(:func:`tunefleet.bench.workloads.mlp.mlp_train`, PyTorch on CPU, one iteration = one epoch,
AdamW) on a data set made by ``tunefleet data synth`` (12,000 rows, 20 features, 4 classes,
4 clusters per class, seed 0; 80/20 split). Every point of a grid is trained once for the
workload's 20 epochs and its validation accuracy after each epoch is kept, so the benchmark
looks values up instead of training (like benchmarks/make_tables.py).

Objectives: validation error (1 - accuracy, minimised) and inference time (minimised): the
median of 15 timed forward passes over the 2,400 validation rows of a network of that shape
(weights do not change the cost; one thread). Inference time is measured once here and
then fixed in the table, so the benchmark is deterministic; it reflects this machine.

Grid: hidden units (16, 32, 64, 128, 256, 512) x layers (1, 2, 3) x learning rate (3e-4,
1e-3, 3e-3, 1e-2); batch 256, no dropout, weight decay 1e-4: 72 points.

Run: ``.venv/bin/python benchmarks/make_mo_table.py`` (a few minutes); writes
benchmarks/data/mo_mlp_table.json.gz.
"""

from __future__ import annotations

import gzip
import itertools
import json
import pathlib
import platform
import statistics
import tempfile
import time
from typing import Any

OUT = pathlib.Path(__file__).parent / "data" / "mo_mlp_table.json.gz"
HIDDEN = (16, 32, 64, 128, 256, 512)
LAYERS = (1, 2, 3)
LR = (3e-4, 1e-3, 3e-3, 1e-2)


class _Session:
    """The bench's TrialSession, collecting each epoch's validation accuracy."""

    def __init__(self) -> None:
        self.accuracy: list[float] = []

    def report(self, metrics: dict[str, float], state: Any | None = None) -> None:
        self.accuracy.append(float(metrics["accuracy"]))

    def restore(self) -> Any | None:
        return None

    @property
    def threads(self) -> int:
        return 1


def _inference_ms(hidden: int, layers: int, features: int, classes: int, x: Any) -> float:
    import torch
    from torch import nn

    mods: list[nn.Module] = []
    width = features
    for _ in range(layers):
        mods += [nn.Linear(width, hidden), nn.ReLU()]
        width = hidden
    net = nn.Sequential(*mods, nn.Linear(width, classes)).eval()
    times = []
    with torch.no_grad():
        for _ in range(3):
            net(x)  # warm up
        for _ in range(15):
            t0 = time.perf_counter()
            net(x)
            times.append(time.perf_counter() - t0)
    return 1000.0 * statistics.median(times)


def main() -> None:
    import torch

    from tunefleet.bench.dataset import load_dataset
    from tunefleet.bench.synth import synthesize
    from tunefleet.bench.workloads.mlp import MAX_ITERATIONS, mlp_train

    torch.set_num_threads(1)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        synthesize(
            tmp, rows=12_000, features=20, classes=4, clusters_per_class=4, seed=0, formats="csv"
        )
        data = load_dataset(tmp, seed=0)
    x_valid = torch.from_numpy(data.x_valid.astype("float32"))
    infer = {
        (h, n): _inference_ms(h, n, data.x_train.shape[1], data.classes, x_valid)
        for h, n in itertools.product(HIDDEN, LAYERS)
    }
    points = []
    for h, n, lr in itertools.product(HIDDEN, LAYERS, LR):
        config = {"hidden": h, "layers": n, "lr": lr, "weight_decay": 1e-4, "batch_size": 256}
        session = _Session()
        mlp_train({**config, "dropout": 0.0, "seed": 0}, data, session)  # type: ignore[arg-type]
        assert len(session.accuracy) == MAX_ITERATIONS
        points.append(
            {
                "hidden": h,
                "layers": n,
                "lr": lr,
                "accuracy": [round(a, 5) for a in session.accuracy],
                "inference_ms": round(infer[(h, n)], 4),
            }
        )
        print(h, n, lr, session.accuracy[-1], round(infer[(h, n)], 3), flush=True)
    table = {
        "workload": "tunefleet bench mlp (tunefleet.bench.workloads.mlp.mlp_train)",
        "data": "tunefleet data synth: 12000 rows, 20 features, 4 classes, 4 clusters/class, "
        "seed 0; 80/20 split",
        "epochs": MAX_ITERATIONS,
        "machine": platform.platform(),
        "built": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "build_s": round(time.perf_counter() - started, 1),
        "points": points,
    }
    OUT.parent.mkdir(exist_ok=True)
    with gzip.open(OUT, "wt") as f:
        json.dump(table, f)
    print(json.dumps({"out": str(OUT), "points": len(points), "build_s": table["build_s"]}))


if __name__ == "__main__":
    main()
