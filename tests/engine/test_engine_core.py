"""The engine as a pure state machine: events in, commands out, no processes."""

from __future__ import annotations

import math
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tunefleet.engine import Engine, EngineConfig, HaltTrial, LaunchTrial, Reply
from tunefleet.executors.base import Failed, Finished, Reported, Started
from tunefleet.schedulers.base import CONTINUE, PAUSE, STOP, FIFOScheduler, Restart, Scheduler
from tunefleet.search.base import FINISHED, Searcher
from tunefleet.stoppers import DictStopper, FunctionStopper
from tunefleet.storage import records as rk
from tunefleet.trial import TrialStatus


class CountingSearcher(Searcher):
    """Proposes {"x": 0}, {"x": 1}, ... and records what it was told."""

    def __init__(self, limit: int | None = None) -> None:
        super().__init__()
        self.limit = limit
        self.n = 0
        self.results: list[tuple[str, dict[str, Any]]] = []
        self.completed: list[tuple[str, bool]] = []

    def suggest(self, trial_id: str) -> Any:
        if self.limit is not None and self.n >= self.limit:
            return FINISHED
        self.n += 1
        return {"x": self.n - 1}

    def on_result(self, trial_id: str, result: dict[str, Any]) -> None:
        self.results.append((trial_id, result))

    def on_complete(self, trial_id: str, result: Any, error: bool = False) -> None:
        self.completed.append((trial_id, error))

    def state_dict(self) -> dict[str, Any]:
        return {"n": self.n}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.n = state["n"]


def make(
    total: int | None = 3,
    scheduler: Scheduler | None = None,
    searcher: Searcher | None = None,
    **kw: Any,
) -> Engine:
    cfg = EngineConfig(metric="score", mode="max", total_trials=total, trial_id_prefix="t", **kw)
    eng = Engine(cfg, searcher or CountingSearcher(), scheduler or FIFOScheduler())
    eng.start(0.0)
    return eng


def result(tid: str, it: int, **metrics: Any) -> dict[str, Any]:
    return {
        **metrics,
        "training_iteration": it,
        "trial_id": tid,
        "timestamp": float(it),
        "time_total_s": float(it),
        "time_this_iter_s": 1.0,
        "done": False,
    }


def launches(cmds: list[Any]) -> list[str]:
    return [c.launch.trial_id for c in cmds if isinstance(c, LaunchTrial)]


def test_fills_free_slots_and_stops_at_total() -> None:
    eng = make(total=3)
    assert launches(eng.fill(2, 0.0)) == ["t_00000", "t_00001"]
    assert eng.num_running == 2
    eng.handle(Finished("t_00000", 1, 1.0), 1.0)
    assert launches(eng.fill(1, 1.0)) == ["t_00002"]
    assert eng.fill(1, 1.0) == []  # total reached
    eng.handle(Finished("t_00001", 1, 2.0), 2.0)
    assert not eng.done
    eng.handle(Finished("t_00002", 1, 2.0), 2.0)
    assert eng.done
    assert eng.counts()["TERMINATED"] == 3


def test_trial_created_is_emitted_before_launch_record() -> None:
    eng = make(total=1)
    eng.fill(1, 0.0)
    kinds = [r.kind for r in eng.records]
    assert kinds == [rk.TRIAL_CREATED, rk.TRIAL_STARTED]


def test_result_recorded_and_searcher_told() -> None:
    searcher = CountingSearcher()
    eng = make(total=1, searcher=searcher)
    eng.fill(1, 0.0)
    cmds = eng.handle(Reported("t_00000", 1, result("t_00000", 1, score=0.5), None), 1.0)
    assert cmds == []  # FIFO, async reports: nothing to send back
    assert searcher.results[0][1]["score"] == 0.5
    assert eng.records[-1].kind == rk.RESULT
    eng.handle(Finished("t_00000", 1, 2.0), 2.0)
    assert searcher.completed == [("t_00000", False)]
    done = [r for r in eng.records if r.kind == rk.TRIAL_COMPLETED][0]
    assert done.data["last_result"]["done"] is True
    assert "stopped" not in done.data  # it returned on its own


