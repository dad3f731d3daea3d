"""Stop criteria: decide from results when a trial (or the whole experiment) should end.

Ray Tune's ``Stopper`` protocol: ``stopper(trial_id, result) -> bool`` stops that trial,
``stopper.stop_all() -> bool`` ends the experiment. The ``stop=`` argument of ``run()``
also takes a dict (stop a trial once ``result[key] >= value`` for any key, as Ray Tune) or
a plain function ``(trial_id, result) -> bool``.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict, deque
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from tunefleet.errors import TuneTypeError, TuneValueError
from tunefleet.params import get_params as _get_params


class Stopper:
    """Base class: never stops anything. Constructor arguments are stored unchanged."""

    #: Constructor arguments kept under an attribute of another name (tunefleet.params).
    _param_attrs: ClassVar[Mapping[str, str]] = {}

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        return False

    def stop_all(self) -> bool:
        return False

    def get_params(self) -> dict[str, Any]:
        """The constructor arguments as given, so that a resume can rebuild this stopper
        (:mod:`tunefleet.components`)."""
        return _get_params(self)


class FunctionStopper(Stopper):
    """Wrap ``fn(trial_id, result) -> bool``."""

    def __init__(self, function: Callable[[str, dict[str, Any]], bool]) -> None:
        if not callable(function):
            raise TuneTypeError(f"stop: expected a callable, got {type(function).__name__}")
        self.function = function

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        return bool(self.function(trial_id, result))


class DictStopper(Stopper):
    """Stop a trial once any ``result[key] >= threshold`` (Ray Tune's dict semantics)."""

    def __init__(self, criteria: Mapping[str, float]) -> None:
        for key, value in criteria.items():
            if not isinstance(key, str):
                raise TuneTypeError(f"stop: keys must be metric names, got {key!r}")
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TuneTypeError(
                    f"stop[{key!r}]: threshold must be a number, got {type(value).__name__}"
                )
        self.criteria = dict(criteria)
        self._items = tuple(self.criteria.items())

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        for key, threshold in self._items:
            value = result.get(key)
            if value is not None and value >= threshold:
                return True
        return False


class MaximumIterationStopper(Stopper):
    """Stop each trial after ``max_iter`` results."""

    def __init__(self, max_iter: int) -> None:
        if max_iter < 1:
            raise TuneValueError(f"MaximumIterationStopper(max_iter={max_iter}): must be >= 1")
        self.max_iter = max_iter

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        return int(result.get("training_iteration", 0)) >= self.max_iter


class TimeoutStopper(Stopper):
    """End the experiment after ``timeout`` seconds of wall time (from first use)."""

    def __init__(self, timeout: float) -> None:
        if timeout <= 0:
            raise TuneValueError(f"TimeoutStopper(timeout={timeout}): must be > 0")
        self.timeout = float(timeout)
        self._start: float | None = None

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        return False

    def stop_all(self) -> bool:
        now = time.monotonic()
        if self._start is None:
            self._start = now
        return now - self._start >= self.timeout


class CombinedStopper(Stopper):
    """Stop when any of the given stoppers says so."""

    def __init__(self, *stoppers: Stopper) -> None:
        self.stoppers = stoppers

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        return any(s(trial_id, result) for s in self.stoppers)

    def stop_all(self) -> bool:
        return any(s.stop_all() for s in self.stoppers)


def _finite(value: Any) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


class TrialPlateauStopper(Stopper):
    """Stop a trial once its last ``num_results`` values of ``metric`` have a standard
    deviation at most ``std`` (after ``grace_period`` results), optionally only when the
    values are past ``metric_threshold`` in direction ``mode`` (Ray Tune's semantics)."""

    def __init__(
        self,
        metric: str,
        std: float = 0.01,
        num_results: int = 4,
        grace_period: int = 4,
        metric_threshold: float | None = None,
        mode: str | None = None,
    ) -> None:
        if std < 0:
            raise TuneValueError(f"TrialPlateauStopper(std={std}): must be >= 0")
        if num_results < 2:
            raise TuneValueError(f"TrialPlateauStopper(num_results={num_results}): must be >= 2")
        if metric_threshold is not None and mode not in ("min", "max"):
            raise TuneValueError(
                f"TrialPlateauStopper(mode={mode!r}): metric_threshold needs mode 'min' or 'max'"
            )
        self.metric = metric
        self.std = std
        self.num_results = num_results
        self.grace_period = grace_period
        self.metric_threshold = metric_threshold
        self.mode = mode
        self._window: dict[str, deque[float]] = defaultdict(lambda: deque(maxlen=num_results))
        self._count: dict[str, int] = defaultdict(int)

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        v = _finite(result.get(self.metric))
        if v is None:
            return False
        self._count[trial_id] += 1
        window = self._window[trial_id]
        window.append(v)
        if self._count[trial_id] < self.grace_period or len(window) < self.num_results:
            return False
        if self.metric_threshold is not None:
            if self.mode == "min" and v > self.metric_threshold:
                return False
            if self.mode == "max" and v < self.metric_threshold:
                return False
        mean = sum(window) / len(window)
        var = sum((x - mean) ** 2 for x in window) / len(window)
        return math.sqrt(var) <= self.std


class ExperimentPlateauStopper(Stopper):
    """End the experiment once the best ``top`` values of ``metric`` seen so far have a
    standard deviation at most ``std`` for ``patience`` consecutive results."""

    def __init__(
        self, metric: str, std: float = 0.001, top: int = 10, mode: str = "min", patience: int = 0
    ) -> None:
        if mode not in ("min", "max"):
            raise TuneValueError(f"ExperimentPlateauStopper(mode={mode!r}): 'min' or 'max'")
        if top < 2:
            raise TuneValueError(f"ExperimentPlateauStopper(top={top}): must be >= 2")
        if patience < 0:
            raise TuneValueError(f"ExperimentPlateauStopper(patience={patience}): must be >= 0")
        self.metric = metric
        self.std = std
        self.top = top
        self.mode = mode
        self.patience = patience
        self._best: list[float] = []
        self._iterations = 0
        self._stop = False

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        v = _finite(result.get(self.metric))
        if v is None:
            return False
        self._best.append(v)
        self._best.sort(reverse=self.mode == "max")
        del self._best[self.top :]
        if len(self._best) >= self.top:
            mean = sum(self._best) / len(self._best)
            sd = math.sqrt(sum((x - mean) ** 2 for x in self._best) / len(self._best))
            self._iterations = self._iterations + 1 if sd <= self.std else 0
            self._stop = self._iterations > self.patience
        return self._stop

    def stop_all(self) -> bool:
        return self._stop


def make_stopper(stop: Any) -> Stopper | None:
    """Normalise ``run(stop=...)``: None, dict, callable, Stopper or a list of those."""
    if stop is None:
        return None
    if isinstance(stop, Stopper):
        return stop
    if isinstance(stop, Mapping):
        return DictStopper(stop) if stop else None
    if isinstance(stop, (list, tuple)):
        parts = [s for s in (make_stopper(x) for x in stop) if s is not None]
        return CombinedStopper(*parts) if parts else None
    if callable(stop):
        if hasattr(stop, "stop_all"):
            return _DuckStopper(stop)
        return FunctionStopper(stop)
    raise TuneTypeError(
        f"stop: expected a dict, a function (trial_id, result) -> bool or a Stopper, "
        f"got {type(stop).__name__}"
    )


class _DuckStopper(Stopper):
    """A foreign stopper object (e.g. a ray.tune.Stopper subclass) used by duck typing."""

    _param_attrs: ClassVar[Mapping[str, str]] = {"obj": "_obj"}

    def __init__(self, obj: Any) -> None:
        self._obj = obj

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        return bool(self._obj(trial_id, result))

    def stop_all(self) -> bool:
        return bool(self._obj.stop_all())
