"""Callbacks: hooks users override to observe an experiment (Ray Tune's ``Callback``).

The runner calls them in the driver from the records the engine emits, so they see
exactly what the store sees. Every hook is a no-op by default; override what you need.
"""

from __future__ import annotations

from typing import Any

from tunefleet.protocol import RESULT, TRIAL_COMPLETED, TRIAL_STARTED, Record
from tunefleet.trial import Trial


class Callback:
    def setup(self, **info: Any) -> None:
        """Before the first trial starts."""

    def on_trial_start(
        self, iteration: int, trials: list[Trial], trial: Trial, **info: Any
    ) -> None:
        pass

    def on_trial_result(
        self, iteration: int, trials: list[Trial], trial: Trial, result: dict[str, Any], **info: Any
    ) -> None:
        pass

    def on_trial_complete(
        self, iteration: int, trials: list[Trial], trial: Trial, **info: Any
    ) -> None:
        pass

    def on_trial_error(
        self, iteration: int, trials: list[Trial], trial: Trial, **info: Any
    ) -> None:
        pass

    def on_experiment_end(self, trials: list[Trial], **info: Any) -> None:
        pass


def dispatch(callbacks: list[Any], recs: list[Record], iteration: int) -> None:
    """Call the users' hooks for the records the engine just emitted (runner side)."""
    # Callbacks see trial objects through the engine; resolved lazily per record.
    for r in recs:
        hook = _CALLBACK_HOOKS.get(r.kind)
        if hook is None:
            continue
        if r.kind == TRIAL_COMPLETED and r.data.get("status") == "ERROR":
            hook = "on_trial_error"
        trial = _CallbackTrial(r.trial_id or "")
        for cb in callbacks:
            fn = getattr(cb, hook, None)
            if fn is None:
                continue
            if hook == "on_trial_result":
                fn(iteration=iteration, trials=[], trial=trial, result=r.data)
            else:
                fn(iteration=iteration, trials=[], trial=trial)


_CALLBACK_HOOKS = {
    RESULT: "on_trial_result",
    TRIAL_STARTED: "on_trial_start",
    TRIAL_COMPLETED: "on_trial_complete",
}


class _CallbackTrial:
    """What a callback gets as ``trial``: its id (Ray's Trial has far more; enough here)."""

    def __init__(self, trial_id: str) -> None:
        self.trial_id = trial_id

    def __str__(self) -> str:
        return self.trial_id

    __repr__ = __str__
