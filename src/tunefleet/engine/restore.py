"""Rebuild an engine from a replayed log: the trials as the log left them, the components'
saved state, and Ray Tune's ``Tuner.restore`` flags for errored and unfinished trials."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tunefleet.trial import Trial, TrialStatus

if TYPE_CHECKING:
    from tunefleet.engine.core import Engine


def restore(
    engine: Engine,
    trials: list[Trial],
    state: dict[str, Any] | None,
    elapsed: float,
    *,
    errored: str = "keep",
    unfinished: bool = True,
    now: float = 0.0,
) -> None:
    """Rebuild from a replayed log: finished trials stay finished; running ones are
    re-queued from their last checkpoint; paused ones stay paused.

    Ray Tune's ``Tuner.restore`` flags: ``errored`` "resume" re-queues errored trials
    from their last checkpoint, "restart" from scratch ("keep": they stay errored);
    ``unfinished=False`` ends running, pending and paused trials as TERMINATED."""
    ending: list[Trial] = []
    for trial in sorted(trials, key=lambda t: t.index):
        engine.trials[trial.trial_id] = trial
        status = trial.status
        if status is TrialStatus.ERROR and errored != "keep":
            if errored == "restart":
                trial.checkpoint, trial.checkpoint_iteration = None, 0
                trial.checkpoint_hash, trial.checkpoint_history = None, []
                trial.last_result = None
            trial.error = trial.traceback = None
            trial.num_failures = 0
            status = TrialStatus.PENDING
        if status is TrialStatus.RUNNING or status is TrialStatus.PENDING:
            trial.status = TrialStatus.PENDING
            if unfinished:
                engine._pending.append(trial.trial_id)
            else:
                ending.append(trial)
        elif status is TrialStatus.PAUSED:
            if unfinished:
                engine._paused[trial.trial_id] = None
            else:
                ending.append(trial)
    engine._next_index = max((t.index + 1 for t in trials), default=0)
    # Components see every trial again (e.g. PBT keeps references to read donors'
    # configs); their saved state, loaded next, then overrides what these calls built.
    for trial in sorted(trials, key=lambda t: t.index):
        engine.scheduler.on_trial_added(trial)
    if state:
        if state.get("searcher"):
            engine.searcher.load_state_dict(state["searcher"])
        if state.get("scheduler"):
            engine.scheduler.load_state_dict(state["scheduler"])
        eng = state.get("engine") or {}
        engine._next_index = max(engine._next_index, int(eng.get("next_index", 0)))
        engine._searcher_finished = bool(eng.get("searcher_finished", False))
        engine.metric_watch.seen = engine.metric_seen or bool(eng.get("metric_seen", False))
    engine.time_offset = elapsed
    for trial in ending:
        engine._complete(trial, TrialStatus.TERMINATED, now)
