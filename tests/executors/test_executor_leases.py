"""Trial leases in the LocalExecutor: a frozen worker's attempt expires as stale, a replacement
worker takes over at once, the frozen one's late reports keep their old attempt number, and
a healthy worker that computes for longer than the TTL keeps its lease."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

import tunefleet
from tunefleet.errors import TuneValueError
from tunefleet.executors.base import Event, Failed, Finished, Launch, Reported, Resources
from tunefleet.executors.local import LocalExecutor
from tunefleet.storage import open_store
from tunefleet.testing.trainables import suite_trainable
from tunefleet.worker.session import get_context, report

pytestmark = pytest.mark.timeout(60)

TTL = 1.0


def _summary(events: list[Event]) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    for e in events:
        if isinstance(e, Reported):
            out.append(("Reported", e.attempt, e.result.get("pid"), e.result.get("step")))
        else:
            out.append((type(e).__name__, e.attempt, getattr(e, "error", "")))
    return out


def _wait(ex: LocalExecutor, pred: Any, into: list[Event], timeout: float = 15.0) -> list[Event]:
    deadline = time.monotonic() + timeout
    while not pred(into):
        assert time.monotonic() < deadline, f"timed out; events: {_summary(into)}"
        into.extend(ex.poll(0.05))
    return into


def _reports(events: list[Event], attempt: int) -> list[Reported]:
    return [e for e in events if isinstance(e, Reported) and e.attempt == attempt]


def _gone(pid: int, timeout: float = 5.0) -> bool:
    """The process has exited and was reaped (a zombie would be an orphan still)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                time.sleep(0.05)
                continue
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def executor(tmp_path: Path) -> Any:
    made: list[LocalExecutor] = []

    def factory(trainable: Any = suite_trainable, **kwargs: Any) -> LocalExecutor:
        ex = LocalExecutor(num_cpus=2, **kwargs)
        made.append(ex)
        ex.start(trainable, Resources(cpu=1), None, str(tmp_path))
        return ex

    yield factory
    for ex in made:
        ex.close()


def test_lease_ttl_is_validated() -> None:
    for bad in (0, -1.0, True, "30", float("nan"), float("inf")):
        with pytest.raises(TuneValueError, match="lease_ttl"):
            LocalExecutor(lease_ttl=bad)  # type: ignore[arg-type]
    assert LocalExecutor().lease_ttl == 30.0
    assert LocalExecutor(lease_ttl=None).lease_ttl is None


