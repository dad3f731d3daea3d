"""Synchronous Hyperband: Li et al. 2018, "Hyperband: A Novel Bandit-Based Approach to
Hyperparameter Optimization", JMLR 18(185).

With ``R = max_t`` and ``η = reduction_factor``, ``s_max = ⌊log_η R⌋``. Bracket ``s``
(s_max, s_max−1, …, 0, then again) starts ``n = ⌈(s_max+1)/(s+1) · η^s⌉`` trials at
``r = R·η^−s``; at rung ``i`` the ``n_i = ⌊n·η^−i⌋`` survivors run to ``r_i = r·η^i``.
Every trial pauses (checkpoint, slot freed) when it reaches its rung's budget; once all of
the bracket's live trials are there, the top ``⌊n_i/η⌋`` are resumed and the others end.
Brackets fill one after another, and several can be in progress at once (as Ray Tune).

Cost: a decision is O(1); closing a rung sorts its n_i results, O(n_i log n_i).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Collection
from typing import Any

from tunefleet.errors import TuneValueError
from tunefleet.schedulers.base import (
    CONTINUE,
    NEW_TRIAL,
    PAUSE,
    STOP,
    Action,
    Decision,
    DecisionPoints,
    Resume,
    Scheduler,
    SchedulerView,
    Terminate,
)
from tunefleet.trial import Trial


def hyperband_brackets(max_t: float, eta: float) -> list[list[tuple[int, float]]]:
    """The (n_i, r_i) table of every bracket, largest s first (Li et al., Table 1)."""
    s_max = int(math.floor(math.log(max_t) / math.log(eta) + 1e-9))
    table = []
    for s in range(s_max, -1, -1):
        n = int(math.ceil((s_max + 1) / (s + 1) * eta**s - 1e-9))
        r = max_t * eta ** (-s)
        table.append([(int(math.floor(n * eta ** (-i) + 1e-9)), r * eta**i) for i in range(s + 1)])
    return table


class _Bracket:
    def __init__(self, bid: int, s_index: int, plan: list[tuple[int, float]]) -> None:
        self.bid = bid
        self.s_index = s_index
        self.plan = plan
        self.members: list[str] = []
        self.alive: set[str] = set()
        self.rung = 0
        self.reached: dict[str, float] = {}
        self.closed = False  # no more trials will join

    @property
    def capacity(self) -> int:
        return self.plan[0][0]

    @property
    def budget(self) -> float:
        return self.plan[self.rung][1]

    @property
    def last_rung(self) -> bool:
        return self.rung >= len(self.plan) - 1

    def to_json(self) -> dict[str, Any]:
        return {
            "bid": self.bid,
            "s_index": self.s_index,
            "members": self.members,
            "alive": sorted(self.alive),
            "rung": self.rung,
            "reached": {k: (v if math.isfinite(v) else None) for k, v in self.reached.items()},
            "closed": self.closed,
        }


class HyperBandScheduler(Scheduler):
    """Synchronous Hyperband with pause/resume. Ray Tune's arguments: ``time_attr``,
    ``metric``, ``mode``, ``max_t``, ``reduction_factor``, ``stop_last_trials``."""

    def __init__(
        self,
        time_attr: str = "training_iteration",
        metric: str | None = None,
        mode: str | None = None,
        max_t: float = 81,
        reduction_factor: float = 3,
        stop_last_trials: bool = True,
    ) -> None:
        super().__init__(metric, mode)
        if not max_t >= 1:
            raise TuneValueError(f"HyperBandScheduler(max_t={max_t}): must be >= 1")
        if not reduction_factor > 1:
            raise TuneValueError(
                f"HyperBandScheduler(reduction_factor={reduction_factor}): must be > 1"
            )
        self.time_attr = time_attr
        self.max_t = max_t
        self.reduction_factor = reduction_factor
        self.stop_last_trials = stop_last_trials
        self.synchronous_reports = True
        self.pauses_trials = True
        self.table = hyperband_brackets(max_t, reduction_factor)
        self._brackets: list[_Bracket] = []
        self._bracket_of: dict[str, int] = {}
        self._to_resume: deque[str] = deque()
        self._to_end: deque[str] = deque()

    def setup(self, metric: str | None, mode: str | None, seed: int | None = None) -> None:
        super().setup(metric, mode, seed)
        if self.metric is None or self.mode is None:
            raise TuneValueError("metric: HyperBandScheduler needs metric and mode")

    def decision_points(self) -> DecisionPoints:
        """Every rung budget of every bracket, and ``max_t``: a trial pauses at exactly
        the result that reaches its rung."""
        at = {r for plan in self.table for _, r in plan}
        at.add(float(self.max_t))
        return DecisionPoints(self.time_attr, tuple(sorted(at)))

    # -- bracket bookkeeping -----------------------------------------------------------
    def _open_bracket(self) -> _Bracket:
        if self._brackets and not self._brackets[-1].closed:
            return self._brackets[-1]
        s_index = len(self._brackets) % len(self.table)
        b = _Bracket(len(self._brackets), s_index, self.table[s_index])
        self._brackets.append(b)
        return b

    def on_trial_added(self, trial: Trial) -> None:
        b = self._open_bracket()
        b.members.append(trial.trial_id)
        b.alive.add(trial.trial_id)
        self._bracket_of[trial.trial_id] = b.bid
        if len(b.members) >= b.capacity:
            b.closed = True

    def on_result(self, trial: Trial, result: dict[str, Any]) -> Decision:
        bid = self._bracket_of.get(trial.trial_id)
        t = result.get(self.time_attr)
        if bid is None or t is None:
            return CONTINUE
        b = self._brackets[bid]
        if t < b.budget:
            return CONTINUE
        b.reached[trial.trial_id] = self.score(result)
        if b.last_rung or t >= self.max_t:
            b.alive.discard(trial.trial_id)
            return STOP if self.stop_last_trials else CONTINUE
        return PAUSE

    def on_trial_finished(self, trial: Trial) -> None:
        bid = self._bracket_of.get(trial.trial_id)
        if bid is not None:
            b = self._brackets[bid]
            b.alive.discard(trial.trial_id)
            b.reached.pop(trial.trial_id, None)

    def _advance(self, b: _Bracket, paused: Collection[str]) -> None:
        """Close the current rung of ``b`` if every live trial has reached it."""
        if not b.closed or b.last_rung or not b.alive:
            return
        if any(tid not in b.reached or tid not in paused for tid in b.alive):
            return
        ranked = sorted(b.alive, key=lambda tid: (-b.reached[tid], b.members.index(tid)))
        keep = max(1, int(math.floor(len(ranked) / self.reduction_factor + 1e-9)))
        winners, losers = ranked[:keep], ranked[keep:]
        b.rung += 1
        b.reached = {}
        for tid in losers:
            b.alive.discard(tid)
            self._to_end.append(tid)
        self._to_resume.extend(winners)

    def next_action(self, view: SchedulerView) -> Action:
        if not view.can_create and self._brackets:
            self._brackets[-1].closed = True
        paused = view.paused
        for b in self._brackets:
            self._advance(b, paused)
        while self._to_end:
            tid = self._to_end.popleft()
            if tid in paused:
                return Terminate(tid)
        while self._to_resume:
            tid = self._to_resume.popleft()
            if tid in paused:
                return Resume(tid)
        if view.can_create:
            return NEW_TRIAL
        return None

    # -- persistence -------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "brackets": [b.to_json() for b in self._brackets],
            "to_resume": list(self._to_resume),
            "to_end": list(self._to_end),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if not state:
            return
        self._brackets = []
        self._bracket_of = {}
        for d in state["brackets"]:
            b = _Bracket(int(d["bid"]), int(d["s_index"]), self.table[int(d["s_index"])])
            b.members = list(d["members"])
            b.alive = set(d["alive"])
            b.rung = int(d["rung"])
            b.reached = {k: (-math.inf if v is None else v) for k, v in d["reached"].items()}
            b.closed = bool(d["closed"])
            self._brackets.append(b)
            for tid in b.members:
                self._bracket_of[tid] = b.bid
        self._to_resume = deque(state["to_resume"])
        self._to_end = deque(state["to_end"])
