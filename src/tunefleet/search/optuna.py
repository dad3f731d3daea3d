"""OptunaSearch: Optuna's samplers behind Ray Tune's ``OptunaSearch`` arguments.

Optuna (Akiba et al. 2019, "Optuna: A Next-generation Hyperparameter Optimization
Framework", KDD) ships TPE (Bergstra et al. 2011), CMA-ES (Hansen 2016), GP-based BO,
NSGA-II (Deb et al. 2002) and QMC samplers; this adapter drives any of them through
Optuna's ask/tell interface. Optuna's define-by-run form models conditional spaces: a
``choice`` whose options hold domains asks for the chosen option's parameters only.

``space`` may be a tunefleet space, a dict of ``optuna.distributions`` (flat names, ``/``
for nesting, as Ray), or a define-by-run function ``fn(trial) -> dict | None`` whose
returned dict holds constants. Importing this module does not import optuna.

Outcome constraints (``constraints=``, or the run's own ``constraints=``, which the run
adds to this searcher) are told to Optuna with each trial, so its samplers learn
feasibility themselves: NSGA-II's constrained domination (Deb et al. 2002, Sec. VI), TPE's
and MOTPE's split that puts infeasible trials in the bad group (c-TPE's rule as Optuna
implements it), GP's. Each trial's last result gives one value per constraint, Optuna's
convention ``c <= 0`` is satisfied: ``key`` -> its value, ``key <= b`` -> ``value - b``,
``key >= b`` -> ``b - value`` (a strict comparison that holds with equality gives the
smallest positive number), a missing key -> 0 (breaks nothing, as
:func:`~tunefleet.search.constraints.infeasible`), and ``"feasible"`` -> 1 for
``feasible=False``, else 0. Optuna >= 5 takes them as ``Trial.set_constraint(text,
value)`` (any sampler, a sampler object of your own included); on Optuna 4 a sampler named
by string that takes ``constraints_func`` (TPE/MOTPE, NSGA-II, NSGA-III, GP) is built with
one that reads them back, and CMA-ES, QMC and random learn nothing from them.
"""

from __future__ import annotations

import copy
import functools
import math
import warnings
from collections.abc import Mapping
from typing import Any, ClassVar

from tunefleet.errors import TuneTypeError, TuneValueError
from tunefleet.search._adapter import LibrarySearcher, check_seed
from tunefleet.search._params import Param, unflatten
from tunefleet.search.constraints import check_constraints, parse_constraint

#: Optuna 4: the trial's user attribute that ``constraints_func`` reads back.
CONSTRAINTS_ATTR = "tunefleet_constraints"

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
    Optuna's. ``constraints``: outcome constraints (``"latency <= 10"``, or a key whose
    value must be <= 0) given to the sampler as its ``constraints_func``. See the module
    docstring."""

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
        constraints: list[str] | None = None,
    ) -> None:
        super().__init__(space, metric, mode, points_to_evaluate, evaluated_rewards)
        self.constraints = check_constraints("OptunaSearch", constraints)
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
            kwargs: dict[str, Any] = {"seed": seed % 2**32}
            if self._takes_constraints(cls):
                n = len(self.constraints or ()) + 1
                kwargs["constraints_func"] = functools.partial(_constraint_values, n=n)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return cls(**kwargs)
        try:
            return copy.deepcopy(self.sampler)  # the pristine object: replay starts alike
        except TypeError:  # Optuna 5's NSGA-II/III hold a lock: use the object itself
            return self.sampler

    def _takes_constraints(self, cls: Any) -> bool:
        """Optuna 4 only (no ``Trial.set_constraint``): are there constraints, and does the
        sampler class take ``constraints_func``?"""
        import inspect

        import optuna

        if not self.constraints or hasattr(optuna.trial.Trial, "set_constraint"):
            return False
        return "constraints_func" in inspect.signature(cls.__init__).parameters

    def _extra_metrics(self, result: Mapping[str, Any] | None) -> dict[str, float] | None:
        """The trial's constraint values (see the module docstring), or None without
        constraints; the adapter's log keeps them, so a resume tells them again."""
        if not self.constraints:
            return None
        out: dict[str, float] = {}
        for i, text in enumerate(self.constraints):
            key, holds, bound = parse_constraint(text)
            value = (result or {}).get(key)
            try:
                v = float(value)  # type: ignore[arg-type]
            except (TypeError, ValueError):
                v = math.nan
            if isinstance(value, bool) or math.isnan(v):
                c = 0.0  # missing: breaks nothing
            else:
                c = bound - v if holds(1.0, 0.0) else v - bound  # >, >=: bound - value
                if c == 0.0 and not holds(bound, bound):
                    c = math.ulp(0.0)  # a strict comparison fails with equality
            out[f"c{i}"] = c
        out["feasible"] = 1.0 if (result or {}).get("feasible") is False else 0.0
        return out

    def _constraint_list(self) -> list[float] | None:
        extra = self._extra
        if not self.constraints or not extra:
            return None
        return [float(extra[f"c{i}"]) for i in range(len(self.constraints))] + [
            float(extra["feasible"])
        ]

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

        values = self._constraint_list()
        if values is not None and hasattr(handle, "set_constraint"):
            for key, v in zip([*(self.constraints or ()), "feasible"], values, strict=True):
                handle.set_constraint(key, v)
        elif values is not None:
            handle.set_user_attr(CONSTRAINTS_ATTR, values)
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
        constraints = self._constraint_list()
        if constraints is not None:
            # Optuna's own record of a trial's constraints (the list form both Optuna 4 and
            # 5 read; add_trial calls no sampler hook that would write it)
            value["system_attrs"] = {"constraints": constraints}
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


def _constraint_values(trial: Any, n: int) -> list[float]:
    """Optuna's ``constraints_func``: the ``n`` values the adapter kept on the trial (a
    trial told without them, e.g. failed before any result, breaks nothing)."""
    return list(trial.user_attrs.get(CONSTRAINTS_ATTR, [0.0] * n))
