"""ASHA (Li et al. 2020, "A System for Massively Parallel Hyperparameter Tuning", MLSys,
arXiv:1810.05934) under the name of its model-based pair: Hyper-Tune (Li et al. 2022,
arXiv:2201.06834) runs asynchronous successive halving and lets a multi-fidelity model
propose the new configurations (:class:`tunefleet.search.hypertune.HyperTuneSearch`).
The searcher reads each rung's results from ``time_attr``, so nothing flows from here to it.
"""

from __future__ import annotations

from tunefleet.schedulers.asha import ASHAScheduler


class HyperTuneASHA(ASHAScheduler):
    """ASHAScheduler's arguments; use with ``search_alg="hypertune"``."""
