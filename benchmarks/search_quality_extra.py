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

Syne Tune 0.16 (``ASHA``, ``BOHB``, ``ASHACQR``): its schedulers in the loop its ``Tuner``
runs, one worker; its ASHA stops trials (no pausing), so a trial continues in place and
pays increments. Ray Tune's BOHB (``TuneBOHB`` + ``HyperBandForBOHB``) runs in Ray Tune
itself on a one-CPU local Ray; a paused trial resumes from its checkpoint. Neither is a
dependency: Syne Tune pins nothing that conflicts, but pulls statsmodels, dill and
huggingface_hub; hpbandster (2019) pulls Pyro4, serpent and netifaces. Both were installed
with ``pip install --no-deps --target DIR`` and used through ``PYTHONPATH=DIR``.
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


def _ladder(max_b: int) -> list[int]:
    """The suite's rungs, 1, 3, 9 ... up to ``max_b`` (η = 3)."""
    return [3**k for k in range(int(round(math.log(max_b, 3))) + 1) if 3**k <= max_b]


def syne_tune_method(name: str, max_b: int) -> Callable[..., None]:
    """One of Syne Tune's multi-fidelity baselines (``ASHA``, ``BOHB``, ``ASHABORE``,
    ``ASHACQR``; Salinas et al. 2022, AutoML-Conf, arXiv:2206.00349) driven by the loop its
    ``Tuner`` runs, on one worker: ``suggest`` starts a trial, every rung result goes to
    ``on_trial_result`` and a STOP ends the trial (its ASHA is the stopping variant). A
    trial continues in place, so each step pays only its increment, as the engine's."""

    def run(f: Callable[..., float], d: int, tr: Any, seed: int, max_cost: float) -> None:
        import datetime
        import logging

        from syne_tune import config_space as cs
        from syne_tune.backend.trial_status import Trial
        from syne_tune.optimizer import baselines
        from syne_tune.optimizer.scheduler import SchedulerDecision

        logging.getLogger("syne_tune").setLevel(logging.ERROR)
        np.random.seed(seed)  # its bracket draw (on_trial_add) uses numpy's global state
        space: dict[str, Any] = {f"x{i}": cs.uniform(0.0, 1.0) for i in range(d)}
        space["budget"] = max_b
        sched = getattr(baselines, name)(
            space, metric="loss", time_attr="budget", max_t=max_b, random_seed=seed
        )
        budgets = _ladder(max_b)
        tid = 0
        while tr.cost < max_cost:
            sugg = sched.suggest()
            trial = Trial(trial_id=tid, config=sugg.config, creation_time=datetime.datetime.now())
            tid += 1
            sched.on_trial_add(trial)
            x = np.array([float(sugg.config[f"x{i}"]) for i in range(d)])
            tr.configs.append(tuple(x))
            prev = 0
            for b in budgets:
                v = f(x, b / max_b)
                tr.pay(prev, b, v)
                prev = b
                decision = sched.on_trial_result(trial, {"loss": v, "budget": b})
                if decision == SchedulerDecision.STOP or tr.cost >= max_cost:
                    sched.on_trial_remove(trial)
                    break

    return run


def _cost_stopper(tr: Any, max_cost: float) -> Any:
    """Ray Tune's view of the suite's cost rule, a ``ray.tune.Stopper``: every result pays
    its budget increment into the tracker (in the driver, in the order Ray released them)
    and the experiment stops once ``max_cost`` FFE are spent."""
    from ray.tune import Stopper

    class CostStopper(Stopper):  # type: ignore[misc]
        def __init__(self) -> None:
            self.reached: dict[str, int] = {}  # trial id -> budget paid so far

        def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
            b, a = int(result["budget"]), self.reached.get(trial_id, 0)
            if b > a:  # a restored trial re-reports nothing it already paid for
                tr.pay(a, b, float(result["loss"]))
                self.reached[trial_id] = b
            return False

        def stop_all(self) -> bool:
            return bool(tr.cost >= max_cost)

    return CostStopper()


def ray_tune_bohb(max_b: int) -> Callable[..., None]:
    """Ray Tune's BOHB: ``TuneBOHB`` (hpbandster's KDE, Falkner et al. 2018,
    arXiv:1807.01774) with ``HyperBandForBOHB``, run by Ray Tune's own ``Tuner`` on a local
    one-CPU Ray (one trial at a time). A trial checkpoints the rung it reached at every
    report, so a trial the scheduler paused resumes there and pays only the new part.
    The one CPU bounds concurrency, not ``max_concurrent_trials=1``: with that limit no
    trial is pending when one pauses, HyperBandForBOHB then halves the unfilled bracket at
    once, and every trial after the first bracket runs straight to ``max_t``."""

    def run(f: Callable[..., float], d: int, tr: Any, seed: int, max_cost: float) -> None:
        import logging
        import os

        os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
        os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
        import ConfigSpace as CS
        import ray
        from ray import tune
        from ray.tune.schedulers.hb_bohb import HyperBandForBOHB
        from ray.tune.search.bohb import TuneBOHB

        if not ray.is_initialized():
            ray.init(
                num_cpus=1,
                include_dashboard=False,
                log_to_driver=False,
                logging_level=logging.ERROR,
            )
        for name in ("ray", "ray.tune"):
            logging.getLogger(name).setLevel(logging.ERROR)
        budgets = _ladder(max_b)

        def trainable(config: dict[str, Any]) -> None:
            start = 0
            ckpt = tune.get_checkpoint()
            if ckpt is not None:
                with ckpt.as_directory() as folder:
                    start = int(pathlib.Path(folder, "rung").read_text())
            x = np.array([config[f"x{i}"] for i in range(d)])
            for k in range(start, len(budgets)):
                v = f(x, budgets[k] / max_b)
                with tempfile.TemporaryDirectory() as folder:
                    pathlib.Path(folder, "rung").write_text(str(k + 1))
                    tune.report(
                        {"loss": v, "budget": budgets[k]},
                        checkpoint=tune.Checkpoint.from_directory(folder),
                    )

        space = CS.ConfigurationSpace(seed=seed)
        space.add([CS.Float(f"x{i}", (0.0, 1.0)) for i in range(d)])
        stopper = _cost_stopper(tr, max_cost)
        with tempfile.TemporaryDirectory() as storage:
            tuner = tune.Tuner(
                trainable,
                tune_config=tune.TuneConfig(
                    metric="loss",
                    mode="min",
                    search_alg=TuneBOHB(space=space, metric="loss", mode="min", seed=seed),
                    scheduler=HyperBandForBOHB(time_attr="budget", max_t=max_b, reduction_factor=3),
                    num_samples=10**6,
                    reuse_actors=True,
                ),
                run_config=tune.RunConfig(
                    storage_path=storage, stop=stopper, verbose=0, log_to_file=False
                ),
            )
            results = tuner.fit()
        tr.configs = [tuple(r.config[f"x{i}"] for i in range(d)) for r in results if r.config]

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