# --------------------------------------------------------------- a frozen worker
def test_frozen_worker_expires_as_stale_and_its_late_reports_keep_the_old_attempt(
    executor: Any, tmp_path: Path
) -> None:
    ex = executor(lease_ttl=TTL)
    config = {"kind": "endless", "sleep": 0.05, "max_iter": 70}
    ex.submit(Launch("t", config, 1, str(tmp_path / "t")))
    events: list[Event] = []
    _wait(ex, lambda evs: len(_reports(evs, 1)) >= 3, events)
    frozen = _reports(events, 1)[0].result["pid"]
    assert frozen in ex.worker_pids() and ex.capacity() == 1
    os.kill(frozen, signal.SIGSTOP)
    try:
        frozen_at = time.monotonic()
        _wait(ex, lambda evs: any(isinstance(e, Failed) for e in evs), events)
        waited = time.monotonic() - frozen_at
        failed = [e for e in events if isinstance(e, Failed)]
        assert len(failed) == 1
        f = failed[0]
        assert (f.trial_id, f.attempt, f.stale, f.worker_lost) == ("t", 1, True, True)
        assert f.error.startswith("lease expired after ")
        assert f"worker pid {frozen} stopped renewing it" in f.error
        assert TTL * 0.9 <= waited <= TTL + 3.0
        # Capacity is back at once: the frozen worker no longer counts, a replacement does.
        assert ex.capacity() == 2 and ex.total_slots() == 2
        assert frozen not in ex.worker_pids() and ex.stale_worker_pids() == [frozen]
        stale_steps_before = [e.result["step"] for e in _reports(events, 1)]

        # The engine relaunches the trial (attempt 2): it runs on another worker.
        ex.submit(Launch("t", config, 2, str(tmp_path / "t")))
        _wait(ex, lambda evs: len(_reports(evs, 2)) >= 3, events)
        fresh = _reports(events, 2)[0].result["pid"]
        assert fresh != frozen and fresh in ex.worker_pids()
        assert ex.capacity() == 1
    finally:
        os.kill(frozen, signal.SIGCONT)

    # The frozen worker wakes up: its reports come out with attempt 1, next to attempt 2's.
    mark = len(events)
    _wait(
        ex,
        lambda evs: len(_reports(evs[mark:], 1)) >= 5 and len(_reports(evs[mark:], 2)) >= 5,
        events,
    )
    for e in events:
        if isinstance(e, Reported):
            assert e.trial_id == "t"
            assert e.result["pid"] == (frozen if e.attempt == 1 else fresh), e
    late = [e.result["step"] for e in _reports(events[mark:], 1)]
    assert late[0] == stale_steps_before[-1] + 1 and late == sorted(late)
    kinds = [e.attempt for e in events[mark:] if isinstance(e, Reported)]
    first_2, last_2 = kinds.index(2), len(kinds) - 1 - kinds[::-1].index(2)
    assert 1 in kinds[first_2:last_2], f"attempts did not interleave: {kinds}"

    # stop() goes to the current attempt, never to the stale worker, which carries on.
    ex.stop("t")
    _wait(ex, lambda evs: any(isinstance(e, Finished) for e in evs), events)
    done = [e for e in events if isinstance(e, Finished)]
    assert [(d.attempt, d.stopped) for d in done] == [(2, True)]
    mark = len(events)
    _wait(ex, lambda evs: len(_reports(evs[mark:], 1)) >= 3, events)
    assert not _reports(events[mark:], 2)
    assert ex.capacity() == 2

    # The stale attempt ends (max_iter): no event, no extra slot; the worker is told to exit.
    _wait(ex, lambda evs: not ex.stale_worker_pids(), events, timeout=20.0)
    assert [e for e in events if isinstance(e, (Finished, Failed))] == [f, done[0]]
    assert ex.capacity() == 2 and ex.total_slots() == 2
    assert max(e.result["step"] for e in _reports(events, 1)) == 70 - 1  # max_iter
    assert _gone(frozen)

    pids = ex.worker_pids()
    ex.close()
    assert all(_gone(pid) for pid in pids)
    me = psutil.Process()
    assert [p for p in me.children(recursive=True) if p.pid in (frozen, fresh)] == []


def test_stale_worker_that_never_wakes_is_killed_after_the_grace_period(
    executor: Any, tmp_path: Path
) -> None:
    ex = executor(lease_ttl=0.5)
    ex.stale_grace_ttls = 4.0  # 2 s
    ex.submit(Launch("t", {"kind": "endless", "sleep": 0.05}, 1, str(tmp_path / "t")))
    events: list[Event] = []
    _wait(ex, lambda evs: len(_reports(evs, 1)) >= 1, events)
    frozen = _reports(events, 1)[0].result["pid"]
    os.kill(frozen, signal.SIGSTOP)
    _wait(ex, lambda evs: any(isinstance(e, Failed) for e in evs), events)
    expired_at = time.monotonic()
    assert ex.stale_worker_pids() == [frozen]
    _wait(ex, lambda evs: not ex.stale_worker_pids(), events, timeout=10.0)
    assert time.monotonic() - expired_at >= 1.5
    assert _gone(frozen)
    assert [type(e).__name__ for e in events if isinstance(e, (Finished, Failed))] == ["Failed"]


def test_without_leases_a_frozen_worker_keeps_its_trial(executor: Any, tmp_path: Path) -> None:
    ex = executor(lease_ttl=None)
    ex.submit(Launch("t", {"kind": "endless", "sleep": 0.05}, 1, str(tmp_path / "t")))
    events: list[Event] = []
    _wait(ex, lambda evs: len(_reports(evs, 1)) >= 1, events)
    frozen = _reports(events, 1)[0].result["pid"]
    os.kill(frozen, signal.SIGSTOP)
    try:
        end = time.monotonic() + 1.5
        while time.monotonic() < end:
            events.extend(ex.poll(0.05))
        assert not [e for e in events if isinstance(e, Failed)]
        assert ex.capacity() == 1
    finally:
        os.kill(frozen, signal.SIGCONT)


