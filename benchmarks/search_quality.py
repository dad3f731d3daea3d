"""Search quality at equal cost: tunefleet's searchers against Optuna and the `dehb` package
on multi-fidelity synthetic functions, two table benchmarks and two live workloads, offline.

Functions (fidelity z = budget / max_budget, budgets 1, 3, 9, 27): Branin, Hartmann-3 and
Hartmann-6 with the fidelity perturbations of Kandasamy et al. 2017 ("Multi-fidelity
Bayesian Optimisation with Continuous Approximations", ICML, arXiv:1703.06240, App. C):
lower fidelities are biased versions of the target, not noisy ones. Tables
(``mlp_digits``, ``hgb_breast_cancer``): real scikit-learn learning curves looked up, see
benchmarks/search_quality_extra.py and benchmarks/make_tables.py. Live (``--live``):
``live_mlp`` and ``live_lightgbm``, two `tunefleet bench` workloads trained for real
(epochs of the PyTorch MLP, LightGBM boosting rounds; search_quality_extra.py).

Cost accounting, the same for every method: evaluating a configuration from budget a to
budget b costs (b − a)/27 full-fidelity equivalents (FFE; continuing a paused trial pays
only the new part); one worker, so the simulated clock reads cost × 1 s per FFE. The
incumbent is the best full-fidelity value seen so far (a trial stopped early never
counts); we report simple regret (incumbent − optimum) at fixed cost checkpoints, its mean
and the average rank of each method over problems × seeds at each checkpoint.

tunefleet's methods run as the library runs them: the searcher and scheduler objects in
tunefleet's engine on its simulated executor (``tunefleet.simulation``, a virtual clock,
one worker; a trial reports at budgets 1, 3, 9, 27 and checkpoints). ASHA is the paper's
promotion variant (pause, resume the top 1/η); BOHB and DEHB run under Hyperband
(``HyperBandForDEHB``; DEHB is told the ladder, ``max_t=27, reduction_factor=3``).
Optuna's TPE + Hyperband uses Optuna's own HyperbandPruner with the same budgets. The
`dehb` package runs its own brackets and pays every job from scratch (it keeps no
checkpoint); it is in the table only if ``import dehb`` works (see search_quality_extra.py
for why it is not a dependency).

Run: ``.venv/bin/python benchmarks/search_quality.py --seeds 10 --out results.json
--chart docs/search_quality.png`` (seeds 0..9); ``--live --problems live_mlp,live_lightgbm
--checkpoints 5,10`` for the live workloads; ``--methods`` picks methods; ``--discrete``
declares the tables' axes as integer indices to the methods that take them (tunefleet's,
Optuna's); ``--merge A.json B.json`` combines runs of disjoint problems (one process per
problem) or of disjoint methods on the same problems into one table and chart. Prints
JSON (per-seed regrets under ``regret``; the fraction of started configurations that
repeat an earlier one under ``repeat_fraction``; under ``rank_gap``, per checkpoint, the
best tunefleet method's rank minus the best peer's with a paired-bootstrap interval).

Optional peers, each added by a flag because it is slow or not installed by default:
``--smac`` (SMAC3's multi-fidelity facade), ``--syne-tune`` (Syne Tune's ASHA, BOHB and
ASHA-CQR, Salinas et al. 2023, ICML) and ``--ray-bohb`` (Ray Tune's own BOHB, run by Ray
Tune); see search_quality_extra.py for how each is driven.

``tunefleet HT-ASHA+…`` is :class:`~tunefleet.schedulers.hypertune.HyperTuneASHA`
(``scheduler="hypertune"``): promotion ASHA whose new trials start at a rung drawn from the
low rungs' measured rank agreement with the top (Hyper-Tune's bracket selection).
"""

from __future__ import annotations

import argparse
import json
import math
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
from search_quality_extra import (
    available,
    dehb_package,
    live_functions,
    ray_tune_bohb,
    smac_hyperband,
    syne_tune_method,
    table_functions,
)

