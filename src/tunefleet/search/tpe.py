"""Native multivariate TPE with a constant liar for parallel workers.

Tree-structured Parzen Estimator: Bergstra, Bardenet, Bengio & Kégl 2011, "Algorithms for
Hyper-Parameter Optimization", NeurIPS 2011. Multivariate (one product-kernel density over
all dimensions instead of one per dimension): Falkner, Klein & Hutter 2018, arXiv:1807.01774,
as Optuna's ``TPESampler(multivariate=True)`` does. Constant liar for pending trials:
Ginsbourger, Le Riche & Carraro 2010, "Kriging is well-suited to parallelize optimization".

It reuses BOHB's Parzen estimators (:mod:`tunefleet.search.bohb`) on one budget: each
trial's latest result, whatever its iteration. Differences from BOHB's sampler, and why:

- ``gamma``: the good set is the best ``min(⌈gamma·n⌉, 25)`` observations (Optuna's
  default split), not a fixed percentage.
- ``n_startup_trials`` random suggestions before the model (Optuna's 10).
- Bandwidths per kernel, not Scott's rule per set: a numeric kernel's width is the larger of
  its distances to its two neighbours in that dimension (Bergstra et al. 2011, Sec. 4.1; the
  outermost kernels use their inner neighbour only), clipped to ``[1/min(100, n + 2), 1]``
  of the unit range ("magic clip", Watanabe 2023, "Tree-structured Parzen estimator:
  understanding its algorithm components and their roles for better empirical
  performance", arXiv:2304.11127, Sec. 3.3; as Optuna's ``consider_magic_clip``). Why:
  Scott's rule on a good set of 2–4 clustered points gave widths near ``min_bandwidth``
  (1e-3), so the model exploited one basin and stalled (Branin regret 0.72 vs Optuna's 0.27
  at 40 evaluations in benchmarks/search_quality.py); one wide kernel per bad point also
  made ``g`` too smooth to mark explored spots. Categorical dimensions keep BOHB's
  Aitchison–Aitken kernel.
- Candidates come from the good density with its own bandwidths (``bandwidth_factor`` 1),
  ``n_ei_candidates`` of them, and no random fraction.
- Constant liar (``constant_liar=True``, the default): every trial suggested but without a
  result yet joins the bad set, so parallel workers are not all sent to the same spot.
- New cells only: on a discrete space (choices, integer or quantized domains) the good
  density keeps landing on configurations already tried; the best-scoring candidate whose
  configuration was not proposed (nor told) before wins, and if all ``n_ei_candidates``
  were, a random untried configuration (a scan of the cells in random order once 32
  random draws failed). Only a space whose every configuration was tried gets a repeat.
- Outcome constraints: a result with ``feasible=False`` (or any key named in
  ``constraints`` whose value is > 0, Optuna's convention) scores as the worst possible, so
  the model steers away from it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from tunefleet.errors import TuneTypeError, TuneValueError
from tunefleet.search.bohb import _KDE, TuneBOHB, _bandwidths


class TPESearch(TuneBOHB):
    """``search_alg="tpe"``: see the module docstring for the method.

    ``evaluated_rewards``: the metric of each of ``points_to_evaluate`` already measured;
    those points are told to the model and not run again.
    """

    _param_attrs: ClassVar[Mapping[str, str]] = {
        **TuneBOHB._param_attrs,
    }
    _fresh_only: ClassVar[bool] = True
    #: True: each trial's latest result is one observation, whatever its budget.
    _one_budget: ClassVar[bool] = True

    def __init__(
        self,
        space: dict[str, Any] | None = None,
        metric: str | None = None,
        mode: str | None = None,
        points_to_evaluate: list[dict[str, Any]] | None = None,
        evaluated_rewards: list[float] | None = None,
        seed: int | None = None,
        n_startup_trials: int = 10,
        gamma: float = 0.1,
        n_ei_candidates: int = 24,
        constant_liar: bool = True,
        constraints: list[str] | None = None,
        max_concurrent: int = 0,
    ) -> None:
        if isinstance(n_startup_trials, bool) or not isinstance(n_startup_trials, int):
            raise TuneTypeError(f"TPESearch(n_startup_trials={n_startup_trials!r}): an int")
        if n_startup_trials < 2:
            raise TuneValueError(f"TPESearch(n_startup_trials={n_startup_trials}): must be >= 2")
        if not 0 < gamma < 1:
            raise TuneValueError(f"TPESearch(gamma={gamma!r}): must be in (0, 1)")
        super().__init__(
            space=space,
            bohb_config={
                "min_points_in_model": n_startup_trials,
                "top_n_percent": 100 * gamma,
                "num_samples": n_ei_candidates,
                "random_fraction": 0.0,
                "bandwidth_factor": 1.0,
            },
            metric=metric,
            mode=mode,
            points_to_evaluate=points_to_evaluate,
            seed=seed,
            max_concurrent=max_concurrent,
            evaluated_rewards=evaluated_rewards,
            constraints=constraints,
        )
        self.n_startup_trials = n_startup_trials
        self.gamma = gamma
        self.n_ei_candidates = n_ei_candidates
        self.constant_liar = constant_liar

    def add_evaluated_point(
        self, config: dict[str, Any], value: float, budget: float | None = None
    ) -> None:
        """Tell the model a (config, metric value) measured elsewhere, at ``budget`` if
        known (warm start: ``run(warm_start_from=...)``). Call it after ``setup``."""
        tell(self, config, value, budget)

    def _observe(self, trial_id: str, result: dict[str, Any] | None) -> None:
        if result is None or trial_id not in self._x:
            return
        if self._one_budget:  # each trial's latest result
            result = {**result, self.time_attr: 0.0}
        super()._observe(trial_id, result)

    def _from_model(
        self,
        budget: float,
        rng: np.random.Generator,
        avoid: set[tuple[float, ...]] | None = None,
    ) -> np.ndarray:
        good, bad, n_good = self._densities(budget)
        m = self.n_ei_candidates
        cands = self._candidates(good, n_good, m, rng)
        return self._best_fresh(cands, self._log_ratio(good, bad, cands), avoid)

    def _densities(self, budget: float) -> tuple[_KDE, _KDE, int]:
        """The good and bad Parzen estimators of one budget's observations."""
        obs = self._obs[budget]
        ranked = sorted(obs, key=lambda tid: (-obs[tid], tid))
        n = len(ranked)
        n_good = min(n - 1, max(1, min(math.ceil(n * self.gamma), 25)))
        X = np.array([self._x[tid] for tid in ranked], dtype=float)
        pending = [self._x[t] for t in sorted(self._live) if t in self._x and t not in obs]
        bad_X = X[n_good:]
        if self.constant_liar and pending:
            bad_X = np.vstack([bad_X, np.array(pending, dtype=float)])
        sizes = [dim.size for dim in self._dims]
        min_bw = float(self._cfg["min_bandwidth"])
        d = len(sizes)
        good_ref = X[:n_good] if n_good > d else X
        bad_ref = bad_X if len(bad_X) > d else np.vstack([X, bad_X])
        good = _KDE(X[:n_good], sizes, _per_kernel(X[:n_good], good_ref, sizes, min_bw))
        bad = _KDE(bad_X, sizes, _per_kernel(bad_X, bad_ref, sizes, min_bw))
        return good, bad, n_good

    def _candidates(self, good: _KDE, n_good: int, m: int, rng: np.random.Generator) -> np.ndarray:
        """m draws from the good mixture: its kernels, and (weight 1/(n_good+1)) a uniform
        prior component (Optuna's prior_weight 1), so a category the few good points
        missed can still be drawn."""
        sizes = good.sizes
        cands = good.sample(rng, m, 1.0)
        from_prior = rng.random(m) < 1.0 / (n_good + 1)
        uniform = np.column_stack(
            [rng.random(m) if c == 0 else rng.integers(max(c, 1), size=m) for c in sizes]
        )
        cands[from_prior] = uniform[from_prior]
        return cands

    @staticmethod
    def _log_ratio(good: _KDE, bad: _KDE, cands: np.ndarray) -> np.ndarray:
        """log l(x) − log g(x), each a Parzen mixture with its uniform prior component."""
        log_prior = -sum(math.log(c) for c in good.sizes if c > 1)
        return _mix(good.log_pdf(cands), len(good.data), log_prior) - _mix(
            bad.log_pdf(cands), len(bad.data), log_prior
        )

    def __repr__(self) -> str:
        return f"TPESearch(seed={self._init_seed!r}, metric={self.metric!r}, mode={self.mode!r})"


