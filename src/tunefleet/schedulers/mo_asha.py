"""Early stopping for several objectives: multi-objective ASHA and a Pareto stopping rule.

- :class:`MOASHAScheduler`: Schmucker, Donini, Zafar, Salinas, Archambeau (2021),
  "Multi-objective multi-fidelity hyperparameter optimization with application to fairness"
  (MO-ASHA). ASHA's rungs (Li et al. 2018, :mod:`tunefleet.schedulers.asha`), but a rung
  ranks the objective vectors recorded there by non-dominated sorting, ties inside a front
  broken by NSGA-II crowding distance (one of the paper's two tie-breaks; the other is an
  epsilon-net); a trial goes on when it ranks in the top ``1/reduction_factor`` (at least the
  first goes on). Two variants, as :class:`~tunefleet.schedulers.ASHAScheduler`:
  ``"stopping"`` (reports never wait; a trial outside the top is stopped) and
  ``"promotion"`` (the paper's pause-and-promote, its Algorithm 1): a trial reaching a rung
  is paused; whenever a slot frees up, the highest rung with fewer than ``⌊n/η⌋`` of its
  ``n`` recorded trials promoted resumes its best-ranked paused trial among its top
  ``⌊n/η⌋``, otherwise a new trial starts. Stopping promotes whoever arrives first at an
  empty rung (the first result always goes on); promotion waits until a trial is known to
  rank in the top ``1/η``, which spends far less on the first, random trials.
- Ranking inside a front (``tie_break``): ``"hypervolume"`` (the default: greedy
  hypervolume subset selection, Guerreiro, Fonseca, Paquete 2016, the criterion of
  SMS-EMOA, Beume et al. 2007: each next trial is the one whose objectives add the most
  hypervolume to those ranked before it, up to ``reference_point`` or, by default, the
  rung's worst values moved out by a tenth of their range; :func:`~tunefleet.pareto.
  hypervolume_order`), ``"crowding"`` (NSGA-II's crowding distance, larger first) or
  ``"epsnet"`` (the paper's other choice: greedily the point farthest, in objectives scaled
  to the rung's range, from those already taken, so the promoted set spreads along the
  front). Why hypervolume by default: the promotion quota of the top rungs is a handful of
  trials, and crowding always spends two of them on a front's extremes (infinite
  distance), one of which (the most accurate, slowest model, say) often adds almost no
  hypervolume; the hypervolume order gives those slots to the trials that widen the front
  most. On benchmarks/multi_objective.py (10 seeds, docs/benchmarks.md) it raised
  MO-ASHA's hypervolume on the real MLP workload (ScalarizedSearch + promotion 1.208 ->
  1.257, random search + promotion 1.175 -> 1.239) and left the ZDT problems within noise.
- :class:`ParetoStoppingRule`: a multi-objective analogue of the median stopping rule
  (Golovin et al. 2017, Google Vizier): at each milestone, once ``min_samples_required``
  trials were recorded there, a trial is stopped when it lies beyond the first
  ``keep_fronts`` non-dominated fronts of the results recorded at that milestone. Unlike a
  quota it keeps every trial that is not clearly dominated, so it stops less than MO-ASHA.

Cost per decision: non-dominated sorting of the n vectors recorded at the rung,
O(m n^2) for m objectives (:mod:`tunefleet.pareto`); rungs hold few results in practice.
A missing or non-finite objective counts as the worst value. With one metric both reduce to
their single-objective counterparts (the shipped scheduler suite runs them that way).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

from tunefleet.errors import TuneValueError
from tunefleet.objectives import metric_names
from tunefleet.pareto import epsnet_order, hypervolume_order, non_dominated_sort, rank_order
from tunefleet.schedulers.asha import VARIANTS, check_rungs
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
)
from tunefleet.trial import Trial

__all__ = ["MOASHAScheduler", "ParetoStoppingRule", "mo_asha_promotion"]

TIE_BREAKS = ("hypervolume", "crowding", "epsnet")


class MOASHAScheduler(Scheduler):
    """Multi-objective ASHA; ``metric``/``mode`` are lists.

    Parameters follow :class:`~tunefleet.schedulers.ASHAScheduler`: ``time_attr``,
    ``max_t``, ``grace_period``, ``reduction_factor``, ``stop_last_trials``, ``variant``
    (``"stopping"`` or ``"promotion"``); plus ``tie_break`` (``"hypervolume"``,
    ``"crowding"`` or ``"epsnet"``), how trials inside one non-dominated front are ranked,
    and ``reference_point`` (one value per objective, in its own direction) for the
    hypervolume order; by default each rung's worst values moved out by a tenth of their
    range.
    """

    multi_objective: ClassVar[bool] = True
    _param_attrs: ClassVar[Mapping[str, str]] = Scheduler._param_attrs

    def __init__(
        self,
        time_attr: str = "training_iteration",
        metric: list[str] | None = None,
        mode: list[str] | None = None,
        max_t: float = 100,
        grace_period: float = 1,
        reduction_factor: float = 4,
        stop_last_trials: bool = True,
        variant: str = "stopping",
        tie_break: str = "hypervolume",
        reference_point: list[float] | None = None,
    ) -> None:
        super().__init__(metric, mode)  # type: ignore[arg-type]
        name = type(self).__name__
        check_rungs(name, max_t, grace_period, reduction_factor)
        if variant not in VARIANTS:
            raise TuneValueError(
                f"{name}(variant={variant!r}): must be one of {', '.join(VARIANTS)}"
            )
        if tie_break not in TIE_BREAKS:
            raise TuneValueError(
                f"{name}(tie_break={tie_break!r}): must be one of {', '.join(TIE_BREAKS)}"
            )
        if reference_point is not None and (
            not isinstance(reference_point, list | tuple)
            or not reference_point
            or any(
                isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v)
                for v in reference_point
            )
        ):
            raise TuneValueError(
                f"{name}(reference_point={reference_point!r}): must be a list of finite "
                "numbers, one per objective"
            )
        self.variant = variant
        self.tie_break = tie_break
        self.reference_point = None if reference_point is None else list(reference_point)
        self.synchronous_reports = variant == "promotion"
        self.pauses_trials = variant == "promotion"
        self.time_attr = time_attr
        self.max_t = max_t
        self.grace_period = grace_period
        self.reduction_factor = reduction_factor
        self.stop_last_trials = stop_last_trials
        self._eta = max(2, int(round(reduction_factor)))
        self._milestones = self._make_milestones()
        self._recorded: list[dict[str, list[float]]] = [{} for _ in self._milestones]
        self._next: dict[str, int] = {}  # index of the next milestone each trial reaches
        # Promotion variant: per rung, the trials promoted from it; trials that ended.
        self._promoted: list[set[str]] = [set() for _ in self._milestones]
        self._gone: set[str] = set()
        self._order_cache: dict[int, tuple[int, list[str]]] = {}  # rung -> (n, ranked ids)

    def _make_milestones(self) -> list[float]:
        out, k = [], 0
        while (m := self.grace_period * self.reduction_factor**k) < self.max_t:
            out.append(m)
            k += 1
        return out

    def setup(self, metric: Any, mode: Any, seed: int | None = None) -> None:
        super().setup(metric, mode, seed)
        names, modes = metric_names(self.metric), metric_names(self.mode)
        if not names or len(modes) != len(names):
            raise TuneValueError(
                f"metric: {type(self).__name__} needs metric and mode (lists of the same "
                f"length for several objectives), got metric={self.metric!r}, "
                f"mode={self.mode!r}"
            )
        if self.reference_point is not None and len(self.reference_point) != len(names):
            raise TuneValueError(
                f"{type(self).__name__}(reference_point={self.reference_point!r}): "
                f"{len(self.reference_point)} values for {len(names)} objectives"
            )
        self._names, self._modes = names, modes

    def decision_points(self) -> DecisionPoints:
        return DecisionPoints(self.time_attr, (*self._milestones, float(self.max_t)))

    def vector(self, result: Mapping[str, Any]) -> list[float]:
        """The result's objectives; missing/NaN/inf become the worst value."""
        out = []
        for name, mode in zip(self._names, self._modes, strict=True):
            v = result.get(name)
            ok = isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
            worst = math.inf if mode == "min" else -math.inf
            out.append(float(v) if ok else worst)  # type: ignore[arg-type]
        return out

    def _ranked(self, recorded: dict[str, list[float]]) -> list[str]:
        """The ids recorded at a rung, best first (fronts, then ``tie_break``)."""
        ids = list(recorded)
        vectors = _finite([recorded[i] for i in ids])
        if self.tie_break == "hypervolume":
            order = hypervolume_order(vectors, self._modes, self.reference_point)
        elif self.tie_break == "epsnet":
            order = epsnet_order(vectors, self._modes)
        else:
            order = rank_order(vectors, self._modes)
        return [ids[i] for i in order]

    def _keeps(self, tid: str, recorded: dict[str, list[float]]) -> bool:
        keep = max(1, len(recorded) // self._eta)
        return tid in self._ranked(recorded)[:keep]

    def _promotable(self, k: int, paused: Any) -> str | None:
        """Rung ``k``'s best-ranked trial in its top ``⌊n/η⌋`` that is not promoted yet,
        has not ended and is in ``paused``; None when the rung's quota is used up."""
        recorded = self._recorded[k]
        quota = len(recorded) // self._eta
        promoted = self._promoted[k]
        if len(promoted) >= quota:
            return None
        cached = self._order_cache.get(k)
        if cached is None or cached[0] != len(recorded):
            cached = (len(recorded), self._ranked(recorded))
            self._order_cache[k] = cached
        for tid in cached[1][:quota]:
            if tid not in promoted and tid not in self._gone and tid in paused:
                return tid
        return None

    def on_result(self, trial: Trial, result: dict[str, Any]) -> Decision:
        tid = trial.trial_id
        t = result.get(self.time_attr)
        if t is None:
            return CONTINUE
        if t >= self.max_t and self.stop_last_trials:
            return STOP
        k = self._next.get(tid, 0)
        if k >= len(self._milestones) or t < self._milestones[k]:
            return CONTINUE
        while k + 1 < len(self._milestones) and t >= self._milestones[k + 1]:
            k += 1
        self._next[tid] = k + 1
        recorded = self._recorded[k]
        if tid in recorded:
            return CONTINUE
        recorded[tid] = self.vector(result)
        if self.variant == "stopping":
            return CONTINUE if self._keeps(tid, recorded) else STOP
        # Promotion: go on now if promotable (as if paused and resumed on the slot it
        # frees), else pause at the rung until it is promoted or the sweep ends.
        if self._promotable(k, (tid,)) == tid:
            self._promoted[k].add(tid)
            return CONTINUE
        return PAUSE

    def on_trial_finished(self, trial: Trial) -> None:
        if self.variant == "promotion":
            self._gone.add(trial.trial_id)

    def next_action(self, view: SchedulerView) -> Action:
        if self.variant != "promotion":
            return super().next_action(view)
        for k in reversed(range(len(self._milestones))):
            tid = self._promotable(k, view.paused)
            if tid is not None:
                self._promoted[k].add(tid)
                return Resume(tid)
        return NEW_TRIAL if view.can_create else None

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {
            "recorded": [{t: _enc(v) for t, v in r.items()} for r in self._recorded],
            "next": dict(self._next),
        }
        if self.variant == "promotion":
            state["promoted"] = [sorted(p) for p in self._promoted]
            state["gone"] = sorted(self._gone)
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if not state:
            return
        self._recorded = [
            {str(t): [float(x) for x in v] for t, v in r.items()} for r in state["recorded"]
        ]
        self._next = {str(k): int(v) for k, v in state["next"].items()}
        self._promoted = [set(map(str, p)) for p in state.get("promoted", ())]
        self._promoted += [set() for _ in range(len(self._milestones) - len(self._promoted))]
        self._gone = set(map(str, state.get("gone", ())))
        self._order_cache = {}


class ParetoStoppingRule(MOASHAScheduler):
    """Stop a trial beyond the first ``keep_fronts`` fronts at a milestone (every
    ``check_every`` units of ``time_attr`` from ``grace_period``), once
    ``min_samples_required`` trials were recorded there."""

    def __init__(
        self,
        time_attr: str = "training_iteration",
        metric: list[str] | None = None,
        mode: list[str] | None = None,
        max_t: float = 100,
        grace_period: float = 1,
        check_every: float = 1,
        keep_fronts: int = 1,
        min_samples_required: int = 3,
        stop_last_trials: bool = True,
    ) -> None:
        name = type(self).__name__
        if not check_every > 0:
            raise TuneValueError(f"{name}(check_every={check_every}): must be > 0")
        if int(keep_fronts) != keep_fronts or keep_fronts < 1:
            raise TuneValueError(f"{name}(keep_fronts={keep_fronts}): must be an integer >= 1")
        if int(min_samples_required) != min_samples_required or min_samples_required < 1:
            raise TuneValueError(
                f"{name}(min_samples_required={min_samples_required}): must be an integer >= 1"
            )
        self.check_every = check_every
        self.keep_fronts = int(keep_fronts)
        self.min_samples_required = int(min_samples_required)
        super().__init__(time_attr, metric, mode, max_t, grace_period, 2, stop_last_trials)

    def _make_milestones(self) -> list[float]:
        n = int(math.ceil((self.max_t - self.grace_period) / self.check_every))
        out = [self.grace_period + i * self.check_every for i in range(n)]
        return [m for m in out if m < self.max_t]

    def _keeps(self, tid: str, recorded: dict[str, list[float]]) -> bool:
        if len(recorded) < self.min_samples_required:
            return True
        ids = list(recorded)
        fronts = non_dominated_sort(_finite([recorded[i] for i in ids]), self._modes)
        mine = ids.index(tid)
        return any(mine in f for f in fronts[: self.keep_fronts])


def mo_asha_promotion(**kwargs: Any) -> MOASHAScheduler:
    """``scheduler="mo_asha_promotion"``: MO-ASHA's pause-and-promote variant."""
    return MOASHAScheduler(variant="promotion", **kwargs)


def _enc(vector: list[float]) -> list[float | str]:
    """JSON has no infinity: the worst values recorded for missing objectives as strings."""
    return [x if math.isfinite(x) else ("inf" if x > 0 else "-inf") for x in vector]


def _finite(vectors: list[list[float]]) -> list[list[float]]:
    """Replace ±inf (worst values) by a finite value beyond every finite one, so that the
    dominance order is unchanged and the sorting accepts them."""
    if not vectors:
        return vectors
    out = [list(v) for v in vectors]
    for k in range(len(out[0])):
        finite = [v[k] for v in out if math.isfinite(v[k])]
        span = (max(finite) - min(finite) + 1.0) if finite else 1.0
        hi = (max(finite) if finite else 0.0) + span
        lo = (min(finite) if finite else 0.0) - span
        for v in out:
            if not math.isfinite(v[k]):
                v[k] = hi if v[k] > 0 else lo
    return out
