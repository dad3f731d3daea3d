"""Reference workloads: the reporting contract, checkpoint/restore, spaces and lazy imports.

Tiny data (2,000 rows x 10 features) keeps every model to a fraction of a second.
"""

from __future__ import annotations

import functools
import itertools
import json
import math
import pickle
import subprocess
import sys
from typing import Any

import numpy as np
import pytest

import tunefleet
from tunefleet.bench.workload import Dataset, Workload
from tunefleet.bench.workloads import WORKLOADS, get_workload
from tunefleet.errors import StopTrial, TuneValueError
from tunefleet.space import find_domains, grid_values, is_grid, resolve

NAMES = sorted(WORKLOADS)
#: The Ray Tune space functions every workload may use (present in tunefleet and ray.tune).
PORTABLE = {"uniform", "loguniform", "randint", "lograndint", "choice", "quniform"}


class FakeSession:
    """Records reports; pickles each state as a checkpoint would; may stop the trial."""

    def __init__(self, restore: bytes | None = None, stop_after: int | None = None) -> None:
        self.reports: list[dict[str, float]] = []
        self.states: list[bytes] = []
        self._restore = restore
        self._stop_after = stop_after

    def report(self, metrics: dict[str, float], state: Any | None = None) -> None:
        self.reports.append(dict(metrics))
        self.states.append(pickle.dumps(state))
        if self._stop_after is not None and len(self.reports) >= self._stop_after:
            raise StopTrial()

    def restore(self) -> Any | None:
        return None if self._restore is None else pickle.loads(self._restore)

    @property
    def threads(self) -> int:
        return 1


def make_data(classes: int) -> Dataset:
    from sklearn.datasets import make_classification

    x, y = make_classification(
        n_samples=2_000,
        n_features=10,
        n_informative=5,
        n_redundant=0,
        n_classes=classes,
        random_state=0,
    )
    x, y = x.astype(np.float32), y.astype(np.int64)
    return Dataset(x[:1_600], y[:1_600], x[1_600:], y[1_600:], classes)


@functools.cache
def data(classes: int) -> Dataset:
    return make_data(classes)


def needs(workload: Workload) -> None:
    for module in workload.requires:
        pytest.importorskip(module)


def run(
    workload: Workload,
    config: dict[str, Any],
    classes: int,
    restore: bytes | None = None,
    stop_after: int | None = None,
) -> FakeSession:
    session = FakeSession(restore=restore, stop_after=stop_after)
    try:
        workload.train(config, data(classes), session)
    except StopTrial:
        assert stop_after is not None and len(session.reports) == stop_after
    return session


#: Configs that exercise each model's randomness (shuffles, dropout; the forest's bootstrap
#: and feature draws are on by default), so that the restore test proves it replays exactly.
#: The boosters' row/column sampling does not replay after a restore (see
#: test_restore_with_subsampling_stays_close), so they run without it here.
CONFIGS: dict[str, dict[str, Any]] = {
    "mlp": {"dropout": 0.2},
    "logreg": {"average": True},
}


def config_for(name: str) -> dict[str, Any]:
    return {"seed": 1, **CONFIGS.get(name, {})}


@functools.cache
def full_run(name: str, classes: int) -> FakeSession:
    """One uninterrupted run, shared by several tests."""
    return run(WORKLOADS[name], config_for(name), classes)


# ------------------------------------------------------------------------------ training


@pytest.mark.parametrize("classes", [2, 3])
@pytest.mark.parametrize("name", NAMES)
def test_reports_every_iteration_and_learns(name: str, classes: int) -> None:
    workload = WORKLOADS[name]
    needs(workload)
    session = full_run(name, classes)
    assert len(session.reports) == workload.max_iterations
    for metrics in session.reports:
        assert 0.0 <= metrics["accuracy"] <= 1.0
        assert math.isfinite(metrics["logloss"]) and metrics["logloss"] >= 0.0
    best = max(m["accuracy"] for m in session.reports)
    assert best > 1.0 / classes + 0.2, session.reports
    for iteration, blob in enumerate(session.states, start=1):
        assert pickle.loads(blob)["iteration"] == iteration


