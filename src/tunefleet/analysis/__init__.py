"""What the plots and the dashboard show, as plain data: no plotting library imported.

Each function takes an experiment's records (``store.read(name, kinds=...KINDS)``) or
plain lists, so the live dashboard and ``tunefleet plot`` share one computation:

- :func:`history`: best-so-far over wall time and over compute (``HISTORY_KINDS``)
- :func:`curves`: learning curves with scheduler stops, pauses, promotions and PBT
  exploits marked (``CURVE_KINDS``)
- :func:`param_table`, :func:`slices`: trials as parameter columns and a score
- :func:`importance`: random-forest permutation importance (scikit-learn)
- :func:`lineage`: PBT/PB2 ancestry edges (``LINEAGE_KINDS``)
- :func:`non_dominated`: the Pareto front of several objectives
- ``*_of`` in :mod:`tunefleet.analysis.source`: the same from a ``Results``
"""

from __future__ import annotations

from tunefleet.analysis.curves import CURVE_KINDS, MARKERS, Curve, Marker, curves
from tunefleet.analysis.history import HISTORY_KINDS, History, best_so_far, history
from tunefleet.analysis.lineage import LINEAGE_KINDS, Edge, Lineage, lineage
from tunefleet.analysis.params import Param, ParamTable, Slice, param_table, slices
from tunefleet.pareto import pareto_front as non_dominated


def importance(*args: object, **kwargs: object) -> dict[str, float]:
    """See :func:`tunefleet.analysis.forest_importance.importance` (imports scikit-learn)."""
    from tunefleet.analysis.forest_importance import importance as _importance

    return _importance(*args, **kwargs)  # type: ignore[arg-type]


__all__ = [
    "CURVE_KINDS",
    "HISTORY_KINDS",
    "LINEAGE_KINDS",
    "MARKERS",
    "Curve",
    "Edge",
    "History",
    "Lineage",
    "Marker",
    "Param",
    "ParamTable",
    "Slice",
    "best_so_far",
    "curves",
    "history",
    "importance",
    "lineage",
    "non_dominated",
    "param_table",
    "slices",
]
