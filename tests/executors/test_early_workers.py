"""Local workers started before the driver's imports (executors/early.py): the executor
takes exactly those, starts no others, and any it does not take are ended."""

from __future__ import annotations

import os
from typing import Any

import pytest

import tunefleet as tune
from tunefleet.errors import TuneValueError
from tunefleet.executors import local_spawn
from tunefleet.executors.early import start_early_workers
from tunefleet.executors.local import LocalExecutor


@pytest.fixture
def starts(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The pid of every worker process started, in order."""
    pids: list[int] = []
    real = local_spawn._start

    def spy(env: dict[str, str]) -> Any:
        proc = real(env)
        pids.append(proc.pid)
        return proc

    monkeypatch.setattr(local_spawn, "_start", spy)
    return pids


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    with open(f"/proc/{pid}/stat") as f:  # reaped or a zombie nobody waits for
        return f.read().split()[2] == "Z"


def pid_trainable(config: dict[str, Any]) -> None:
    tune.report(score=config["x"], pid=os.getpid())


def test_a_default_run_uses_the_early_workers_and_no_others(
    starts: list[int], tmp_path: Any
) -> None:
    results = tune.run(
        pid_trainable,
        config={"x": tune.uniform(0, 1)},
        num_samples=6,
        max_concurrent_trials=2,
        storage_path=str(tmp_path),
        verbose=0,
    )
    used = {t.last_result["pid"] for t in results.trials}
    assert len(starts) == min(2, os.cpu_count() or 1)
    assert used == set(starts)
    assert local_spawn._early == []
    assert all(_gone(pid) for pid in starts)


def test_bad_input_ends_the_early_workers(starts: list[int], tmp_path: Any) -> None:
    with pytest.raises(TuneValueError, match="num_samples"):
        tune.run(pid_trainable, config={}, num_samples=-3, storage_path=str(tmp_path), verbose=0)
    assert len(starts) >= 1  # they were started before the arguments were checked
    assert local_spawn._early == []
    assert all(_gone(pid) for pid in starts)


def test_a_run_that_asks_for_other_slots_starts_its_own(starts: list[int], tmp_path: Any) -> None:
    tune.run(
        pid_trainable,
        config={"x": tune.uniform(0, 1)},
        num_samples=2,
        resources_per_trial={"cpu": 1},
        max_concurrent_trials=1,
        storage_path=str(tmp_path),
        verbose=0,
    )
    assert len(starts) == 1  # nothing early: the resources were given explicitly


def test_workers_started_for_other_settings_are_not_taken(starts: list[int], tmp_path: Any) -> None:
    early = start_early_workers(pid_trainable, "local", None, 1)
    assert early.started == 1 and len(starts) == 1
    executor = LocalExecutor(env={"TUNEFLEET_TEST_OTHER": "1"})
    try:
        results = tune.run(
            pid_trainable,
            config={"x": tune.uniform(0, 1)},
            num_samples=2,
            max_concurrent_trials=1,
            engine=executor,
            storage_path=str(tmp_path),
            verbose=0,
        )
    finally:
        early.discard()
    assert {t.last_result["pid"] for t in results.trials} == {
        starts[1]
    }  # its own, not the early one
    assert local_spawn._early == []
    assert all(_gone(pid) for pid in starts)


def test_nothing_starts_early_off_the_local_engine_or_when_switched_off(
    starts: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert start_early_workers(pid_trainable, "simulated", None, None).started == 0
    assert start_early_workers(pid_trainable, LocalExecutor(), None, None).started == 0
    assert start_early_workers(pid_trainable, "local", {"cpu": 2}, None).started == 0
    assert start_early_workers(pid_trainable, "local", None, "2").started == 0
    resourced = tune.with_resources(pid_trainable, {"cpu": 1})
    assert start_early_workers(resourced, "local", None, None).started == 0
    assert start_early_workers(pid_trainable, "local", None, None, resume=True).started == 0
    assert start_early_workers(pid_trainable, "local", None, None, resume="AUTO").started == 0
    monkeypatch.setenv("TUNEFLEET_EARLY_WORKERS", "0")
    assert start_early_workers(pid_trainable, "local", None, None).started == 0
    assert starts == []
