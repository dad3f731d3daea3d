"""Conformance suites that every executor, store, searcher and scheduler must pass.

They are shipped in the package, like Optuna's ``optuna.testing`` and scikit-learn's
``check_estimator``, so that third-party components can be tested against the same rules
as the built-in ones. Each is a base class to subclass in a test module:

=========================  ==========================================  ==================
suite                      module                                      you implement
=========================  ==========================================  ==================
``ExecutorConformance``    :mod:`tunefleet.testing.executors`          ``make_executor``
``StoreConformance``       :mod:`tunefleet.testing.stores`             ``make_store``
``SearcherConformance``    :mod:`tunefleet.testing.searchers`          ``make_searcher``
``SchedulerConformance``   :mod:`tunefleet.testing.schedulers`         ``make_scheduler``
=========================  ==========================================  ==================

The suites need pytest (and hypothesis); they are imported on first access, so that
importing this package, and tunefleet itself, never imports pytest.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tunefleet.testing.executors import ExecutorConformance
    from tunefleet.testing.schedulers import SchedulerConformance
    from tunefleet.testing.searchers import SearcherConformance
    from tunefleet.testing.stores import StoreConformance

_SUITES = {
    "ExecutorConformance": "tunefleet.testing.executors",
    "StoreConformance": "tunefleet.testing.stores",
    "SearcherConformance": "tunefleet.testing.searchers",
    "SchedulerConformance": "tunefleet.testing.schedulers",
}


def __getattr__(name: str) -> Any:
    module = _SUITES.get(name)
    if module is None:
        raise AttributeError(f"module 'tunefleet.testing' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_SUITES])


__all__ = [
    "ExecutorConformance",
    "SchedulerConformance",
    "SearcherConformance",
    "StoreConformance",
]
