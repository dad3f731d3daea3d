"""Grid search: every finite domain becomes a grid axis."""

from __future__ import annotations

from typing import Any

from tunefleet.errors import TuneTypeError, TuneValueError
from tunefleet.search.variant import VariantSearcher
from tunefleet.space import Domain, grid_values, is_grid

#: Default largest finite domain that is expanded as an axis (larger ones are sampled).
MAX_AXIS_VALUES = 100


class GridSearch(VariantSearcher):
    """Like :class:`RandomSearch`, but finite domains are grid axes too.

    Axes: ``grid_search`` values, every ``choice``, and every finite discrete domain
    (``randint``, ``qrandint``, ``lograndint``, ``qlograndint``, ``quniform``,
    ``qloguniform``) with at most ``max_axis_values`` values (default 100). Continuous
    domains, larger discrete ones and ``randn`` are sampled at random at each grid point.
    The grid (first axis fastest) is repeated ``num_samples`` times.

    Cost per suggest: O(size of the space + number of axes); the grid is never materialised.
    """

    def __init__(
        self,
        points_to_evaluate: list[dict[str, Any]] | None = None,
        seed: int | None = None,
        max_axis_values: int = MAX_AXIS_VALUES,
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
        if isinstance(max_axis_values, bool) or not isinstance(max_axis_values, int):
            raise TuneTypeError(f"max_axis_values must be an int, got {max_axis_values!r}")
        if max_axis_values < 1:
            raise TuneValueError(f"max_axis_values must be >= 1, got {max_axis_values}")
        self.max_axis_values = max_axis_values

    def _axis(self, node: Any) -> list[Any] | None:
        if is_grid(node):
            return grid_values(node)
        if isinstance(node, Domain) and not node.is_function:
            n = node.cardinality
            if n is not None and n <= self.max_axis_values:
                return node.values()
        return None