BUDGETS = (1, 3, 9, 27)
MAX_B = BUDGETS[-1]
CHECKPOINTS = (5, 10, 20, 40)

# ----------------------------------------------------------------------- functions
A3 = np.array([[3.0, 10, 30], [0.1, 10, 35], [3.0, 10, 30], [0.1, 10, 35]])
P3 = 1e-4 * np.array(
    [[3689, 1170, 2673], [4699, 4387, 7470], [1091, 8732, 5547], [381, 5743, 8828]]
)
A6 = np.array(
    [
        [10, 3, 17, 3.5, 1.7, 8],
        [0.05, 10, 17, 0.1, 8, 14],
        [3, 3.5, 1.7, 10, 17, 8],
        [17, 8, 0.05, 10, 0.1, 14],
    ]
)
P6 = 1e-4 * np.array(
    [
        [1312, 1696, 5569, 124, 8283, 5886],
        [2329, 4135, 8307, 3736, 1004, 9991],
        [2348, 1451, 3522, 2883, 3047, 6650],
        [4047, 8828, 8732, 5743, 1091, 381],
    ]
)
ALPHA = np.array([1.0, 1.2, 3.0, 3.2])


def branin(u: np.ndarray, z: float) -> float:
    x1, x2 = 15 * u[0] - 5, 15 * u[1]
    s = 1 - z
    b = 5.1 / (4 * math.pi**2) - 0.01 * s
    c = 5 / math.pi - 0.1 * s
    t = 1 / (8 * math.pi) + 0.05 * s
    return float((x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10)


def _hartmann(a: np.ndarray, p: np.ndarray) -> Callable[[np.ndarray, float], float]:
    def f(u: np.ndarray, z: float) -> float:
        alpha = ALPHA - 0.1 * (1 - z)
        return float(-np.sum(alpha * np.exp(-np.sum(a * (u - p) ** 2, axis=1))))

    return f


FUNCTIONS: dict[str, tuple[Callable[[np.ndarray, float], float], int, float]] = {
    "branin": (branin, 2, 0.397887),
    "hartmann3": (_hartmann(A3, P3), 3, -3.86278),
    "hartmann6": (_hartmann(A6, P6), 6, -3.32237),
    **table_functions(),
}


class Tracker:
    """Cost in FFE and the full-fidelity incumbent's trace."""

    def __init__(self, optimum: float) -> None:
        self.cost = 0.0
        self.best = math.inf
        self.optimum = optimum
        self.trace: list[tuple[float, float]] = []
        self.configs: list[tuple[float, ...]] = []  # every configuration started

    def repeats(self) -> float | None:
        """Fraction of started configurations that repeat an earlier one (None: not
        tracked for this method)."""
        if not self.configs:
            return None
        return 1.0 - len(set(self.configs)) / len(self.configs)

    def pay(self, a: int, b: int, value: float) -> None:
        self.cost += (b - a) / MAX_B
        if b == MAX_B and value < self.best:
            self.best = value
        self.trace.append((self.cost, self.best - self.optimum))

    def seen(self, cost: float, budget: float, value: float) -> None:
        """A result the engine released at ``cost`` FFE (its clock, not a sum of steps)."""
        self.cost = cost
        if budget == MAX_B and value < self.best:
            self.best = value
        self.trace.append((self.cost, self.best - self.optimum))

    def at(self, c: float) -> float:
        regret = math.inf
        for cost, r in self.trace:
            if cost > c:
                break
            regret = r
        return regret


# ------------------------------------------------------------------------- methods
#: --discrete: a table's axes are declared as what they are, integer indices (the grid's
#: values in order), to the methods that take a discrete space (tunefleet's, Optuna's);
#: the `dehb` package and SMAC3 keep the unit cube (equal bins).
DISCRETE = False


def _grid(f: Callable[..., float]) -> list[int] | None:
    return getattr(f, "sizes", None) if DISCRETE else None


def _space(d: int, sizes: list[int] | None = None) -> dict[str, Any]:
    from tunefleet import space as sp

    if sizes:
        return {f"x{i}": sp.randint(0, k) for i, k in enumerate(sizes)}
    return {f"x{i}": sp.uniform(0.0, 1.0) for i in range(d)}


def _vec(cfg: dict[str, Any], d: int, sizes: list[int] | None = None) -> np.ndarray:
    if sizes:  # index i of k -> the middle of bin i of the unit interval
        return np.array([(cfg[f"x{i}"] + 0.5) / k for i, k in enumerate(sizes)])
    return np.array([cfg[f"x{i}"] for i in range(d)])


def tunefleet_engine(
    search: Callable[[], Any], scheduler: Callable[[], Any]
) -> Callable[..., None]:
    """A tunefleet searcher/scheduler pair run by the engine itself (``tunefleet.simulation``:
    the real loop on a virtual clock, one worker). A trial reports at budgets 1, 3, 9, 27
    (``budget``), each step costing its budget increment in virtual seconds; a paused trial
    resumes from its checkpoint and pays only the new part."""

    def run(f: Callable[..., float], d: int, tr: Tracker, seed: int, max_cost: float) -> None:
        from tunefleet.simulation import simulate
        from tunefleet.worker.session import get_context

        sizes = _grid(f)

        def trainable(config: dict[str, Any]) -> Any:
            x = _vec(config, d, sizes)
            for k in range(get_context().iteration, len(BUDGETS)):
                b, prev = BUDGETS[k], (BUDGETS[k - 1] if k else 0)
                yield {"loss": f(x, b / MAX_B), "budget": b, "time_this_iter_s": b - prev}, True

        res = simulate(
            trainable,
            config=_space(d, sizes),
            num_samples=10**6,
            metric="loss",
            mode="min",
            scheduler=scheduler(),
            search_alg=search(),
            num_workers=1,
            seed=seed,
            time_budget_s=max_cost * MAX_B,
        )
        tr.configs = [tuple(_vec(t.config, d, sizes)) for t in res.trials.values()]
        for r in res.records:
            if r.kind == "result":
                tr.seen(r.ts / MAX_B, r.data["budget"], r.data["loss"])

    return run


def _asha() -> Any:
    from tunefleet.schedulers import ASHAScheduler

    # the paper's ASHA (pause and promote the top 1/η once a rung holds η results per
    # promotion; Hyper-Tune's delayed promotion is this rule), not Ray's stopping variant
    return ASHAScheduler(
        time_attr="budget", max_t=MAX_B, grace_period=1, reduction_factor=3, variant="promotion"
    )


def _hypertune_asha() -> Any:
    from tunefleet.schedulers.hypertune import HyperTuneASHA

    # promotion ASHA whose new trials start at a rung drawn from the rungs' measured rank
    # agreement with the top (Hyper-Tune's bracket selection)
    return HyperTuneASHA(time_attr="budget", max_t=MAX_B, grace_period=1, reduction_factor=3)


def _hyperband() -> Any:
    from tunefleet.schedulers.dehb import HyperBandForDEHB

    # HyperBandForBOHB and HyperBandForDEHB are both Hyperband under their pair's name
    return HyperBandForDEHB(time_attr="budget", max_t=MAX_B, reduction_factor=3)


def _fifo() -> Any:
    from tunefleet.schedulers import FIFOScheduler

    return FIFOScheduler()


def _searcher(cls: str, **kw: Any) -> Callable[[], Any]:
    """``cls`` as ``module:Class`` under tunefleet.search, built fresh for every run."""

    def make() -> Any:
        import importlib

        module, name = cls.split(":")
        return getattr(importlib.import_module(f"tunefleet.search.{module}"), name)(**kw)

    return make


def optuna_method(kind: str) -> Callable[..., None]:
    def run(f: Callable[..., float], d: int, tr: Tracker, seed: int, max_cost: float) -> None:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.ERROR)
        sampler: Any
        pruner: Any = optuna.pruners.NopPruner()
        if kind == "cmaes":
            sampler = optuna.samplers.CmaEsSampler(seed=seed)
        else:
            sampler = optuna.samplers.TPESampler(seed=seed, multivariate=True)
        if kind == "tpe_hyperband":
            pruner = optuna.pruners.HyperbandPruner(
                min_resource=1, max_resource=MAX_B, reduction_factor=3
            )
        sizes = _grid(f)
        # a fixed name: HyperbandPruner assigns brackets by hashing it with the trial number
        study = optuna.create_study(sampler=sampler, pruner=pruner, study_name=f"sq-{seed}")
        while tr.cost < max_cost:
            trial = study.ask()
            if sizes:
                x = np.array(
                    [(trial.suggest_int(f"x{i}", 0, k - 1) + 0.5) / k for i, k in enumerate(sizes)]
                )
            else:
                x = np.array([trial.suggest_float(f"x{i}", 0.0, 1.0) for i in range(d)])
            tr.configs.append(tuple(x))
            if kind != "tpe_hyperband":
                v = f(x, 1.0)
                tr.pay(0, MAX_B, v)
                study.tell(trial, v)
                continue
            prev, pruned = 0, False
            for b in BUDGETS:
                v = f(x, b / MAX_B)
                tr.pay(prev, b, v)
                prev = b
                trial.report(v, b)
                if b < MAX_B and trial.should_prune():
                    pruned = True
                    break
            study.tell(trial, None if pruned else v, state=_pruned() if pruned else None)

    return run


