"""ScalarizedSearch: several objectives through the native TPE by random scalarizations.

Paria, Kandasamy, Póczos (2019), "A flexible framework for multi-objective Bayesian
optimization using random scalarizations", UAI, arXiv:1805.12168. Before each suggestion a
random scalarization is drawn and every observation is re-scored by it; the
single-objective TPE model (:class:`~tunefleet.search.tpe.TPESearch`) then proposes the
next config for that scalarization. Over many draws the suggestions spread along the whole
Pareto front, which a fixed weighting cannot reach where the front is not convex. The
objectives ``y`` are oriented so that larger is better and min-max normalised over the
observations so far (so ``y = 0`` is the worst value seen in each). ``scalarization``:

- ``"hypervolume"`` (default): the hypervolume scalarization of Golovin & Zhang (2020),
  "Random hypervolume scalarizations for provable multi-objective black box
  optimization", ICML: ``min_k y_k / θ_k`` with ``θ`` drawn uniformly from the positive
  part of the unit sphere. Its expectation over ``θ`` of the best value found is (a power
  of) the hypervolume of the observations relative to their worst values, so maximising
  it on average is maximising the hypervolume, the measure sweeps are judged by. (TPE
  ranks, so their exponent ``m`` changes nothing and is left out.)
- ``"chebyshev"``: Paria et al.'s Chebyshev scalarization ``min_k w_k * y_k`` with ``w``
  uniform on the simplex, which favours the front's two ends about twice as much as its
  middle (directions ``1/w``).

On a finite space (choices, grids) the TPE proposes configurations not yet tried while
there are any (:class:`~tunefleet.search.tpe.TPESearch`), so random draws of a small
categorical space are not spent on repeats.

Outcome constraints are the TPE's (``feasible=False`` or a ``constraints`` key > 0): an
infeasible result scores as the worst under every scalarization.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from tunefleet.errors import TuneValueError
from tunefleet.objectives import metric_names
from tunefleet.search.constraints import infeasible
from tunefleet.search.tpe import TPESearch

__all__ = ["ScalarizedSearch"]

_SCORE = "__scalarized__"
SCALARIZATIONS = ("hypervolume", "chebyshev")


class ScalarizedSearch(TPESearch):
    """TPE over random scalarizations of ``metric``/``mode`` lists; ``scalarization``:
    ``"hypervolume"`` (Golovin & Zhang 2020) or ``"chebyshev"`` (Paria et al. 2019), see
    the module docstring."""

    multi_objective: ClassVar[bool] = True

    def __init__(
        self,
        space: dict[str, Any] | None = None,
        metric: list[str] | None = None,
        mode: list[str] | None = None,
        seed: int | None = None,
        n_startup_trials: int = 10,
        gamma: float = 0.1,
        n_ei_candidates: int = 24,
        constraints: list[str] | None = None,
        scalarization: str = "hypervolume",
    ) -> None:
        if scalarization not in SCALARIZATIONS:
            raise TuneValueError(
                f"ScalarizedSearch(scalarization={scalarization!r}): must be one of "
                f"{', '.join(SCALARIZATIONS)}"
            )
        self.scalarization = scalarization
        super().__init__(
            space=space,
            seed=seed,
            n_startup_trials=n_startup_trials,
            gamma=gamma,
            n_ei_candidates=n_ei_candidates,
            constraints=constraints,
        )
        self.metric, self.mode = metric, mode  # type: ignore[assignment]
        self._init_metric, self._init_mode = metric, mode  # type: ignore[assignment]
        self._names: list[str] = []
        self._modes: list[str] = []
        self._vectors: dict[str, list[float] | None] = {}  # trial -> oriented objectives
        self._weights_rng = np.random.default_rng(seed)

    def setup(
        self,
        space: dict[str, Any],
        metric: Any,
        mode: Any,
        seed: int | None,
        num_samples: int = 1,
    ) -> None:
        names = metric_names(self._init_metric if self._init_metric is not None else metric)
        modes = metric_names(self._init_mode if self._init_mode is not None else mode)
        if not names or len(modes) != len(names):
            raise TuneValueError(
                f"metric: ScalarizedSearch needs metric and mode lists of the same length, "
                f"got metric={metric!r}, mode={mode!r}"
            )
        self._names, self._modes = names, modes
        self.metric = self.mode = None
        super().setup(space, _SCORE, "max", seed, num_samples)
        self._weights_rng = np.random.default_rng(self.seed)
        self._vectors = {}

    def _vector(self, result: Mapping[str, Any]) -> list[float] | None:
        out = []
        for name, mode in zip(self._names, self._modes, strict=True):
            v = result.get(name)
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                return None
            out.append(float(v) if mode == "max" else -float(v))
        return out

    def _observe(self, trial_id: str, result: dict[str, Any] | None) -> None:
        if result is None or trial_id not in self._x:
            return
        bad = infeasible(result, self.constraints)
        self._vectors[trial_id] = None if bad else self._vector(result)
        super()._observe(trial_id, {**result, _SCORE: math.nan})
        self._rescore(np.full(len(self._names), 1.0 / len(self._names)))

    def draw_weights(self) -> np.ndarray:
        """The next scalarization's weights ``w`` (the score is ``min_k w_k * y_k``):
        ``1/θ`` for ``θ`` uniform on the positive unit sphere (hypervolume), or uniform
        on the simplex (Chebyshev)."""
        m = len(self._names)
        if self.scalarization == "chebyshev":
            return self._weights_rng.dirichlet(np.ones(m))
        theta = np.abs(self._weights_rng.standard_normal(m))
        theta /= max(float(np.linalg.norm(theta)), 1e-300)
        return 1.0 / np.maximum(theta, 1e-12)

    def _rescore(self, weights: np.ndarray) -> None:
        """Score every observation by ``min_k w_k * y_k`` under ``weights``."""
        vecs = [v for v in self._vectors.values() if v is not None]
        if not vecs:
            return
        arr = np.array(vecs, dtype=float)
        lo, span = arr.min(axis=0), np.ptp(arr, axis=0)
        span[span == 0] = 1.0
        for at in self._obs.values():
            for tid in at:
                if tid not in self._vectors:
                    continue  # a warm-start point told without objectives: keep its score
                vec = self._vectors[tid]
                at[tid] = (
                    -math.inf
                    if vec is None
                    else float(np.min(weights * (np.array(vec) - lo) / span))
                )

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        self._rescore(self.draw_weights())
        return super().suggest(trial_id)

    def state_dict(self) -> dict[str, Any]:
        return {
            **super().state_dict(),
            "vectors": dict(self._vectors),
            "weights_rng": dict(self._weights_rng.bit_generator.state),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if not state:
            return
        state = dict(state)
        vectors = state.pop("vectors", {})
        wrng = state.pop("weights_rng", None)
        super().load_state_dict(state)
        self._vectors = {
            t: (None if v is None else [float(x) for x in v]) for t, v in vectors.items()
        }
        if wrng is not None:
            self._weights_rng.bit_generator.state = wrng

    def __repr__(self) -> str:
        return f"ScalarizedSearch(metric={self._names or self._init_metric!r})"
