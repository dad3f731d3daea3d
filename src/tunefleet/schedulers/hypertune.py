"""Hyper-Tune's scheduler (Li, Shen, Jiang, Liu, Zhang & Cui 2022, "Hyper-Tune: Towards
Efficient Hyper-parameter Tuning at Scale", VLDB 2022, arXiv:2201.06834): asynchronous
successive halving (ASHA, Li et al. 2020, arXiv:1810.05934) whose new trials start at a
rung chosen by how well the low rungs predict the top one (the paper's bracket selection,
Sec. 4.3), paired with a multi-fidelity model that proposes the configurations
(:class:`tunefleet.search.hypertune.HyperTuneSearch`, ``search_alg="hypertune"``).

Why: successive halving wins when a configuration's rank after a few epochs is its rank at
the end, and wastes budget when it is not. On the suite's synthetic functions and tables
(docs/benchmarks.md) low budgets rank well and ASHA from the lowest rung is best; on the
live PyTorch MLP Kendall's τ between epochs 1 and 27 is 0.61 and full-budget TPE beats
every ASHA. Measuring the agreement while the sweep runs lets one method do both.

**Bracket selection** (``bracket_selection="adaptive"``, the default). Bracket ``s`` starts
its trials at rung ``s`` of the ladder ``grace_period·η^k < max_t`` (Ray's bracket
numbering); the last bracket starts at ``max_t``, i.e. a full-budget evaluation. Every
result at a rung's milestone is recorded for the measurement, also the reports a trial
makes on its way to a higher starting rung, so trials that start high give an unselected
sample of (rung, top) pairs. A rung's weight is Hyper-Tune's trust in it, estimated as in
:class:`~tunefleet.search.hypertune.HyperTuneSearch`: ``w = max(0, 2c − 1)`` where ``c`` is
the fraction of concordant pairs between its ranking and the top rung's on the trials both
observed (``w = 1``, full trust, while they share fewer than ``min_shared`` trials). A new
trial starts in bracket ``s`` with probability ``w_s · Π_{j<s} (1 − w_j)``, and at the top
with the rest ``Π_j (1 − w_j)``: from the bottom, each rung keeps the trial with the
probability that it can be trusted. The paper samples brackets in proportion to the
ensemble weights; this rule differs in its limits, which is the point: with rungs that rank
exactly like the top it is ASHA (every trial starts at the bottom), with rungs that do not
rank at all it is a full-budget search whose evaluations the model then learns from.

The promotion rule is ASHA's promotion variant (pause a trial at its rung; promote the top
1/η once the rung holds η results per promotion), the gate of Hyper-Tune's delayed
promotion, inside each bracket. ``bracket_selection="fixed"`` is plain promotion ASHA with
``brackets`` as given (Ray Tune's bracket weighting), the behaviour before 2026-12-06.

:attr:`rung_weights` holds the last weights ({milestone: weight}) and
:attr:`bracket_probabilities` the distribution new trials are drawn from.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from tunefleet.errors import TuneValueError
from tunefleet.schedulers.asha import ASHAScheduler, _dec, _enc
from tunefleet.trial import Trial

SELECTIONS = ("adaptive", "fixed")

#: The agreement is measured on at most this many shared trials, the latest to reach the
#: top: the pair count grows as n², and it is recomputed after every new top result (a
#: 100,000-trial sweep would otherwise build arrays of billions of pairs).
MAX_SHARED = 300


def rank_weight(low: Mapping[str, float], top: Mapping[str, float], min_shared: int = 2) -> float:
    """Hyper-Tune's trust in a low fidelity: ``max(0, 2c − 1)`` for ``c`` the fraction of
    concordant pairs (ties count as discordant) between ``low`` and ``top`` on the keys
    both hold (the last :data:`MAX_SHARED` of ``top``'s order); 1.0 when they share fewer
    than ``min_shared`` keys (no evidence yet)."""
    shared = [k for k in top if k in low][-MAX_SHARED:]
    if len(shared) < max(2, min_shared):
        return 1.0
    a = np.array([low[k] for k in shared], dtype=float)
    b = np.array([top[k] for k in shared], dtype=float)
    i, j = np.triu_indices(len(shared), k=1)
    concordant = int(np.count_nonzero((a[i] - a[j]) * (b[i] - b[j]) > 0))
    return max(0.0, 2.0 * concordant / len(i) - 1.0)


def bracket_probabilities(weights: list[float]) -> list[float]:
    """The starting-rung distribution from the weights of the rungs below the top (lowest
    first): rung ``s`` gets ``w_s · Π_{j<s}(1 − w_j)``, the top ``Π_j (1 − w_j)``."""
    out, left = [], 1.0
    for w in weights:
        w = min(1.0, max(0.0, float(w)))
        out.append(left * w)
        left *= 1.0 - w
    out.append(left)
    return out


class HyperTuneASHA(ASHAScheduler):
    """ASHAScheduler's arguments (``variant`` defaulting to ``"promotion"``) plus
    ``bracket_selection`` ("adaptive": start each new trial at a rung drawn from the rungs'
    measured agreement with the top, see the module docstring; "fixed": ASHA's
    ``brackets``) and ``min_shared`` (trials a rung must share with the top before its
    agreement counts). Use with ``search_alg="hypertune"``."""

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
        bracket_selection: str = "adaptive",
        min_shared: int = 3,
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
        if bracket_selection not in SELECTIONS:
            raise TuneValueError(
                f"HyperTuneASHA(bracket_selection={bracket_selection!r}): must be one of "
                f"{', '.join(SELECTIONS)}"
            )
        if bracket_selection == "adaptive" and brackets != 1:
            raise TuneValueError(
                f"HyperTuneASHA(brackets={brackets}): bracket_selection='adaptive' chooses "
                "the brackets itself; pass brackets=1 or bracket_selection='fixed'"
            )
        if isinstance(min_shared, bool) or not isinstance(min_shared, int) or min_shared < 2:
            raise TuneValueError(f"HyperTuneASHA(min_shared={min_shared!r}): an int >= 2")
        self.bracket_selection = bracket_selection
        self.min_shared = min_shared
        self._adaptive = bracket_selection == "adaptive"
        self._levels = [r.milestone for r in self._rungs[0]]
        if self._adaptive:
            # one bracket per starting rung, and the last one starting at max_t
            self._rungs = [self._make_rungs(s) for s in range(len(self._levels) + 1)]
        # score of every trial at each rung's milestone and at max_t, for the agreement
        self._seen: dict[float, dict[str, float]] = {m: {} for m in self._levels}
        self._top: dict[str, float] = {}
        self._probs: list[float] | None = None  # cached until the next top result
        self.rung_weights: dict[float, float] = {}
        self.bracket_probabilities: list[float] = []

    # -- the measurement --------------------------------------------------------------
    def _record(self, tid: str, result: dict[str, Any]) -> None:
        t = result.get(self.time_attr)
        if t is None:
            return
        if t >= self.max_t:
            if tid not in self._top:
                self._top[tid] = self.score(result)
                self._probs = None
            return
        for m in self._levels:  # the first result at or past a milestone stands for it
            if t >= m and tid not in self._seen[m]:
                self._seen[m][tid] = self.score(result)

    def _distribution(self) -> list[float]:
        if self._probs is None:
            weights = [rank_weight(self._seen[m], self._top, self.min_shared) for m in self._levels]
            self.rung_weights = dict(zip(self._levels, weights, strict=True))
            self._probs = bracket_probabilities(weights)
            self.bracket_probabilities = list(self._probs)
        return self._probs

    # -- hooks ------------------------------------------------------------------------
    def on_trial_added(self, trial: Trial) -> None:
        if not self._adaptive:
            super().on_trial_added(trial)
            return
        p = np.asarray(self._distribution(), dtype=float)
        self._bracket_of[trial.trial_id] = int(self._rng.choice(len(p), p=p / p.sum()))
        self._next_rung[trial.trial_id] = 0

    def on_result(self, trial: Trial, result: dict[str, Any]) -> Any:
        self._record(trial.trial_id, result)
        return super().on_result(trial, result)

    # -- persistence ------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        # keyed by rung and trial, as ASHA's rungs: a new result is a small delta in the log
        state["seen"] = {
            repr(m): {t: _enc(v) for t, v in self._seen[m].items()} for m in self._levels
        }
        state["top"] = {t: _enc(v) for t, v in self._top.items()}
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if not state:
            return
        super().load_state_dict(state)
        if self._adaptive:  # a state written with fewer brackets (before 2026-12-06)
            for s in range(len(self._rungs), len(self._levels) + 1):
                self._rungs.append(self._make_rungs(s))
        seen = {
            float(m): {str(t): _dec(v) for t, v in at.items()}
            for m, at in state.get("seen", {}).items()
        }
        self._seen = {m: seen.get(m, {}) for m in self._levels}
        self._top = {str(t): _dec(v) for t, v in state.get("top", {}).items()}
        self._probs = None
