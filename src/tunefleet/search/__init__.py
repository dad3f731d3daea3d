"""Search algorithms: propose configurations from a search space.

``create_searcher`` turns ``run(search_alg=...)`` into a Searcher; names are registered
lazily in :mod:`tunefleet.search.registry`. The public names below also resolve lazily
(``_LAZY`` maps each to its module): the engine imports ``tunefleet.search.base``, and that
must not import numpy or a search library before a sweep needs them — the local engine
imports them while its workers boot (see ``Runner.run``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from tunefleet.search.base import FINISHED, Searcher

if TYPE_CHECKING:
    from tunefleet.search.concurrency import ConcurrencyLimiter
    from tunefleet.search.grid import MAX_AXIS_VALUES, GridSearch
    from tunefleet.search.registry import (
        create_searcher,
        pair_with_scheduler,
        register_searcher,
        searcher_names,
    )
    from tunefleet.search.repeater import Repeater
    from tunefleet.search.sobol import SobolSearch
    from tunefleet.search.variant import BasicVariantGenerator, RandomSearch, VariantSearcher

# public name -> module that defines it; a new searcher goes here and in __all__
_LAZY = {
    "ConcurrencyLimiter": "tunefleet.search.concurrency",
    "MAX_AXIS_VALUES": "tunefleet.search.grid",
    "GridSearch": "tunefleet.search.grid",
    "Repeater": "tunefleet.search.repeater",
    "create_searcher": "tunefleet.search.registry",
    "pair_with_scheduler": "tunefleet.search.registry",
    "register_searcher": "tunefleet.search.registry",
    "searcher_names": "tunefleet.search.registry",
    "SobolSearch": "tunefleet.search.sobol",
    "BasicVariantGenerator": "tunefleet.search.variant",
    "RandomSearch": "tunefleet.search.variant",
    "VariantSearcher": "tunefleet.search.variant",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


# every public name, listed (linters and ``import *`` read this list); each name but the
# first two must also be in _LAZY
__all__ = [
    "FINISHED",
    "Searcher",
    "ConcurrencyLimiter",
    "MAX_AXIS_VALUES",
    "GridSearch",
    "Repeater",
    "create_searcher",
    "pair_with_scheduler",
    "register_searcher",
    "searcher_names",
    "SobolSearch",
    "BasicVariantGenerator",
    "RandomSearch",
    "VariantSearcher",
]
