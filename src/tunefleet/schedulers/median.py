"""Median stopping rule: Golovin et al. 2017, "Google Vizier: A Service for Black-Box
Optimization" (KDD '17), section 3.2.2.

A trial is stopped at time ``t`` (after ``grace_period``) when its best result so far is
strictly worse than the median of the running averages, up to ``t``, of the completed
trials' results — once at least ``min_samples_required`` trials have completed.

Cost per decision: O(C log C) for C completed trials (one bisect per completed trial plus a
median); each trial keeps cumulative sums of its results, O(results) memory.
"""

from __future__ import annotations

import bisect
import math
from typing import Any

from tunefleet.errors import TuneValueError
from tunefleet.schedulers.base import (
    CONTINUE,
    PAUSE,
    STOP,
    Decision,
    DecisionPoints,
    Scheduler,
)
from tunefleet.trial import Trial, TrialStatus


class _Curve:
    __slots__ = ("times", "cumsum", "best")

    def __init__(self) -> None:
        self.times: list[float] = []
        self.cumsum: list[float] = []
        self.best = -math.inf

    def add(self, t: float, score: float) -> None:
        # Non-finite scores count as a very bad finite value in averages.
        s = score if math.isfinite(score) else -1e300
        self.times.append(t)
        self.cumsum.append((self.cumsum[-1] if self.cumsum else 0.0) + s)
        if score > self.best:
            self.best = score

    def running_mean(self, t: float) -> float | None:
        i = bisect.bisect_right(self.times, t)
        if i == 0:
            return None
        return self.cumsum[i - 1] / i


class MedianStoppingRule(Scheduler):
    """Ray Tune's ``MedianStoppingRule`` arguments: ``time_attr``, ``metric``, ``mode``,
    ``grace_period``, ``min_samples_required``, ``min_time_slice``, ``hard_stop`` (False:
    pause instead of stop, so the trial may be resumed later)."""

    def __init__(
        self,
        time_attr: str = "time_total_s",
        metric: str | None = None,
        mode: str | None = None,
        grace_period: float = 60.0,
        min_samples_required: int = 3,
        min_time_slice: float = 0,
        hard_stop: bool = True,
    ) -> None:
        super().__init__(metric, mode)
        if grace_period < 0:
            raise TuneValueError(f"MedianStoppingRule(grace_period={grace_period}): must be >= 0")
        if min_samples_required < 1:
            raise TuneValueError(
                f"MedianStoppingRule(min_samples_required={min_samples_required}): must be >= 1"
            )
        self.time_attr = time_attr
        self.grace_period = grace_period
        self.min_samples_required = min_samples_required
        self.min_time_slice = min_time_slice
        self.hard_stop = hard_stop
        self.synchronous_reports = not hard_stop
        self.pauses_trials = not hard_stop
        self._curves: dict[str, _Curve] = {}
        self._completed: list[str] = []
        self._last_decision_t: dict[str, float] = {}

    def setup(self, metric: str | None, mode: str | None, seed: int | None = None) -> None:
        super().setup(metric, mode, seed)
        if self.metric is None or self.mode is None:
            raise TuneValueError("metric: MedianStoppingRule needs metric and mode")

    @property
    def reproducible_order(self) -> str | None:  # type: ignore[override]
        """It compares with completed trials: "sequential"; pausing is not supported."""
        return "sequential" if self.hard_stop else None

    def decision_points(self) -> bool | DecisionPoints:
        """Stopping: the end of the grace period, then every ``min_time_slice`` (a stop
        decided on another report lands at the trial's next one). Pausing
        (``hard_stop=False``): every report, so that a trial pauses where it checkpointed."""
        if not self.hard_stop:
            return True
        every = float(self.min_time_slice) if self.min_time_slice > 0 else None
        return DecisionPoints(self.time_attr, (float(self.grace_period),), every)

    def on_result(self, trial: Trial, result: dict[str, Any]) -> Decision:
        t = result.get(self.time_attr)
        if t is None:
            return CONTINUE
        curve = self._curves.get(trial.trial_id)
        if curve is None:
            curve = self._curves[trial.trial_id] = _Curve()
        curve.add(float(t), self.score(result))
        if t < self.grace_period or len(self._completed) < self.min_samples_required:
            return CONTINUE
        if t - self._last_decision_t.get(trial.trial_id, -math.inf) < self.min_time_slice:
            return CONTINUE
        self._last_decision_t[trial.trial_id] = float(t)
        means = []
        for tid in self._completed:
            m = self._curves[tid].running_mean(float(t))
            if m is not None:
                means.append(m)
        if len(means) < self.min_samples_required:
            return CONTINUE
        means.sort()
        n = len(means)
        median = means[n // 2] if n % 2 else 0.5 * (means[n // 2 - 1] + means[n // 2])
        if curve.best < median:
            return STOP if self.hard_stop else PAUSE
        return CONTINUE

    def on_trial_finished(self, trial: Trial) -> None:
        if trial.status is TrialStatus.TERMINATED and trial.trial_id in self._curves:
            self._completed.append(trial.trial_id)

    def state_dict(self) -> dict[str, Any]:
        return {
            "curves": {
                k: [
                    c.times,
                    [x if math.isfinite(x) else -1e300 for x in c.cumsum],
                    c.best if math.isfinite(c.best) else None,
                ]
                for k, c in self._curves.items()
            },
            "completed": self._completed,
            "last": self._last_decision_t,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if not state:
            return
        self._curves = {}
        for k, (times, cumsum, best) in state["curves"].items():
            c = _Curve()
            c.times, c.cumsum = list(times), list(cumsum)
            c.best = -math.inf if best is None else best
            self._curves[k] = c
        self._completed = list(state["completed"])
        self._last_decision_t = dict(state["last"])
