"""ASHA (Li et al. 2020, "A System for Massively Parallel Hyperparameter Tuning", MLSys,
arXiv:1810.05934) under the name of its model-based pair: Hyper-Tune (Li et al. 2022,
arXiv:2201.06834) runs asynchronous successive halving and lets a multi-fidelity model
propose the new configurations (:class:`tunefleet.search.hypertune.HyperTuneSearch`).
The searcher reads each rung's results from ``time_attr``, so nothing flows from here to it.

The default is the promotion variant (pause a trial at its rung; promote the top 1/η once
the rung holds η results per promotion), the gate of Hyper-Tune's delayed promotion, and
what its model wants: a rung's results come from trials ranked against each other. Ray's
stopping variant (``variant="stopping"``, ASHAScheduler's default) lets the first trials
at a rung continue unranked.
"""

from __future__ import annotations

from tunefleet.schedulers.asha import ASHAScheduler


class HyperTuneASHA(ASHAScheduler):
    """ASHAScheduler's arguments, ``variant`` defaulting to ``"promotion"``; use with
    ``search_alg="hypertune"``."""

    def __init__(
        self,
        time_attr: str = "training_iteration",
        metric: str | None = None,
        mode: str | None = None,
        max_t: float = 100,
        grace_period: float = 1,
        reduction_factor: float = 4,
        brackets: int = 1,
        stop_last_trials: bool = True,
        variant: str = "promotion",
        seed: int | None = None,
    ) -> None:
        super().__init__(
            time_attr=time_attr,
            metric=metric,
            mode=mode,
            max_t=max_t,
            grace_period=grace_period,
            reduction_factor=reduction_factor,
            brackets=brackets,
            stop_last_trials=stop_last_trials,
            variant=variant,
            seed=seed,
        )
