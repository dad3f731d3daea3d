"""Quasi-random search: a scrambled Sobol' sequence over the space's unit cube."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from tunefleet.search.variant import VariantSearcher, _Item
from tunefleet.space import Path
from tunefleet.space.lazy_rng import Rng

_FIRST_BLOCK = 64


class SobolSearch(VariantSearcher):
    """Quasi-random search (also registered as "quasirandom").

    The sampled (non-grid, non-``sample_from``) domains of the space form the axes of a
    unit cube; each trial takes the next point of a scrambled, seeded Sobol' sequence
    (``scipy.stats.qmc.Sobol``) and maps it with each domain's ``from_unit``. Points cover
    the cube more evenly than random ones, which helps small budgets. Grid axes are
    expanded as in :class:`RandomSearch` (each grid point takes a new Sobol' point);
    ``points_to_evaluate`` come first and also use up a Sobol' point. Domains nested in
    chosen values and ``sample_from`` results are sampled from a seeded generator.

    State: seed + number of Sobol' points drawn (restored by fast-forwarding) + stream
    position. Cost per suggest: O(size of the space); Sobol' points are drawn in blocks
    that double in size, O(d) amortised per point.
    """

    uses_numpy = True  # scipy's Sobol engine

    def __init__(
        self,
        points_to_evaluate: list[dict[str, Any]] | None = None,
        seed: int | None = None,
        scramble: bool = True,
        max_concurrent: int = 0,
        metric: str | None = None,
        mode: str | None = None,
    ) -> None:
        super().__init__(
            points_to_evaluate=points_to_evaluate,
            seed=seed,
            max_concurrent=max_concurrent,
            metric=metric,
            mode=mode,
        )
        self.scramble = scramble
        self._dims: dict[Path, int] = {}
        self._engine: Any = None
        self._buffer = np.empty((0, 0))
        self._pos = 0
        self._drawn = 0

    def setup(
        self,
        space: dict[str, Any],
        metric: str | None,
        mode: str | None,
        seed: int | None,
        num_samples: int = 1,
    ) -> None:
        super().setup(space, metric, mode, seed, num_samples)
        assert self._base is not None
        self._dims = {path: j for j, (path, _) in enumerate(self._base.random_paths)}
        self._restart(0)

    def _restart(self, drawn: int) -> None:
        self._engine = None
        if self._dims:
            from scipy.stats import qmc  # lazily: scipy is slow to import

            self._engine = qmc.Sobol(len(self._dims), scramble=self.scramble, rng=self.seed)
            if drawn:
                self._engine.fast_forward(drawn)
        self._buffer = np.empty((0, len(self._dims)))
        self._pos = 0
        self._drawn = drawn

    def _next_point(self) -> np.ndarray:
        if self._pos >= len(self._buffer):
            n = max(_FIRST_BLOCK, self._drawn)  # totals stay powers of two from a fresh start
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*balance properties.*")
                self._buffer = self._engine.random(n)
            self._pos = 0
        point = self._buffer[self._pos]
        self._pos += 1
        self._drawn += 1
        return point

    def _values(self, item: _Item, rng: Rng) -> dict[Path, Any]:
        if self._engine is None:
            return {}
        u = self._next_point()
        dims = self._dims
        return {
            path: dom.from_unit(float(u[dims[path]]))
            for path, dom in item.random_paths
            if path in dims
        }

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state["sobol_drawn"] = self._drawn
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self._restart(int(state["sobol_drawn"]))
