"""Search spaces as scikit-learn writes them, turned into tunefleet domains.

``RandomizedSearchCV`` takes lists (sampled uniformly) and anything with ``rvs``
(scipy.stats distributions); ``GridSearchCV`` takes lists or a list of such dicts.
tunefleet domains (``tune.loguniform``...) pass through unchanged, so a searcher that
models the space (TPE, BOHB, Optuna) sees real bounds rather than an opaque sampler.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from tunefleet.errors import TuneTypeError, TuneValueError
from tunefleet.space import domains


def check_names(space: Mapping[str, Any], valid: set[str], where: str) -> None:
    """Refuse a key the estimator does not take, naming it (before any compute)."""
    if not space:
        raise TuneValueError(f"{where}: the search space is empty")
    for name in space:
        if not isinstance(name, str):
            raise TuneTypeError(f"{where}: parameter names must be strings, got {name!r}")
        if name not in valid:
            raise TuneValueError(
                f"{where}: {name!r} is not a parameter of the estimator "
                f"(valid: {', '.join(sorted(valid)[:20])}{'...' if len(valid) > 20 else ''})"
            )


def _frozen(dist: Any, seed: int | None) -> Any:
    """A scipy frozen distribution with a tunefleet equivalent as that domain, else a sampler."""
    family = getattr(getattr(dist, "dist", None), "name", None)
    if family in ("uniform", "loguniform", "reciprocal", "randint") and hasattr(dist, "support"):
        low, high = (float(b) for b in dist.support())
        if family == "uniform":
            return domains.uniform(low, high)
        if family == "randint":
            return domains.randint(int(low), int(high) + 1)
        return domains.loguniform(low, high)
    return domains.sample_from(_Sampler(dist, seed))


class _Sampler:
    """``sample_from`` for any object with ``rvs`` (its own seeded stream)."""

    def __init__(self, dist: Any, seed: int | None) -> None:
        self.dist = dist
        self.rng = np.random.RandomState(seed)

    def __call__(self, spec: Any = None) -> Any:
        value = self.dist.rvs(random_state=self.rng)
        return value.item() if hasattr(value, "item") else value


def to_domain(value: Any, name: str, where: str, grid: bool, seed: int | None = None) -> Any:
    """One entry of a scikit-learn space as a tunefleet domain."""
    if isinstance(value, domains.Domain):
        return value
    if hasattr(value, "rvs"):
        if grid:
            raise TuneTypeError(
                f"{where}[{name!r}]: a grid takes lists of values, not distributions"
            )
        return _frozen(value, seed)
    if isinstance(value, (str, bytes, Mapping)):
        raise TuneTypeError(f"{where}[{name!r}]: expected a list of values, got {value!r:.40}")
    try:
        values = list(value)
    except TypeError:
        raise TuneTypeError(
            f"{where}[{name!r}]: expected a list, a distribution (with rvs) or a tunefleet "
            f"domain, got {type(value).__name__}"
        ) from None
    if not values:
        raise TuneValueError(f"{where}[{name!r}]: the list of values is empty")
    return domains.grid_search(values) if grid else domains.choice(values)


def to_space(space: Any, where: str, seed: int | None) -> dict[str, Any]:
    """A ``param_distributions`` dict as a tunefleet config (lists become ``choice``)."""
    if not isinstance(space, Mapping):
        raise TuneTypeError(f"{where}: expected a dict of parameter -> values")
    return {name: to_domain(v, name, where, False, seed) for name, v in space.items()}


def grid_points(grid: Any, where: str) -> list[dict[str, Any]]:
    """Every point of a ``param_grid`` (a dict or a list of dicts), in GridSearchCV's order."""
    from sklearn.model_selection import ParameterGrid

    parts = [grid] if isinstance(grid, Mapping) else grid
    if not isinstance(parts, Sequence) or not parts:
        raise TuneValueError(f"{where}: expected a non-empty dict or list of dicts")
    for part in parts:
        if not isinstance(part, Mapping):
            raise TuneTypeError(f"{where}: expected dicts of parameter -> list, got {part!r:.40}")
        for name, v in part.items():
            to_domain(v, name, where, True)  # the checks, with their messages
    return list(ParameterGrid([{k: _values(v) for k, v in p.items()} for p in parts]))


def _values(value: Any) -> Any:
    """A finite tunefleet domain (``tune.grid_search``, ``tune.choice``) as its values."""
    if isinstance(value, domains.Domain):
        values = value.values()
        if values is None:
            raise TuneTypeError(f"param_grid: {value!r} is not a finite list of values")
        return values
    return value
