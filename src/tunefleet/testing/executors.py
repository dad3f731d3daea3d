"""The executor conformance suite: the behaviour every engine must show the engine loop.

Use it by subclassing in a test module (the class name must start with ``Test``)::

    from tunefleet.testing.executors import ExecutorConformance

    class TestMyExecutor(ExecutorConformance):
        def make_executor(self):
            return MyExecutor(...)

Every test starts the executor with :func:`tunefleet.testing.trainables.suite_trainable`
and only ever waits with ``poll(timeout)`` under a deadline, never on timing, so slow
engines (Ray, Spark) pass as well as the in-process simulator.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from tunefleet.executors.base import (
    Event,
    Executor,
    Failed,
    Finished,
    Launch,
    Reported,
    Resources,
    Started,
)
from tunefleet.testing.trainables import suite_trainable

_END = (Finished, Failed)


class Harness:
    """Starts an executor for one test, submits launches and collects its events."""

    def __init__(self, suite: ExecutorConformance, root: Path) -> None:
        self.suite = suite
        self.root = root
        self.exp_dir = str(root / "experiment")
        self.executor: Executor | None = None
        self.events: list[Event] = []

    @property
    def ex(self) -> Executor:
        assert self.executor is not None, "call start() first"
        return self.executor

    def start(self, max_concurrent: int | None = -1) -> Executor:
        ex = self.suite.make_executor()
        self.executor = ex
        mc = self.suite.max_concurrent if max_concurrent == -1 else max_concurrent
        ex.start(suite_trainable, self.suite.resources, mc, self.exp_dir)
        return ex

    def launch(self, trial_id: str, kind: str = "count", **kwargs: Any) -> Launch:
        config = {"kind": kind, **kwargs.pop("config", {})}
        return Launch(
            trial_id=trial_id,
            config=config,
            attempt=kwargs.pop("attempt", 0),
            trial_dir=os.path.join(self.exp_dir, trial_id),
            **kwargs,
        )

    def submit(self, trial_id: str, kind: str = "count", **kwargs: Any) -> Launch:
        launch = self.launch(trial_id, kind, **kwargs)
        self.ex.submit(launch)
        return launch

    def collect(
        self, until: Callable[[list[Event]], bool], timeout: float | None = None
    ) -> list[Event]:
        """Poll until ``until(new_events)`` holds; fail with what was seen on timeout."""
        deadline = time.monotonic() + (timeout or self.suite.event_timeout)
        new: list[Event] = []
        while not until(new):
            if time.monotonic() > deadline:
                pytest.fail(f"timed out waiting; events so far: {new!r}")
            got = self.ex.poll(0.05)
            new.extend(got)
            self.events.extend(got)
        return new

    def until_ended(self, *trial_ids: str, timeout: float | None = None) -> list[Event]:
        want = set(trial_ids)

        def done(evs: list[Event]) -> bool:
            return want <= {e.trial_id for e in evs if isinstance(e, _END)}

        return self.collect(done, timeout)

    def ended(self) -> set[str]:
        """Trials whose end was seen so far in this test."""
        return {e.trial_id for e in self.events if isinstance(e, _END)}

    def next_report(self, trial_id: str) -> tuple[Reported, list[Event]]:
        def got(evs: list[Event]) -> bool:
            return any(isinstance(e, (Reported, *_END)) and e.trial_id == trial_id for e in evs)

        evs = self.collect(got)
        first = next(e for e in evs if e.trial_id == trial_id and not isinstance(e, Started))
        assert isinstance(first, Reported), f"expected a report of {trial_id}, got {first!r}"
        return first, evs

    def quiet(self, seconds: float = 0.3) -> list[Event]:
        """Whatever arrives within ``seconds`` (to check that something does *not* happen)."""
        end = time.monotonic() + seconds
        out: list[Event] = []
        while time.monotonic() < end:
            out.extend(self.ex.poll(min(0.05, max(0.0, end - time.monotonic()))))
        self.events.extend(out)
        return out

    def close(self) -> None:
        if self.executor is not None:
            self.executor.close()


def of(events: list[Event], trial_id: str) -> list[Event]:
    return [e for e in events if e.trial_id == trial_id]


def reports(events: list[Event], trial_id: str | None = None) -> list[Reported]:
    return [
        e
        for e in events
        if isinstance(e, Reported) and (trial_id is None or e.trial_id == trial_id)
    ]


class ExecutorConformance:
    """Base class of the suite; subclasses implement :meth:`make_executor`."""

    #: Whether workers are reused across trials (local: worker pids repeat).
    reuses_workers: ClassVar[bool] = True
    #: Longest wait for any expected event, in seconds.
    event_timeout: ClassVar[float] = 30.0
    #: Passed to ``start()``.
    resources: ClassVar[Resources] = Resources(cpu=1)
    max_concurrent: ClassVar[int | None] = 2

    def make_executor(self) -> Executor:
        raise NotImplementedError

    @pytest.fixture
    def h(self, tmp_path: Path) -> Iterator[Harness]:
        harness = Harness(self, tmp_path)
        try:
            yield harness
        finally:
            harness.close()

    # ------------------------------------------------------------------ basics
    def test_capacity_after_start(self, h: Harness) -> None:
        ex = h.start()
        assert ex.capacity() >= 1
        assert ex.total_slots() >= ex.capacity()
        if self.max_concurrent is not None:
            assert ex.capacity() <= self.max_concurrent

    def test_lifecycle_order_and_automatic_fields(self, h: Harness) -> None:
        h.start()
        launch = h.submit("t1", "count", config={"n": 3, "mult": 2}, attempt=1)
        events = of(h.until_ended("t1"), "t1")
        kinds = [type(e).__name__ for e in events]
        assert kinds == ["Started", "Reported", "Reported", "Reported", "Finished"], kinds
        assert all(e.attempt == 1 for e in events)
        fin = events[-1]
        assert isinstance(fin, Finished) and fin.stopped is False
        results = [e.result for e in reports(events)]
        assert [r["training_iteration"] for r in results] == [1, 2, 3]
        assert [r["score"] for r in results] == [0, 2, 4]
        times = [r["time_total_s"] for r in results]
        assert times == sorted(times)
        for r in results:
            assert r["trial_id"] == "t1"
            assert r["done"] is False
            assert r["time_this_iter_s"] >= 0
            assert isinstance(r["timestamp"], float)
            assert r["seen_trial_id"] == "t1"
            assert r["seen_trial_dir"] == launch.trial_dir
        assert all(e.checkpoint is None for e in reports(events))

    def test_launch_settings_reach_the_session(self, h: Harness) -> None:
        ex = h.start()
        h.submit(
            "ctx",
            "context",
            config={"value": 7},
            attempt=3,
            checkpoint_frequency=2,
            checkpoint_at_end=True,
            sync_reports=True,
        )
        rep, _ = h.next_report("ctx")
        ex.reply("ctx", True)
        h.until_ended("ctx")
        assert rep.result["attempt"] == 3 and rep.attempt == 3
        assert rep.result["sync"] is True
        assert rep.result["checkpoint_frequency"] == 2
        assert rep.result["checkpoint_at_end"] is True
        assert rep.result["config_value"] == 7

    def test_concurrent_trials_keep_their_own_order(self, h: Harness) -> None:
        ex = h.start()
        ids = [f"c{i}" for i in range(2 * ex.total_slots())]
        pending = list(ids)
        while pending:
            while pending and ex.capacity() > 0:
                h.submit(pending.pop(0), "count", config={"n": 3})
            h.collect(lambda evs: any(isinstance(e, _END) for e in evs))
        h.until_ended(*(set(ids) - h.ended()))
        for tid in ids:
            evs = of(h.events, tid)
            assert isinstance(evs[0], Started)
            assert isinstance(evs[-1], Finished) and not evs[-1].stopped
            its = [e.result["training_iteration"] for e in reports(evs)]
            assert its == [1, 2, 3]

    def test_capacity_is_never_exceeded_and_recovers(self, h: Harness) -> None:
        ex = h.start()
        slots = ex.capacity()
        running: set[str] = set()
        for i in range(slots):
            h.submit(f"e{i}", "endless", config={"sleep": 0.01})
            running.add(f"e{i}")
            assert ex.capacity() <= slots - len(running)
        assert ex.capacity() == 0
        h.collect(lambda evs: len({e.trial_id for e in reports(evs)}) == slots)
        assert ex.capacity() == 0
        ex.stop("e0")
        h.until_ended("e0")
        h.collect(lambda evs: ex.capacity() >= 1)
        assert ex.capacity() == 1
        h.submit("after", "count", config={"n": 1})
        assert ex.capacity() == 0
        for i in range(1, slots):
            ex.stop(f"e{i}")
        h.until_ended("after", *[f"e{i}" for i in range(1, slots)])
        h.collect(lambda evs: ex.capacity() == slots)
        # never more trials between Started and their end than slots
        live = 0
        for e in h.events:
            live += isinstance(e, Started)
            live -= isinstance(e, _END)
            assert live <= slots

    # ------------------------------------------------------------------ failures
    def test_user_exception_fails_the_trial_not_the_executor(self, h: Harness) -> None:
        h.start(max_concurrent=1)
        h.submit("bad", "fail", config={"n_before": 2})
        evs = of(h.until_ended("bad"), "bad")
        assert len(reports(evs)) == 2
        failed = evs[-1]
        assert isinstance(failed, Failed), evs
        assert failed.worker_lost is False
        assert "ValueError" in failed.error and "boom" in failed.error
        assert "failing_trainable" in failed.traceback
        assert "raise ValueError" in failed.traceback
        h.collect(lambda _: h.ex.capacity() >= 1)
        h.submit("good", "count", config={"n": 2})
        good = of(h.until_ended("good"), "good")
        assert isinstance(good[-1], Finished) and not good[-1].stopped
        assert len(reports(good)) == 2
        if self.reuses_workers:
            assert reports(good)[0].result["pid"] == reports(evs)[0].result["pid"]

    # ------------------------------------------------------------------ stop / pause
    @pytest.mark.parametrize("pause", [False, True])
    def test_stop_ends_the_trial_without_more_reports(self, h: Harness, pause: bool) -> None:
        ex = h.start()
        h.submit("s", "endless", config={"sleep": 0.01})
        h.next_report("s")
        ex.stop("s", pause=pause)
        after = h.until_ended("s")
        assert reports(after, "s") == []
        end = of(after, "s")[-1]
        assert isinstance(end, Finished) and end.stopped is True
        assert reports(h.quiet(0.2), "s") == []
        h.collect(lambda _: ex.capacity() == ex.total_slots())

    def test_stop_and_reply_for_unknown_or_ended_trials_are_noops(self, h: Harness) -> None:
        ex = h.start()
        ex.stop("nobody")
        ex.reply("nobody", True)
        h.submit("x", "count", config={"n": 1})
        h.until_ended("x")
        ex.stop("x")
        ex.stop("x", pause=True)
        ex.reply("x", False)
        assert of(h.quiet(0.2), "x") == []
        assert ex.capacity() == ex.total_slots()

    def test_submit_refuses_a_running_trial_and_any_launch_after_close(self, h: Harness) -> None:
        ex = h.start()
        h.submit("d", "endless", config={"sleep": 0.01})
        h.next_report("d")
        with pytest.raises(RuntimeError, match="trial d is already running"):
            h.submit("d", "endless", config={"sleep": 0.01})
        h.next_report("d")  # the attempt that runs is not disturbed
        ex.close()
        with pytest.raises(RuntimeError, match=r"submit\(\) needs start\(\) first and no close"):
            h.submit("e")

    def test_sync_reports_wait_for_reply(self, h: Harness) -> None:
        ex = h.start()
        h.submit("y", "count", config={"n": 3}, sync_reports=True)
        for it in (1, 2, 3):
            rep, _ = h.next_report("y")
            assert rep.result["training_iteration"] == it
            assert reports(h.quiet(0.15), "y") == [], "reported again before the reply"
            ex.reply("y", True)
        end = of(h.until_ended("y"), "y")[-1]
        assert isinstance(end, Finished) and end.stopped is False

    @pytest.mark.parametrize("with_stop", [False, True])
    def test_sync_reply_false_pauses_at_the_reported_iteration(
        self, h: Harness, with_stop: bool
    ) -> None:
        ex = h.start()
        h.submit("p", "checkpoint", config={"n": 10}, sync_reports=True)
        for _ in range(2):
            h.next_report("p")
            ex.reply("p", True)
        rep, _ = h.next_report("p")
        assert rep.result["training_iteration"] == 3
        if with_stop:
            ex.stop("p", pause=True)
        ex.reply("p", False)
        after = h.until_ended("p")
        assert reports(after, "p") == []
        end = of(after, "p")[-1]
        assert isinstance(end, Finished) and end.stopped is True
        assert max(r.result["training_iteration"] for r in reports(h.events, "p")) == 3
        # the paused trial resumes from the checkpoint it reported at iteration 3
        assert rep.checkpoint is not None
        h.collect(lambda _: ex.capacity() >= 1)
        h.submit(
            "p",
            "checkpoint",
            config={"n": 2},
            checkpoint=rep.checkpoint,
            start_iteration=3,
            attempt=1,
        )
        evs = reports(of(h.until_ended("p"), "p"))
        assert [r.result["training_iteration"] for r in evs] == [4, 5]
        assert [r.result["step"] for r in evs] == [3, 4]
        assert all(r.attempt == 1 for r in evs)

    # ------------------------------------------------------------------ checkpoints
    def test_restore_from_checkpoint(self, h: Harness, tmp_path: Path) -> None:
        ckpt = tmp_path / "given_checkpoint"
        ckpt.mkdir()
        (ckpt / "state.json").write_text(json.dumps({"step": 4}))
        h.start()
        h.submit(
            "r",
            "checkpoint",
            config={"n": 2},
            checkpoint=str(ckpt),
            start_iteration=5,
            start_time_total=100.0,
        )
        evs = reports(of(h.until_ended("r"), "r"))
        assert [e.result["training_iteration"] for e in evs] == [6, 7]
        assert [e.result["restored_step"] for e in evs] == [4, 4]
        assert [e.result["step"] for e in evs] == [5, 6]
        assert all(e.result["time_total_s"] >= 100.0 for e in evs)

    def test_checkpoints_are_complete_directories_under_trial_dir(self, h: Harness) -> None:
        h.start()
        launch = h.submit("k", "checkpoint", config={"n": 3})
        evs = of(h.until_ended("k"), "k")
        assert isinstance(evs[-1], Finished)
        paths = []
        for step, rep in enumerate(reports(evs)):
            path = rep.checkpoint
            assert path is not None and os.path.isdir(path)
            root = os.path.realpath(launch.trial_dir)
            assert os.path.realpath(path).startswith(root + os.sep)
            with open(os.path.join(path, "state.json")) as f:
                assert json.load(f) == {"step": step, "trial_id": "k"}
            with open(os.path.join(path, "sub", "weights.bin"), "rb") as f:
                assert f.read() == bytes(range(256)) * 4
            paths.append(path)
        assert len(set(paths)) == 3
        leftovers = [n for n in os.listdir(launch.trial_dir) if n.startswith(".tmp")]
        assert leftovers == []

    def test_generator_trainables_report_each_yielded_item(self, h: Harness) -> None:
        h.start()
        launch = h.submit("gen", "yield", config={"n": 3})
        evs = of(h.until_ended("gen"), "gen")
        assert isinstance(evs[-1], Finished) and not evs[-1].stopped
        reps = reports(evs)
        assert [r.result["training_iteration"] for r in reps] == [1, 2, 3]
        assert [r.result["step"] for r in reps] == [0, 1, 2]
        assert [r.checkpoint is None for r in reps] == [True, True, False]
        last = reps[-1].checkpoint
        assert last is not None
        assert os.path.realpath(last).startswith(os.path.realpath(launch.trial_dir) + os.sep)
        with open(os.path.join(last, "state.json")) as f:
            assert json.load(f) == {"step": 2}

    # ------------------------------------------------------------------ reuse
    def test_many_trials_in_sequence(self, h: Harness) -> None:
        ex = h.start()
        n = 4 * ex.total_slots() + 2
        todo = [f"m{i}" for i in range(n)]
        while todo:
            while todo and ex.capacity() > 0:
                h.submit(todo.pop(0), "count", config={"n": 1})
            h.collect(lambda evs: any(isinstance(e, _END) for e in evs))
        h.until_ended(*({f"m{i}" for i in range(n)} - h.ended()))
        ends = [e for e in h.events if isinstance(e, _END)]
        assert len(ends) == n and all(isinstance(e, Finished) for e in ends)
        pids = [e.result["pid"] for e in reports(h.events)]
        assert len(pids) == n
        if self.reuses_workers:
            assert len(set(pids)) <= ex.total_slots() < n

    def test_close_is_idempotent(self, h: Harness) -> None:
        ex = h.start()
        h.submit("z", "endless", config={"sleep": 0.01})
        h.next_report("z")
        ex.close()
        ex.close()
