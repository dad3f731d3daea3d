"""The Scheduler interface and the decisions a scheduler can take.

A scheduler decides, for each reported result, whether the trial goes on, stops, pauses
(checkpoint and free the slot) or restarts with a new config from another trial's
checkpoint (PBT's exploit). When a slot frees up it decides whether to start a new trial
or resume a paused one. It never touches the engine, executor or store: it sees read-only
:class:`~tunefleet.trial.Trial` objects and returns values.

Order of calls made by the engine::

    setup(metric, mode, seed)            once, before anything else
    on_trial_added(trial)                after a new trial is created, before launch
    on_result(trial, result) -> Decision for every reported result, in report order
    on_trial_finished(trial)             TERMINATED or ERROR (trial.status tells)
    decision_points()                    after setup: which reports wait for a decision
    next_action(view) -> Action          whenever a slot is free: NEW_TRIAL, Resume(id),
                                         Terminate(id) (a paused trial) or None (wait)
    state_dict() / load_state_dict()     checkpoints of the experiment (JSON only)
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from tunefleet.params import get_params as _get_params
from tunefleet.protocol import DecisionPoints
from tunefleet.trial import Trial


class Decision:
    """What to do with a trial after one of its results. Compare by identity for the three
    singletons (``CONTINUE``, ``STOP``, ``PAUSE``); :class:`Restart` carries data."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


CONTINUE = Decision("CONTINUE")
STOP = Decision("STOP")
PAUSE = Decision("PAUSE")


class Restart(Decision):
    """Stop this trial and relaunch it with ``config`` from ``from_trial``'s latest checkpoint
    (Population Based Training's exploit/explore). ``from_trial`` may be the trial itself."""

    __slots__ = ("config", "from_trial")

    def __init__(self, config: dict[str, Any], from_trial: str) -> None:
        super().__init__("RESTART")
        self.config = config
        self.from_trial = from_trial

    def __repr__(self) -> str:
        return f"Restart(from_trial={self.from_trial!r})"


@dataclass(frozen=True, slots=True)
class NewTrial:
    """Ask the searcher for a new configuration."""


@dataclass(frozen=True, slots=True)
class Resume:
    """Resume a paused trial from its latest checkpoint, optionally with a new config."""

    trial_id: str
    config: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Terminate:
    """Finish a paused trial where it stands (TERMINATED) without running it again, e.g.
    synchronous Hyperband's losers of a rung. Takes no slot; the engine asks again."""

    trial_id: str


NEW_TRIAL = NewTrial()

#: None means nothing to start now (e.g. waiting for a rung to fill).
Action = NewTrial | Resume | Terminate | None


@dataclass(frozen=True, slots=True)
class SchedulerView:
    """Read-only picture of the experiment given to :meth:`Scheduler.next_action`."""

    trials: dict[str, Trial]  # every trial, by id (do not mutate)
    # ids of PAUSED trials, oldest pause first: a live set-like view (O(1) ``in``, no copy)
    paused: Collection[str]
    num_running: int
    num_pending: int
    can_create: bool  # False once num_samples trials exist or the searcher is exhausted


class Scheduler:
    """Base class: FIFO behaviour (every trial runs to completion, new trials fill slots).

    Subclasses set ``metric``/``mode`` through :meth:`setup` unless given explicitly, like
    Ray Tune's schedulers. ``synchronous_reports`` tells the engine that a trial must wait
    for the decision on each result before it goes on, which pausing at an exact point
    requires (ASHA promotion, Hyperband, PBT); stopping-only schedulers leave it False so
    that workers never wait on the driver.
    """

    synchronous_reports: bool = False
    #: Under ``reproducible=True``: "rung" (a decision at a point depends only on earlier
    #: trials' results up to that point), "sequential" (on earlier trials' whole runs), or
    #: None (decides from the live population: not supported). See engine/canonical.py.
    reproducible_order: str | None = None
    #: Can this scheduler pause trials? The runner warns when trials report no checkpoint.
    pauses_trials: bool = False

    #: Constructor arguments kept under another attribute: ``setup`` binds the run's
    #: metric and mode to ``metric``/``mode`` when none was given (see tunefleet.params).
    _param_attrs: ClassVar[Mapping[str, str]] = {"metric": "_init_metric", "mode": "_init_mode"}

    def __init__(self, metric: str | None = None, mode: str | None = None) -> None:
        self.metric = metric
        self.mode = mode
        self._init_metric = metric
        self._init_mode = mode
        self.seed: int | None = None

    # -- lifecycle -------------------------------------------------------------------
    def setup(self, metric: str | None, mode: str | None, seed: int | None = None) -> None:
        """Bind the experiment's metric and mode unless the scheduler was given its own."""
        if self.metric is None:
            self.metric = metric
        if self.mode is None:
            self.mode = mode
        self.seed = seed

    def on_trial_added(self, trial: Trial) -> None:
        """A new trial exists (it has not started yet)."""

    def on_result(self, trial: Trial, result: dict[str, Any]) -> Decision:
        return CONTINUE

    def on_trial_finished(self, trial: Trial) -> None:
        """The trial reached TERMINATED or ERROR."""

    def decision_points(self) -> bool | DecisionPoints:
        """Which reports must wait for this scheduler's decision before the trial goes on:
        False none, True every one, or :class:`~tunefleet.protocol.DecisionPoints` (the
        values of a time attribute where it may stop, pause or exploit: ASHA's rungs, PBT's
        perturbation interval). Called after :meth:`setup`. A decision on any other report
        still takes effect, at the trial's next report. Default: ``synchronous_reports``."""
        return bool(self.synchronous_reports)

    def next_action(self, view: SchedulerView) -> Action:
        if view.paused:
            return Resume(next(iter(view.paused)))
        return NEW_TRIAL if view.can_create else None

    # -- persistence -----------------------------------------------------------------
    def get_params(self) -> dict[str, Any]:
        """The constructor arguments as given, so that a resume can rebuild this scheduler
        (:mod:`tunefleet.components`). Learned state is in :meth:`state_dict`."""
        return _get_params(self)

    def state_dict(self) -> dict[str, Any]:
        """JSON-serialisable learned state (never constructor arguments, never pickles)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""

    # -- helpers for subclasses ------------------------------------------------------
    def score(self, result: dict[str, Any]) -> float:
        """The result's metric oriented so that larger is better; NaN/inf/missing → -inf.

        Schedulers treat non-finite values as the worst possible score (tunefleet's rule,
        documented in docs/architecture.md).
        """
        value = result.get(self.metric) if self.metric else None
        try:
            v = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return -math.inf
        if not math.isfinite(v):
            return -math.inf
        return v if self.mode != "min" else -v

    def __repr__(self) -> str:
        return f"{type(self).__name__}(metric={self.metric!r}, mode={self.mode!r})"


class FIFOScheduler(Scheduler):
    """Run every trial to completion in the order the searcher proposes them."""

    reproducible_order = "rung"  # it decides nothing


__all__ = [
    "CONTINUE",
    "NEW_TRIAL",
    "PAUSE",
    "STOP",
    "Action",
    "Decision",
    "DecisionPoints",
    "FIFOScheduler",
    "NewTrial",
    "Restart",
    "Resume",
    "Scheduler",
    "SchedulerView",
    "Terminate",
]
