"""Population Based Training: Jaderberg et al. 2017, "Population Based Training of Neural
Networks", arXiv:1711.09846.

Every ``perturbation_interval`` units of ``time_attr`` (after ``burn_in_period``), a trial
is ranked among the population by its latest score. A trial in the bottom
``quantile_fraction`` *exploits* a trial drawn uniformly from the top
``quantile_fraction`` — it restarts from that trial's latest checkpoint with its config —
and *explores*: each mutated hyperparameter is resampled with ``resample_probability``
(or when its value is not one of the listed choices), otherwise perturbed: numeric values
are multiplied by a factor drawn from ``perturbation_factors`` (clipped to the domain's
bounds), list choices move to a neighbouring value. ``custom_explore_fn(config)`` then
post-processes the new config. Trials in the middle and at the top continue unchanged.

Cost per decision: O(P log P) for a population of P trials (one sort at each
perturbation); O(1) otherwise.
"""

from __future__ import annotations

import bisect
import copy
import math
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import numpy as np

from tunefleet.errors import TuneTypeError, TuneValueError
from tunefleet.schedulers.base import CONTINUE, Decision, DecisionPoints, Restart, Scheduler
from tunefleet.trial import Trial


def _is_domain(obj: Any) -> bool:
    return hasattr(obj, "sample") and hasattr(obj, "to_json")


