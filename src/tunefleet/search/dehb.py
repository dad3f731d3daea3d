"""DEHB's searcher: Awad, Mallik & Hutter 2021, "DEHB: Evolutionary Hyperband for Scalable,
Robust and Efficient Hyperparameter Optimization", IJCAI 2021, arXiv:2105.09821.

DEHB is Hyperband whose new configurations come from differential evolution (Storn & Price
1997) instead of random sampling or a KDE. Pair it with
:class:`~tunefleet.schedulers.dehb.HyperBandForDEHB` (``scheduler="dehb"``), which runs
Hyperband's brackets; this searcher proposes configurations, learning each result's budget
from ``time_attr`` as :class:`~tunefleet.search.bohb.TuneBOHB` does (it reuses its
observation store, encoding and JSON state).

- Encoding: DEHB's unit hypercube; a categorical dimension with ``c`` options is the
  interval [0, 1] cut in ``c`` equal bins (the paper's Section 4.1).
- Subpopulations (the paper's Section 4.2): one per budget of Hyperband's ladder. Given
  ``max_t`` and ``reduction_factor`` (the scheduler's), the budgets are Hyperband's
  ``max_t·η^−s`` and the subpopulation of budget ``b`` has as many slots as the largest
  number of configurations any bracket runs at ``b`` (with max_t 27 and η 3: 27, 12, 6
  and 4 at budgets 1, 3, 9 and 27). Without ``max_t`` every observed budget is a budget
  and every subpopulation has ``population_size`` slots. A result at a budget fills an
  empty slot; once the subpopulation is full, a configuration evolved for that budget
  replaces its target if it is at least as good (DE's greedy selection), and one that
  reached the budget by promotion replaces the worst member if it is better.
- Which budget a new configuration is evolved for: the budget of the bracket it will start
  in. Hyperband fills brackets in a fixed order (bracket ``s_max`` first, each with ``n_s``
  new trials at ``max_t·η^−s``), so with ``max_t`` the searcher knows it from how many
  configurations it has proposed (exact for :class:`HyperBandForDEHB`, where brackets
  fill one after another). Without ``max_t``: the largest budget whose subpopulation is
  full.
- First Hyperband iteration (the paper's initialisation): the lowest budget's
  subpopulation starts as random configurations, so until it is full, configurations for
  that budget are uniform; later budgets are evolved as soon as their parent pool exists.
- Mutation ``rand/1``: ``v = x_r1 + F (x_r2 − x_r3)`` with three distinct parents from the
  parent pool. The pool for the lowest budget is its own subpopulation; for a higher
  budget ``b`` it is the best ``n`` members of the next lower budget's subpopulation,
  ``n`` being the bracket's number of new configurations at ``b`` (the ones successive
  halving would promote: how DEHB passes what the cheap budgets learnt upwards). A pool
  with fewer than ``min_points_in_model`` members is topped up from the global population
  (every subpopulation, best first), the paper's fallback. Binomial crossover with rate
  ``crossover_prob`` against the target (the subpopulation's slots in turn; a random
  vector while the slot is empty, as the paper's randomly initialised population), at
  least one coordinate from the mutant, and the paper's boundary fix (a coordinate outside
  [0, 1] is redrawn uniformly).

- Chosen by name with a Hyperband scheduler (``search_alg="dehb", scheduler="dehb"``), or
  without ``max_t``: the run hands the scheduler's ``max_t``, ``reduction_factor`` and
  ``time_attr`` to :meth:`DEHBSearch.adopt_scheduler` before ``setup``; what was given
  explicitly stays.
- New cells only: a child whose configuration was proposed before (discrete spaces: DE
  moves land in the same bin) is mutated again, up to 10 times, then replaced by a random
  untried configuration, as TPESearch does.

Where this differs from the paper, and why: DEHB proper fills a bracket's higher rungs
after its first iteration with newly evolved configurations trained from scratch; here
Hyperband promotes (resumes) the best of the lower rung, which costs only the extra budget
when trials checkpoint, and the promoted results still update the subpopulations.

:attr:`suggestion_log` records, for every evolved configuration, the budget it was
evolved for.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from tunefleet.errors import TuneTypeError, TuneValueError
from tunefleet.search.bohb import TuneBOHB
from tunefleet.search.tpe import tell

#: Mutations tried for a child whose cell was not proposed before.
_EVOLVE_TRIES = 10


class DEHBSearch(TuneBOHB):
    """``search_alg="dehb"``; ``mutation_factor`` is DEHB's F, ``crossover_prob`` its CR;
    ``max_t`` and ``reduction_factor``: the Hyperband scheduler's (recommended: the
    subpopulations and the bracket order follow from them)."""

    _param_attrs: ClassVar[Mapping[str, str]] = {**TuneBOHB._param_attrs}
    _fresh_only: ClassVar[bool] = True

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
        max_t: float | None = None,
        reduction_factor: float = 3,
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
        if max_t is not None:
            if isinstance(max_t, bool) or not isinstance(max_t, int | float):
                raise TuneTypeError(f"DEHBSearch(max_t={max_t!r}): a number or None")
            if not max_t >= 1:
                raise TuneValueError(f"DEHBSearch(max_t={max_t}): must be >= 1")
        if isinstance(reduction_factor, bool) or not isinstance(reduction_factor, int | float):
            raise TuneTypeError(f"DEHBSearch(reduction_factor={reduction_factor!r}): a number")
        if not reduction_factor > 1:
            raise TuneValueError(f"DEHBSearch(reduction_factor={reduction_factor}): must be > 1")
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
        self.max_t = max_t
        self.reduction_factor = reduction_factor
        # The ladder (ascending budgets), each budget's slots, and per bracket slot of the
        # Hyperband iteration the budget a new trial starts at; empty without max_t.
        self._ladder: list[float] = []
        self._slots: dict[float, int] = {}
        self._starts: list[float] = []
        self._new_at: dict[float, int] = {}  # budget -> new configurations of its bracket
        if max_t is not None:
            self._set_ladder(max_t, reduction_factor)
        self._pop: dict[float, list[list[Any]]] = {}  # budget -> slots of [trial, score]
        self._target: dict[str, list[Any]] = {}  # evolved trial -> [budget, slot]
        self._turn: dict[float, int] = {}  # budget -> next target slot
        self._evolving: str | None = None  # the trial being suggested

    def _set_ladder(self, max_t: float, reduction_factor: float) -> None:
        from tunefleet.schedulers.hyperband import hyperband_brackets

        self.max_t, self.reduction_factor = max_t, reduction_factor
        self._slots, self._starts, self._new_at = {}, [], {}
        for plan in hyperband_brackets(max_t, reduction_factor):
            self._starts += [float(plan[0][1])] * plan[0][0]
            self._new_at[float(plan[0][1])] = plan[0][0]
            for n, r in plan:
                self._slots[float(r)] = max(self._slots.get(float(r), 0), n)
        self._ladder = sorted(self._slots)

    def adopt_scheduler(self, scheduler: Any) -> None:
        """Take the ladder (``max_t``, ``reduction_factor``) and ``time_attr`` of a
        Hyperband scheduler (``scheduler="dehb"``, ``"hyperband"``, ``"bohb"``) where this
        searcher was not given them, as when both are chosen by name. The run calls it
        before ``setup``; other schedulers leave the searcher as it is."""
        from tunefleet.schedulers.hyperband import HyperBandScheduler

        super().adopt_scheduler(scheduler)
        if isinstance(scheduler, HyperBandScheduler) and self.max_t is None:
            self._set_ladder(scheduler.max_t, scheduler.reduction_factor)

    def setup(
        self,
        space: dict[str, Any],
        metric: str | None,
        mode: str | None,
        seed: int | None,
        num_samples: int = 1,
    ) -> None:
        self._pop, self._target, self._turn = {}, {}, {}
        super().setup(space, metric, mode, seed, num_samples)

    def add_evaluated_point(
        self, config: dict[str, Any], value: float, budget: float | None = None
    ) -> None:
        """Tell the population a (config, metric value) measured elsewhere, at ``budget``
        if known (warm start). Call it after ``setup``."""
        tell(self, config, value, budget)

    # ------------------------------------------------------------------ subpopulations
    def _rung(self, budget: float) -> float:
        """The ladder budget a result at ``budget`` belongs to: the largest one not above
        it (Hyperband stops a trial at the first result at or past its rung)."""
        if not self._ladder:
            return budget
        below = [r for r in self._ladder if r <= budget + 1e-9]
        return below[-1] if below else self._ladder[0]

    def _size(self, budget: float) -> int:
        return self._slots.get(budget, self.population_size)

    def _observe(self, trial_id: str, result: dict[str, Any] | None) -> None:
        super()._observe(trial_id, result)
        if result is None or trial_id not in self._x:
            return
        try:
            raw = float(result.get(self.time_attr))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return
        score = self._obs.get(raw, {}).get(trial_id)
        if score is None:
            return  # no metric: super() recorded nothing
        b = self._rung(raw)
        pop = self._pop.setdefault(b, [])
        if any(member[0] == trial_id for member in pop):
            return  # its first result at or past the rung is the one Hyperband ranks
        if len(pop) < self._size(b):
            pop.append([trial_id, score])
            return
        target = self._target.get(trial_id)
        if target is not None and target[0] == b and target[1] < len(pop):
            slot = int(target[1])
            if score >= pop[slot][1]:  # DE's selection: the child at least as good wins
                pop[slot] = [trial_id, score]
            return
        worst = min(range(len(pop)), key=lambda i: pop[i][1])
        if score > pop[worst][1]:
            pop[worst] = [trial_id, score]

    def _ranked(self, b: float) -> list[str]:
        pop = self._pop.get(b, [])
        return [t for t, _ in sorted(pop, key=lambda m: (-m[1], m[0]))]

    def _pool(self, b: float) -> list[str]:
        """Parents for evolving budget ``b``'s configurations (see the module docstring)."""
        lower = [r for r in self._ladder if r < b]
        if lower:
            pool = self._ranked(lower[-1])[: self._new_at.get(b, self._size(b))]
        else:
            pool = self._ranked(b)
        if len(pool) < self.min_points_in_model:
            everyone = sorted(
                (m for r in self._pop for m in self._pop[r]), key=lambda m: (-m[1], m[0])
            )
            for t, _ in everyone:
                if len(pool) >= self.min_points_in_model:
                    break
                if t not in pool:
                    pool.append(t)
        return pool

    def _model_choice(self, trial_id: str) -> float | None:
        self._evolving = trial_id
        if self._ladder:
            b = self._starts[len(self.suggestion_log) % len(self._starts)]
            if b == self._ladder[0] and len(self._pop.get(b, [])) < self._size(b):
                return None  # the first iteration's random subpopulation
            return b if len(self._pool(b)) >= self.min_points_in_model else None
        full = [b for b, pop in self._pop.items() if len(pop) >= self._size(b)]
        return max(full) if full else None

    def _from_model(
        self,
        budget: float,
        rng: np.random.Generator,
        avoid: set[tuple[float, ...]] | None = None,
    ) -> np.ndarray:
        sizes = np.array([dim.size for dim in self._dims])
        cat = sizes > 0

        def unit(tid: str) -> np.ndarray:
            # categorical index i of c -> the centre of bin i in [0, 1]
            x = np.array(self._x[tid], dtype=float)
            x[cat] = (x[cat] + 0.5) / sizes[cat]
            return x

        pool = np.array([unit(t) for t in self._pool(budget)])
        d = pool.shape[1]
        pop = self._pop.get(budget, [])
        slot = self._turn.get(budget, 0) % self._size(budget)
        self._turn[budget] = slot + 1
        target = unit(pop[slot][0]) if slot < len(pop) else rng.random(d)
        if self._evolving is not None:
            self._target[self._evolving] = [budget, slot]
        for _ in range(_EVOLVE_TRIES):
            r1, r2, r3 = pool[rng.choice(len(pool), size=3, replace=False)]
            mutant = r1 + self.mutation_factor * (r2 - r3)
            out_of_bounds = (mutant < 0) | (mutant > 1)
            mutant[out_of_bounds] = rng.random(int(out_of_bounds.sum()))
            cross: np.ndarray = np.asarray(rng.random(d) < self.crossover_prob)
            cross[rng.integers(d)] = True  # at least one coordinate from the mutant
            child = np.where(cross, mutant, target)
            child[cat] = np.minimum(np.floor(child[cat] * sizes[cat]), sizes[cat] - 1)
            if not avoid or self._cell(child) not in avoid:
                break  # else a cell already proposed: mutate again (suggest falls back)
        return child

    def on_complete(
        self, trial_id: str, result: dict[str, Any] | None, error: bool = False
    ) -> None:
        super().on_complete(trial_id, result, error)
        self._target.pop(trial_id, None)

    # ---------------------------------------------------------------------------- state
    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()

        def js(s: float) -> float | None:
            return s if math.isfinite(s) else None

        state["dehb"] = {
            "pop": [[b, [[t, js(s)] for t, s in pop]] for b, pop in self._pop.items()],
            "target": self._target,
            "turn": [[b, k] for b, k in self._turn.items()],
        }
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if not state:
            return
        super().load_state_dict(state)
        own = state.get("dehb", {})
        self._pop = {
            float(b): [[str(t), -math.inf if s is None else float(s)] for t, s in pop]
            for b, pop in own.get("pop", [])
        }
        self._target = {str(t): [float(b), int(k)] for t, (b, k) in own.get("target", {}).items()}
        self._turn = {float(b): int(k) for b, k in own.get("turn", [])}

    def __repr__(self) -> str:
        return f"DEHBSearch(seed={self._init_seed!r}, metric={self.metric!r}, mode={self.mode!r})"
