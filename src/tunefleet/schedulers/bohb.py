"""The Hyperband half of BOHB: Falkner, Klein & Hutter 2018, "BOHB: Robust and Efficient
Hyperparameter Optimization at Scale", ICML 2018, arXiv:1807.01774.

BOHB is Hyperband (Li et al. 2018) whose random sampling of new configurations is replaced
by a model (:class:`tunefleet.search.bohb.TuneBOHB`). The budget schedule is Hyperband's
unchanged — the paper's Algorithm 1 calls successive halving with Hyperband's
``(n_i, r_i)`` — so this scheduler is :class:`~tunefleet.schedulers.hyperband.
HyperBandScheduler`: brackets from the largest ``s`` down, every trial paused at its rung's
budget, the top ``⌊n_i/η⌋`` resumed once the rung is complete, and the next bracket started
while slots would otherwise idle (the paper's parallel scheme, Section 4.2). What Ray
Tune's ``HyperBandForBOHB`` adds over its own Hyperband — filling the largest bracket first
and pausing trials before their bracket is full — is how tunefleet's Hyperband works
already. Nothing has to flow from here to the searcher: it reads each result's budget from
``time_attr``.

Cost: as HyperBandScheduler (O(1) per decision, O(n_i log n_i) to close a rung).
"""

from __future__ import annotations

from tunefleet.schedulers.hyperband import HyperBandScheduler


class HyperBandForBOHB(HyperBandScheduler):
    """Ray Tune's ``HyperBandForBOHB`` arguments: ``time_attr``, ``metric``, ``mode``,
    ``max_t``, ``reduction_factor``, ``stop_last_trials``. Use with ``TuneBOHB`` (or
    ``search_alg="bohb"``) as the searcher."""

    def rung_budgets(self) -> list[float]:
        """Every budget at which some bracket pauses or stops trials, ascending: where the
        searcher's per-budget models get their most complete data."""
        return sorted({r for bracket in self.table for _, r in bracket})