def _pruned() -> Any:
    import optuna

    return optuna.trial.TrialState.PRUNED


METHODS: dict[str, Callable[..., None]] = {
    "tunefleet random": tunefleet_engine(_searcher("variant:RandomSearch"), _fifo),
    "tunefleet tpe": tunefleet_engine(_searcher("tpe:TPESearch"), _fifo),
    "tunefleet ASHA+random": tunefleet_engine(_searcher("variant:RandomSearch"), _asha),
    "tunefleet ASHA+tpe": tunefleet_engine(_searcher("tpe:TPESearch"), _asha),
    "tunefleet ASHA+hypertune": tunefleet_engine(
        _searcher("hypertune:HyperTuneSearch", time_attr="budget"), _asha
    ),
    "tunefleet HT-ASHA+hypertune": tunefleet_engine(
        _searcher("hypertune:HyperTuneSearch", time_attr="budget"), _hypertune_asha
    ),
    "tunefleet HT-ASHA+tpe": tunefleet_engine(_searcher("tpe:TPESearch"), _hypertune_asha),
    "tunefleet HB+bohb": tunefleet_engine(
        _searcher("bohb:TuneBOHB", time_attr="budget"), _hyperband
    ),
    "tunefleet HB+dehb": tunefleet_engine(
        _searcher("dehb:DEHBSearch", time_attr="budget", max_t=MAX_B), _hyperband
    ),
    "optuna tpe": optuna_method("tpe"),
    "optuna tpe+hyperband": optuna_method("tpe_hyperband"),
    "optuna cmaes": optuna_method("cmaes"),
}
if available("dehb"):
    METHODS["dehb (package)"] = dehb_package(MAX_B)