def test_dict_stop_criterion_stops_trial() -> None:
    eng = make(total=1)
    eng.stopper = DictStopper({"training_iteration": 2})
    eng.fill(1, 0.0)
    assert eng.handle(Reported("t_00000", 1, result("t_00000", 1, score=1), None), 1) == []
    cmds = eng.handle(Reported("t_00000", 1, result("t_00000", 2, score=1), None), 2)
    assert cmds == [HaltTrial("t_00000", pause=False)]
    eng.handle(Finished("t_00000", 1, 2.0, stopped=True), 2.0)
    assert eng.trials["t_00000"].status is TrialStatus.TERMINATED
    done = [r for r in eng.records if r.kind == rk.TRIAL_COMPLETED][0]
    assert done.data["stopped"] is True  # the log says why it ended (curves mark it)
    assert eng.done


def test_callable_stop_and_late_reports_ignored_by_scheduler() -> None:
    seen: list[int] = []

    class Spy(FIFOScheduler):
        def on_result(self, trial: Any, res: dict[str, Any]) -> Any:
            seen.append(res["training_iteration"])
            return CONTINUE

    eng = make(total=1, scheduler=Spy())
    eng.stopper = FunctionStopper(lambda tid, r: r["score"] > 0.9)
    eng.fill(1, 0.0)
    eng.handle(Reported("t_00000", 1, result("t_00000", 1, score=0.1), None), 1)
    assert eng.handle(Reported("t_00000", 1, result("t_00000", 2, score=0.95), None), 2)
    # A result that crossed the stop request is recorded but not decided on again.
    eng.handle(Reported("t_00000", 1, result("t_00000", 3, score=0.99), None), 3)
    assert seen == [1]
    assert sum(r.kind == rk.RESULT for r in eng.records) == 3


def test_time_budget_stops_everything() -> None:
    eng = make(total=None, time_budget_s=10.0)
    eng.fill(2, 0.0)
    assert eng.tick(5.0) == []
    cmds = eng.tick(10.0)
    assert sorted(c.trial_id for c in cmds) == ["t_00000", "t_00001"]
    assert eng.fill(2, 10.0) == []
    eng.handle(Finished("t_00000", 1, 10.0, stopped=True), 10.0)
    eng.handle(Finished("t_00001", 1, 10.0, stopped=True), 10.0)
    assert eng.done and "time budget" in (eng.stop_reason or "")


def test_retries_up_to_max_failures_then_error() -> None:
    searcher = CountingSearcher()
    eng = make(total=1, max_failures=2, searcher=searcher)
    eng.fill(1, 0.0)
    for attempt in (1, 2):
        eng.handle(Failed("t_00000", attempt, "ValueError()", "tb", 1.0), 1.0)
        assert eng.trials["t_00000"].status is TrialStatus.PENDING
        cmds = eng.fill(1, 1.0)
        assert launches(cmds) == ["t_00000"]  # same trial relaunched, not a new one
        assert cmds[0].launch.attempt == attempt + 1
    eng.handle(Failed("t_00000", 3, "ValueError()", "tb", 1.0), 1.0)
    t = eng.trials["t_00000"]
    assert t.status is TrialStatus.ERROR and t.num_failures == 3
    assert searcher.completed == [("t_00000", True)]
    assert eng.done


def test_retry_restarts_from_last_checkpoint() -> None:
    eng = make(total=1, max_failures=1)
    eng.fill(1, 0.0)
    eng.handle(Reported("t_00000", 1, result("t_00000", 4, score=1), "/ck/4"), 4)
    eng.handle(Failed("t_00000", 1, "boom", "tb", 5.0, worker_lost=True), 5)
    launch = eng.fill(1, 5.0)[0].launch
    assert launch.checkpoint == "/ck/4" and launch.start_iteration == 4


def test_stale_events_from_old_attempt_are_ignored() -> None:
    eng = make(total=1, max_failures=1)
    eng.fill(1, 0.0)
    eng.handle(Failed("t_00000", 1, "x", "tb", 1.0, worker_lost=True), 1.0)
    eng.fill(1, 1.0)
    n = len(eng.records)
    eng.handle(Reported("t_00000", 1, result("t_00000", 9, score=5), None), 2.0)
    eng.handle(Finished("t_00000", 1, 2.0), 2.0)
    assert [r.kind for r in eng.records[n:]] == [rk.STALE_RESULT]  # kept, but not a result
    assert eng.trials["t_00000"].status is TrialStatus.RUNNING
    assert eng.trials["t_00000"].last_result is None


