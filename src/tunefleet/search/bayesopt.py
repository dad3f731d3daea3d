"""BayesOptSearch: Gaussian-process Bayesian optimisation (the ``bayesian-optimization``
package) behind Ray Tune's ``BayesOptSearch`` arguments.

GP-UCB / EI / PI: Srinivas et al. 2010 ("Gaussian Process Optimization in the Bandit
Setting"), Jones et al. 1998 ("Efficient Global Optimization"); the package fits a Matérn
GP on the observations and maximises the acquisition. It only knows continuous boxes, so
every domain is given to it as [0, 1] and decoded with ``Domain.from_unit`` (integers and
choices therefore become ordinal: the right choice when there are few of them or their
order means something). No conditional form: a choice whose options hold domains is
refused naming its key. Importing this module does not import ``bayes_opt``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, ClassVar

from tunefleet.errors import TuneTypeError, TuneValueError
from tunefleet.search._adapter import LibrarySearcher, check_seed


class BayesOptSearch(LibrarySearcher):
    """Ray Tune's ``BayesOptSearch``. ``utility_kwargs``: the acquisition (``kind`` "ucb",
    "ei" or "poi", ``kappa``, ``xi``); ``random_state``: the seed (None: the run's);
    ``random_search_steps``: random suggestions before the GP; ``patience``: the search
    ends once one config has been proposed more than this many times; ``skip_duplicate``:
    a config seen before is not registered again (the GP would be singular).
    ``analysis`` (Ray's warm start from an ExperimentAnalysis) is not supported: give
    ``points_to_evaluate`` with ``evaluated_rewards`` instead."""

    library = "bayes_opt"
    _param_attrs: ClassVar[Mapping[str, str]] = {
        **LibrarySearcher._param_attrs,
        "random_state": "_explicit_seed",
    }

    def __init__(
        self,
        space: Any = None,
        metric: str | None = None,
        mode: str | None = None,
        points_to_evaluate: list[dict[str, Any]] | None = None,
        utility_kwargs: dict[str, Any] | None = None,
        random_state: int | None = None,
        random_search_steps: int = 10,
        verbose: int = 0,
        patience: int = 5,
        skip_duplicate: bool = True,
        analysis: Any = None,
        evaluated_rewards: list[Any] | None = None,
    ) -> None:
        super().__init__(space, metric, mode, points_to_evaluate, evaluated_rewards)
        self._explicit_seed = check_seed("BayesOptSearch", "random_state", random_state)
        kwargs = {"kind": "ucb", "kappa": 2.576, "xi": 0.0, **(utility_kwargs or {})}
        if kwargs["kind"] not in ("ucb", "ei", "poi"):
            raise TuneValueError(
                f"BayesOptSearch(utility_kwargs['kind']={kwargs['kind']!r}): 'ucb', 'ei' or 'poi'"
            )
        for name, value in (("random_search_steps", random_search_steps), ("patience", patience)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise TuneValueError(f"BayesOptSearch({name}={value!r}): must be an int >= 0")
        if analysis is not None:
            raise TuneTypeError(
                "BayesOptSearch(analysis=...): not supported; give points_to_evaluate with "
                "evaluated_rewards (e.g. from tunefleet.ExperimentAnalysis(path).results)"
            )
        self.utility_kwargs = utility_kwargs
        self._utility_kwargs = kwargs
        self.random_search_steps = random_search_steps
        self.verbose = verbose
        self.patience = patience
        self.skip_duplicate = skip_duplicate
        self.analysis = analysis
        self._opt: Any = None
        self._utility: Any = None
        self._seen: dict[str, int] = {}
        self._asked = 0

    def _build(self, seed: int) -> None:
        from bayes_opt import BayesianOptimization, UtilityFunction

        self._params = [dataclasses.replace(p, kind="unit") for p in self._params]
        if not self._params:
            raise TuneValueError("space: BayesOptSearch needs at least one searchable domain")
        self._opt = BayesianOptimization(
            f=None,
            pbounds={p.name: (0.0, 1.0) for p in self._params},
            random_state=seed % 2**32,
            verbose=self.verbose,
            allow_duplicate_points=True,
        )
        self._utility = UtilityFunction(**self._utility_kwargs)
        self._seen, self._asked = {}, 0

    def _key(self, raw: Mapping[str, Any]) -> tuple[float, ...]:
        return tuple(round(float(raw[k]), 9) for k in self._opt.space.keys)

    def _ask(self) -> tuple[dict[str, Any], Any] | None:
        import warnings

        self._asked += 1
        if self._asked <= self.random_search_steps or len(self._opt.space) < 2:
            x = self._opt.space.random_sample()
            raw = self._opt.space.array_to_params(x)
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # sklearn's GP convergence chatter
                raw = self._opt.suggest(self._utility)
        seen = repr([p.decode(raw[p.name]) for p in self._params])  # the config, decoded
        self._seen[seen] = self._seen.get(seen, 0) + 1
        if self._seen[seen] > self.patience > 0:
            return None
        return {k: float(v) for k, v in raw.items()}, raw

    def _tell(self, handle: Any, loss: float | None) -> None:
        if loss is not None:
            self._add(handle, loss)

    def _add(self, raw: dict[str, Any], loss: float) -> None:
        key = self._key(raw)
        rows = self._opt.space.params  # columns in space.keys' order
        if self.skip_duplicate and any(self._key_of_row(row) == key for row in rows):
            return
        self._opt.register(params={k: float(v) for k, v in raw.items()}, target=-loss)

    def _key_of_row(self, row: Any) -> tuple[float, ...]:
        return tuple(round(float(v), 9) for v in row)
