"""OptunaSearch: Optuna's samplers behind Ray Tune's ``OptunaSearch`` arguments.

Optuna (Akiba et al. 2019, "Optuna: A Next-generation Hyperparameter Optimization
Framework", KDD) ships TPE (Bergstra et al. 2011), CMA-ES (Hansen 2016), GP-based BO,
NSGA-II (Deb et al. 2002) and QMC samplers; this adapter drives any of them through
Optuna's ask/tell interface. Optuna's define-by-run form models conditional spaces: a
``choice`` whose options hold domains asks for the chosen option's parameters only.

``space`` may be a tunefleet space, a dict of ``optuna.distributions`` (flat names, ``/``
for nesting, as Ray), or a define-by-run function ``fn(trial) -> dict | None`` whose
returned dict holds constants. Importing this module does not import optuna.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Mapping
from typing import Any, ClassVar

from tunefleet.errors import TuneTypeError, TuneValueError
from tunefleet.search._adapter import LibrarySearcher, check_seed
from tunefleet.search._params import Param, unflatten

#: ``sampler=`` names (so the searcher can be rebuilt from JSON on resume).
SAMPLERS = {
    "tpe": "TPESampler",
    "cmaes": "CmaEsSampler",
    "cma-es": "CmaEsSampler",
    "gp": "GPSampler",
    "nsgaii": "NSGAIISampler",
    "nsga2": "NSGAIISampler",
    "motpe": "TPESampler",  # TPE takes several objectives (MOTPE, Ozaki et al. 2020)
    "qmc": "QMCSampler",
    "random": "RandomSampler",
}


def _distribution(p: Param) -> Any:
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    if p.kind == "cat":
        return CategoricalDistribution(list(range(p.n)))
    if p.kind == "int":
        return IntDistribution(int(p.low), int(p.high))
    if p.kind == "float":
        return FloatDistribution(p.low, p.high, log=p.log)
    return FloatDistribution(0.0, 1.0)


class OptunaSearch(LibrarySearcher):
    """Ray Tune's ``OptunaSearch``. ``sampler``: an Optuna sampler object, or one of
    :data:`SAMPLERS`' names (seeded with ``seed``); default TPE. ``metric``/``mode`` may
    be lists for several objectives (Ray's multi-objective form; pair it with
    ``sampler="nsgaii"`` and leave the run's metric unset). ``study_name``/``storage``:
    Optuna's. See the module docstring."""

    library = "optuna"
    conditional = True
    multi_objective = True
    _param_attrs: ClassVar[Mapping[str, str]] = {
        **LibrarySearcher._param_attrs,
        "seed": "_explicit_seed",
    }

    def __init__(
        self,
        space: Any = None,
        metric: Any = None,
        mode: Any = None,
        points_to_evaluate: list[dict[str, Any]] | None = None,
        sampler: Any = None,
        study_name: str | None = None,
        storage: Any = None,
        seed: int | None = None,
        evaluated_rewards: list[Any] | None = None,
    ) -> None:
        super().__init__(space, metric, mode, points_to_evaluate, evaluated_rewards)
        self._explicit_seed = check_seed("OptunaSearch", "seed", seed)
        if isinstance(sampler, str) and sampler.lower() not in SAMPLERS:
            raise TuneValueError(
                f"OptunaSearch(sampler={sampler!r}): unknown name; valid: {sorted(SAMPLERS)}"
            )
        if sampler is not None and not isinstance(sampler, str):
            if seed is not None:
                warnings.warn(
                    "OptunaSearch(seed=...) is ignored when sampler is an object: seed the "
                    "sampler itself",
                    stacklevel=2,
                )
            if not hasattr(sampler, "sample_relative"):
                raise TuneTypeError(
                    f"OptunaSearch(sampler=...): expected an optuna sampler, got "
                    f"{type(sampler).__name__}"
                )
        self.sampler = sampler
        if study_name is not None and not isinstance(study_name, str):
            raise TuneTypeError(f"OptunaSearch(study_name={study_name!r}): must be a str")
        self.study_name = study_name
        self.storage = storage
        self._replaying = False
        if space is not None and not (isinstance(space, dict) or callable(space)):
            raise TuneTypeError(
                "OptunaSearch(space=...): expected a dict (tunefleet domains or optuna "
                f"distributions) or a define-by-run function, got {type(space).__name__}"
            )
        if callable(space) and evaluated_rewards is not None:
            raise TuneValueError(
                "OptunaSearch(evaluated_rewards=...): not with a define-by-run space (its "
                "parameters are unknown until it runs); give points_to_evaluate alone"
            )
        self._study: Any = None
        self._dists: dict[str, Any] = {}

    def _native_space(self) -> bool:
        space = self.space_arg
        if callable(space):
            return True
        if not isinstance(space, dict) or not space:
            return False
        from optuna.distributions import BaseDistribution

        native = [isinstance(v, BaseDistribution) for v in space.values()]
        if any(native) and not all(native):
            raise TuneValueError(
                "OptunaSearch(space=...): mixes optuna distributions and other values; "
                "give constants in the run's config"
            )
        return all(native)

    def _make_sampler(self, seed: int) -> Any:
        import optuna

        if self.sampler is None or isinstance(self.sampler, str):
            name = SAMPLERS[(self.sampler or "tpe").lower()]
            cls = getattr(optuna.samplers, name)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return cls(seed=seed % 2**32)
        return copy.deepcopy(self.sampler)  # the pristine object: replay starts alike

    def _build(self, seed: int) -> None:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        storage = None if self._replaying else self.storage
        objectives = len(self.metric) if isinstance(self.metric, list) else 1
        self._study = optuna.create_study(
            storage=storage,
            study_name=self.study_name,
            directions=["minimize"] * objectives,  # losses: -metric for mode "max"
            sampler=self._make_sampler(seed),
            load_if_exists=storage is not None,
        )
        self._dists = {}
        stack = list(self._params)
        while stack:
            p = stack.pop()
            self._dists[p.name] = _distribution(p)
            for option in p.children or []:
                stack.extend(option)

    def _suggest(self, trial: Any, params: list[Param], raw: dict[str, Any]) -> None:
        for p in params:
            if p.kind == "cat":
                raw[p.name] = trial.suggest_categorical(p.name, list(range(p.n)))
            elif p.kind == "int":
                raw[p.name] = trial.suggest_int(p.name, int(p.low), int(p.high))
            else:
                raw[p.name] = trial.suggest_float(p.name, p.low, p.high, log=p.log)
            if p.children is not None:
                self._suggest(trial, p.children[int(raw[p.name])], raw)

    def _ask(self) -> tuple[dict[str, Any], Any] | None:
        import optuna

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            space = self.space_arg
            if callable(space):
                trial = self._study.ask()
                constants = space(trial)
                config = unflatten(trial.params)
                if constants:
                    config.update(constants)
                return config, trial
            if self._native_space():
                trial = self._study.ask(fixed_distributions=space)
                return unflatten(trial.params), trial
            trial = self._study.ask()
            raw: dict[str, Any] = {}
            self._suggest(trial, self._params, raw)
            return raw, trial

    def _tell(self, handle: Any, loss: Any) -> None:
        from optuna.trial import TrialState

        if loss is None:
            self._study.tell(handle, state=TrialState.FAIL)
        else:
            self._study.tell(handle, loss)

    def _add(self, raw: dict[str, Any], loss: Any) -> None:
        import optuna

        space = self.space_arg
        if callable(space):
            self._study.enqueue_trial(raw)
            trial = self._study.ask()
            space(trial)
            self._study.tell(trial, loss)
            return
        dists = space if self._native_space() else self._dists
        params = {k: v for k, v in raw.items() if k in dists}
        value: dict[str, Any] = {"values": loss} if isinstance(loss, list) else {"value": loss}
        self._study.add_trial(
            optuna.trial.create_trial(
                params=params, distributions={k: dists[k] for k in params}, **value
            )
        )

    def load_state_dict(self, state: dict[str, Any]) -> None:
        # Replaying the log into ``storage`` would record every earlier trial twice: the
        # resumed study lives in memory (the storage keeps the trials up to the stop).
        if state and self._built and self.storage is not None:
            warnings.warn(
                "OptunaSearch(storage=...): the resumed run's study is kept in memory; the "
                "storage holds the trials up to the interruption",
                stacklevel=2,
            )
            self._replaying = True
        try:
            super().load_state_dict(state)
        finally:
            self._replaying = False

    @property
    def study(self) -> Any:
        """The ``optuna.Study`` in use (None before setup)."""
        return self._study
