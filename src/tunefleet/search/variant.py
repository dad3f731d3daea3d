"""Random search with Ray's basic-variant semantics, and the machinery grid/Sobol share.

The trial stream is a list of *items*: first one per ``points_to_evaluate`` entry, then
``num_samples - len(points)`` repetitions of the space. Each item is expanded over its grid
axes (the first axis varies fastest, as in Ray), and every grid point becomes one trial.
The stream position (item, grid index) and the random generator's state are the whole
state, so a restored searcher continues the exact same sequence.
"""

from __future__ import annotations

import math
import secrets
import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from tunefleet.errors import TuneTypeError, TuneValueError
from tunefleet.search.base import FINISHED, Searcher
from tunefleet.space import (
    Domain,
    Path,
    find_domains,
    format_path,
    grid_values,
    is_grid,
    is_grid_marker,
    resolve,
    space_fingerprint,
    validate_space,
)
from tunefleet.space.lazy_rng import LazyGenerator

if TYPE_CHECKING:
    import numpy as np

    from tunefleet.space.lazy_rng import Rng

_STATE_VERSION = 1


class _Item:
    """One entry of the stream: a space (maybe with a point merged in) and its grid."""

    __slots__ = ("space", "axes", "size", "random_paths")

    def __init__(self, space: dict[str, Any], axes: list[tuple[Path, list[Any]]]) -> None:
        self.space = space
        self.axes = axes
        self.size = math.prod(len(v) for _, v in axes)
        self.random_paths: list[tuple[Path, Domain]] = []


def _new_rng(state: Mapping[str, Any]) -> np.random.Generator:
    """numpy's Generator at a saved state (its ``bit_generator.state`` dict)."""
    import numpy as np

    bit_gen = getattr(np.random, str(state["bit_generator"]))()
    bit_gen.state = dict(state)
    return np.random.Generator(bit_gen)


def _resume_rng(state: Mapping[str, Any]) -> Rng:
    """The same, as a :class:`LazyGenerator` when it is PCG64 (numpy's default)."""
    if state.get("bit_generator") == "PCG64":
        return LazyGenerator(state=dict(state))
    return _new_rng(state)


def _check_points(points: Any) -> list[dict[str, Any]]:
    if points is None:
        return []
    if not isinstance(points, list | tuple):
        raise TuneTypeError(
            f"points_to_evaluate must be a list of dicts, got {type(points).__name__}"
        )
    for i, p in enumerate(points):
        if not isinstance(p, dict):
            raise TuneTypeError(f"points_to_evaluate[{i}] must be a dict, got {type(p).__name__}")
    return list(points)


def merge_point(space: dict[str, Any], point: dict[str, Any], index: int = 0) -> dict[str, Any]:
    """The space with a (partial, nested) point's values fixed, as Ray's preset variants.

    A key missing from the space is an error; a value outside its domain only warns.
    """

    def merge(node: Any, value: Any, path: Path) -> Any:
        if type(value) is dict and type(node) is dict and not is_grid_marker(node):
            out = dict(node)
            for k, v in value.items():
                if k not in node:
                    raise TuneValueError(
                        f"points_to_evaluate[{index}]: {format_path((*path, k))} "
                        "is not in the search space"
                    )
                out[k] = merge(node[k], v, (*path, k))
            return out
        if is_grid(node):
            ok = any(v is value or v == value for v in grid_values(node))
        elif isinstance(node, Domain) and not node.is_function:
            ok = node.contains(value)
        else:
            ok = True
        if not ok:
            warnings.warn(
                f"points_to_evaluate[{index}]: {value!r} is outside the domain of "
                f"{format_path(path)} ({node!r})",
                stacklevel=4,
            )
        return value

    return merge(space, point, ())