@pytest.mark.parametrize("classes", [2, 3])
@pytest.mark.parametrize("name", NAMES)
def test_restore_continues_where_the_checkpoint_left_off(name: str, classes: int) -> None:
    workload = WORKLOADS[name]
    needs(workload)
    k = max(1, workload.max_iterations // 2)
    stopped = run(workload, config_for(name), classes, stop_after=k)
    assert len(stopped.reports) == k
    resumed = run(workload, config_for(name), classes, restore=stopped.states[-1])
    assert len(resumed.reports) == workload.max_iterations - k
    full = full_run(name, classes)
    # Same seed, same data: the interrupted run is the uninterrupted one, report for report.
    assert stopped.reports == full.reports[:k]
    assert resumed.reports == full.reports[k:]


SUBSAMPLED: dict[str, dict[str, Any]] = {
    "lightgbm": {"bagging_fraction": 0.7, "feature_fraction": 0.7, "seed": 3},
    "xgboost": {"subsample": 0.7, "colsample_bytree": 0.7, "seed": 3},
}


@pytest.mark.parametrize("name", sorted(SUBSAMPLED))
def test_restore_with_subsampling_stays_close(name: str) -> None:
    """Row/column draws restart from the seed after a restore, so results differ slightly."""
    workload = WORKLOADS[name]
    needs(workload)
    config = SUBSAMPLED[name]
    full = run(workload, config, 2)
    stopped = run(workload, config, 2, stop_after=10)
    resumed = run(workload, config, 2, restore=stopped.states[-1])
    assert stopped.reports == full.reports[:10]
    assert len(resumed.reports) == 10
    assert abs(resumed.reports[-1]["accuracy"] - full.reports[-1]["accuracy"]) < 0.05


RANK_SCRIPT = """
import json, pickle, sys
import numpy as np
from sklearn.datasets import make_classification
from tunefleet.bench.workload import Dataset
from tunefleet.bench.workloads import WORKLOADS

x, y = make_classification(n_samples=2_000, n_features=10, n_informative=5, n_redundant=0,
                           n_classes=3, random_state=0)
x, y = x.astype(np.float32), y.astype(np.int64)
data = Dataset(x[:1_600], y[:1_600], x[1_600:], y[1_600:], 3)

class Session:
    threads = 1
    reports, states = [], []
    def report(self, metrics, state=None):
        self.reports.append(metrics)
        self.states.append(state is not None)
    def restore(self):
        return None

s = Session()
WORKLOADS["mlp"].train({"seed": 1, "dropout": 0.2}, data, s)
print(json.dumps({"reports": s.reports, "states": s.states}))
"""


def test_mlp_trains_data_parallel_over_two_ranks() -> None:
    """Two env:// ranks (as tunefleet's launcher or torchrun start them) stay in lockstep."""
    pytest.importorskip("torch")
    import os
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = dict(os.environ, MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE="2")
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RANK_SCRIPT],
            env=dict(env, RANK=str(rank)),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for rank in range(2)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    for p, (_, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err
    rank0, rank1 = (json.loads(out.strip().splitlines()[-1]) for out, _ in outs)
    assert len(rank0["reports"]) == len(rank1["reports"]) == WORKLOADS["mlp"].max_iterations
    # Averaged gradients keep the ranks' weights identical, so they score identically.
    assert rank0["reports"] == rank1["reports"]
    assert all(rank0["states"]) and not any(rank1["states"])
    assert max(m["accuracy"] for m in rank0["reports"]) > 1.0 / 3 + 0.2


# -------------------------------------------------------------------------------- spaces


def grid_points(grid: dict[str, Any]) -> list[dict[str, Any]]:
    axes = [(path, grid_values(node)) for path, node in find_domains(grid) if is_grid(node)]
    points = []
    for values in itertools.product(*(v for _, v in axes)):
        chosen = {path: value for (path, _), value in zip(axes, values, strict=True)}
        points.append(resolve(grid, chosen))
    return points


@pytest.mark.parametrize("name", NAMES)
def test_space_is_portable_and_every_sample_trains(name: str) -> None:
    workload = WORKLOADS[name]
    needs(workload)
    space = workload.space(tunefleet)
    found = find_domains(space)
    assert found and all(not is_grid(node) and node.fn in PORTABLE for _, node in found)
    rng = np.random.default_rng(7)
    for classes in (2, 3):
        for _ in range(2):
            session = run(workload, resolve(space, rng=rng), classes, stop_after=2)
            assert 1 <= len(session.reports) <= 2
            assert all(0.0 <= m["accuracy"] <= 1.0 for m in session.reports)


@pytest.mark.parametrize("name", NAMES)
def test_grid_is_small_covers_the_space_and_trains(name: str) -> None:
    workload = WORKLOADS[name]
    needs(workload)
    grid = workload.grid(tunefleet)
    points = grid_points(grid)
    assert 27 <= len(points) <= 64
    space = workload.space(tunefleet)
    domains = dict(find_domains(space))
    for path, node in find_domains(grid):
        assert is_grid(node)
        assert path in domains, f"grid axis {path} is not searched by the space"
        for value in grid_values(node):
            assert domains[path].contains(value), (path, value)
    # The grid's extreme corners train too.
    for config in (points[0], points[-1]):
        session = run(workload, config, 3, stop_after=1)
        assert len(session.reports) == 1


# ------------------------------------------------------------------------------ registry


def test_registry_names() -> None:
    assert set(WORKLOADS) == {"lightgbm", "xgboost", "logreg", "random-forest", "knn", "mlp"}
    for name, workload in WORKLOADS.items():
        assert get_workload(name) is workload
        assert workload.name == name
        assert workload.max_iterations >= 1
        assert 0.0 < workload.default_target < 1.0
        assert workload.metric == "accuracy" and workload.mode == "max"


def test_unknown_workload_names_the_parameter_and_the_choices() -> None:
    with pytest.raises(TuneValueError, match="workload") as info:
        get_workload("svm")
    for name in WORKLOADS:
        assert name in str(info.value)


def test_importing_the_registry_imports_no_model_library() -> None:
    code = (
        "import sys, tunefleet.bench.workloads\n"
        "heavy = ('lightgbm', 'xgboost', 'sklearn', 'torch')\n"
        "print(','.join(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
