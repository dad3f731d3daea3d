"""scikit-learn search estimators that run on tunefleet (``pip install tunefleet[sklearn]``).

``TuneSearchCV`` and ``TuneGridSearchCV`` replace ``RandomizedSearchCV`` and
``GridSearchCV``; with ``early_stopping=True`` ASHA stops poor candidates after an epoch
of ``partial_fit`` or a ``warm_start`` step. Importing them imports scikit-learn;
``import tunefleet`` does not.

The two names are loaded on first use, so that a worker process, which imports only what
a trial runs (``tunefleet.sklearn._fit``), does not also import the search estimators and
``sklearn.model_selection`` while it starts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tunefleet.sklearn._search import TuneGridSearchCV, TuneSearchCV

__all__ = ["TuneGridSearchCV", "TuneSearchCV"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from tunefleet.sklearn import _search

        return getattr(_search, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
