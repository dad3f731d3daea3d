"""Resume safety: one writer per experiment, compatible specs only, disk-full stops cleanly."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

import tunefleet as tune
from tunefleet.errors import TuneValueError
from tunefleet.runner import StorageFullError
from tunefleet.storage import SQLiteStore, open_store
from tunefleet.storage import records as rk

pytestmark = pytest.mark.timeout(120)


def steady(config: dict[str, Any]) -> None:
    for i in range(3):
        tune.report(score=config["x"] + i)


def test_second_driver_is_refused_while_first_holds_the_experiment(tmp_path: Path) -> None:
    tune.run(
        steady,
        config={"x": tune.uniform(0, 1)},
        num_samples=2,
        name="exp",
        storage_path=str(tmp_path),
        verbose=0,
    )
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
            import sys, time
            from tunefleet.storage.lock import DriverLock
            lock = DriverLock({str(tmp_path / "exp")!r}, "exp"); lock.acquire()
            print("locked", flush=True); time.sleep(60)
        """),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(TuneValueError, match=r"being written by another driver \(pid"):
            tune.run(
                steady,
                config={"x": tune.uniform(0, 1)},
                num_samples=2,
                name="exp",
                storage_path=str(tmp_path),
                resume=True,
                verbose=0,
            )
        # Readers are never blocked.
        assert len(list(open_store(str(tmp_path)).read("exp", kinds=(rk.RESULT,)))) == 6
    finally:
        holder.kill()
        holder.wait()
    # The kernel dropped the lock with the process (kill -9 included): resume works.
    res = tune.run(
        steady,
        config={"x": tune.uniform(0, 1)},
        num_samples=3,
        name="exp",
        storage_path=str(tmp_path),
        resume=True,
        verbose=0,
    )
    # num_samples keeps counting: the 2 finished trials stay, one more is added.
    assert len(res.trials) == 3
    starts = list(open_store(str(tmp_path)).read("exp", kinds=(rk.TRIAL_STARTED,)))
    assert len(starts) == 3  # nothing re-run


def test_resume_refuses_changed_space_or_objective(tmp_path: Path) -> None:
    kw: dict[str, Any] = dict(name="exp", storage_path=str(tmp_path), verbose=0)
    tune.run(
        steady, config={"x": tune.uniform(0, 1)}, num_samples=2, metric="score", mode="max", **kw
    )
    with pytest.raises(TuneValueError, match="config: cannot resume"):
        tune.run(
            steady,
            config={"x": tune.uniform(0, 2)},
            num_samples=2,
            metric="score",
            mode="max",
            resume=True,
            **kw,
        )
    with pytest.raises(TuneValueError, match="mode"):
        tune.run(
            steady,
            config={"x": tune.uniform(0, 1)},
            num_samples=2,
            metric="score",
            mode="min",
            resume=True,
            **kw,
        )
    res = tune.run(
        steady,
        config={"x": tune.uniform(0, 2)},
        num_samples=4,
        metric="score",
        mode="max",
        resume=True,
        force_resume=True,
        **kw,
    )
    assert len(res.trials) == 4


def test_resume_by_name_reads_spec_and_trainable(tmp_path: Path) -> None:
    tune.run(
        steady,
        config={"x": tune.uniform(0, 1)},
        num_samples=2,
        name="exp",
        metric="score",
        mode="max",
        storage_path=str(tmp_path),
        verbose=0,
    )
    res = tune.resume("exp", storage_path=str(tmp_path), verbose=0)
    assert len(res.trials) == 2 and res.best_result["score"] >= 2


def slow(config: dict[str, Any]) -> None:
    for i in range(6):
        time.sleep(0.05)
        tune.report(score=config["x"] * 10 + i)


def test_disk_full_stops_cleanly_and_keeps_what_was_committed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_append = SQLiteStore.append
    calls = {"n": 0}

    def failing_append(self: SQLiteStore, name: str, records: Any) -> None:
        calls["n"] += 1
        if calls["n"] >= 4:
            raise sqlite3.OperationalError("database or disk is full")
        real_append(self, name, records)

    monkeypatch.setattr(SQLiteStore, "append", failing_append)
    kw: dict[str, Any] = dict(
        config={"x": tune.grid_search(list(range(8)))},
        name="full",
        storage_path=str(tmp_path),
        verbose=0,
        max_concurrent_trials=2,
    )
    t0 = time.monotonic()
    with pytest.raises(StorageFullError, match="storage_path: the disk holding .* is full"):
        tune.run(slow, **kw)
    assert time.monotonic() - t0 < 30  # stopped at once, did not run the whole sweep
    committed = list(open_store(str(tmp_path)).read("full"))
    assert committed and committed[0].kind == rk.EXPERIMENT_STARTED
    seqs = [r.seq for r in committed]
    assert seqs == list(range(1, len(seqs) + 1))  # an intact prefix
    monkeypatch.setattr(SQLiteStore, "append", real_append)
    res = tune.run(slow, resume=True, **kw)
    assert sorted(t.config["x"] for t in res.trials) == list(range(8))
    assert all(t.status == "TERMINATED" for t in res.trials)


class _StopAfter(tune.Callback):
    def __init__(self, n: int) -> None:
        self.n, self.done = n, 0

    def on_trial_complete(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self.done += 1
        if self.done == self.n:
            raise KeyboardInterrupt


def test_resumed_run_continues_the_same_random_stream(tmp_path: Path) -> None:
    kw: dict[str, Any] = dict(
        config={"x": tune.uniform(0, 1), "y": tune.choice(["a", "b", "c"])},
        num_samples=8,
        seed=7,
        verbose=0,
        max_concurrent_trials=1,
    )
    straight = tune.run(steady, storage_path=str(tmp_path / "a"), name="s", **kw)
    with pytest.raises(KeyboardInterrupt):
        tune.run(
            steady, storage_path=str(tmp_path / "b"), name="s", callbacks=[_StopAfter(3)], **kw
        )
    resumed = tune.run(steady, storage_path=str(tmp_path / "b"), name="s", resume=True, **kw)
    assert [t.config for t in resumed.trials] == [t.config for t in straight.trials]


def test_a_resume_keeps_the_recorded_log_mirror_interval(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tunefleet.restore import apply_recorded
    from tunefleet.run_spec import build_spec
    from tunefleet.storage import open_store

    tune.run(
        lambda c: None, name="m", storage_path=str(tmp_path), verbose=0, log_mirror_interval_s=7
    )
    recorded = open_store(str(tmp_path)).get_spec("m")
    assert recorded["log_mirror_interval_s"] == 7
    monkeypatch.setenv("TUNEFLEET_LOG_MIRROR_S", "3")  # the recorded value wins over it
    again = build_spec(lambda c: None, storage_path=str(tmp_path), resume=True, name="m")
    apply_recorded(again, "m", recorded)
    assert again.log_mirror_interval_s == 7
    passed = build_spec(
        lambda c: None, storage_path=str(tmp_path), resume=True, log_mirror_interval_s=2
    )
    apply_recorded(passed, "m", recorded)
    assert passed.log_mirror_interval_s == 2  # passed again: that one