class PopulationBasedTraining(Scheduler):
    """Ray Tune's ``PopulationBasedTraining`` arguments and semantics (asynchronous)."""

    #: ``seed`` is the run's seed once ``setup`` ran; the argument stays in ``seed_``.
    _param_attrs: ClassVar[Mapping[str, str]] = {**Scheduler._param_attrs, "seed": "seed_"}

    def __init__(
        self,
        time_attr: str = "time_total_s",
        metric: str | None = None,
        mode: str | None = None,
        perturbation_interval: float = 60.0,
        burn_in_period: float = 0.0,
        hyperparam_mutations: Mapping[str, Any] | None = None,
        quantile_fraction: float = 0.25,
        resample_probability: float = 0.25,
        perturbation_factors: tuple[float, float] = (1.2, 0.8),
        custom_explore_fn: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
        log_config: bool = True,
        require_attrs: bool = True,
        synch: bool = False,
        seed: int | None = None,
    ) -> None:
        super().__init__(metric, mode)
        if not perturbation_interval > 0:
            raise TuneValueError(
                f"PopulationBasedTraining(perturbation_interval={perturbation_interval}): "
                "must be > 0"
            )
        if not 0 < quantile_fraction <= 0.5:
            raise TuneValueError(
                f"PopulationBasedTraining(quantile_fraction={quantile_fraction}): must be in "
                "(0, 0.5]"
            )
        if not 0 <= resample_probability <= 1:
            raise TuneValueError(
                f"PopulationBasedTraining(resample_probability={resample_probability}): must "
                "be in [0, 1]"
            )
        if not hyperparam_mutations and custom_explore_fn is None:
            raise TuneValueError(
                "PopulationBasedTraining(hyperparam_mutations=...): give hyperparam_mutations "
                "or custom_explore_fn, otherwise exploring cannot change anything"
            )
        _check_mutations(hyperparam_mutations or {}, "hyperparam_mutations")
        self.time_attr = time_attr
        self.perturbation_interval = perturbation_interval
        self.burn_in_period = burn_in_period
        self.hyperparam_mutations = hyperparam_mutations
        self._mutations = dict(hyperparam_mutations or {})
        self.quantile_fraction = quantile_fraction
        self.resample_probability = resample_probability
        self.perturbation_factors = perturbation_factors
        self._factors = tuple(perturbation_factors)
        self.custom_explore_fn = custom_explore_fn
        self.log_config = log_config
        self.require_attrs = require_attrs
        self.synch = synch
        self.seed_ = seed
        self.synchronous_reports = True
        self.pauses_trials = True
        self._rng = np.random.default_rng(seed)
        self._last_perturb: dict[str, float] = {}
        self._score: dict[str, float] = {}
        self._alive: set[str] = set()
        self._ranked: list[tuple[float, str]] = []
        self._trials: dict[str, Trial] = {}  # read-only references, for donors' configs
        self.num_perturbations = 0
        self.exploits: list[tuple[str, str]] = []  # (recipient, donor), in order

    def setup(self, metric: str | None, mode: str | None, seed: int | None = None) -> None:
        super().setup(metric, mode, seed)
        if self.metric is None or self.mode is None:
            raise TuneValueError("metric: PopulationBasedTraining needs metric and mode")
        if self.seed_ is None and seed is not None:
            self._rng = np.random.default_rng(seed)

    def on_trial_added(self, trial: Trial) -> None:
        self._trials[trial.trial_id] = trial
        self._alive.add(trial.trial_id)
        self._last_perturb.setdefault(trial.trial_id, 0.0)

    def on_trial_finished(self, trial: Trial) -> None:
        """A finished trial leaves the population (it can no longer exploit or explore)."""
        tid = trial.trial_id
        self._alive.discard(tid)
        old = self._score.pop(tid, None)
        if old is not None:
            self._unrank(old, tid)

    # -- the population ----------------------------------------------------------------
    # Live trials with a score are kept sorted by (score, trial_id), so that a quantile
    # test is a bisection instead of a sort of the whole population on every perturbation.
    def _unrank(self, score: float, tid: str) -> None:
        i = bisect.bisect_left(self._ranked, (score, tid))
        if i < len(self._ranked) and self._ranked[i][1] == tid:
            del self._ranked[i]

    def _set_score(self, tid: str, score: float) -> None:
        old = self._score.get(tid)
        if old is not None:
            self._unrank(old, tid)
        self._score[tid] = score
        bisect.insort(self._ranked, (score, tid))

    def _quantile_size(self) -> int:
        n = len(self._ranked)
        return min(int(math.ceil(n * self.quantile_fraction)), n // 2)

    def quantiles(self) -> tuple[list[str], list[str]]:
        """(bottom, top) ids among live trials with a score, each ordered worst → best."""
        k = self._quantile_size()
        if k == 0:
            return [], []
        return [t for _, t in self._ranked[:k]], [t for _, t in self._ranked[-k:]]

    def due(self, trial_id: str, t: float) -> bool:
        """Is a result at ``t`` a perturbation point? After the burn-in, when ``time_attr``
        has crossed a multiple of the interval since the last perturbation (Ray Tune: when
        an interval has passed since it). The same for iterations counted from 0; it lets
        the worker know in advance which reports must wait for the verdict."""
        if t < self.burn_in_period:
            return False
        interval = self.perturbation_interval
        last = self._last_perturb.get(trial_id, 0.0)
        return math.floor(t / interval) > math.floor(last / interval)

    def decision_points(self) -> DecisionPoints:
        """Multiples of ``perturbation_interval`` of ``time_attr`` (and the end of the
        burn-in): the reports where a trial may exploit another, which wait for the verdict.
        A trial restarted from a donor far ahead of it may be judged on another report;
        the restart then lands at its next report."""
        burn_in = (float(self.burn_in_period),) if self.burn_in_period > 0 else ()
        return DecisionPoints(self.time_attr, burn_in, float(self.perturbation_interval))

    def on_result(self, trial: Trial, result: dict[str, Any]) -> Decision:
        tid = trial.trial_id
        t = result.get(self.time_attr)
        if t is None:
            if self.require_attrs:
                raise TuneValueError(
                    f"PopulationBasedTraining: result of {tid} has no time_attr {self.time_attr!r}"
                )
            return CONTINUE
        score = self.score(result)
        self._set_score(tid, score)
        if not self.due(tid, float(t)):
            return CONTINUE
        self._last_perturb[tid] = float(t)
        k = self._quantile_size()
        if k == 0 or bisect.bisect_left(self._ranked, (score, tid)) >= k:
            return CONTINUE
        top = [t for _, t in self._ranked[-k:]]
        donor = top[int(self._rng.integers(len(top)))]
        self.num_perturbations += 1
        self.exploits.append((tid, donor))
        return Restart(self.explore(self._config_of(donor, trial)), donor)

    def _config_of(self, donor: str, trial: Trial) -> dict[str, Any]:
        other = self._trials.get(donor)
        return copy.deepcopy(other.config if other is not None else trial.config)

    # -- explore -----------------------------------------------------------------------
    def explore(self, config: dict[str, Any]) -> dict[str, Any]:
        new = copy.deepcopy(config)
        _mutate(new, self._mutations, self, path="")
        if self.custom_explore_fn is not None:
            out = self.custom_explore_fn(new)
            if not isinstance(out, dict):
                raise TuneTypeError(
                    f"custom_explore_fn must return the config dict, got {type(out).__name__}"
                )
            new = out
        return new

    def _perturb_value(self, value: Any, spec: Any) -> Any:
        rng = self._rng
        resample = rng.random() < self.resample_probability
        if callable(spec) and not _is_domain(spec):
            return spec()
        if isinstance(spec, (list, tuple)):
            if resample or value not in spec:
                return spec[int(rng.integers(len(spec)))]
            i = list(spec).index(value)
            shift = -1 if rng.random() < 0.5 else 1
            return spec[min(max(i + shift, 0), len(spec) - 1)]
        if _is_domain(spec):
            if resample or not isinstance(value, (int, float)) or isinstance(value, bool):
                return spec.sample(rng)
            factor = self._factors[int(rng.integers(len(self._factors)))]
            out = value * factor
            lower, upper = getattr(spec, "lower", None), getattr(spec, "upper", None)
            if lower is not None:
                out = max(out, lower)
            if upper is not None:
                out = min(out, upper)
            return int(round(out)) if isinstance(value, int) else float(out)
        raise TuneTypeError(f"hyperparam_mutations: cannot mutate with {spec!r}")

    # -- persistence ---------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "last_perturb": self._last_perturb,
            "score": {k: (v if math.isfinite(v) else None) for k, v in self._score.items()},
            "alive": sorted(self._alive),
            "num_perturbations": self.num_perturbations,
            "exploits": self.exploits,
            "rng": self._rng.bit_generator.state,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if not state:
            return
        self._last_perturb = {k: float(v) for k, v in state["last_perturb"].items()}
        self._score = {k: (-math.inf if v is None else v) for k, v in state["score"].items()}
        self._ranked = sorted((v, k) for k, v in self._score.items())
        self._alive = set(state["alive"])
        self.num_perturbations = int(state["num_perturbations"])
        self.exploits = [tuple(x) for x in state["exploits"]]
        self._rng.bit_generator.state = state["rng"]


def _check_mutations(spec: Mapping[str, Any], path: str) -> None:
    for key, value in spec.items():
        where = f"{path}[{key!r}]"
        if isinstance(value, Mapping):
            _check_mutations(value, where)
        elif isinstance(value, (list, tuple)):
            if not value:
                raise TuneValueError(f"{where}: an empty list of values cannot be mutated")
        elif not callable(value) and not _is_domain(value):
            raise TuneTypeError(
                f"{where}: expected a list of values, a search-space domain or a function, "
                f"got {type(value).__name__}"
            )


def _mutate(config: dict[str, Any], spec: Mapping[str, Any], pbt: Any, path: str) -> None:
    for key, sub in spec.items():
        if isinstance(sub, Mapping):
            inner = config.setdefault(key, {})
            if isinstance(inner, dict):
                _mutate(inner, sub, pbt, f"{path}{key}/")
            continue
        config[key] = pbt._perturb_value(config.get(key), sub)


def __getattr__(name: str) -> Any:
    # Ray's pbt module also holds PopulationBasedTrainingReplay: importable, not provided
    if name == "PopulationBasedTrainingReplay":
        from tunefleet.compat.resource_changing import PopulationBasedTrainingReplay

        return PopulationBasedTrainingReplay
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