class VariantSearcher(Searcher):
    """Shared base: points first, then the grid repeated; subclasses choose the values.

    Subclasses override :meth:`_axis` (which nodes are grid axes) and :meth:`_values`
    (values for the non-grid domains of one trial).
    """

    uses_numpy = False  # uniforms from a LazyGenerator; subclasses that need it say so

    uses_results = False  # random, grid and Sobol draw without looking at results

    #: ``seed`` is the seed in use once ``setup`` ran; the argument stays in ``_init_seed``.
    _param_attrs: ClassVar[Mapping[str, str]] = {**Searcher._param_attrs, "seed": "_init_seed"}

    def __init__(
        self,
        points_to_evaluate: list[dict[str, Any]] | None = None,
        seed: int | None = None,
        max_concurrent: int = 0,
        constant_grid_search: bool = False,
        metric: str | None = None,
        mode: str | None = None,
    ) -> None:
        super().__init__(metric=metric, mode=mode)
        self.points_to_evaluate = points_to_evaluate
        self._points = _check_points(points_to_evaluate)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise TuneTypeError(f"seed must be an int or None, got {type(seed).__name__}")
        self._init_seed = seed
        self.seed = seed
        if isinstance(max_concurrent, bool) or not isinstance(max_concurrent, int):
            raise TuneTypeError(f"max_concurrent must be an int, got {max_concurrent!r}")
        if max_concurrent < 0:
            raise TuneValueError(f"max_concurrent must be >= 0 (0: no limit), got {max_concurrent}")
        self.max_concurrent = max_concurrent
        self.constant_grid_search = bool(constant_grid_search)
        self._rng: Rng | None = None
        self._given_rng: Rng | None = None
        self._items: list[_Item] = []
        self._base: _Item | None = None
        self._fingerprint = ""
        self._item = 0
        self._grid = 0
        self._count = 0
        self._live: set[str] = set()
        self._shared_state: dict[str, Any] | None = None
        self._shared: dict[Path, Any] = {}

    # ------------------------------------------------------------------ subclass hooks

    def _axis(self, node: Any) -> list[Any] | None:
        """The values if ``node`` is a grid axis for this searcher, else None."""
        return grid_values(node) if is_grid(node) else None

    def _values(self, item: _Item, rng: Rng) -> dict[Path, Any]:
        """Values for the item's non-grid domains; empty: let resolve sample them."""
        return {}

    # --------------------------------------------------------------------------- setup

    def setup(
        self,
        space: dict[str, Any],
        metric: str | None,
        mode: str | None,
        seed: int | None,
        num_samples: int = 1,
    ) -> None:
        validate_space(space)
        super().setup(space, metric, mode, seed, num_samples)
        if self._init_seed is not None:
            self.seed = self._init_seed
        if self.seed is None and self._given_rng is None:
            self.seed = secrets.randbits(63)  # kept in the state, so resume is exact
        # numpy's default_rng(seed), drawn in Python until something but uniforms is asked
        # of it: random search then never imports numpy (space/lazy_rng.py)
        self._rng = self._given_rng if self._given_rng is not None else LazyGenerator(self.seed)
        self._base = self._make_item(space)
        self._items = [
            self._make_item(merge_point(space, p, i)) for i, p in enumerate(self._points)
        ]
        self._fingerprint = space_fingerprint(space)
        self._item = self._grid = self._count = 0
        self._live = set()
        self._shared_state = None
        self._shared = {}

    def _make_item(self, space: dict[str, Any]) -> _Item:
        axes: list[tuple[Path, list[Any]]] = []
        randoms: list[tuple[Path, Domain]] = []
        for path, node in find_domains(space):
            values = self._axis(node)
            if values is not None:
                axes.append((path, values))
            elif isinstance(node, Domain) and not node.is_function:
                randoms.append((path, node))
        item = _Item(space, axes)
        item.random_paths = randoms
        return item

    def total_trials(self, num_samples: int) -> int | None:
        """Ray's count: each point's own grid, then the full grid per remaining sample."""
        if num_samples < 0:
            return None
        base = self._base.size if self._base is not None else 1
        return sum(it.size for it in self._items) + max(0, num_samples - len(self._points)) * base

    # ------------------------------------------------------------------------- suggest

    def _n_items(self) -> float:
        if self.num_samples < 0:
            return math.inf
        return len(self._items) + max(0, self.num_samples - len(self._items))

    def _current(self, index: int) -> _Item:
        if index < len(self._items):
            return self._items[index]
        assert self._base is not None
        return self._base

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        if self._rng is None:
            raise RuntimeError(f"{type(self).__name__}.setup() must be called before suggest()")
        if self.max_concurrent and len(self._live) >= self.max_concurrent:
            return None
        n_items = self._n_items()
        while self._item < n_items and self._grid >= self._current(self._item).size:
            self._item += 1
            self._grid = 0
        if self._item >= n_items:
            return FINISHED
        item = self._current(self._item)
        values: dict[Path, Any] = {}
        index = self._grid
        for path, options in item.axes:
            values[path] = options[index % len(options)]
            index //= len(options)
        if self.constant_grid_search and item.axes:
            if self._grid == 0:
                self._shared_state = dict(self._rng.bit_generator.state)
                self._shared = self._sample_shared(item, self._rng)
            values.update(self._shared)
        values.update(self._values(item, self._rng))
        config = resolve(item.space, values, self._rng)
        self._grid += 1
        self._count += 1
        self._live.add(trial_id)
        return config

    def _sample_shared(self, item: _Item, rng: Rng) -> dict[Path, Any]:
        return {path: dom.sample(rng) for path, dom in item.random_paths}

    def on_complete(
        self, trial_id: str, result: dict[str, Any] | None, error: bool = False
    ) -> None:
        self._live.discard(trial_id)

    # --------------------------------------------------------------------------- state

    def state_dict(self) -> dict[str, Any]:
        """JSON-only: stream position, live trials and the generator's state."""
        if self._rng is None:
            raise RuntimeError(f"{type(self).__name__}.setup() must be called before state_dict()")
        return {
            "version": _STATE_VERSION,
            "searcher": type(self).__name__,
            "space": self._fingerprint,
            "seed": self.seed,
            "rng": dict(self._rng.bit_generator.state),
            "item": self._item,
            "grid": self._grid,
            "count": self._count,
            "live": sorted(self._live),
            "shared_rng": self._shared_state,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue a stream; call :meth:`setup` with the same space first."""
        if self._rng is None:
            raise RuntimeError(
                f"{type(self).__name__}.setup() must be called before load_state_dict()"
            )
        if state.get("version") != _STATE_VERSION:
            raise TuneValueError(f"state: unsupported version {state.get('version')!r}")
        if state.get("space") != self._fingerprint:
            raise TuneValueError(
                "state: it was saved for a different search space (space fingerprint differs)"
            )
        self.seed = state["seed"]
        self._rng = _resume_rng(state["rng"])
        if self._given_rng is not None:
            self._given_rng.bit_generator.state = dict(state["rng"])
            self._rng = self._given_rng
        self._item = int(state["item"])
        self._grid = int(state["grid"])
        self._count = int(state["count"])
        self._live = set(state["live"])
        self._shared_state = state.get("shared_rng")
        self._shared = {}
        if self._shared_state is not None and self._grid > 0:
            item = self._current(self._item)
            self._shared = self._sample_shared(item, _resume_rng(self._shared_state))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(seed={self._init_seed!r}, metric={self.metric!r})"


class RandomSearch(VariantSearcher):
    """Random search with Ray's basic-variant semantics.

    Grid axes (``grid_search``) are expanded as a cartesian product and the whole grid is
    repeated ``num_samples`` times; every other domain is sampled at random (fresh at each
    grid point, or once per repetition with ``constant_grid_search``). ``points_to_evaluate``
    (partial, nested configs; missing keys sampled) come first and each uses up one sample.
    Seeded by ``seed``, else by the seed given to ``setup``. ``max_concurrent`` > 0 makes
    ``suggest`` return None while that many suggested trials are live.

    Cost per suggest: O(size of the space) (one copy of the config; no history kept).
    """

    def __init__(
        self,
        points_to_evaluate: list[dict[str, Any]] | None = None,
        seed: int | None = None,
        max_concurrent: int = 0,
        constant_grid_search: bool = False,
        metric: str | None = None,
        mode: str | None = None,
    ) -> None:
        super().__init__(
            points_to_evaluate=points_to_evaluate,
            seed=seed,
            max_concurrent=max_concurrent,
            constant_grid_search=constant_grid_search,
            metric=metric,
            mode=mode,
        )


class BasicVariantGenerator(RandomSearch):
    """Ray Tune's name and signature for :class:`RandomSearch`.

    ``random_state``: an int seed, a ``numpy.random.Generator`` (used as is) or a legacy
    ``RandomState`` (a seed is drawn from it). Cost per suggest: as RandomSearch.
    """

    def __init__(
        self,
        points_to_evaluate: list[dict[str, Any]] | None = None,
        max_concurrent: int = 0,
        constant_grid_search: bool = False,
        random_state: int | np.random.Generator | np.random.RandomState | None = None,
    ) -> None:
        seed: int | None = None
        given: np.random.Generator | None = None
        import numpy as np

        if isinstance(random_state, np.random.Generator):
            given = random_state
        elif isinstance(random_state, np.random.RandomState):
            seed = int(random_state.randint(0, 2**31 - 1))
        elif random_state is not None:
            if isinstance(random_state, bool) or not isinstance(random_state, int | np.integer):
                raise TuneTypeError(
                    "random_state must be an int, a numpy Generator or RandomState, "
                    f"got {type(random_state).__name__}"
                )
            seed = int(random_state)
        super().__init__(
            points_to_evaluate=points_to_evaluate,
            seed=seed,
            max_concurrent=max_concurrent,
            constant_grid_search=constant_grid_search,
        )
        self.random_state = random_state
        self._given_rng = given
