"""Callbacks: hooks users override to observe an experiment (Ray Tune's ``Callback``).

The runner calls them in the driver from the records the engine emits, so they see
exactly what the store sees. Every hook is a no-op by default; override what you need.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from tunefleet.checkpoint import Checkpoint
from tunefleet.protocol import CHECKPOINT, RESULT, TRIAL_COMPLETED, TRIAL_STARTED, Record
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

    def on_checkpoint(
        self, iteration: int, trials: list[Trial], trial: Trial, checkpoint: Any, **info: Any
    ) -> None:
        """After the store recorded a checkpoint that ``trial`` reported."""

    def on_experiment_end(self, trials: list[Trial], **info: Any) -> None:
        pass


def dispatch(
    callbacks: list[Any],
    recs: list[Record],
    iteration: int,
    trials: dict[str, Trial] | None = None,
    trials_dir: str = "",
    trainable_name: str = "",
) -> None:
    """Call the users' hooks for the records the engine just emitted (runner side).

    Hooks get Ray's arguments: ``trials`` (every trial so far) and ``trial``, views with
    ``trial_id``, ``config``, ``last_result``, ``status``, ``trainable_name`` and
    ``logdir`` / ``local_path`` (the trial's directory).
    """
    views = trial_views(callbacks, trials or {}, trials_dir, trainable_name)
    by_id = {v.trial_id: v for v in views}
    for r in recs:
        hook = _CALLBACK_HOOKS.get(r.kind)
        if hook is None:
            continue
        if r.kind == TRIAL_COMPLETED and r.data.get("status") == "ERROR":
            hook = "on_trial_error"
        tid = r.trial_id or ""
        trial = by_id.get(tid) or CallbackTrial(Trial(tid, {}), trials_dir, trainable_name)
        for cb in callbacks:
            fn = getattr(cb, hook, None)
            if fn is None:
                continue
            if hook == "on_trial_result":
                fn(iteration=iteration, trials=views, trial=trial, result=r.data)
            elif hook == "on_checkpoint":
                ck = Checkpoint(r.data["path"])
                fn(iteration=iteration, trials=views, trial=trial, checkpoint=ck)
            else:
                fn(iteration=iteration, trials=views, trial=trial)


def trial_views(
    callbacks: list[Any], trials: dict[str, Trial], trials_dir: str, trainable_name: str
) -> list[CallbackTrial]:
    """Every trial as the Ray-style view callbacks get (named by a ``TrialNamer``, if any)."""
    namer = next((cb.creator for cb in callbacks if isinstance(cb, TrialNamer)), None)
    return [CallbackTrial(t, trials_dir, trainable_name, namer) for t in trials.values()]


_CALLBACK_HOOKS = {
    RESULT: "on_trial_result",
    CHECKPOINT: "on_checkpoint",
    TRIAL_STARTED: "on_trial_start",
    TRIAL_COMPLETED: "on_trial_complete",
}


class CallbackTrial:
    """What a callback gets as ``trial``: a read-only view of the engine's trial under the
    names Ray's ``Trial`` uses (the engine's record itself must not be changed by users)."""

    def __init__(
        self,
        trial: Trial,
        trials_dir: str,
        trainable_name: str,
        namer: Callable[[Any], str] | None = None,
    ) -> None:
        self._trial = trial
        self.trial_id = trial.trial_id
        self.trainable_name = trainable_name
        folder = trial.dirname or trial.trial_id
        self.logdir = os.path.join(trials_dir, folder) if trials_dir else ""
        self.local_path = self.path = self.local_dir = self.logdir
        self.experiment_tag = trial.trial_id
        self._name = str(namer(self)) if namer is not None else trial.trial_id

    @property
    def config(self) -> dict[str, Any]:
        return self._trial.config

    @property
    def last_result(self) -> dict[str, Any]:
        return self._trial.last_result or {}

    @property
    def status(self) -> str:
        return str(self._trial.status.value)

    @property
    def checkpoint(self) -> str | None:
        return self._trial.checkpoint

    @property
    def error(self) -> str | None:
        return self._trial.error

    def __str__(self) -> str:
        return self._name

    __repr__ = __str__


class TrialNamer:
    """Ray's ``trial_name_creator``: ``str(trial)`` in callbacks (hence the MLflow and W&B
    run names) is ``creator(trial)``. Not a callback: it has no hooks; ``dispatch`` finds
    it among the callbacks and names the trial views with it."""

    def __init__(self, creator: Callable[[Any], str]) -> None:
        self.creator = creator
