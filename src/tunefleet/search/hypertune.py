"""A model for asynchronous successive halving that learns from every rung: the
multi-fidelity ensemble of Hyper-Tune (Li, Shen, Jiang, Liu, Zhang & Cui 2022, "Hyper-Tune:
Towards Efficient Hyper-parameter Tuning at Scale", VLDB 2022, arXiv:2201.06834, Section
4.2), with TPE densities (:mod:`tunefleet.search.tpe`) as each fidelity's surrogate.

Pair it with ASHA (:class:`~tunefleet.schedulers.hypertune.HyperTuneASHA`,
``scheduler="hypertune"``, or any ``ASHAScheduler``): ASHA promotes, this searcher proposes
new configurations. ``HyperTuneASHA`` also chooses the rung each new trial starts at from
the same agreement measure (:func:`~tunefleet.schedulers.hypertune.rank_weight`, the
paper's bracket selection), so where low rungs mislead, trials start at the top and this
model learns from their full-budget results. Budgets come from ``time_attr`` of every intermediate result, so each
rung ``r`` holds the scores of the trials that reached it.

- One surrogate per rung with at least ``n_startup_trials`` observations: TPE's good and
  bad Parzen estimators of that rung (constant liar and uniform prior as in TPESearch).
- Weights (Hyper-Tune's idea, a cheaper estimate): the largest such rung weighs 1; a lower
  rung weighs ``max(0, 2τ − 1)`` where τ is the fraction of concordant pairs between its
  ranking and the largest rung's on the trials both observed (a lower rung that ranks like
  the top one is trusted; one that disagrees is ignored), or 1 while they share fewer than
  two trials. Early on, when only the lowest rung has data, the model is that rung's.
- Suggestion: ``n_ei_candidates`` draws from the rungs' good mixtures in proportion to
  their weights; the one maximising ``Σ_r w_r (log l_r − log g_r)`` wins, among those
  whose configuration was not proposed before (as TPESearch).

:attr:`fidelity_weights` holds the last weights used ({budget: weight}).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from tunefleet.schedulers.hypertune import rank_weight
from tunefleet.search.tpe import TPESearch


class HyperTuneSearch(TPESearch):
    """``search_alg="hypertune"``: TPESearch's arguments plus ``time_attr`` (the result
    field that gives a result's budget); ``n_startup_trials`` is per rung."""

    _param_attrs: ClassVar[Mapping[str, str]] = {**TPESearch._param_attrs}
    _one_budget: ClassVar[bool] = False

    def __init__(
        self,
        space: dict[str, Any] | None = None,
        metric: str | None = None,
        mode: str | None = None,
        points_to_evaluate: list[dict[str, Any]] | None = None,
        evaluated_rewards: list[float] | None = None,
        seed: int | None = None,
        n_startup_trials: int = 6,
        gamma: float = 0.15,
        n_ei_candidates: int = 24,
        constant_liar: bool = True,
        constraints: list[str] | None = None,
        max_concurrent: int = 0,
        time_attr: str = "training_iteration",
    ) -> None:
        super().__init__(
            space=space,
            metric=metric,
            mode=mode,
            points_to_evaluate=points_to_evaluate,
            evaluated_rewards=evaluated_rewards,
            seed=seed,
            n_startup_trials=n_startup_trials,
            gamma=gamma,
            n_ei_candidates=n_ei_candidates,
            constant_liar=constant_liar,
            constraints=constraints,
            max_concurrent=max_concurrent,
        )
        self.time_attr = time_attr
        self._time_attr_given = time_attr != "training_iteration"
        self.fidelity_weights: dict[float, float] = {}

    def _weights(self, top: float) -> dict[float, float]:
        ranked_top = self._obs[top]
        weights = {top: 1.0}
        for b, obs in self._obs.items():
            if b < top and len(obs) >= self._min_points:
                weights[b] = rank_weight(obs, ranked_top)
        return {b: w for b, w in weights.items() if w > 0}

    def _from_model(
        self,
        budget: float,
        rng: np.random.Generator,
        avoid: set[tuple[float, ...]] | None = None,
    ) -> np.ndarray:
        weights = self._weights(budget)
        self.fidelity_weights = dict(weights)
        total = sum(weights.values())
        models = {b: self._densities(b) for b in sorted(weights)}
        draws = rng.multinomial(self.n_ei_candidates, [weights[b] / total for b in models])
        cands = np.vstack(
            [
                self._candidates(good, n_good, max(int(k), 1), rng)
                for (good, _, n_good), k in zip(models.values(), draws, strict=True)
            ]
        )
        score = sum(
            (weights[b] / total) * self._log_ratio(good, bad, cands)
            for b, (good, bad, _) in models.items()
        )
        return self._best_fresh(cands, np.asarray(score), avoid)

    def __repr__(self) -> str:
        return (
            f"HyperTuneSearch(seed={self._init_seed!r}, metric={self.metric!r}, mode={self.mode!r})"
        )
