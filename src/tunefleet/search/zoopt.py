"""ZOOptSearch: ZOOpt's sequential RACOS behind Ray Tune's ``ZOOptSearch`` arguments.

SRACOS: Hu, Qian & Yu 2017, "Sequential Classification-Based Optimization for
Direct Policy Search", AAAI (a classification model of the good region, sampled from).
ZOOpt draws from numpy's *global* generator and keeps float precisions in a module global,
so every call into it here runs with this searcher's own copies swapped in and the
caller's restored after: two searchers (or a resumed one) do not disturb each other, and
the stream depends only on the seed. Floats and ``unit`` domains are continuous, integers
discrete, choices a grid of option indices; no conditional form (a choice whose options
hold domains is refused naming its key). ``points_to_evaluate`` are run first but ZOOpt
does not learn from them (it has no call to add an observation). Importing this module
does not import zoopt.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, ClassVar

from tunefleet.errors import TuneTypeError, TuneValueError
from tunefleet.search._adapter import WAIT, LibrarySearcher, check_seed


class ZOOptSearch(LibrarySearcher):
    """Ray Tune's ``ZOOptSearch``: ``algo`` "asracos" or "sracos" (both SRACOS here, as in
    Ray), ``budget`` (default: the run's ``num_samples``), ``parallel_num`` trials in
    flight at once, ``dim_dict`` is not supported (give a tunefleet space), ``**kwargs``
    go to ZOOpt's ``Parameter`` (``seed`` is the seed, default the run's)."""

    library = "zoopt"
    _param_attrs: ClassVar[Mapping[str, str]] = {**LibrarySearcher._param_attrs}

    def __init__(
        self,
        algo: str = "asracos",
        budget: int | None = None,
        dim_dict: dict[str, Any] | None = None,
        metric: str | None = None,
        mode: str | None = None,
        points_to_evaluate: list[dict[str, Any]] | None = None,
        parallel_num: int = 1,
        **kwargs: Any,
    ) -> None:
        super().__init__(None, metric, mode, points_to_evaluate, None)
        if algo not in ("asracos", "sracos"):
            raise TuneValueError(f"ZOOptSearch(algo={algo!r}): must be 'asracos' or 'sracos'")
        if budget is not None and (isinstance(budget, bool) or not isinstance(budget, int)):
            raise TuneTypeError(f"ZOOptSearch(budget={budget!r}): must be an int or None")
        if dim_dict is not None:
            raise TuneValueError(
                "ZOOptSearch(dim_dict=...): not supported; give the space as tunefleet "
                "domains in the run's config"
            )
        if isinstance(parallel_num, bool) or not isinstance(parallel_num, int) or parallel_num < 1:
            raise TuneValueError(f"ZOOptSearch(parallel_num={parallel_num!r}): an int >= 1")
        self.algo = algo
        self.budget = budget
        self.dim_dict = dim_dict
        self.parallel_num = parallel_num
        self.kwargs = dict(kwargs)  # as given, seed included (resume rebuilds from it)
        self._zkwargs = {k: v for k, v in kwargs.items() if k != "seed"}
        self._explicit_seed = check_seed("ZOOptSearch", "seed", kwargs.get("seed"))
        self._opt: Any = None
        self._np_state: Any = None
        self._precisions: list[Any] = []
        self._worst = 0.0

    @contextmanager
    def _own_globals(self) -> Iterator[None]:
        import numpy as np
        from zoopt.utils.zoo_global import gl

        saved = np.random.get_state(), gl.float_precisions
        np.random.set_state(self._np_state)
        gl.float_precisions = self._precisions
        try:
            yield
        finally:
            self._np_state, self._precisions = np.random.get_state(), gl.float_precisions
            np.random.set_state(saved[0])
            gl.float_precisions = saved[1]

    def _build(self, seed: int) -> None:
        import numpy as np
        from zoopt import Dimension2, Parameter, ValueType
        from zoopt.algos.opt_algorithms.racos.sracos import SRacosTune

        self._params = [
            p
            if p.kind in ("int", "cat") or (p.kind == "float" and not p.log)
            else dataclasses.replace(p, kind="unit")
            for p in self._params
            if p.domain.cardinality != 1  # one value: left to resolve(), ZOOpt cannot hold it
        ]
        if not self._params:
            raise TuneValueError("space: ZOOptSearch needs a domain with two values or more")
        dims: list[Any] = []
        for p in self._params:
            if p.kind == "cat":
                dims.append((ValueType.GRID, list(range(p.n))))
            elif p.kind == "int":
                dims.append((ValueType.DISCRETE, [int(p.low), int(p.high)], False))
            else:
                dims.append((ValueType.CONTINUOUS, [p.low, p.high], 1e-10))
        self._np_state = np.random.RandomState(seed % 2**32).get_state()
        self._precisions = []
        self._worst = 0.0
        with self._own_globals():
            budget = self.budget if self.budget is not None else max(self.num_samples, 2)
            parameter = Parameter(budget=budget, **self._zkwargs)
            self._opt = SRacosTune(
                dimension=Dimension2(dims), parameter=parameter, parallel_num=self.parallel_num
            )

    def _ask(self) -> tuple[dict[str, Any], Any] | None | Any:
        with self._own_globals():
            solution = self._opt.suggest()
            if solution is None and self._opt.live_num == 0:
                # every initial sample completed before this call closed the initial
                # phase (ZOOpt expects the call first, as under Ray's eager suggest):
                # its model is ready, so open the gate ZOOpt's own order would have
                self._opt.semaphore = 1
                solution = self._opt.suggest()
        if isinstance(solution, str):
            # "FINISHED": ZOOpt found no config it has not proposed yet (small discrete
            # spaces); the run goes on with random configs ZOOpt is not told about
            return {}, None
        if solution is None:
            return WAIT
        x = solution.get_x()
        return {p.name: x[i] for i, p in enumerate(self._params)}, solution

    def _tell(self, handle: Any, loss: float | None) -> None:
        if handle is None:
            return
        if loss is None:
            loss = self._worst  # ZOOpt waits for every solution it handed out
        else:
            self._worst = max(self._worst, loss)
        with self._own_globals():
            self._opt.complete(handle, loss)

    def _add(self, raw: dict[str, Any], loss: float) -> None:
        pass  # see the module docstring
