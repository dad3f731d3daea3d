"""SimulatedExecutor: virtual time, determinism, generator trainables, scale."""

from __future__ import annotations

import contextlib
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tunefleet.checkpoint import Checkpoint
from tunefleet.errors import TuneValueError
from tunefleet.executors.base import Event, Failed, Finished, Launch, Reported, Resources, Started
from tunefleet.executors.simulated import SimulatedExecutor
from tunefleet.worker.session import get_checkpoint, report

pytestmark = pytest.mark.timeout(60)


def gen_trainable(config: dict[str, Any]) -> Any:
    for i in range(config.get("n", 3)):
        yield {"score": i * config.get("mult", 1.0), "time_this_iter_s": config.get("cost", 1.0)}


def thread_trainable(config: dict[str, Any]) -> None:
    for i in range(config.get("n", 3)):
        report({"score": i * config.get("mult", 1.0), "time_this_iter_s": config.get("cost", 1.0)})


def default_cost_trainable(config: dict[str, Any]) -> None:
    for i in range(3):
        report({"i": i})


def _started(fn: Any, workers: int = 2, start_time: float = 0.0, tmp: str = "/tmp") -> Any:
    ex = SimulatedExecutor(num_workers=workers, start_time=start_time)
    ex.start(fn, Resources(), None, tmp)
    return ex


def _drain(ex: SimulatedExecutor, limit: int = 100_000) -> list[tuple[float, Event]]:
    out: list[tuple[float, Event]] = []
    for _ in range(limit):
        evs = ex.poll(10.0)
        if not evs:
            return out
        out.extend((ex.now(), e) for e in evs)
    raise AssertionError("did not drain")


@pytest.mark.parametrize("fn", [gen_trainable, thread_trainable])
def test_virtual_time_orders_events(fn: Any) -> None:
    ex = _started(fn)
    ex.submit(Launch("a", {"n": 3, "cost": 2.0}, 0, "/tmp/a"))
    ex.submit(Launch("b", {"n": 2, "cost": 3.0}, 0, "/tmp/b"))
    seen = [
        (
            t,
            type(e).__name__,
            e.trial_id,
            e.result["timestamp"] if isinstance(e, Reported) else None,
        )
        for t, e in _drain(ex)
    ]
    assert seen == [
        (0.0, "Started", "a", None),
        (0.0, "Started", "b", None),
        (2.0, "Reported", "a", 2.0),
        (3.0, "Reported", "b", 3.0),
        (4.0, "Reported", "a", 4.0),
        (6.0, "Reported", "b", 6.0),
        (6.0, "Reported", "a", 6.0),
        (6.0, "Finished", "b", None),
        (6.0, "Finished", "a", None),
    ]
    assert ex.now() == 6.0
    ex.close()


def test_default_step_cost_is_one_virtual_second() -> None:
    ex = _started(default_cost_trainable)
    ex.submit(Launch("a", {}, 0, "/tmp/a"))
    results = [e.result for _, e in _drain(ex) if isinstance(e, Reported)]
    assert [r["timestamp"] for r in results] == [1.0, 2.0, 3.0]
    assert [r["time_this_iter_s"] for r in results] == [1.0, 1.0, 1.0]
    assert [r["training_iteration"] for r in results] == [1, 2, 3]
    ex.close()


def test_poll_never_sleeps_in_real_time() -> None:
    ex = _started(gen_trainable)
    ex.submit(Launch("a", {"n": 50, "cost": 86_400.0}, 0, "/tmp/a"))
    t0 = time.perf_counter()
    _drain(ex)
    assert time.perf_counter() - t0 < 1.0
    assert ex.now() == 50 * 86_400.0


def test_start_time_and_restored_time_total() -> None:
    ex = _started(gen_trainable, start_time=100.0)
    assert ex.now() == 100.0
    ex.submit(Launch("a", {"n": 2}, 0, "/tmp/a", start_iteration=4, start_time_total=50.0))
    results = [e.result for _, e in _drain(ex) if isinstance(e, Reported)]
    assert [r["timestamp"] for r in results] == [101.0, 102.0]
    assert [r["time_total_s"] for r in results] == [51.0, 52.0]
    assert [r["training_iteration"] for r in results] == [5, 6]


@pytest.mark.parametrize("fn", [gen_trainable, thread_trainable])
def test_stop_ends_after_the_step_under_way(fn: Any) -> None:
    """A halt reaches the trial at its next report: the step it is computing (10 s, from
    0 to 10) is charged, and its result is not sent."""
    ex = _started(fn)
    ex.submit(Launch("slow", {"n": 10, "cost": 10.0}, 0, "/tmp/s"))
    ex.submit(Launch("fast", {"n": 3, "cost": 1.0}, 0, "/tmp/f"))
    while True:
        evs = ex.poll(1.0)
        if any(isinstance(e, Reported) and e.result["training_iteration"] == 3 for e in evs):
            break
    assert ex.now() == 3.0
    ex.stop("slow")
    rest = _drain(ex)
    slow = [(t, e) for t, e in rest if e.trial_id == "slow"]
    assert len(slow) == 1
    t, end = slow[0]
    assert isinstance(end, Finished) and end.stopped and end.ts == 10.0 and t == 10.0
    assert ex.capacity() == 2
    ex.close()