def _per_kernel(data: np.ndarray, ref: np.ndarray, sizes: list[int], min_bw: float) -> np.ndarray:
    """(n, d) bandwidths: neighbour distances clipped by the magic clip for numeric
    dimensions (see the module docstring); categorical ones from ``ref`` as in BOHB."""
    n = len(data)
    bw = np.tile(_bandwidths(ref, sizes, min_bw), (n, 1))
    lo = 1.0 / min(100.0, n + 2.0)
    for j, c in enumerate(sizes):
        if c:
            continue
        order = np.argsort(data[:, j], kind="stable")
        pts = np.concatenate([[0.0], data[order, j], [1.0]])
        width = np.maximum(pts[1:-1] - pts[:-2], pts[2:] - pts[1:-1])
        if n >= 2:  # the outermost kernels: inner neighbour only, not the domain's edge
            width[0], width[-1] = pts[2] - pts[1], pts[-2] - pts[-3]
        bw[order, j] = np.clip(width, lo, 1.0)
    return bw


def _mix(log_kde: np.ndarray, n: int, log_prior: float) -> np.ndarray:
    """log of (n · kde + prior) / (n + 1): the Parzen mixture with its prior component."""
    return np.logaddexp(math.log(n) + log_kde, log_prior) - math.log(n + 1)


def tell(searcher: TuneBOHB, config: dict[str, Any], value: float, budget: float | None) -> None:
    """Record an outside observation in a TuneBOHB-based searcher's store."""
    if searcher._rng is None:
        raise RuntimeError(f"{type(searcher).__name__}.setup() must be called first")
    x = searcher._encode(config)
    if x is None:
        return  # outside this space: not modelled
    tid = f"__warm_{len(searcher._x)}"
    searcher._x[tid] = x
    result = {str(searcher.metric): value, searcher.time_attr: 0 if budget is None else budget}
    searcher._observe(tid, result)