# --------------------------------------------------------------- renewal
def _busy_trainable(config: dict[str, Any]) -> None:
    report({"phase": 0, "pid": os.getpid()})
    end = time.monotonic() + float(config["busy_s"])
    x = 0
    while time.monotonic() < end:  # pure Python, no report: only the heartbeat renews
        for i in range(1000):
            x += i * i
    report({"phase": 1, "pid": os.getpid(), "x": x % 7})


@pytest.mark.parametrize("sync", [False, True])
def test_busy_trial_longer_than_the_ttl_keeps_its_lease(
    executor: Any, tmp_path: Path, sync: bool
) -> None:
    ex = executor(_busy_trainable, lease_ttl=TTL)
    started = time.monotonic()  # before submit: an idle worker starts the trial at once
    ex.submit(Launch("busy", {"busy_s": 3 * TTL}, 1, str(tmp_path / "b"), sync_reports=sync))
    events: list[Event] = []
    while not any(isinstance(e, (Finished, Failed)) for e in events):
        assert time.monotonic() - started < 20.0, f"timed out; events: {_summary(events)}"
        for e in ex.poll(0.05):
            events.append(e)
            if sync and isinstance(e, Reported):
                ex.reply("busy", True)
    assert time.monotonic() - started >= 3 * TTL
    assert not [e for e in events if isinstance(e, Failed)], _summary(events)
    assert [r.result["phase"] for r in _reports(events, 1)] == [0, 1]
    pids = {r.result["pid"] for r in _reports(events, 1)}
    assert len(pids) == 1 and pids <= set(ex.worker_pids())
    assert ex.stale_worker_pids() == [] and ex.capacity() == 2


# --------------------------------------------------------------- end to end
def _freeze_once(config: dict[str, Any]) -> None:
    attempt = get_context().attempt
    marker = config["marker"]
    for step in range(int(config["n"])):
        report({"step": step, "attempt": attempt, "pid": os.getpid()})
        if step == 2 and not os.path.exists(marker):
            with open(marker + ".tmp", "w") as f:
                f.write(str(os.getpid()))
            os.replace(marker + ".tmp", marker)
            os.kill(os.getpid(), signal.SIGSTOP)  # the whole process freezes, threads too
        time.sleep(0.1)


def test_run_survives_a_frozen_worker_and_records_its_late_reports_as_stale(
    tmp_path: Path,
) -> None:
    marker = str(tmp_path / "frozen.pid")
    frozen: list[int] = []

    def wake_it_later() -> None:
        deadline = time.monotonic() + 30.0
        while not os.path.exists(marker) and time.monotonic() < deadline:
            time.sleep(0.02)
        if not os.path.exists(marker):
            return
        with open(marker) as f:
            frozen.append(int(f.read()))
        time.sleep(3.0)
        os.kill(frozen[0], signal.SIGCONT)

    helper = threading.Thread(target=wake_it_later, daemon=True)
    helper.start()
    try:
        results = tunefleet.run(
            _freeze_once,
            config={"marker": marker, "n": 40},
            engine=LocalExecutor(num_cpus=2, lease_ttl=TTL),
            max_failures=1,
            storage_path=str(tmp_path / "runs"),
            name="lease",
            verbose=0,
        )
    finally:
        helper.join(10.0)
        for pid in frozen:  # never leave a stopped process behind, even on failure
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
    assert frozen, "the trainable never froze itself"
    (trial,) = results.trials
    assert trial.status == "TERMINATED"
    assert trial.last_result["attempt"] == 2 and trial.last_result["step"] == 39
    assert trial.last_result["pid"] != frozen[0]

    store = open_store(str(tmp_path / "runs"))
    (failed,) = list(store.read("lease", kinds=("trial_failed",)))
    assert failed.data["stale"] is True and failed.data["worker_lost"] is True
    assert failed.data["attempt"] == 1 and failed.data["will_retry"] is True
    assert "lease expired" in failed.data["error"]
    stale = list(store.read("lease", kinds=("stale_result",)))
    assert len(stale) >= 5
    for rec in stale:
        assert rec.trial_id == trial.trial_id and rec.data["attempt"] == 1
        assert rec.data["result"]["attempt"] == 1 and rec.data["result"]["pid"] == frozen[0]
        assert rec.data["result"]["step"] > 2
    # Only attempt 1's reports from before the freeze count as results.
    first = [r.data for r in store.read("lease", kinds=("result",)) if r.data["attempt"] == 1]
    assert [r["step"] for r in first] == [0, 1, 2]
    assert _gone(frozen[0])