def test_sync_reply_later_keeps_the_clock_monotonic() -> None:
    ex = _started(thread_trainable)
    ex.submit(Launch("s", {"n": 2, "cost": 1.0}, 0, "/tmp/s", sync_reports=True))
    ex.submit(Launch("b", {"n": 1, "cost": 5.0}, 0, "/tmp/b"))
    times: list[float] = []
    pending: list[Reported] = []
    for _ in range(50):
        evs = ex.poll(1.0)
        if not evs and not pending:
            break
        times.extend(ex.now() for _ in evs)
        for e in evs:
            if isinstance(e, Reported) and e.trial_id == "s":
                pending.append(e)
        # answer the first sync report only once b has reported at t=5
        if pending and ex.now() >= 5.0:
            ex.reply("s", True)
            pending.clear()
    assert times == sorted(times)
    ex.close()


def test_sync_reply_later_continues_from_the_reply_time() -> None:
    ex = _started(thread_trainable)
    ex.submit(Launch("s", {"n": 2, "cost": 1.0}, 0, "/tmp/s", sync_reports=True))
    ex.submit(Launch("b", {"n": 1, "cost": 5.0}, 0, "/tmp/b"))
    first = [e for e in ex.poll(1.0) + ex.poll(1.0) if isinstance(e, Reported)]
    assert [e.trial_id for e in first] == ["s"] and ex.now() == 1.0
    b = [e for e in ex.poll(1.0) if isinstance(e, Reported)]
    assert [e.trial_id for e in b] == ["b"] and ex.now() == 5.0
    ex.reply("s", True)
    rest = _drain(ex)
    second = [e for _, e in rest if isinstance(e, Reported) and e.trial_id == "s"]
    assert second[0].result["timestamp"] == 6.0
    assert second[0].result["time_total_s"] == 2.0  # waiting is not training time
    ex.reply("s", True)
    ends = [e for _, e in _drain(ex) if isinstance(e, Finished)]
    assert [e.trial_id for e in ends] == ["s"]
    ex.close()


def test_generator_can_yield_checkpoints(tmp_path: Path) -> None:
    def fn(config: dict[str, Any]) -> Any:
        ckpt = get_checkpoint()
        for i in range(2):
            d = tmp_path / f"src{i}"
            d.mkdir(exist_ok=True)
            (d / "state.txt").write_text(str(i))
            yield {"i": i, "restored": ckpt.path if ckpt else None}, Checkpoint(d)

    ex = _started(fn, tmp=str(tmp_path))
    trial_dir = tmp_path / "exp" / "g"
    ex.submit(Launch("g", {}, 0, str(trial_dir), checkpoint="/somewhere"))
    reps = [e for _, e in _drain(ex) if isinstance(e, Reported)]
    assert [r.result["restored"] for r in reps] == ["/somewhere", "/somewhere"]
    for i, r in enumerate(reps):
        assert r.checkpoint is not None and r.checkpoint.startswith(str(trial_dir))
        assert (Path(r.checkpoint) / "state.txt").read_text() == str(i)


def failing_generator(config: dict[str, Any]) -> Any:
    yield {"x": 1}
    raise KeyError("missing")


def reporting_generator(config: dict[str, Any]) -> Any:
    report({"x": 1})
    yield {"x": 2}


def bad_item_generator(config: dict[str, Any]) -> Any:
    yield 42


@pytest.mark.parametrize(
    ("fn", "error", "n_reports"),
    [
        (failing_generator, "KeyError", 1),
        (reporting_generator, "yield the metrics", 0),
        (bad_item_generator, "must yield a dict", 0),
    ],
)
def test_generator_errors_are_failures(fn: Any, error: str, n_reports: int) -> None:
    ex = _started(fn)
    ex.submit(Launch("a", {}, 0, "/tmp/a"))
    evs = [e for _, e in _drain(ex)]
    assert sum(isinstance(e, Reported) for e in evs) == n_reports
    failed = evs[-1]
    assert isinstance(failed, Failed) and error in failed.error
    assert fn.__name__ in failed.traceback
    assert ex.capacity() == 2


def test_wrapper_returning_a_generator_runs_on_the_thread_path() -> None:
    class Wrapper:
        def __call__(self, config: dict[str, Any]) -> Any:
            return gen_trainable(config)

    ex = _started(Wrapper())
    ex.submit(Launch("w", {"n": 2, "cost": 4.0}, 0, "/tmp/w"))
    reps = [e for _, e in _drain(ex) if isinstance(e, Reported)]
    assert [r.result["timestamp"] for r in reps] == [4.0, 8.0]


