"""HyperOptSearch: HyperOpt's TPE behind Ray Tune's ``HyperOptSearch`` arguments.

TPE: Bergstra, Bardenet, Bengio & Kégl 2011, "Algorithms for Hyper-Parameter
Optimization", NeurIPS. HyperOpt has no ask/tell API; as Ray does, each suggestion runs
``tpe.suggest`` for one new trial id against a ``Trials`` object and evaluates the space
expression on it, and a completion writes the trial's result into that object.

Its tree-structured spaces model conditional choices: a ``choice`` whose options hold
domains becomes ``hp.choice`` over the options' parameter dicts. ``space`` may also be given
as HyperOpt expressions (``hp.uniform(...)``); then ``points_to_evaluate`` are run but not
told to TPE. Importing this module does not import hyperopt.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

from tunefleet.errors import TuneValueError
from tunefleet.search._adapter import LibrarySearcher, check_seed
from tunefleet.search._params import Param

_INDEX = "__index__"


def _expr(p: Param) -> Any:
    from hyperopt import hp

    if p.kind == "cat":
        if p.children is None:
            return hp.choice(p.name, list(range(p.n)))
        options = [
            {_INDEX: i, **{c.name: _expr(c) for c in kids}} for i, kids in enumerate(p.children)
        ]
        return hp.choice(p.name, options)
    if p.kind == "int":
        return hp.quniform(p.name, p.low - 0.499, p.high + 0.499, 1)
    if p.kind == "float" and p.log:
        return hp.loguniform(p.name, math.log(p.low), math.log(p.high))
    if p.kind == "float":
        return hp.uniform(p.name, p.low, p.high)
    return hp.uniform(p.name, 0.0, 1.0)


def _flat(params: list[Param], value: Mapping[str, Any], out: dict[str, Any]) -> None:
    for p in params:
        v = value[p.name]
        if p.children is not None:
            i = int(v[_INDEX])
            out[p.name] = i
            _flat(p.children[i], v, out)
        else:
            out[p.name] = v


def _is_native(node: Any) -> bool:
    from hyperopt.pyll import Apply

    if isinstance(node, Apply):
        return True
    if isinstance(node, dict):
        return any(_is_native(v) for v in node.values())
    if isinstance(node, list | tuple):
        return any(_is_native(v) for v in node)
    return False


class HyperOptSearch(LibrarySearcher):
    """Ray Tune's ``HyperOptSearch``: ``n_initial_points`` random suggestions before TPE
    (HyperOpt's ``n_startup_jobs``), ``gamma`` the good fraction, ``random_state_seed``
    the seed (default: the run's). ``evaluated_rewards`` as for the other adapters."""

    library = "hyperopt"
    conditional = True
    _param_attrs: ClassVar[Mapping[str, str]] = {
        **LibrarySearcher._param_attrs,
        "random_state_seed": "_explicit_seed",
    }

    def __init__(
        self,
        space: Any = None,
        metric: str | None = None,
        mode: str | None = None,
        points_to_evaluate: list[dict[str, Any]] | None = None,
        n_initial_points: int = 20,
        random_state_seed: int | None = None,
        gamma: float = 0.25,
        evaluated_rewards: list[Any] | None = None,
    ) -> None:
        super().__init__(space, metric, mode, points_to_evaluate, evaluated_rewards)
        self._explicit_seed = check_seed("HyperOptSearch", "random_state_seed", random_state_seed)
        if isinstance(n_initial_points, bool) or not isinstance(n_initial_points, int):
            raise TuneValueError(f"HyperOptSearch(n_initial_points={n_initial_points!r}): an int")
        if n_initial_points < 1:
            raise TuneValueError(f"HyperOptSearch(n_initial_points={n_initial_points}): >= 1")
        if not 0 < float(gamma) < 1:
            raise TuneValueError(f"HyperOptSearch(gamma={gamma!r}): must be in (0, 1)")
        self.n_initial_points = n_initial_points
        self.gamma = gamma
        self._trials: Any = None
        self._domain: Any = None
        self._seeds: Any = None
        self._labels: list[str] = []

    def _native_space(self) -> bool:
        return self.space_arg is not None and _is_native(self.space_arg)

    def _build(self, seed: int) -> None:
        import hyperopt
        import numpy as np

        expr = self.space_arg if self._native_space() else {p.name: _expr(p) for p in self._params}
        self._domain = hyperopt.Domain(lambda spc: spc, expr)
        self._trials = hyperopt.Trials()
        self._seeds = np.random.default_rng(seed)
        self._labels = list(self._domain.params)

    def _ask(self) -> tuple[dict[str, Any], Any] | None:
        import hyperopt
        from hyperopt import base, pyll, tpe, utils

        trials = self._trials
        new_ids = trials.new_trial_ids(1)
        trials.refresh()
        docs = tpe.suggest(
            new_ids,
            self._domain,
            trials,
            int(self._seeds.integers(2**31 - 1)),
            n_startup_jobs=self.n_initial_points,
            gamma=float(self.gamma),
        )
        trials.insert_trial_docs(docs)
        trials.refresh()
        doc = self._doc(docs[0]["tid"])
        ctrl = base.Ctrl(trials, current_trial=doc)
        memo = self._domain.memo_from_config(base.spec_from_misc(doc["misc"]))
        utils.use_obj_for_literal_in_memo(self._domain.expr, ctrl, base.Ctrl, memo)
        value = pyll.rec_eval(self._domain.expr, memo=memo)
        doc["state"] = hyperopt.JOB_STATE_RUNNING
        if self._native_space():
            return dict(value), doc["tid"]
        raw: dict[str, Any] = {}
        _flat(self._params, value, raw)
        return raw, doc["tid"]

    def _doc(self, tid: int) -> dict[str, Any]:
        for doc in self._trials._dynamic_trials:
            if doc["tid"] == tid:
                return doc
        raise KeyError(tid)

    def _tell(self, handle: Any, loss: float | None) -> None:
        import hyperopt

        handle = self._doc(handle)

        if loss is None:
            handle["result"] = {"status": hyperopt.STATUS_FAIL}
            handle["state"] = hyperopt.JOB_STATE_ERROR
        else:
            handle["result"] = {"loss": loss, "status": hyperopt.STATUS_OK}
            handle["state"] = hyperopt.JOB_STATE_DONE
        self._trials.refresh()

    def _add(self, raw: dict[str, Any], loss: float) -> None:
        import hyperopt

        if self._native_space():
            return  # HyperOpt's labels are not the config's keys: run, not told
        trials = self._trials
        (tid,) = trials.new_trial_ids(1)
        misc = {
            "tid": tid,
            "cmd": self._domain.cmd,
            "workdir": None,
            "idxs": {k: ([tid] if k in raw else []) for k in self._labels},
            "vals": {k: ([raw[k]] if k in raw else []) for k in self._labels},
        }
        result = {"loss": loss, "status": hyperopt.STATUS_OK}
        (doc,) = trials.new_trial_docs([tid], [None], [result], [misc])
        doc["state"] = hyperopt.JOB_STATE_DONE
        trials.insert_trial_docs([doc])
        trials.refresh()
