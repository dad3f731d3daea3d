"""AxSearch: Ax's Bayesian optimisation (BoTorch) behind Ray Tune's ``AxSearch`` arguments.

Ax (Bakshy et al. 2018, "AE: A domain-agnostic platform for adaptive experimentation")
starts with Sobol points and continues with a BoTorch GP model (Balandat et al. 2020,
"BoTorch: A Framework for Efficient Monte-Carlo Bayesian Optimization", NeurIPS) chosen by
its generation strategy. Ax handles linear parameter constraints and outcome constraints
(``"accuracy >= 0.9"``): each trial's constraint metrics are read from its last result.
Floats and integers are Ax ranges, choices Ax choices over the option indices, other
domains a [0, 1] range; no conditional form (refused naming the key). Importing this
module does not import ax.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import re
import warnings
from collections.abc import Mapping
from typing import Any

from tunefleet.errors import TuneTypeError, TuneValueError
from tunefleet.search._adapter import LibrarySearcher
from tunefleet.search._params import Param


def _ax_param(p: Param) -> dict[str, Any]:
    if p.kind == "cat":
        if p.n == 1:
            return {"name": p.name, "type": "fixed", "value": 0}
        return {
            "name": p.name,
            "type": "choice",
            "values": list(range(p.n)),
            "value_type": "int",
            "is_ordered": False,
            "sort_values": True,  # the indices are in order already
        }
    if p.kind == "int":
        return {
            "name": p.name,
            "type": "range",
            "bounds": [int(p.low), int(p.high)],
            "value_type": "int",
        }
    lo, hi, log = (p.low, p.high, p.log) if p.kind == "float" else (0.0, 1.0, False)
    return {
        "name": p.name,
        "type": "range",
        "bounds": [lo, hi],
        "value_type": "float",
        "log_scale": log,
    }


class AxSearch(LibrarySearcher):
    """Ray Tune's ``AxSearch``. ``parameter_constraints`` / ``outcome_constraints``: Ax's
    strings over the flattened names (``"a/b + c <= 1"``, ``"acc >= 0.9"``); ``ax_client``:
    an ``AxClient`` with no experiment yet (its generation strategy is used; a copy is made
    per setup so resume starts it alike); ``**ax_kwargs`` go to ``create_experiment``
    (``choose_generation_strategy_kwargs={"num_initialization_trials": 8}``)."""

    library = "ax"

    def __init__(
        self,
        space: Any = None,
        metric: str | None = None,
        mode: str | None = None,
        points_to_evaluate: list[dict[str, Any]] | None = None,
        parameter_constraints: list[str] | None = None,
        outcome_constraints: list[str] | None = None,
        ax_client: Any = None,
        **ax_kwargs: Any,
    ) -> None:
        super().__init__(space, metric, mode, points_to_evaluate, None)
        for name, value in (
            ("parameter_constraints", parameter_constraints),
            ("outcome_constraints", outcome_constraints),
        ):
            if value is not None and not (
                isinstance(value, list) and all(isinstance(v, str) for v in value)
            ):
                raise TuneTypeError(f"AxSearch({name}=...): expected a list of str")
        if ax_client is not None and getattr(ax_client, "_experiment", None) is not None:
            raise TuneValueError(
                "AxSearch(ax_client=...): the client already has an experiment; give one "
                "without, the space comes from the run's config (or space=)"
            )
        self.parameter_constraints = parameter_constraints
        self.outcome_constraints = outcome_constraints
        self.ax_client = ax_client
        self.ax_kwargs = dict(ax_kwargs)
        self._client: Any = None
        self._constraint_metrics = [
            re.split(r"[\s<>=]", c.strip(), maxsplit=1)[0] for c in outcome_constraints or []
        ]

    def _build(self, seed: int) -> None:
        from ax.service.ax_client import AxClient, ObjectiveProperties

        # the seed note is a warning logged on every client: not the user's concern here
        logging.getLogger("ax.service.ax_client").setLevel(logging.ERROR)
        if not self._params:
            raise TuneValueError("space: AxSearch needs at least one searchable domain")
        # Ax refuses ranges narrower than ~1e-6 (numerics); those go in as [0, 1]
        self._params = [
            dataclasses.replace(p, kind="unit")
            if p.kind == "float" and p.high - p.low < 1e-3
            else p
            for p in self._params
        ]
        if self.ax_client is not None:
            client = copy.deepcopy(self.ax_client)
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # Ray's API is AxClient's
                client = AxClient(random_seed=seed % 2**31, verbose_logging=False)
        assert self.metric is not None
        client.create_experiment(
            parameters=[_ax_param(p) for p in self._params],
            objectives={self.metric: ObjectiveProperties(minimize=True)},
            parameter_constraints=self.parameter_constraints,
            outcome_constraints=self.outcome_constraints,
            **self.ax_kwargs,
        )
        self._client = client

    def _ask(self) -> tuple[dict[str, Any], Any] | None:
        params, index = self._client.get_next_trial()
        return dict(params), index

    def _data(self, loss: float) -> dict[str, Any]:
        assert self.metric is not None
        data: dict[str, Any] = {self.metric: (loss, None)}
        for name, value in (self._extra or {}).items():
            data[name] = (float(value), None)
        return data

    def _tell(self, handle: Any, loss: float | None) -> None:
        if loss is None:
            self._client.log_trial_failure(trial_index=handle)
        else:
            self._client.complete_trial(trial_index=handle, raw_data=self._data(loss))

    def _add(self, raw: dict[str, Any], loss: float) -> None:
        _, index = self._client.attach_trial(parameters=raw)
        self._client.complete_trial(trial_index=index, raw_data=self._data(loss))

    def _extra_metrics(self, result: Mapping[str, Any] | None) -> dict[str, float] | None:
        if not self._constraint_metrics or result is None:
            return None
        out = {}
        for name in self._constraint_metrics:
            value = result.get(name)
            if isinstance(value, int | float) and not isinstance(value, bool):
                out[name] = float(value)
        return out

    @property
    def client(self) -> Any:
        """The ``AxClient`` in use (None before setup)."""
        return self._client
