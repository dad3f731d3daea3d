"""NevergradSearch: Nevergrad's gradient-free optimizers behind Ray Tune's arguments.

Nevergrad (Rapin & Teytaud 2018, "Nevergrad - A gradient-free optimization platform")
offers evolution strategies, differential evolution, (1+1), CMA-ES, PSO and the NGOpt
wizard, all through ``ask``/``tell``. The space becomes an ``ng.p.Dict`` of ``Scalar``
(``Log`` for log-scaled floats, integer casting for ``randint``) and ``Choice`` over the
option indices; Nevergrad has no conditional form, so a choice whose options hold domains
is refused naming its key. ``budget`` defaults to the run's ``num_samples``. Importing this
module does not import nevergrad.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from tunefleet.errors import TuneTypeError, TuneValueError
from tunefleet.search._adapter import LibrarySearcher
from tunefleet.search._params import Param


def _parameter(p: Param) -> Any:
    import nevergrad as ng

    if p.kind == "cat":
        return ng.p.Choice(list(range(p.n)))
    if p.kind == "int":
        return ng.p.Scalar(lower=p.low, upper=p.high).set_integer_casting()
    if p.kind == "float" and p.log:
        return ng.p.Log(lower=p.low, upper=p.high)
    if p.kind == "float":
        return ng.p.Scalar(lower=p.low, upper=p.high)
    return ng.p.Scalar(lower=0.0, upper=1.0)


class NevergradSearch(LibrarySearcher):
    """Ray Tune's ``NevergradSearch``. ``optimizer``: a Nevergrad optimizer class or
    configured optimizer (``ng.optimizers.OnePlusOne``) or its registry name
    (``"OnePlusOne"``, rebuildable on resume); default ``"NGOpt"``. ``optimizer_kwargs``
    go to its constructor (``budget``, ``num_workers``). An optimizer *instance* brings
    its own parametrization and is used once per setup (it cannot be rebuilt, so resume
    starts it afresh)."""

    library = "nevergrad"
    _param_attrs: ClassVar[Mapping[str, str]] = {
        **LibrarySearcher._param_attrs,
        "seed": "_explicit_seed",
    }

    def __init__(
        self,
        optimizer: Any = None,
        optimizer_kwargs: dict[str, Any] | None = None,
        space: Any = None,
        metric: str | None = None,
        mode: str | None = None,
        points_to_evaluate: list[dict[str, Any]] | None = None,
        evaluated_rewards: list[Any] | None = None,
        seed: int | None = None,
    ) -> None:
        super().__init__(space, metric, mode, points_to_evaluate, evaluated_rewards)
        if optimizer_kwargs is not None and not isinstance(optimizer_kwargs, dict):
            raise TuneTypeError("NevergradSearch(optimizer_kwargs=...): expected a dict")
        if optimizer is not None and not (isinstance(optimizer, str) or callable(optimizer)):
            if not hasattr(optimizer, "ask"):
                raise TuneTypeError(
                    "NevergradSearch(optimizer=...): expected a Nevergrad optimizer, its "
                    f"class or its name, got {type(optimizer).__name__}"
                )
            if space is not None:
                raise TuneValueError(
                    "NevergradSearch(space=...): an optimizer instance brings its own "
                    "parametrization; pass the optimizer class instead"
                )
        self.optimizer = optimizer
        self.optimizer_kwargs = optimizer_kwargs
        self._explicit_seed = seed
        self._opt: Any = None

    def _instance(self) -> bool:
        opt = self.optimizer
        return opt is not None and not isinstance(opt, str) and hasattr(opt, "ask")

    def _native_space(self) -> bool:
        return self._instance()

    def _build(self, seed: int) -> None:
        import nevergrad as ng
        import numpy as np

        if self._instance():
            self._opt = self.optimizer
            return
        opt = self.optimizer if self.optimizer is not None else "NGOpt"
        if isinstance(opt, str):
            if opt not in ng.optimizers.registry:
                raise TuneValueError(
                    f"NevergradSearch(optimizer={opt!r}): not in nevergrad's optimizer registry"
                )
            opt = ng.optimizers.registry[opt]
        if not self._params:
            raise TuneValueError(
                "space: NevergradSearch needs at least one searchable domain in the config"
            )
        param = ng.p.Dict(**{p.name: _parameter(p) for p in self._params})
        param.random_state = np.random.RandomState(seed % 2**32)
        kwargs = {"budget": self.num_samples, **(self.optimizer_kwargs or {})}
        self._opt = opt(parametrization=param, **kwargs)

    def _ask(self) -> tuple[dict[str, Any], Any] | None:
        cand = self._opt.ask()
        value = cand.value
        if self._instance():
            config = value[1] if isinstance(value, tuple) and len(value) == 2 else value
            if not isinstance(config, dict):
                raise TuneTypeError(
                    "NevergradSearch: the optimizer's parametrization must give a dict "
                    f"(an ng.p.Dict or keyword Instrumentation), got {type(config).__name__}"
                )
            return dict(config), cand
        return dict(value), cand

    def _tell(self, handle: Any, loss: float | None) -> None:
        if loss is not None:
            self._opt.tell(handle, loss)

    def _add(self, raw: dict[str, Any], loss: float) -> None:
        if self._instance():
            return  # its parametrization's form is the user's: run, not told
        cand = self._opt.parametrization.spawn_child(new_value=raw)
        self._opt.tell(cand, loss)
