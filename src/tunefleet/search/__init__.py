"""Search algorithms: propose configurations from a search space.

``create_searcher`` turns ``run(search_alg=...)`` into a Searcher; names are registered
lazily in :mod:`tunefleet.search.registry`.
"""

from tunefleet.search.base import FINISHED, Searcher
from tunefleet.search.concurrency import ConcurrencyLimiter
from tunefleet.search.grid import MAX_AXIS_VALUES, GridSearch
from tunefleet.search.registry import create_searcher, register_searcher, searcher_names
from tunefleet.search.sobol import SobolSearch
from tunefleet.search.variant import BasicVariantGenerator, RandomSearch, VariantSearcher

__all__ = [
    "FINISHED",
    "MAX_AXIS_VALUES",
    "BasicVariantGenerator",
    "ConcurrencyLimiter",
    "GridSearch",
    "RandomSearch",
    "Searcher",
    "SobolSearch",
    "VariantSearcher",
    "create_searcher",
    "register_searcher",
    "searcher_names",
]
