"""Asynchronous Successive Halving (ASHA): Li et al. 2018, "A System for Massively Parallel
Hyperparameter Tuning", arXiv:1810.05934.

Rungs sit at ``grace_period * reduction_factor**k`` units of ``time_attr`` (below
``max_t``). Two variants:

- ``"stopping"`` (the variant of Ray Tune's ``AsyncHyperBandScheduler``): a trial reaching a
  rung goes on only if it is in the top ``max(1, ⌊n/η⌋)`` of the ``n`` results recorded at
  that rung so far, itself included; otherwise it is stopped. Reports never wait. Ray
  decides by the ``1 - 1/η`` quantile of the earlier results instead, which lets more
  trials on while a rung holds few results (docs/ray_tune_migration.md).
- ``"promotion"`` (the paper's algorithm, which Ray Tune lacks: ray-project/ray#44256): a
  trial reaching a rung is paused (checkpointed, slot freed). Whenever a slot frees up, the
  highest rung holding a paused trial that ranks in the top ``⌊n/η⌋`` of its rung's ``n``
  recorded results — with fewer than ``⌊n/η⌋`` promoted from that rung so far — has that
  trial resumed from its checkpoint; otherwise a new trial starts in the bottom rung.

Cost per decision: O(log n) to rank a result in its rung plus an O(n) list insertion
(memmove) for n results recorded at that rung; ``next_action`` is O(rungs · log n).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

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
)
from tunefleet.trial import Trial

VARIANTS = ("stopping", "promotion")


class _Rung:
    """Results recorded at one milestone, kept sorted (ascending of -score: best first)."""

    __slots__ = ("milestone", "keys", "unpromoted", "promoted", "key_of", "gone", "waiting")

    def __init__(self, milestone: float) -> None:
        self.milestone = milestone
        self.keys: list[float] = []  # -score of every recorded trial, sorted ascending
        self.unpromoted: list[tuple[float, int, str]] = []  # (-score, seq, trial_id), sorted
        self.promoted = 0
        self.key_of: dict[str, float] = {}  # -score of each recorded trial
        # Trials that ended while unpromoted: dropped lazily from the front of
        # ``unpromoted`` (removing them eagerly would make every trial end O(n)).
        self.gone: set[str] = set()
        self.waiting: set[str] = set()  # ids in ``unpromoted``

    @property
    def members(self) -> dict[str, float]:
        """The trials recorded at this rung (a dict: O(1) membership)."""
        return self.key_of

    def record(self, trial_id: str, score: float, seq: int, track_promotion: bool) -> int:
        """Insert; return the number of recorded results strictly better than ``score``."""
        key = -score
        rank = bisect.bisect_left(self.keys, key)
        self.keys.insert(rank, key)
        self.key_of[trial_id] = key
        if track_promotion:
            bisect.insort(self.unpromoted, (key, seq, trial_id))
            self.waiting.add(trial_id)
        return rank

    def quota(self, eta: int) -> int:
        return len(self.keys) // eta

    def promotable(self, eta: int) -> str | None:
        """The best unpromoted trial, if it may be promoted now."""
        unpromoted = self.unpromoted
        while unpromoted and unpromoted[0][2] in self.gone:
            tid = unpromoted.pop(0)[2]
            self.gone.discard(tid)
            self.waiting.discard(tid)
        if not unpromoted or self.promoted >= self.quota(eta):
            return None
        key, _, tid = unpromoted[0]
        better = bisect.bisect_left(self.keys, key)
        return tid if better < self.quota(eta) else None

    def to_json(self) -> dict[str, Any]:
        # Keyed by trial id rather than as the sorted lists kept in memory: a new result
        # then adds one key to the state, which the log stores as a small delta (a sorted
        # list changes at every position after an insertion). The lists are rebuilt on load.
        return {
            "milestone": self.milestone,
            "scores": {t: _enc(k) for t, k in self.key_of.items()},
            "unpromoted": {t: [_enc(k), s] for k, s, t in self.unpromoted},
            "promoted": self.promoted,
            "gone": {t: 1 for t in self.gone},
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> _Rung:
        r = cls(float(d["milestone"]))
        if "scores" in d:
            r.key_of = {str(t): _dec(k) for t, k in d["scores"].items()}
            r.keys = sorted(r.key_of.values())
            r.unpromoted = sorted(
                (_dec(k), int(s), str(t)) for t, (k, s) in d["unpromoted"].items()
            )
        else:  # written before 2026-12 as sorted lists, without a score per trial: pair
            # them in order (the multiset of scores, all that decisions use, is the same)
            r.keys = [_dec(k) for k in d["keys"]]
            r.key_of = dict(zip(sorted(d["members"]), r.keys, strict=False))
            r.unpromoted = [(_dec(k), int(s), str(t)) for k, s, t in d["unpromoted"]]
        r.promoted = int(d["promoted"])
        r.gone = set(d.get("gone", ()))
        r.waiting = {t for _, _, t in r.unpromoted}
        return r


def _enc(x: float) -> float | str:
    return x if math.isfinite(x) else ("inf" if x > 0 else "-inf")


def _dec(x: float | str) -> float:
    return float(x)


def check_rungs(who: str, max_t: float, grace_period: float, reduction_factor: float) -> None:
    """The rung ladder's arguments, as every successive-halving scheduler takes them."""
    if not grace_period > 0:
        raise TuneValueError(f"{who}(grace_period={grace_period}): must be > 0")
    if not max_t > 0 or max_t < grace_period:
        raise TuneValueError(
            f"{who}(max_t={max_t}): must be > 0 and >= grace_period ({grace_period})"
        )
    if not reduction_factor > 1:
        raise TuneValueError(f"{who}(reduction_factor={reduction_factor}): must be > 1")