def test_fail_fast_stops_experiment() -> None:
    eng = make(total=5, fail_fast=True)
    eng.fill(2, 0.0)
    cmds = eng.handle(Failed("t_00000", 1, "x", "tb", 1.0), 1.0)
    assert cmds == [HaltTrial("t_00001")]
    assert eng.failed_fast and eng.fill(2, 1.0) == []


def test_nan_metric_recorded_with_one_warning() -> None:
    eng = make(total=2)
    eng.fill(2, 0.0)
    eng.handle(Reported("t_00000", 1, result("t_00000", 1, score=math.nan), None), 1)
    eng.handle(Reported("t_00001", 1, result("t_00001", 1, score=math.inf), None), 1)
    assert len(eng.warnings) == 1 and "non-finite" in eng.warnings[0]
    assert sum(r.kind == rk.RESULT for r in eng.records) == 2


def test_missing_metric_detected() -> None:
    eng = make(total=1)
    eng.fill(1, 0.0)
    eng.handle(Reported("t_00000", 1, result("t_00000", 1, loss=1.0), None), 1)
    assert not eng.metric_seen
    assert "without metric 'score'" in eng.warnings[0]


class PauseAtTwo(Scheduler):
    synchronous_reports = True

    def on_result(self, trial: Any, res: dict[str, Any]) -> Any:
        return PAUSE if res["training_iteration"] == 2 and trial.trial_id == "t_00000" else CONTINUE


def test_sync_pause_and_resume_from_checkpoint() -> None:
    eng = make(total=2, scheduler=PauseAtTwo())
    eng.fill(1, 0.0)
    assert eng.handle(Reported("t_00000", 1, result("t_00000", 1, score=1), None), 1) == [
        Reply("t_00000", True)
    ]
    cmds = eng.handle(Reported("t_00000", 1, result("t_00000", 2, score=1), "/ck/2"), 2)
    assert cmds == [Reply("t_00000", False)]
    eng.handle(Finished("t_00000", 1, 2.0, stopped=True), 2.0)
    assert eng.trials["t_00000"].status is TrialStatus.PAUSED
    # Base scheduler resumes paused trials first.
    launch = eng.fill(1, 2.0)[0].launch
    assert (launch.trial_id, launch.checkpoint, launch.start_iteration) == ("t_00000", "/ck/2", 2)
    assert launch.sync_reports


class ExploitFromZero(Scheduler):
    synchronous_reports = True

    def on_result(self, trial: Any, res: dict[str, Any]) -> Any:
        if trial.trial_id == "t_00001" and res["training_iteration"] == 3:
            return Restart({"x": 100}, "t_00000")
        return CONTINUE


def test_restart_from_donor_checkpoint_records_lineage() -> None:
    eng = make(total=2, scheduler=ExploitFromZero())
    eng.fill(2, 0.0)
    eng.handle(Reported("t_00000", 1, result("t_00000", 3, score=9), "/ck/t0/3"), 3)
    cmds = eng.handle(Reported("t_00001", 1, result("t_00001", 3, score=1), "/ck/t1/3"), 3)
    assert cmds == [Reply("t_00001", False)]
    eng.handle(Finished("t_00001", 1, 3.0, stopped=True), 3.0)
    launch = eng.fill(1, 3.0)[0].launch
    assert launch.trial_id == "t_00001"
    assert launch.config == {"x": 100} and launch.checkpoint == "/ck/t0/3"
    rec = [r for r in eng.records if r.kind == rk.TRIAL_RESTARTED][0]
    assert rec.data["from_trial"] == "t_00000"


def test_stop_decision_async_sends_stop() -> None:
    class StopAll(Scheduler):
        def on_result(self, trial: Any, res: dict[str, Any]) -> Any:
            return STOP

    eng = make(total=1, scheduler=StopAll())
    eng.fill(1, 0.0)
    assert eng.handle(Reported("t_00000", 1, result("t_00000", 1, score=1), None), 1) == [
        HaltTrial("t_00000", pause=False)
    ]


def test_searcher_finished_ends_experiment_early() -> None:
    eng = make(total=10, searcher=CountingSearcher(limit=2))
    assert len(launches(eng.fill(5, 0.0))) == 2
    eng.handle(Finished("t_00000", 1, 1.0), 1.0)
    eng.handle(Finished("t_00001", 1, 1.0), 1.0)
    assert eng.fill(5, 1.0) == [] and eng.done


