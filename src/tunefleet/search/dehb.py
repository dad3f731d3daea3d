"""DEHB's searcher: Awad, Mallik & Hutter 2021, "DEHB: Evolutionary Hyperband for Scalable,
Robust and Efficient Hyperparameter Optimization", IJCAI 2021, arXiv:2105.09821.

DEHB is Hyperband whose new configurations come from differential evolution (Storn & Price
1997) instead of random sampling or a KDE. Pair it with
:class:`~tunefleet.schedulers.dehb.HyperBandForDEHB` (``scheduler="dehb"``), which runs
Hyperband's brackets; this searcher proposes configurations, learning each result's budget
from ``time_attr`` exactly as :class:`~tunefleet.search.bohb.TuneBOHB` does (it reuses its
observation store, encoding and JSON state).

- Encoding: DEHB's unit hypercube; a categorical dimension with ``c`` options is the
  interval [0, 1] cut in ``c`` equal bins (the paper's Section 4.1).
- Population: the best ``population_size`` configurations observed at the largest budget
  with at least ``min_points_in_model`` results (DEHB's subpopulation of that budget;
  selection is the ranking by score, so a better trial replaces the worst member), topped
  up to ``population_size`` with the best of the lower budgets, highest first (DEHB's
  global population as the parent pool when a budget's own is small, Awad et al. 2021
  Sec. 4). Why: with only the top budget's 4–5 members, rand/1 differences shrank to
  nothing and the search stalled (Branin regret at 40 FFE 0.84 under ASHA, the `dehb`
  package 0.37; with the top-up 0.17, benchmarks/search_quality.py, 10 seeds).
- New configuration: ``rand/1`` mutation ``v = x_r1 + F (x_r2 − x_r3)`` with parents from
  the population, binomial crossover with rate ``crossover_prob`` against a target that
  cycles through the population, and the paper's boundary fix (a coordinate outside [0, 1]
  is redrawn uniformly). Before any budget has enough results, suggestions are uniform.

This is the asynchronous, searcher-side reading of DEHB: promotions are Hyperband's (top
1/η of each rung), while DEHB proper promotes by evolving the next budget's subpopulation
with parents from the previous one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from tunefleet.errors import TuneValueError
from tunefleet.search.bohb import TuneBOHB
from tunefleet.search.tpe import tell


class DEHBSearch(TuneBOHB):
    """``search_alg="dehb"``; ``mutation_factor`` is DEHB's F, ``crossover_prob`` its CR."""

    _param_attrs: ClassVar[Mapping[str, str]] = {**TuneBOHB._param_attrs}

    def __init__(
        self,
        space: dict[str, Any] | None = None,
        metric: str | None = None,
        mode: str | None = None,
        points_to_evaluate: list[dict[str, Any]] | None = None,
        seed: int | None = None,
        population_size: int = 20,
        mutation_factor: float = 0.5,
        crossover_prob: float = 0.5,
        min_points_in_model: int = 4,
        max_concurrent: int = 0,
        time_attr: str = "training_iteration",
        evaluated_rewards: list[float] | None = None,
        constraints: list[str] | None = None,
    ) -> None:
        if isinstance(population_size, bool) or not isinstance(population_size, int):
            raise TuneValueError(f"DEHBSearch(population_size={population_size!r}): an int")
        if population_size < 4:
            raise TuneValueError(f"DEHBSearch(population_size={population_size}): must be >= 4")
        if not 0 < mutation_factor <= 2:
            raise TuneValueError(f"DEHBSearch(mutation_factor={mutation_factor!r}): in (0, 2]")
        if not 0 <= crossover_prob <= 1:
            raise TuneValueError(f"DEHBSearch(crossover_prob={crossover_prob!r}): in [0, 1]")
        if isinstance(min_points_in_model, bool) or not isinstance(min_points_in_model, int):
            raise TuneValueError(
                f"DEHBSearch(min_points_in_model={min_points_in_model!r}): an int >= 4"
            )
        if min_points_in_model < 4:
            raise TuneValueError(
                f"DEHBSearch(min_points_in_model={min_points_in_model}): must be >= 4 "
                "(rand/1 needs three parents and a target)"
            )
        super().__init__(
            space=space,
            bohb_config={"min_points_in_model": min_points_in_model, "random_fraction": 0.0},
            metric=metric,
            mode=mode,
            points_to_evaluate=points_to_evaluate,
            seed=seed,
            max_concurrent=max_concurrent,
            time_attr=time_attr,
            evaluated_rewards=evaluated_rewards,
            constraints=constraints,
        )
        self.population_size = population_size
        self.mutation_factor = mutation_factor
        self.crossover_prob = crossover_prob
        self.min_points_in_model = min_points_in_model

    def add_evaluated_point(
        self, config: dict[str, Any], value: float, budget: float | None = None
    ) -> None:
        """Tell the population a (config, metric value) measured elsewhere, at ``budget``
        if known (warm start). Call it after ``setup``."""
        tell(self, config, value, budget)

    def _from_model(self, budget: float, rng: np.random.Generator) -> np.ndarray:
        ranked = self._population(budget)
        sizes = np.array([dim.size for dim in self._dims])
        cat = sizes > 0
        # categorical index i of c -> the centre of bin i in [0, 1]
        pop = np.array([self._x[t] for t in ranked], dtype=float)
        pop[:, cat] = (pop[:, cat] + 0.5) / sizes[cat]
        n, d = pop.shape
        target = pop[len(self.suggestion_log) % n]
        r1, r2, r3 = pop[rng.choice(n, size=3, replace=False)]
        mutant = r1 + self.mutation_factor * (r2 - r3)
        out_of_bounds = (mutant < 0) | (mutant > 1)
        mutant[out_of_bounds] = rng.random(int(out_of_bounds.sum()))
        cross: np.ndarray = np.asarray(rng.random(d) < self.crossover_prob)
        cross[rng.integers(d)] = True  # at least one coordinate from the mutant
        child = np.where(cross, mutant, target)
        child[cat] = np.minimum(np.floor(child[cat] * sizes[cat]), sizes[cat] - 1)
        return child

    def _population(self, budget: float) -> list[str]:
        """The best at ``budget``, then the best of each lower budget not yet in, until
        ``population_size`` (see the module docstring)."""
        out: list[str] = []
        for b in sorted((b for b in self._obs if b <= budget), reverse=True):
            obs = self._obs[b]
            for tid in sorted(obs, key=lambda t: (-obs[t], t)):
                if len(out) == self.population_size:
                    return out
                if tid not in out:
                    out.append(tid)
        return out

    def __repr__(self) -> str:
        return f"DEHBSearch(seed={self._init_seed!r}, metric={self.metric!r}, mode={self.mode!r})"