def swallowing_trainable(config: dict[str, Any]) -> None:
    from tunefleet.errors import StopTrial

    for i in range(1000):
        with contextlib.suppress(StopTrial):  # a badly behaved user swallowing the stop
            report({"i": i})


def test_a_swallowed_stop_still_ends_the_trial() -> None:
    ex = _started(swallowing_trainable)
    ex.submit(Launch("a", {}, 0, "/tmp/a"))
    ex.poll(1.0)
    ex.poll(1.0)
    ex.stop("a")
    evs = [e for _, e in _drain(ex)]
    assert [type(e).__name__ for e in evs] == ["Finished"]
    ex.close()


def test_close_ends_all_threads() -> None:
    before = threading.active_count()
    ex = _started(thread_trainable, workers=50)
    for i in range(50):
        ex.submit(Launch(f"t{i}", {"n": 100}, 0, f"/tmp/t{i}"))
    for _ in range(20):
        ex.poll(1.0)
    assert threading.active_count() >= before + 50
    ex.close()
    ex.close()
    deadline = time.monotonic() + 5
    while threading.active_count() > before:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert ex.capacity() == 0


def test_validation() -> None:
    with pytest.raises(TuneValueError, match="num_workers"):
        SimulatedExecutor(num_workers=0)
    with pytest.raises(TuneValueError, match="start_time"):
        SimulatedExecutor(start_time="now")  # type: ignore[arg-type]
    with pytest.raises(TuneValueError, match="resources_per_trial"):
        SimulatedExecutor().validate_resources(Resources(cpu=0))
    ex = _started(gen_trainable, workers=1)
    ex.submit(Launch("a", {}, 0, "/tmp/a"))
    with pytest.raises(RuntimeError, match="capacity"):
        ex.submit(Launch("b", {}, 0, "/tmp/b"))


def _run_scripted(fn: Any, specs: list[tuple[int, float]], stop_every: int) -> list[Any]:
    """Run trials with (n, cost) specs; stop a trial on every ``stop_every``-th event."""
    ex = SimulatedExecutor(num_workers=3)
    ex.start(fn, Resources(), None, "/tmp/x")
    todo = list(enumerate(specs))
    log: list[Any] = []
    count = 0
    while True:
        while todo and ex.capacity():
            i, (n, cost) = todo.pop(0)
            ex.submit(Launch(f"t{i}", {"n": n, "cost": cost}, 0, f"/tmp/t{i}"))
        evs = ex.poll(1.0)
        if not evs and not todo:
            break
        for e in evs:
            count += 1
            row: tuple[Any, ...] = (ex.now(), type(e).__name__, e.trial_id)
            if isinstance(e, Reported):
                row += (e.result["training_iteration"], e.result["timestamp"])
            if isinstance(e, Finished):
                row += (e.ts, e.stopped)
            log.append(row)
            if stop_every and count % stop_every == 0:
                ex.stop(e.trial_id)
    ex.close()
    return log


@settings(max_examples=25, deadline=None)
@given(
    specs=st.lists(
        st.tuples(st.integers(0, 5), st.sampled_from([0.5, 1.0, 2.0, 3.0])), min_size=1, max_size=8
    ),
    stop_every=st.integers(0, 7),
)
def test_runs_are_deterministic_and_time_ordered(
    specs: list[tuple[int, float]], stop_every: int
) -> None:
    a = _run_scripted(gen_trainable, specs, stop_every)
    b = _run_scripted(gen_trainable, specs, stop_every)
    c = _run_scripted(thread_trainable, specs, stop_every)
    assert a == b == c
    times = [row[0] for row in a]
    assert times == sorted(times)
    for i in range(len(specs)):
        rows = [row for row in a if row[2] == f"t{i}"]
        assert rows[0][1] == "Started" and rows[-1][1] == "Finished"
        its = [row[3] for row in rows if row[1] == "Reported"]
        assert its == list(range(1, len(its) + 1))


def test_scale_generator_path() -> None:
    ex = SimulatedExecutor(num_workers=1000)
    ex.start(gen_trainable, Resources(), None, "/tmp/x")
    n, submitted, ended, reports_seen = 20_000, 0, 0, 0
    t0 = time.perf_counter()
    while ended < n:
        while submitted < n and ex.capacity():
            ex.submit(Launch(f"t{submitted}", {"n": 3, "cost": 1.0 + submitted % 5}, 0, "/x"))
            submitted += 1
        for e in ex.poll(1.0):
            if isinstance(e, (Finished, Failed)):
                ended += 1
            elif isinstance(e, Reported):
                reports_seen += 1
            else:
                assert isinstance(e, Started)
    elapsed = time.perf_counter() - t0
    assert reports_seen == 3 * n
    assert elapsed < 30.0  # ~1 s here; the benchmark measures the real figure
