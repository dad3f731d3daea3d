"""``reproducible=True``: decisions that depend on the results, never on their arrival order.

With several trials at once, which report reaches the scheduler first depends on timing,
and so do ASHA's rung contents, the median rule's completed set and a model-based
searcher's history. Here the engine decides as if the trials had run one after another in
index order (trial 0 first), while they still run in parallel:

* a report at a decision point of trial *k* is held until it may be decided: under the
  ``"rung"`` order (ASHA's stopping variant, FIFO), until every earlier unfinished trial has
  passed that point (a decision at a rung depends only on earlier results at that rung);
  under the ``"sequential"`` order (the median rule, per-result stoppers), until every
  earlier trial has finished. The trial waits for the reply meanwhile, so every report
  that may carry a decision must wait (the engine makes sure of it);
* a searcher that learns from results (``Searcher.uses_results``) suggests trial *k* only
  once every earlier trial has finished; random, grid and Sobol suggest at once.

The lowest-index unfinished trial never waits, so the sweep always progresses at any
concurrency. Schedulers that pause, promote or exploit (ASHA promotion, Hyperband, BOHB,
PBT, PB2) decide from a live population whose make-up depends on concurrency; they are
refused, before any compute, with an error that says so.
"""

from __future__ import annotations

import math
from typing import Any

from tunefleet.errors import TuneValueError

RUNG = "rung"
SEQUENTIAL = "sequential"


def order_of(scheduler: Any, stopper_judges_results: bool) -> str:
    """The canonical order this experiment needs, or a TuneValueError naming
    ``reproducible`` when the scheduler cannot be made independent of arrival order."""
    order = getattr(scheduler, "reproducible_order", None)
    if order not in (RUNG, SEQUENTIAL):
        raise TuneValueError(
            f"reproducible: {type(scheduler).__name__} pauses, promotes or exploits trials "
            "from the population that happens to be running, which depends on concurrency; "
            "reproducible=True supports FIFO, ASHA (variant='stopping') and the median "
            "stopping rule. Drop reproducible=True (a seed still fixes the configurations "
            "of random, grid and Sobol search) or use one of those schedulers"
        )
    return SEQUENTIAL if stopper_judges_results else str(order)


class CanonicalOrder:
    """Which held reports may be decided now (see the module docstring)."""

    __slots__ = ("order", "progress", "finished", "held")

    def __init__(self, order: str) -> None:
        self.order = order
        self.progress: dict[int, float] = {}  # trial index -> furthest point decided
        self.finished: set[int] = set()
        # trial index -> (the held event, the point its report reached)
        self.held: dict[int, tuple[Any, float]] = {}

    def may_decide(self, index: int, point: float) -> bool:
        for j, value in self.progress.items():
            if j >= index or j in self.finished:
                continue
            if self.order == SEQUENTIAL or value < point:
                return False
        return True

    def started(self, index: int) -> None:
        self.progress.setdefault(index, -math.inf)

    def decided(self, index: int, value: float) -> None:
        if value > self.progress.get(index, -math.inf):
            self.progress[index] = value

    def ended(self, index: int) -> None:
        self.finished.add(index)
        self.held.pop(index, None)

    def releasable(self) -> list[tuple[Any, float]]:
        """Held reports that may be decided now, lowest trial index first (each removed)."""
        out = []
        for index in sorted(self.held):
            event, point = self.held[index]
            if self.may_decide(index, point):
                del self.held[index]
                out.append((event, point))
                self.decided(index, point)
        return out