class ASHAScheduler(Scheduler):
    """Asynchronous successive halving, stopping or promotion variant.

    Parameters follow Ray Tune's ``ASHAScheduler``: ``time_attr``, ``metric``, ``mode``,
    ``max_t``, ``grace_period``, ``reduction_factor``, ``brackets``, ``stop_last_trials``;
    plus ``variant`` ("stopping" or "promotion") and ``seed`` (bracket assignment).
    """

    #: ``seed`` is the run's seed once ``setup`` ran; the argument stays in ``seed_``.
    _param_attrs: ClassVar[Mapping[str, str]] = {**Scheduler._param_attrs, "seed": "seed_"}

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
        variant: str = "stopping",
        seed: int | None = None,
    ) -> None:
        super().__init__(metric, mode)
        if mode is not None and mode not in ("min", "max"):
            raise TuneValueError(f"ASHAScheduler(mode={mode!r}): must be 'min' or 'max'")
        check_rungs("ASHAScheduler", max_t, grace_period, reduction_factor)
        if int(brackets) != brackets or brackets < 1:
            raise TuneValueError(f"ASHAScheduler(brackets={brackets}): must be an integer >= 1")
        if variant not in VARIANTS:
            raise TuneValueError(
                f"ASHAScheduler(variant={variant!r}): must be one of {', '.join(VARIANTS)}"
            )
        self.time_attr = time_attr
        self.max_t = max_t
        self.grace_period = grace_period
        self.reduction_factor = reduction_factor
        self.brackets = int(brackets)
        self.stop_last_trials = stop_last_trials
        self.variant = variant
        self.seed_ = seed
        self.synchronous_reports = variant == "promotion"
        self.pauses_trials = variant == "promotion"
        self._eta_int = max(2, int(round(reduction_factor)))
        self._rungs: list[list[_Rung]] = [self._make_rungs(s) for s in range(self.brackets)]
        self._bracket_of: dict[str, int] = {}
        self._next_rung: dict[str, int] = {}  # index (in its bracket) of the next rung to reach
        self._seq = 0
        self._rng = np.random.default_rng(seed)

    # -- construction helpers ---------------------------------------------------------
    def _make_rungs(self, bracket: int) -> list[_Rung]:
        rungs = []
        k = 0
        while True:
            milestone = self.grace_period * self.reduction_factor ** (k + bracket)
            if milestone >= self.max_t:
                break
            rungs.append(_Rung(milestone))
            k += 1
        return rungs

    def setup(self, metric: str | None, mode: str | None, seed: int | None = None) -> None:
        super().setup(metric, mode, seed)
        if self.metric is None or self.mode is None:
            raise TuneValueError(
                "metric: ASHAScheduler needs metric and mode (pass them to run()/TuneConfig "
                "or to the scheduler)"
            )
        if self.seed_ is None and seed is not None:
            self._rng = np.random.default_rng(seed)

    @property
    def reproducible_order(self) -> str | None:  # type: ignore[override]
        """The stopping variant judges a rung only by the results recorded there; the
        promotion variant resumes from the live population (not supported)."""
        return "rung" if self.variant == "stopping" else None

    def decision_points(self) -> DecisionPoints:
        """Every bracket's rungs, and ``max_t`` (where ``stop_last_trials`` stops): a trial
        waits there for its verdict, so a stopped trial never trains past its rung."""
        at = {r.milestone for rungs in self._rungs for r in rungs}
        at.add(float(self.max_t))
        return DecisionPoints(self.time_attr, tuple(sorted(at)))

    def rung_milestones(self, bracket: int = 0) -> list[float]:
        return [r.milestone for r in self._rungs[bracket]]

    # -- hooks ------------------------------------------------------------------------
    def on_trial_added(self, trial: Trial) -> None:
        if self.brackets == 1:
            b = 0
        else:
            # Ray Tune's weighting: bracket s gets weight proportional to its rung count.
            sizes = np.array([max(1, len(r)) for r in self._rungs], dtype=float)
            b = int(self._rng.choice(self.brackets, p=sizes / sizes.sum()))
        self._bracket_of[trial.trial_id] = b
        self._next_rung[trial.trial_id] = 0

    def on_result(self, trial: Trial, result: dict[str, Any]) -> Decision:
        tid = trial.trial_id
        t = result.get(self.time_attr)
        if t is None:
            return CONTINUE
        if t >= self.max_t and self.stop_last_trials:
            return STOP
        b = self._bracket_of.get(tid)
        if b is None:
            self.on_trial_added(trial)
            b = self._bracket_of[tid]
        rungs = self._rungs[b]
        k = self._next_rung.get(tid, 0)
        if k >= len(rungs) or t < rungs[k].milestone:
            return CONTINUE
        # Record at the highest rung this result has reached (a result can skip rungs
        # when time_attr grows by more than one rung at a time).
        while k + 1 < len(rungs) and t >= rungs[k + 1].milestone:
            k += 1
        rung = rungs[k]
        self._next_rung[tid] = k + 1
        if tid in rung.members:
            return CONTINUE
        score = self.score(result)
        self._seq += 1
        promotion = self.variant == "promotion"
        better = rung.record(tid, score, self._seq, track_promotion=promotion)
        if not promotion:
            keep = max(1, len(rung.keys) // self._eta_int)
            return CONTINUE if better < keep else STOP
        # Promotion variant: go on at once if this trial is promotable right now (same as
        # pausing and being resumed on the slot it frees), otherwise pause at the rung.
        if rung.promotable(self._eta_int) == tid:
            self._promote(rung)
            return CONTINUE
        return PAUSE

    def _promote(self, rung: _Rung) -> str:
        _, _, tid = rung.unpromoted.pop(0)
        rung.waiting.discard(tid)
        rung.promoted += 1
        return tid

    def on_trial_finished(self, trial: Trial) -> None:
        tid = trial.trial_id
        if self.variant != "promotion":
            return
        for rungs in self._rungs:
            for rung in rungs:
                if tid in rung.waiting:
                    rung.gone.add(tid)

    def next_action(self, view: SchedulerView) -> Action:
        if self.variant == "promotion":
            paused = view.paused
            for rungs in self._rungs:
                for rung in reversed(rungs):
                    tid = rung.promotable(self._eta_int)
                    if tid is not None and tid in paused:
                        self._promote(rung)
                        return Resume(tid)
            return NEW_TRIAL if view.can_create else None
        return super().next_action(view)

    # -- persistence ------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "rungs": [[r.to_json() for r in rungs] for rungs in self._rungs],
            "bracket_of": self._bracket_of,
            "next_rung": self._next_rung,
            "seq": self._seq,
            "rng": self._rng.bit_generator.state,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if not state:
            return
        self._rungs = [[_Rung.from_json(r) for r in rungs] for rungs in state["rungs"]]
        self._bracket_of = {k: int(v) for k, v in state["bracket_of"].items()}
        self._next_rung = {k: int(v) for k, v in state["next_rung"].items()}
        self._seq = int(state["seq"])
        self._rng.bit_generator.state = state["rng"]


class AsyncHyperBandScheduler(ASHAScheduler):
    """Ray Tune's name for the stopping variant of :class:`ASHAScheduler`."""


def asha_promotion(**kwargs: Any) -> ASHAScheduler:
    """``scheduler="asha_promotion"``: the paper's pause-and-promote ASHA."""
    return ASHAScheduler(variant="promotion", **kwargs)
