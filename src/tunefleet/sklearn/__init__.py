"""scikit-learn search estimators that run on tunefleet (``pip install tunefleet[sklearn]``).

``TuneSearchCV`` and ``TuneGridSearchCV`` replace ``RandomizedSearchCV`` and
``GridSearchCV``; with ``early_stopping=True`` ASHA stops poor candidates after an epoch
of ``partial_fit`` or a ``warm_start`` step. Importing this package imports scikit-learn;
``import tunefleet`` does not.
"""

from tunefleet.sklearn._search import TuneGridSearchCV, TuneSearchCV

__all__ = ["TuneGridSearchCV", "TuneSearchCV"]
