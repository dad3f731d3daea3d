"""HEBOSearch: Ray Tune's name for HEBO (Cowen-Rivers et al. 2022, "HEBO: Pushing the
Limits of Sample-Efficient Hyperparameter Optimisation", JAIR), not provided.

HEBO's releases pin numpy < 2 (and an old pymoo, GPy, catboost), which tunefleet's numpy
and scipy cannot go back to, so there is no adapter; this module exists so that Ray's
import line resolves and the error says so (``tunefleet.tune.search.hebo``) rather than a
bare ModuleNotFoundError. Use ``OptunaSearch(sampler="gp")`` or ``AxSearch`` for GP-based BO.
"""

from __future__ import annotations

from typing import Any

from tunefleet.errors import TuneValueError


class HEBOSearch:
    """Refuses to be built; see the module docstring."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise TuneValueError(
            "HEBOSearch is not provided: HEBO requires numpy < 2, which tunefleet cannot "
            "use; use OptunaSearch(sampler='gp') or AxSearch for Gaussian-process BO"
        )
