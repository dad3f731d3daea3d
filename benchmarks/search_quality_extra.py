"""Helpers of benchmarks/search_quality.py: the two table benchmarks, the `dehb` package
and SMAC3.

Tables (built by benchmarks/make_tables.py from real scikit-learn learning curves, committed
as benchmarks/data/sq_tables.json.gz): a method proposes a point of the unit cube; each
coordinate picks its axis' grid value by equal bins (what a continuous optimizer does on a
tabular benchmark), and the budget picks the column. Values are validation errors.

`dehb` (Awad, Mallik & Hutter 2021, the authors' package, ask/tell): DEHB runs its own
Hyperband brackets and trains every job from scratch, so a job at budget b pays b/27 FFE
under the suite's cost rule (pay for what is computed). dehb 0.1.2 pins numpy<2 (installing
it downgrades the project's numpy), so the suite imports it only if importable, e.g. after
``pip install --no-deps --target DIR dehb`` and ``PYTHONPATH=DIR``.

SMAC3 (Lindauer et al. 2022, JMLR 23(54)): ``MultiFidelityFacade`` (random-forest BO with
Hyperband, η = 3), ask/tell; like `dehb`, each job runs from scratch and pays b/27 FFE.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import math
import pathlib
import tempfile
from collections.abc import Callable
from typing import Any

import numpy as np

TABLES = pathlib.Path(__file__).parent / "data" / "sq_tables.json.gz"


def table_functions() -> dict[str, tuple[Callable[[np.ndarray, float], float], int, float]]:
    """name -> (f(u, z), dimensions, best full-budget value), as the suite's FUNCTIONS."""
    with gzip.open(TABLES, "rt", encoding="utf-8") as fh:
        tables = json.load(fh)
    out = {}
    for name, t in tables.items():
        sizes = [len(v) for v in t["axes"].values()]
        error = np.array(t["error"], dtype=float).reshape(*sizes, len(t["budgets"]))
        budgets = [int(b) for b in t["budgets"]]
        out[name] = (_lookup(error, sizes, budgets), len(sizes), float(error[..., -1].min()))
    return out


def _lookup(
    error: np.ndarray, sizes: list[int], budgets: list[int]
) -> Callable[[np.ndarray, float], float]:
    def f(u: np.ndarray, z: float) -> float:
        idx = tuple(min(int(ui * k), k - 1) for ui, k in zip(u, sizes, strict=True))
        col = budgets.index(round(z * budgets[-1]))
        return float(error[idx][col])

    f.sizes = sizes  # type: ignore[attr-defined]  # the grid, for --discrete
    return f


