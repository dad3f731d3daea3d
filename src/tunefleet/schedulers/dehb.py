"""The Hyperband half of DEHB: Awad, Mallik & Hutter 2021, arXiv:2105.09821.

DEHB runs Hyperband's brackets (Li et al. 2018) and replaces random sampling with
differential evolution (:class:`tunefleet.search.dehb.DEHBSearch`). The budget schedule is
Hyperband's, so this scheduler is :class:`~tunefleet.schedulers.hyperband.
HyperBandScheduler` under DEHB's name; the searcher reads budgets from ``time_attr``.
Give the searcher the same ladder, ``DEHBSearch(max_t=..., reduction_factor=...)``: its
subpopulations are sized by it and it predicts which bracket (hence which budget) each new
configuration starts in, as the paper's DEHB evolves per budget.
"""

from __future__ import annotations

from tunefleet.schedulers.bohb import HyperBandForBOHB


class HyperBandForDEHB(HyperBandForBOHB):
    """Hyperband's arguments (``time_attr``, ``metric``, ``mode``, ``max_t``,
    ``reduction_factor``, ``stop_last_trials``); use with ``search_alg="dehb"``."""