def test_state_dict_and_restore_continue_numbering() -> None:
    searcher = CountingSearcher()
    eng = make(total=4, searcher=searcher)
    eng.fill(2, 0.0)
    eng.handle(Finished("t_00000", 1, 1.0), 1.0)
    state = eng.state_dict()
    trials = list(eng.trials.values())
    fresh_searcher = CountingSearcher()
    eng2 = make(total=4, searcher=fresh_searcher)
    eng2.restore(trials, state, elapsed=1.0)
    cmds = eng2.fill(3, 2.0)
    # The running trial is re-queued first, then new trials continue the numbering.
    assert launches(cmds) == ["t_00001", "t_00002", "t_00003"]
    assert fresh_searcher.n == 4


@settings(max_examples=60, deadline=None)
@given(
    total=st.integers(1, 12),
    slots=st.integers(1, 4),
    outcomes=st.lists(st.sampled_from(["ok", "fail", "report"]), min_size=1, max_size=80),
    max_failures=st.integers(0, 2),
)
def test_invariants_under_random_event_orders(
    total: int, slots: int, outcomes: list[str], max_failures: int
) -> None:
    """Whatever happens: never more running than slots, every trial ends exactly once,
    the number of trials never exceeds the total, and the engine finishes."""
    eng = make(total=total, max_failures=max_failures)
    running: list[tuple[str, int]] = []
    steps = iter(outcomes * 20)
    completed: list[str] = []
    for _ in range(2000):
        for c in eng.fill(slots - len(running), 0.0):
            running.append((c.launch.trial_id, c.launch.attempt))
        assert len(running) <= slots
        if eng.done:
            break
        tid, attempt = running[0]
        what = next(steps, "ok")
        if what == "report":
            eng.handle(Reported(tid, attempt, result(tid, 1, score=1.0), None), 1.0)
            running.append(running.pop(0))
            continue
        running.pop(0)
        ev = Finished(tid, attempt, 1.0) if what == "ok" else Failed(tid, attempt, "e", "tb", 1.0)
        eng.handle(ev, 1.0)
    assert eng.done
    completed = [r.trial_id for r in eng.records if r.kind == rk.TRIAL_COMPLETED]
    assert sorted(completed) == sorted(set(completed))
    assert len(completed) == len(eng.trials) == total
    for t in eng.trials.values():
        assert t.status.is_finished
        assert t.num_failures <= max_failures + 1


def test_failure_record_names_the_worker_the_attempt_ran_on() -> None:
    eng = make(total=1, max_failures=1)
    eng.fill(1, 0.0)
    eng.handle(Started("t_00000", 1, "host-a:4242", 0.5), 0.5)
    eng.handle(Failed("t_00000", 1, "lost", "", 1.0, worker_lost=True), 1.0)
    eng.fill(1, 1.0)
    # The retry's failure arrives before its Started: its worker is unknown, not stale.
    eng.handle(Failed("t_00000", 2, "boom", "tb", 2.0), 2.0)
    workers = [r.data["worker"] for r in eng.records if r.kind == rk.TRIAL_FAILED]
    assert workers == ["host-a:4242", None]


def test_stale_attempt_requeued_and_late_reports_recorded_as_stale() -> None:
    eng = make(total=1, max_failures=1)
    eng.fill(1, 0.0)
    eng.handle(Reported("t_00000", 1, result("t_00000", 2, score=1), "/ck/2"), 2)
    eng.handle(Failed("t_00000", 1, "lease expired", "", 3.0, worker_lost=True, stale=True), 3)
    failed = [r for r in eng.records if r.kind == rk.TRIAL_FAILED][-1]
    assert failed.data["stale"] and failed.data["will_retry"]
    launch = eng.fill(1, 3.0)[0].launch
    assert (launch.attempt, launch.checkpoint) == (2, "/ck/2")
    eng.handle(Reported("t_00000", 2, result("t_00000", 3, score=2), None), 4)
    # The frozen first attempt wakes up and reports: recorded as stale, not as a result.
    eng.handle(Reported("t_00000", 1, result("t_00000", 3, score=99), None), 5)
    stale = [r for r in eng.records if r.kind == rk.STALE_RESULT]
    assert len(stale) == 1 and stale[0].data["attempt"] == 1
    assert eng.trials["t_00000"].last_result["score"] == 2
