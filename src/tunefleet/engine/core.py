"""The controller: a pure state machine. Events in, commands out; no I/O, no clock of its own.

The runner and the simulator drive it through :meth:`Engine.step` (the whole loop policy:
events, time budget and stoppers, filling slots, ending paused trials, stopping a stalled
experiment), execute the commands it returns (launch, halt, reply) and append the records
it emits to the store. Keeping every decision here, apart from processes and files, lets
the whole trial lifecycle be tested by feeding events (dask/distributed's worker state
machine is the model). Its vocabulary comes from :mod:`tunefleet.protocol`: the engine
imports no executor and no store.

Cost: handling one result is O(1) plus the scheduler's and stopper's own cost; the engine
keeps one :class:`~tunefleet.trial.Trial` per trial and never the result history.

Why this module is ~590 lines: its event handlers (create, launch, report, finish, fail,
complete) are one state machine over the same running/pending/paused sets, whose invariants
are easier to keep when they are read together. Restore, checkpoint bookkeeping, stopper
analysis and metric checks, which only touch that state from outside, live in the sibling
modules.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tunefleet.engine.canonical import SEQUENTIAL, CanonicalOrder, order_of
from tunefleet.engine.checkpoints import hash_of
from tunefleet.engine.result_checks import MetricWatch
from tunefleet.engine.stopping import dict_criteria, stop_keys, stopper_needs_results
from tunefleet.errors import TuneValueError
from tunefleet.protocol import (
    CHECKPOINT,
    RESULT,
    STALE_RESULT,
    TRIAL_COMPLETED,
    TRIAL_CREATED,
    TRIAL_FAILED,
    TRIAL_PAUSED,
    TRIAL_PLACED,
    TRIAL_RESTARTED,
    TRIAL_STARTED,
    Command,
    DecisionPoints,
    Event,
    Failed,
    Finished,
    HaltTrial,
    Launch,
    LaunchTrial,
    Record,
    Reply,
    Reported,
    Resources,
    Started,
    WaitRule,
    merge_sync,
)
from tunefleet.schedulers.base import (
    CONTINUE,
    PAUSE,
    STOP,
    NewTrial,
    Restart,
    Resume,
    Scheduler,
    SchedulerView,
    Terminate,
)
from tunefleet.search.base import FINISHED, Searcher
from tunefleet.stoppers import Stopper
from tunefleet.trial import CHECKPOINT_HISTORY, Trial, TrialStatus

__all__ = ["Command", "Engine", "EngineConfig", "HaltTrial", "LaunchTrial", "Reply"]


@dataclass
class EngineConfig:
    """Everything the engine needs to know about the experiment, validated by the runner."""

    metric: str | list[str] | None = None  # a list: several objectives
    mode: str | list[str] | None = None
    total_trials: int | None = 1  # None: unlimited (ends by time budget or stopper)
    max_failures: int = 0  # -1: retry forever
    fail_fast: bool | str = False
    time_budget_s: float | None = None
    resources: Resources = field(default_factory=Resources)
    trial_id_prefix: str = "trial"
    # a trial's directory (path or URL) from its folder name (its id, or its dirname)
    trial_dir: Callable[[str], str] = lambda trial_id: trial_id
    # Ray's trial_dirname_creator, validated (tunefleet.trial_dirs): a new trial's folder
    # name; None: the trial id
    trial_dirname: Callable[[Trial], str] | None = None
    # chdir_to_trial_dir: the local directory an attempt runs in, from the folder name;
    # None: the worker's own
    working_dir: Callable[[str], str] | None = None
    checkpoint_frequency: int = 0
    checkpoint_at_end: bool = False
    reproducible: bool = False  # decide in a canonical order (engine/canonical.py)


class Engine:
    """Owns the trials and decides what happens next."""

    def __init__(
        self,
        config: EngineConfig,
        searcher: Searcher,
        scheduler: Scheduler,
        stopper: Stopper | None = None,
    ) -> None:
        self.config = config
        self.searcher = searcher
        self.scheduler = scheduler
        self.stopper = stopper
        # Dict criteria are shipped to the worker, which stops exactly at the result that
        # meets them. Reports wait for the driver only where a decision may fall: the
        # scheduler's decision points (ASHA's rungs, PBT's interval...), or every report
        # when a stopper must judge each result (a function, a stateful Stopper).
        self.worker_stop_criteria = dict_criteria(stopper)
        self.sync_rule: bool | DecisionPoints = merge_sync(
            _scheduler_points(scheduler), stopper_needs_results(stopper)
        )
        self._waits: dict[str, WaitRule] = {}  # per running attempt: which reports wait
        self._canon: CanonicalOrder | None = None
        if config.reproducible:
            order = order_of(scheduler, stopper_needs_results(stopper))
            if order == SEQUENTIAL:
                self.sync_rule = True  # any report may carry a decision: each waits
            self._canon = CanonicalOrder(order)
        self.trials: dict[str, Trial] = {}
        self.records: list[Record] = []  # drained by the runner after every call
        self.warnings: list[str] = []  # drained by the runner, shown once each
        self._pending: deque[str] = deque()  # created or re-queued, waiting for a slot
        self._paused: dict[str, None] = {}  # insertion-ordered set: oldest pause first
        self._running: set[str] = set()
        self._next_index = 0
        self._dirnames: set[str] | None = None  # trials' folder names (trial_dirname)
        self._searcher_finished = False
        self.stopping = False  # no new trials; running ones are being stopped
        self.stop_reason: str | None = None
        self.failed_fast = False
        self.start_time: float | None = None
        self.time_offset = 0.0  # time spent in earlier runs of a resumed experiment
        self.metric_watch = MetricWatch(config.metric, stop_keys(stopper))
        own_metric = getattr(scheduler, "metric", None)  # a scheduler may rank by its own
        if isinstance(own_metric, str) and own_metric != config.metric:
            self.metric_watch.numeric_keys += (own_metric,)
        self._no_checkpoint_warned = False
        self.num_results = 0
        self.state_dirty = True

    # ----------------------------------------------------------------------- queries
    @property
    def metric_seen(self) -> bool:
        """Some result has carried the experiment's metric (or there is none)."""
        return self.metric_watch.seen

    @property
    def num_running(self) -> int:
        return len(self._running)

    @property
    def can_create(self) -> bool:
        if self.stopping or self._searcher_finished:
            return False
        total = self.config.total_trials
        return total is None or self._next_index < total

    @property
    def done(self) -> bool:
        """Nothing runs and nothing more will start."""
        if self._running:
            return False
        if self.stopping:
            return True
        return not self._pending and not self.can_create and not self._paused

    def counts(self) -> dict[str, int]:
        out = {s.value: 0 for s in TrialStatus}
        for t in self.trials.values():
            out[t.status.value] += 1
        return out

    def elapsed(self, now: float) -> float:
        return self.time_offset + (now - self.start_time if self.start_time is not None else 0.0)

    # ----------------------------------------------------------------------- driving
    def start(self, now: float) -> None:
        self.start_time = now

    def fill(self, free_slots: int, now: float) -> list[Command]:
        """Start trials while slots are free: queued retries first, then the scheduler's choice."""
        cmds: list[Command] = []
        while free_slots > 0 and not self.stopping:
            if self._pending:
                queued = self.trials[self._pending.popleft()]
                cmds.append(self._launch(queued, now))
                free_slots -= 1
                continue
            view = SchedulerView(
                trials=self.trials,
                paused=self._paused.keys(),
                num_running=len(self._running),
                num_pending=len(self._pending),
                can_create=self.can_create,
            )
            action = self.scheduler.next_action(view)
            if isinstance(action, Resume):
                resumed = self._paused_trial(action.trial_id, "resume")
                if action.config is not None:
                    resumed.config = action.config
                cmds.append(self._launch(resumed, now))
                free_slots -= 1
            elif isinstance(action, Terminate):
                ended = self._paused_trial(action.trial_id, "terminate")
                self._complete(ended, TrialStatus.TERMINATED, now)
            elif isinstance(action, NewTrial) and self.can_create:
                if (
                    self._canon is not None
                    and self.searcher.uses_results
                    and (self._running or self._pending or self._paused)
                ):
                    break  # reproducible: it suggests once every earlier trial finished
                created = self._create(now)
                if created is None:
                    break
                cmds.append(self._launch(created, now))
                free_slots -= 1
            else:
                break
        return cmds

    def step(self, events: list[Event], now: float, free_slots: int) -> list[Command]:
        """One turn of the loop, the whole policy in one place: hand every event to the
        engine, check the time budget and stoppers, then fill the free slots (retries and
        restarts first, then the scheduler's choice). When nothing runs and the scheduler
        starts nothing, paused trials end where they stand (ASHA's losers) and, if that
        does not finish the experiment, it is stopped with a warning rather than hang.

        The runner and the simulator both drive the engine only through this call; the
        caller executes the returned commands in order and drains ``records``."""
        cmds: list[Command] = []
        handle = self.handle
        for ev in events:
            out = handle(ev, now)
            if out:
                cmds.extend(out)
        if self._canon is not None:
            cmds.extend(self._release_held())
        out = self.tick(now)
        if out:
            cmds.extend(out)
        if free_slots > 0 and not self.stopping:
            launched = self.fill(free_slots, now)
            if launched:
                cmds.extend(launched)
            elif not self._running and not self.done:
                self.end_paused(now)
                if not self.done:
                    cmds.extend(self.stop_all("the scheduler has nothing left to run"))
                    self.warnings.append(
                        f"{type(self.scheduler).__name__} started nothing while no trial was "
                        "running; ending the experiment"
                    )
        return cmds

    def checkpoints_in_use(self) -> set[str]:
        """Checkpoints an unfinished trial may still restore from: its own latest (or a
        donor's, after a PBT exploit) and the donor checkpoint of a pending restart."""
        out: set[str] = set()
        for t in self.trials.values():
            if t.status.is_finished:
                continue
            if t.checkpoint:
                out.add(t.checkpoint)
            if t.restart_checkpoint:
                out.add(t.restart_checkpoint)
        return out

    def _paused_trial(self, trial_id: str, verb: str) -> Trial:
        trial = self.trials.get(trial_id)
        if trial is None or trial.status is not TrialStatus.PAUSED:
            raise RuntimeError(
                f"{type(self.scheduler).__name__}.next_action asked to {verb} "
                f"{trial_id!r}, which is not paused"
            )
        del self._paused[trial_id]
        return trial

    def tick(self, now: float) -> list[Command]:
        """Time-based checks: the time budget and stoppers' stop_all()."""
        if self.stopping:
            return []
        budget = self.config.time_budget_s
        if budget is not None and self.elapsed(now) >= budget:
            return self.stop_all(f"time budget of {budget:g} s reached")
        if self.stopper is not None and self.stopper.stop_all():
            return self.stop_all("the stopper ended the experiment")
        return []

    def stop_all(self, reason: str) -> list[Command]:
        """Stop every running trial and start nothing new."""
        self.stopping = True
        self.stop_reason = self.stop_reason or reason
        cmds: list[Command] = []
        for tid in sorted(self._running):
            trial = self.trials[tid]
            if trial.pending_decision is None:
                trial.pending_decision = "stop"
                cmds.append(HaltTrial(tid))
        return cmds

    def end_paused(self, now: float) -> None:
        """Nothing runs and the scheduler resumes nothing: paused trials are finished where
        they stand (ASHA's losers at their rung), recorded as TERMINATED."""
        for tid in list(self._paused):
            del self._paused[tid]
            self._complete(self.trials[tid], TrialStatus.TERMINATED, now, stopped=True)

    def handle(self, event: Any, now: float) -> list[Command]:
        if type(event) is Reported:
            return self._on_reported(event)
        if type(event) is Finished:
            return self._on_finished(event)
        if type(event) is Failed:
            return self._on_failed(event, now)
        if type(event) is Started:
            trial = self.trials.get(event.trial_id)
            if trial is not None and event.attempt == trial.attempt:
                trial.started_at = event.ts
                trial.worker = event.worker
                placed = {"attempt": event.attempt, "worker": event.worker}
                self._emit(TRIAL_PLACED, trial.trial_id, placed, event.ts)
            return []
        raise TypeError(f"unknown event {event!r}")

    # ----------------------------------------------------------------------- internals
    def _emit(self, kind: str, trial_id: str | None, data: dict[str, Any], ts: float) -> None:
        self.records.append(Record(kind, trial_id, data, ts))

    def _create(self, now: float) -> Trial | None:
        index = self._next_index
        trial_id = f"{self.config.trial_id_prefix}_{index:05d}"
        config = self.searcher.suggest(trial_id)
        if config is FINISHED:
            self._searcher_finished = True
            return None
        if config is None:
            return None
        self._next_index += 1
        trial = Trial(trial_id=trial_id, config=config, index=index, created_at=now)
        data: dict[str, Any] = {
            "config": config,
            "index": index,
            "parent": None,
            "checkpoint": None,
        }
        if self.config.trial_dirname is not None:
            trial.dirname = data["dirname"] = self._unique_dirname(trial)
        self.trials[trial_id] = trial
        self.state_dirty = True
        self._emit(TRIAL_CREATED, trial_id, data, now)
        self.scheduler.on_trial_added(trial)
        return trial

    def _unique_dirname(self, trial: Trial) -> str:
        """The new trial's folder name; two trials never share a folder (their
        checkpoints would mix), so a name already taken is refused."""
        assert self.config.trial_dirname is not None
        name = self.config.trial_dirname(trial)
        taken = self._dirnames
        if taken is None:  # first call (after a resume the restored trials hold names)
            taken = self._dirnames = {t.dirname or t.trial_id for t in self.trials.values()}
        if name in taken:
            owner = next(
                (t.trial_id for t in self.trials.values() if (t.dirname or t.trial_id) == name),
                "another trial",
            )
            raise TuneValueError(
                f"trial_dirname_creator returned {name!r} for trial {trial.trial_id}, the "
                f"directory of {owner} already: each trial needs its own directory (include "
                "trial.trial_id in the name)"
            )
        taken.add(name)
        return name

    def _launch(self, trial: Trial, now: float) -> LaunchTrial:
        trial.attempt += 1
        trial.status = TrialStatus.RUNNING
        trial.pending_decision = None
        trial.worker = None
        self._running.add(trial.trial_id)
        ckpt = trial.checkpoint
        start_iter = trial.checkpoint_iteration if ckpt else 0
        start_time_total = 0.0
        if ckpt and trial.last_result is not None:
            start_time_total = float(trial.last_result.get("time_total_s", 0.0))
        self._waits[trial.trial_id] = WaitRule(self.sync_rule, start_iter, start_time_total)
        if self._canon is not None:
            self._canon.started(trial.index)
        self._emit(
            TRIAL_STARTED, trial.trial_id, {"attempt": trial.attempt, "checkpoint": ckpt}, now
        )
        folder = trial.dirname or trial.trial_id
        workdir = self.config.working_dir
        return LaunchTrial(
            Launch(
                trial_id=trial.trial_id,
                config=trial.config,
                attempt=trial.attempt,
                trial_dir=self.config.trial_dir(folder),
                checkpoint=ckpt,
                start_iteration=start_iter,
                start_time_total=start_time_total,
                sync_reports=self.sync_rule,
                resources=self.config.resources,
                checkpoint_frequency=self.config.checkpoint_frequency,
                checkpoint_at_end=self.config.checkpoint_at_end,
                stop_criteria=self.worker_stop_criteria,
                working_dir=None if workdir is None else workdir(folder),
            )
        )

    def _on_reported(self, ev: Reported) -> list[Command]:
        trial = self.trials.get(ev.trial_id)
        if trial is None or ev.attempt != trial.attempt or trial.status is not TrialStatus.RUNNING:
            # A late report from an attempt that is no longer current (its lease expired
            # and the trial was re-queued): kept in the log as such, never as a result.
            if trial is not None and ev.attempt < trial.attempt:
                self._emit(
                    STALE_RESULT,
                    trial.trial_id,
                    {"attempt": ev.attempt, "result": ev.result},
                    float(ev.result.get("timestamp", 0.0)),
                )
            return []
        rule = self._waits[trial.trial_id]
        point = rule.next
        waits = rule.waits(ev.result)
        canon = self._canon
        if canon is not None and waits:
            if rule.always:
                point = float(ev.result.get("training_iteration", 0))
            if not canon.may_decide(trial.index, point):
                canon.held[trial.index] = (ev, point)  # decided by _release_held, in order
                return []
            canon.decided(trial.index, point)
        return self._decide(trial, ev, waits)

    def _release_held(self) -> list[Command]:
        """Reports held for the canonical order that may now be decided, in index order."""
        canon = self._canon
        if canon is None or not canon.held:
            return []
        cmds: list[Command] = []
        for ev, _ in canon.releasable():
            trial = self.trials.get(ev.trial_id)
            current = trial is not None and ev.attempt == trial.attempt
            if current and trial is not None and trial.status is TrialStatus.RUNNING:
                cmds.extend(self._decide(trial, ev, True))
        return cmds

    def _decide(self, trial: Trial, ev: Reported, waits: bool) -> list[Command]:
        """Record one current result, then let the searcher, stopper and scheduler judge
        it; ``waits``: the worker waits for the answer (a ``Reply``)."""
        result = ev.result
        self.num_results += 1
        trial.last_result = result
        self.records.append(Record(RESULT, trial.trial_id, result, result["timestamp"], 0, ev.raw))
        if ev.checkpoint is not None:
            trial.checkpoint = ev.checkpoint
            trial.checkpoint_iteration = int(result["training_iteration"])
            trial.checkpoint_hash = digest = ev.checkpoint_hash
            ck_data = {"path": ev.checkpoint, "iteration": trial.checkpoint_iteration}
            if digest is not None:  # simulated markers have none
                ck_data["hash"] = digest
                history = trial.checkpoint_history
                history.append((ev.checkpoint, trial.checkpoint_iteration, digest))
                if len(history) > CHECKPOINT_HISTORY:
                    del history[0]
            self._emit(CHECKPOINT, trial.trial_id, ck_data, result["timestamp"])
        watch = self.metric_watch
        for warning in (watch.observe(trial.trial_id, result), watch.stop_keys_missing(result)):
            if warning is not None:
                self.warnings.append(warning)
        if trial.pending_decision is None and (error := watch.not_a_number(result)):
            # Not rankable: the trial fails (no retry: the same code reports the same).
            trial.pending_decision = "fail"
            trial.error = error
            return [Reply(trial.trial_id, False)] if waits else [HaltTrial(trial.trial_id)]
        if trial.pending_decision is not None:
            # Already being stopped/paused (async report that crossed the request).
            return [Reply(trial.trial_id, False)] if waits else []
        # What follows may change the searcher's, stopper's or scheduler's state: the next
        # commit carries it with this result (every committed prefix stays consistent).
        self.state_dirty = True
        self.searcher.on_result(trial.trial_id, result)
        if self.stopper is not None and self.stopper(trial.trial_id, result):
            decision = STOP
        else:
            decision = self.scheduler.on_result(trial, result)
        if decision is CONTINUE:
            return [Reply(trial.trial_id, True)] if waits else []
        if decision is STOP:
            trial.pending_decision = "stop"
        elif decision is PAUSE:
            trial.pending_decision = "pause"
        elif isinstance(decision, Restart):
            donor = self.trials.get(decision.from_trial)
            if donor is None:
                raise RuntimeError(f"Restart from unknown trial {decision.from_trial!r}")
            trial.pending_decision = "restart"
            trial.restart_config = decision.config
            trial.restart_checkpoint = donor.checkpoint
            trial.parent_trial_id = donor.trial_id
            # PBT continues from the donor's checkpoint, at the donor's iteration.
            trial.checkpoint_iteration = donor.checkpoint_iteration
        else:
            raise TypeError(f"{type(self.scheduler).__name__}.on_result returned {decision!r}")
        if waits:
            return [Reply(trial.trial_id, False)]
        return [HaltTrial(trial.trial_id, pause=trial.pending_decision != "stop")]

    def _on_finished(self, ev: Finished) -> list[Command]:
        trial = self.trials.get(ev.trial_id)
        if trial is None or ev.attempt != trial.attempt or trial.status is not TrialStatus.RUNNING:
            return []
        if trial.pending_decision == "fail":  # stopped for a result it should not report
            failed = Failed(ev.trial_id, ev.attempt, trial.error or "", "", ev.ts)
            return self._on_failed(failed, ev.ts)
        self._running.discard(trial.trial_id)
        self._waits.pop(trial.trial_id, None)
        decision = trial.pending_decision
        trial.pending_decision = None
        if decision in ("pause", "restart") and not self._no_checkpoint_warned:
            ckpt = trial.checkpoint if decision == "pause" else trial.restart_checkpoint
            if ckpt is None:
                self._no_checkpoint_warned = True
                self.warnings.append(
                    f"{type(self.scheduler).__name__} paused or restarted trial "
                    f"{trial.trial_id}, which has reported no checkpoint: it will start again "
                    "from scratch. Pass checkpoint=... to report() so that it can continue"
                )
        if decision == "pause" and not self.stopping:
            trial.status = TrialStatus.PAUSED
            self._paused[trial.trial_id] = None
            self._emit(TRIAL_PAUSED, trial.trial_id, {"checkpoint": trial.checkpoint}, ev.ts)
            self.state_dirty = True
            return []
        if decision == "restart" and not self.stopping:
            trial.config = trial.restart_config or trial.config
            trial.checkpoint = trial.restart_checkpoint
            trial.checkpoint_hash = hash_of(self.trials.get(trial.parent_trial_id or ""), trial)
            trial.restart_config = None
            trial.restart_checkpoint = None
            trial.status = TrialStatus.PENDING
            self._pending.appendleft(trial.trial_id)
            self._emit(
                TRIAL_RESTARTED,
                trial.trial_id,
                {
                    "config": trial.config,
                    "from_trial": trial.parent_trial_id,
                    "checkpoint": trial.checkpoint,
                    "iteration": trial.checkpoint_iteration,
                },
                ev.ts,
            )
            self.state_dirty = True
            return []
        self._complete(trial, TrialStatus.TERMINATED, ev.ts, stopped=decision == "stop")
        return []

    def _on_failed(self, ev: Failed, now: float) -> list[Command]:
        trial = self.trials.get(ev.trial_id)
        if trial is None or ev.attempt != trial.attempt or trial.status is not TrialStatus.RUNNING:
            return []
        self._running.discard(trial.trial_id)
        self._waits.pop(trial.trial_id, None)
        trial.num_failures += 1
        trial.error = ev.error
        trial.traceback = ev.traceback
        limit = self.config.max_failures
        retry = (
            not self.stopping
            and trial.pending_decision is None
            and (limit < 0 or trial.num_failures <= limit)
        )
        self._emit(
            TRIAL_FAILED,
            trial.trial_id,
            {
                "attempt": ev.attempt,
                "error": ev.error,
                "traceback": ev.traceback,
                "worker_lost": ev.worker_lost,
                "will_retry": retry,
                "stale": ev.stale,
                "worker": trial.worker,
            },
            ev.ts,
        )
        if retry:
            trial.status = TrialStatus.PENDING
            trial.pending_decision = None
            self._pending.appendleft(trial.trial_id)
            return []
        if trial.pending_decision is not None and ev.worker_lost is False:
            # It failed while being stopped: still a failure the user should see.
            pass
        trial.pending_decision = None
        self._complete(trial, TrialStatus.ERROR, ev.ts)
        if self.config.fail_fast:
            self.failed_fast = True
            return self.stop_all(f"trial {trial.trial_id} failed and fail_fast is set")
        return []

    def _complete(
        self, trial: Trial, status: TrialStatus, ts: float, stopped: bool = False
    ) -> None:
        if self._canon is not None:
            self._canon.ended(trial.index)
        trial.status = status
        trial.finished_at = ts
        if status is TrialStatus.TERMINATED and trial.last_result is not None:
            trial.last_result = {**trial.last_result, "done": True}
        data: dict[str, Any] = {"status": status.value, "last_result": trial.last_result}
        if status is TrialStatus.ERROR:
            data["error"] = trial.error
            data["traceback"] = trial.traceback
        if stopped:  # ended on a stop decision (scheduler, stopper, budget), not on its own
            data["stopped"] = True
        self._emit(TRIAL_COMPLETED, trial.trial_id, data, ts)
        self.state_dirty = True
        self.searcher.on_complete(
            trial.trial_id, trial.last_result, error=status is TrialStatus.ERROR
        )
        self.scheduler.on_trial_finished(trial)

    def checkpoint_invalid(
        self,
        trial_id: str,
        path: str,
        reason: str,
        fallback: tuple[str, int, str | None] | None,
        now: float,
    ) -> None:
        """The runner found ``path`` bad before a restore (see
        :func:`tunefleet.engine.checkpoints.checkpoint_invalid`)."""
        from tunefleet.engine.checkpoints import checkpoint_invalid

        checkpoint_invalid(self, trial_id, path, reason, fallback, now)

    # ----------------------------------------------------------------------- persistence
    def state_dict(self) -> dict[str, Any]:
        self.state_dirty = False
        return {
            "searcher": self.searcher.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "engine": {
                "next_index": self._next_index,
                "searcher_finished": self._searcher_finished,
                "num_results": self.num_results,
                "metric_seen": self.metric_seen,
            },
        }

    def restore(
        self,
        trials: list[Trial],
        state: dict[str, Any] | None,
        elapsed: float,
        *,
        errored: str = "keep",
        unfinished: bool = True,
        now: float = 0.0,
    ) -> None:
        """Rebuild from a replayed log (see :func:`tunefleet.engine.restore.restore`)."""
        from tunefleet.engine.restore import restore

        restore(self, trials, state, elapsed, errored=errored, unfinished=unfinished, now=now)


def _scheduler_points(scheduler: Scheduler) -> bool | DecisionPoints:
    """The scheduler's decision points; a user's scheduler without the method falls back to
    its ``synchronous_reports`` flag (every report waits, or none)."""
    points = getattr(scheduler, "decision_points", None)
    if points is None:
        return bool(scheduler.synchronous_reports)
    value = points()
    if isinstance(value, (DecisionPoints, bool)):
        return value
    raise TypeError(
        f"{type(scheduler).__name__}.decision_points() returned {value!r}; expected True, "
        "False or a DecisionPoints"
    )