#: --syne-tune: the table's label -> the baseline's class in syne_tune.optimizer.baselines
SYNE_TUNE = {"syne-tune ASHA": "ASHA", "syne-tune BOHB": "BOHB", "syne-tune ASHA-CQR": "ASHACQR"}


def _ranks(values: list[float]) -> list[float]:
    """Average ranks (1 = best), ties share their mean rank."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=10, help="seeds 0 .. N-1")
    ap.add_argument("--out", default=None, help="write the JSON here too")
    ap.add_argument("--chart", default=None, help="PNG: mean log10 regret vs cost")
    ap.add_argument("--problems", default=None, help="comma-separated problem names (default: all)")
    ap.add_argument("--methods", default=None, help="comma-separated method names (default: all)")
    ap.add_argument(
        "--checkpoints",
        default=",".join(str(c) for c in CHECKPOINTS),
        help="cost checkpoints in FFE; the last is each run's budget",
    )
    ap.add_argument(
        "--live",
        action="store_true",
        help="add the two live `tunefleet bench` workloads (live_mlp, live_lightgbm: real "
        "training, about 1-4 s per full-fidelity run on the 2-core dev machine)",
    )
    ap.add_argument(
        "--smac",
        action="store_true",
        help="add SMAC3's multi-fidelity facade (pip install smac; ~85 s per run on the "
        "2-core dev machine, so off by default)",
    )
    ap.add_argument(
        "--ray-bohb",
        action="store_true",
        help="add Ray Tune's BOHB (TuneBOHB + HyperBandForBOHB run by Ray Tune; needs "
        "hpbandster and ConfigSpace; ~0.2-0.6 s of Ray latency per result, so off by default)",
    )
    ap.add_argument(
        "--syne-tune",
        action="store_true",
        help="add Syne Tune's ASHA, BOHB and ASHA-CQR (pip install syne-tune; ASHA-CQR "
        "takes ~70 s per run on the 2-core dev machine, so off by default)",
    )
    ap.add_argument(
        "--discrete",
        action="store_true",
        help="declare each table's axes as integer indices to tunefleet's and Optuna's "
        "methods (the dehb package and SMAC3 keep the unit cube)",
    )
    ap.add_argument(
        "--merge",
        nargs="+",
        default=None,
        metavar="JSON",
        help="only combine earlier --out files (same seeds and checkpoints; disjoint "
        "problems, or disjoint methods on the same problems) into one summary (printed, "
        "--out, --chart)",
    )
    args = ap.parse_args()
    if args.merge:
        emit(merge(args.merge), args.out, args.chart)
        return
    global DISCRETE
    DISCRETE = args.discrete
    if args.smac:
        if not available("smac"):
            raise SystemExit("--smac: SMAC3 is not installed (pip install smac)")
        METHODS["smac3 hyperband"] = smac_hyperband(MAX_B)
    if args.ray_bohb:
        if not (available("hpbandster") and available("ConfigSpace")):
            raise SystemExit(
                "--ray-bohb: needs hpbandster and ConfigSpace (pip install hpbandster)"
            )
        METHODS["ray tune bohb"] = ray_tune_bohb(MAX_B)
    if args.syne_tune:
        if not available("syne_tune"):
            raise SystemExit("--syne-tune: Syne Tune is not installed (pip install syne-tune)")
        for label, name in SYNE_TUNE.items():
            METHODS[label] = syne_tune_method(name, MAX_B)
    if args.seeds < 1:
        raise SystemExit("--seeds: must be >= 1")
    problems = dict(FUNCTIONS)
    if args.live:
        problems.update(live_functions(MAX_B))
    if args.problems:
        wanted = args.problems.split(",")
        unknown = sorted(set(wanted) - set(problems))
        if unknown:
            raise SystemExit(f"--problems: unknown {unknown}; known: {sorted(problems)}")
        problems = {k: problems[k] for k in wanted}
    methods = dict(METHODS)
    if args.methods:
        wanted = args.methods.split(",")
        unknown = sorted(set(wanted) - set(methods))
        if unknown:
            raise SystemExit(f"--methods: unknown {unknown}; known: {sorted(methods)}")
        methods = {k: methods[k] for k in wanted}
    checkpoints = [float(c) for c in args.checkpoints.split(",")]
    warnings.filterwarnings("ignore")
    max_cost = checkpoints[-1]
    regret: dict[str, dict[str, list[list[float]]]] = {}  # fn -> method -> seed -> per ckpt
    repeats: dict[str, dict[str, list[float | None]]] = {}  # fn -> method -> seed
    secs: dict[str, float] = {m: 0.0 for m in methods}
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)  # tiny linear algebra: BLAS threads only contend on a shared machine
    for fn, (f, d, opt) in problems.items():
        regret[fn], repeats[fn] = {}, {}
        for seed in range(args.seeds):
            for method, go in methods.items():
                tr = Tracker(opt)
                t0 = time.perf_counter()
                go(f, d, tr, seed, max_cost)
                secs[method] += time.perf_counter() - t0
                regret[fn].setdefault(method, []).append([tr.at(c) for c in checkpoints])
                repeats[fn].setdefault(method, []).append(tr.repeats())
    emit(summarize(checkpoints, args.seeds, regret, repeats, secs), args.out, args.chart)


def emit(out: dict[str, Any], path: str | None, chart_path: str | None) -> None:
    """The table as JSON on stdout (and to ``path``), and its chart to ``chart_path``."""
    text = json.dumps(out, indent=1)
    print(text)
    if path:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
    if chart_path:
        chart(chart_path, out)


def summarize(
    checkpoints: list[float],
    seeds: int,
    regret: dict[str, dict[str, list[list[float]]]],
    repeats: dict[str, dict[str, list[float | None]]],
    secs: dict[str, float],
) -> dict[str, Any]:
    """The JSON the suite prints: average rank per method over problems × seeds at each
    checkpoint, mean regret per problem, the per-seed regrets and repeat fractions."""
    problems = list(regret)
    methods = list(regret[problems[0]])
    ranks = {m: [0.0] * len(checkpoints) for m in methods}
    mean = {fn: {m: [0.0] * len(checkpoints) for m in methods} for fn in problems}
    n = len(problems) * seeds
    for fn in problems:
        for k in range(len(checkpoints)):
            for seed in range(seeds):
                vals = [regret[fn][m][seed][k] for m in methods]
                for m, r in zip(methods, _ranks(vals), strict=True):
                    ranks[m][k] += r / n
            for m in methods:
                mean[fn][m][k] = float(np.mean([regret[fn][m][s][k] for s in range(seeds)]))
    return {
        "checkpoints_ffe": checkpoints,
        "seeds": list(range(seeds)),
        "average_rank": ranks,
        "mean_regret": mean,
        "regret": regret,
        # mean fraction of started configurations repeating an earlier one (tracked for
        # tunefleet's and Optuna's methods)
        "repeat_fraction": {
            fn: {
                m: None if None in r else float(np.mean(r))  # type: ignore[arg-type]
                for m, r in per.items()
            }
            for fn, per in repeats.items()
        },
        "searcher_seconds": secs,
        # best tunefleet method minus best peer in rank, paired bootstrap over the pairs
        "rank_gap": rank_gap(checkpoints, regret),
    }


def merge(paths: list[str]) -> dict[str, Any]:
    """One summary from several runs of the suite with the same seeds and checkpoints:
    runs of disjoint problems (e.g. one process per problem on a multi-core machine), and
    runs of disjoint methods on the same problems (e.g. a new method beside stored
    results); every problem must end up with the same methods."""
    runs = []
    for path in paths:
        with open(path, encoding="utf-8") as fh:
            runs.append(json.load(fh))
    first = runs[0]
    regret: dict[str, dict[str, list[list[float]]]] = {}
    repeats: dict[str, dict[str, list[float | None]]] = {}
    secs: dict[str, float] = {}
    for run in runs:
        if (run["checkpoints_ffe"], run["seeds"]) != (first["checkpoints_ffe"], first["seeds"]):
            raise SystemExit("--merge: the runs differ in checkpoints or seeds")
        for fn in run["regret"]:
            frac = run.get("repeat_fraction", {}).get(fn, {})
            for m, per_seed in run["regret"][fn].items():
                if m in regret.setdefault(fn, {}):
                    raise SystemExit(f"--merge: method {m!r} on problem {fn!r} is in two runs")
                regret[fn][m] = per_seed
                repeats.setdefault(fn, {})[m] = [frac.get(m)]
        for m, t in run["searcher_seconds"].items():
            secs[m] = secs.get(m, 0.0) + t
    methods = {fn: sorted(per) for fn, per in regret.items()}
    if len({tuple(ms) for ms in methods.values()}) > 1:
        raise SystemExit(f"--merge: the problems have different methods: {methods}")
    out = summarize(first["checkpoints_ffe"], len(first["seeds"]), regret, {}, secs)
    out["repeat_fraction"] = {fn: {m: r[0] for m, r in per.items()} for fn, per in repeats.items()}
    return out


def rank_gap(
    checkpoints: list[float], regret: dict[str, dict[str, list[list[float]]]]
) -> list[dict[str, Any]]:
    """Per checkpoint: the best tunefleet method (by average rank) minus the best peer, the
    mean of their rank difference over problem-seed pairs and its 95 % paired-bootstrap
    interval (2,000 resamples of the pairs, seed 0); negative means tunefleet ahead."""
    problems = list(regret)
    methods = list(regret[problems[0]])
    ranks: dict[str, list[list[float]]] = {m: [] for m in methods}  # pair -> per checkpoint
    for fn in problems:
        for seed in range(len(regret[fn][methods[0]])):
            per_k = [
                _ranks([regret[fn][m][seed][k] for m in methods]) for k in range(len(checkpoints))
            ]
            for i, m in enumerate(methods):
                ranks[m].append([r[i] for r in per_k])
    arr = {m: np.array(v) for m, v in ranks.items()}
    ours = [m for m in methods if m.startswith("tunefleet")]
    peers = [m for m in methods if not m.startswith("tunefleet")]
    if not ours or not peers:
        return []
    rng = np.random.default_rng(0)
    out = []
    for k, c in enumerate(checkpoints):
        tf = min(ours, key=lambda m: arr[m][:, k].mean())
        pe = min(peers, key=lambda m: arr[m][:, k].mean())
        diff = arr[tf][:, k] - arr[pe][:, k]
        n = len(diff)
        boots = [diff[rng.integers(n, size=n)].mean() for _ in range(2000)]
        lo, hi = np.percentile(boots, [2.5, 97.5])
        out.append(
            {
                "ffe": c,
                "tunefleet": tf,
                "peer": pe,
                "gap": float(diff.mean()),
                "interval95": [float(lo), float(hi)],
            }
        )
    return out


def chart(path: str, out: dict[str, Any]) -> None:
    """PNG: log10 mean regret against cost per problem, and the average rank."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    checkpoints, mean, ranks = out["checkpoints_ffe"], out["mean_regret"], out["average_rank"]
    problems, methods = list(mean), list(ranks)
    colors = plt.get_cmap("tab20").colors  # type: ignore[attr-defined]
    style = {
        m: {"color": colors[i % 20], "ls": "-" if m.startswith("tunefleet") else "--"}
        for i, m in enumerate(methods)
    }
    rows = math.ceil((len(problems) + 1) / 3)
    fig, grid = plt.subplots(rows, 3, figsize=(15, 4 * rows), squeeze=False)
    axes = list(grid.ravel())
    for ax in axes[len(problems) + 1 :]:
        ax.set_visible(False)
    axes = axes[: len(problems) + 1]
    for ax, fn in zip(axes, problems, strict=False):
        for m in methods:
            floor = [math.log10(max(v, 1e-4)) for v in mean[fn][m]]  # 0 shows as -4
            ax.plot(checkpoints, floor, label=m, **style[m])
        ax.set_title(fn)
        ax.set_xlabel("cost (full-fidelity equivalents)")
        ax.set_ylabel("log10 mean regret")
    for m in methods:
        axes[-1].plot(checkpoints, ranks[m], label=m, **style[m])
    axes[-1].set_title("average rank (lower is better)")
    axes[-1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=80)


if __name__ == "__main__":
    main()