def available(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


def dehb_package(max_b: int) -> Callable[..., None]:
    """The `dehb` package's DEHB on the suite's problem, budgets 1..max_b (η = 3)."""

    def run(f: Callable[..., float], d: int, tr: Any, seed: int, max_cost: float) -> None:
        from dehb import DEHB
        from loguru import logger

        logger.remove()  # its per-job log lines
        with tempfile.TemporaryDirectory() as tmp:
            opt = DEHB(
                f=None,
                dimensions=d,
                configspace=False,
                min_fidelity=1,
                max_fidelity=max_b,
                eta=3,
                seed=seed,
                n_workers=1,
                output_path=tmp,
                save_freq="end",
            )
            while tr.cost < max_cost:
                job = opt.ask()
                b = int(round(job["fidelity"]))
                v = f(np.clip(np.asarray(job["config"], dtype=float), 0.0, 1.0), b / max_b)
                tr.pay(0, b, v)  # from scratch: DEHB keeps no checkpoint
                opt.tell(job, {"fitness": v, "cost": float(b)})

    return run


def smac_hyperband(max_b: int) -> Callable[..., None]:
    """SMAC3's multi-fidelity facade (BOHB-like: random forest + Hyperband)."""

    def run(f: Callable[..., float], d: int, tr: Any, seed: int, max_cost: float) -> None:
        import logging

        from ConfigSpace import ConfigurationSpace, Float
        from smac import MultiFidelityFacade, Scenario
        from smac.intensifier.hyperband import Hyperband
        from smac.runhistory.dataclasses import TrialValue

        logging.getLogger("smac").setLevel(logging.ERROR)
        cs = ConfigurationSpace(seed=seed)
        cs.add([Float(f"x{i}", (0.0, 1.0)) for i in range(d)])
        with tempfile.TemporaryDirectory() as tmp:
            sc = Scenario(
                cs,
                deterministic=True,
                n_trials=10**6,
                min_budget=1,
                max_budget=max_b,
                output_directory=pathlib.Path(tmp),
                seed=seed,
            )
            opt = MultiFidelityFacade(
                sc,
                lambda config, seed=0, budget=1: 0.0,  # never called: ask/tell
                intensifier=Hyperband(sc, eta=3),
                overwrite=True,
                logging_level=40,
            )
            while tr.cost < max_cost:
                trial = opt.ask()
                b = int(round(float(trial.budget)))
                v = f(np.array([trial.config[f"x{i}"] for i in range(d)]), b / max_b)
                tr.pay(0, b, v)  # from scratch, as dehb
                opt.tell(trial, TrialValue(cost=v))

    return run


# ------------------------------------------------------------------- live workloads
class _Enough(Exception):
    """Ends a workload's training loop once it has reached the asked-for iteration."""


class _Session:
    """tunefleet bench's TrialSession protocol for one call: restores ``state``, trains up
    to iteration ``until`` and keeps the last metrics and state."""

    threads = 1

    def __init__(self, state: Any, until: int) -> None:
        self.state = state
        self.until = until
        self.last: dict[str, float] = {}

    def restore(self) -> Any:
        return self.state

    def report(self, metrics: dict[str, float], state: Any = None) -> None:
        self.last, self.state = dict(metrics), state
        if state is not None and int(state["iteration"]) >= self.until:
            raise _Enough


def live_functions(
    max_b: int, rows: int = 300
) -> dict[str, tuple[Callable[[np.ndarray, float], float], int, float]]:
    """Two `tunefleet bench` workloads trained for real (their own training loops, spaces
    and checkpoints, through the bench's framework-neutral session): ``live_mlp`` (the
    PyTorch MLP, budget = epochs) and ``live_lightgbm`` (LightGBM, budget = 10 boosting
    rounds), 1 to ``max_b`` iterations (the bench's 20 raised to ``max_b`` so the ladder
    is the suite's). Data: a 3-class ``make_classification`` set of ``rows`` rows (70/30
    split, seed 0), small so a 40-FFE run takes seconds. The value is validation error
    (1 − accuracy); the optimum is unknown, so "regret" is the error itself (ranks do not
    depend on it). A configuration asked for at a larger budget continues from the state
    it reached before (kept in memory, 256 at most), as a checkpointed trial would; the
    cost rule is the suite's either way."""
    from sklearn.datasets import make_classification
    from sklearn.model_selection import train_test_split

    import tunefleet
    from tunefleet.bench.workload import Dataset
    from tunefleet.bench.workloads import boosting, mlp

    mlp.MAX_ITERATIONS = boosting.MAX_ITERATIONS = max_b  # type: ignore[misc]
    X, y = make_classification(
        n_samples=rows, n_features=20, n_informative=8, n_classes=3, flip_y=0.05, random_state=0
    )
    xt, xv, yt, yv = train_test_split(X, y, test_size=0.3, random_state=0)
    data = Dataset(xt.astype(np.float32), yt, xv.astype(np.float32), yv, classes=3)
    out = {}
    for name, wl in (("live_mlp", mlp.MLP), ("live_lightgbm", boosting.LIGHTGBM)):
        space = wl.space(tunefleet)
        keys = sorted(space)
        done: dict[tuple[float, ...], tuple[Any, float]] = {}  # config -> (state, error)

        def f(
            u: np.ndarray,
            z: float,
            wl: Any = wl,
            space: Any = space,
            keys: Any = keys,
            done: Any = done,
        ) -> float:
            cfg = {k: space[k].from_unit(float(ui)) for k, ui in zip(keys, u, strict=True)}
            until = max(1, round(z * max_b))
            key = tuple(round(float(ui), 12) for ui in u)
            state, error = done.get(key, (None, math.nan))
            if state is not None and int(state["iteration"]) == until:
                return float(error)
            if state is not None and int(state["iteration"]) > until:
                state = None  # asked for less than it reached: train again from scratch
            sess = _Session(state, until)
            with contextlib.suppress(_Enough):
                wl.train(cfg, data, sess)
            if len(done) >= 256:
                done.clear()
            done[key] = (sess.state, 1.0 - float(sess.last["accuracy"]))
            return done[key][1]

        out[name] = (f, len(keys), 0.0)
    return out
