"""Searcher names for ``run(search_alg="...")``: a registry with lazily imported entries.

An entry is a factory (any callable taking keyword ``points_to_evaluate``) or a string
``"module.path:ClassName"`` imported on first use, so optional searchers cost nothing until
asked for. Add one with :func:`register_searcher` or a line in ``_BUILTIN``; third-party
packages can also declare an entry point in the group ``tunefleet.searchers``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from tunefleet.errors import TuneTypeError, TuneValueError
from tunefleet.search.base import Searcher

Factory = Callable[..., Searcher]

_BUILTIN: dict[str, str] = {
    "random": "tunefleet.search.variant:RandomSearch",
    "variant_generator": "tunefleet.search.variant:BasicVariantGenerator",
    "basic_variant": "tunefleet.search.variant:BasicVariantGenerator",
    "grid": "tunefleet.search.grid:GridSearch",
    "sobol": "tunefleet.search.sobol:SobolSearch",
    "quasirandom": "tunefleet.search.sobol:SobolSearch",
    "bohb": "tunefleet.search.bohb:TuneBOHB",
    "tpe": "tunefleet.search.tpe:TPESearch",
    "scalarized": "tunefleet.search.scalarized:ScalarizedSearch",
    "dehb": "tunefleet.search.dehb:DEHBSearch",
    "hypertune": "tunefleet.search.hypertune:HyperTuneSearch",
    # adapters to outside libraries (optional extras, imported on first use)
    "optuna": "tunefleet.search.optuna:OptunaSearch",
    "hyperopt": "tunefleet.search.hyperopt:HyperOptSearch",
    "nevergrad": "tunefleet.search.nevergrad:NevergradSearch",
    "bayesopt": "tunefleet.search.bayesopt:BayesOptSearch",
    "zoopt": "tunefleet.search.zoopt:ZOOptSearch",
    "ax": "tunefleet.search.ax:AxSearch",
}

_registry: dict[str, str | Factory] = dict(_BUILTIN)

ENTRY_POINT_GROUP = "tunefleet.searchers"


def _key(name: str) -> str:
    return name.strip().lower().replace("-", "_")


def register_searcher(name: str, factory: str | Factory, overwrite: bool = False) -> None:
    """Make ``search_alg=name`` build ``factory`` (a callable or "module:attr")."""
    if not isinstance(name, str) or not name.strip():
        raise TuneTypeError(f"register_searcher: name must be a non-empty str, got {name!r}")
    if isinstance(factory, str):
        if ":" not in factory:
            raise TuneValueError(
                f"register_searcher(name={name!r}): factory must look like 'module.path:Class'"
            )
    elif not callable(factory):
        raise TuneTypeError(f"register_searcher(name={name!r}): factory must be callable")
    key = _key(name)
    if key in _registry and not overwrite:
        raise TuneValueError(
            f"register_searcher: name {name!r} is already registered (pass overwrite=True)"
        )
    _registry[key] = factory


def searcher_names() -> list[str]:
    """Registered names, sorted."""
    return sorted(_registry)


def _load(name: str, entry: str | Factory) -> Factory:
    if not isinstance(entry, str):
        return entry
    module, _, attr = entry.partition(":")
    try:
        obj: Factory = getattr(importlib.import_module(module), attr)
    except ImportError as e:
        raise ImportError(
            f"search_alg={name!r} needs {module!r}, which could not be imported ({e}); "
            "install the matching extra, e.g. pip install tunefleet[optuna]"
        ) from e
    return obj


def _from_entry_points(key: str) -> Factory | None:
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if _key(ep.name) == key:
            factory: Factory = ep.load()
            _registry[key] = factory
            return factory
    return None


def create_searcher(
    search_alg: Searcher | str | None, points_to_evaluate: list[dict[str, Any]] | None = None
) -> Searcher:
    """A Searcher from None (random search), an instance, or a registered name."""
    if search_alg is None:
        from tunefleet.search.variant import RandomSearch

        return RandomSearch(points_to_evaluate=points_to_evaluate)
    if isinstance(search_alg, Searcher):
        if points_to_evaluate is not None:
            raise TuneValueError(
                "points_to_evaluate: pass it to the searcher's constructor when search_alg "
                f"is a Searcher instance ({type(search_alg).__name__})"
            )
        return search_alg
    if not isinstance(search_alg, str):
        raise TuneTypeError(
            f"search_alg must be None, a Searcher or a name, got {type(search_alg).__name__}"
        )
    key = _key(search_alg)
    entry = _registry.get(key)
    factory = _load(search_alg, entry) if entry is not None else _from_entry_points(key)
    if factory is None:
        raise TuneValueError(
            f"search_alg={search_alg!r} is not a known search algorithm; valid names: "
            + ", ".join(searcher_names())
        )
    searcher = factory(points_to_evaluate=points_to_evaluate) if points_to_evaluate else factory()
    if not isinstance(searcher, Searcher):
        raise TuneTypeError(
            f"search_alg={search_alg!r}: its factory returned {type(searcher).__name__}, "
            "not a Searcher"
        )
    return searcher


def pair_with_scheduler(searcher: Any, scheduler: Any) -> None:
    """Let a searcher take what it needs from the run's scheduler before ``setup``: its
    ``adopt_scheduler(scheduler)`` if it has one (DEHB: Hyperband's ``max_t`` and
    ``reduction_factor``; the KDE searchers: ``time_attr``), looking through
    ConcurrencyLimiter and Repeater. Only what the searcher was not given is taken."""
    inner = searcher
    while hasattr(getattr(inner, "searcher", None), "suggest"):
        inner = inner.searcher
    hook = getattr(inner, "adopt_scheduler", None)
    if callable(hook):
        hook(scheduler)
