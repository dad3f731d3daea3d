"""A process a trainable starts, even in a session of its own (``start_new_session=True``)
or daemonised (orphaned by a shell that exits), ends with its trial: when the trial
returns, is stopped by ASHA or raises, and when the driver is killed with SIGKILL.
Processes are found by a marker in their command line, and killed by pid at teardown
whatever happens."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from crash_procs import SLEEPER, kill_marked, with_marker

import tunefleet as tune
from tunefleet.callbacks import Callback
from tunefleet.schedulers import ASHAScheduler
from tunefleet.worker.reaper import descendants

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux /proc")


@pytest.fixture
def marker() -> Iterator[str]:
    mark = f"tf-orphan-{uuid.uuid4().hex}"
    yield mark
    kill_marked(mark)  # whatever the test's outcome: nothing stays running


def start_detached(mark: str) -> None:
    """One child in a new session and one grandchild orphaned by its shell (a daemon)."""
    subprocess.Popen([sys.executable, "-c", SLEEPER, mark], start_new_session=True)
    inner = f"setsid {sys.executable} -c '{SLEEPER}' {mark} >/dev/null 2>&1 &"
    subprocess.run(["sh", "-c", inner], check=True)


def trainable(config: dict[str, Any]) -> None:
    start_detached(f"{config['marker']}-{config['q']}")
    for i in range(config["steps"]):
        time.sleep(0.02)
        tune.report({"score": config["q"] * (i + 1)})
        if config["q"] == 4 and i == 4:  # before max_t, where ASHA would end it
            raise RuntimeError("the trial fails after starting its processes")


class Leftovers(Callback):
    """At each trial's end (after the worker said so), the processes its trial started."""

    def __init__(self) -> None:
        self.seen: dict[str, int] = {}
        self.iterations: dict[str, int] = {}
        self.errors = 0

    def _count(self, trial: Any) -> None:
        cfg = trial.config
        self.seen[trial.trial_id] = len(with_marker(f"{cfg['marker']}-{cfg['q']}"))
        self.iterations[trial.trial_id] = (trial.last_result or {}).get("training_iteration", 0)

    def on_trial_complete(self, iteration: int, trials: Any, trial: Any, **info: Any) -> None:
        self._count(trial)

    def on_trial_error(self, iteration: int, trials: Any, trial: Any, **info: Any) -> None:
        self.errors += 1
        self._count(trial)


def test_asha_stopped_failed_and_finished_trials_leave_no_process(
    tmp_path: Path, marker: str
) -> None:
    seen = Leftovers()
    tune.run(
        trainable,
        config={
            "q": tune.grid_search([4, 3, 2, 1]),  # worse and worse: ASHA stops
            "marker": marker,
            "steps": 8,
        },
        metric="score",
        mode="max",
        scheduler=ASHAScheduler(max_t=8, grace_period=1, reduction_factor=2),
        max_concurrent_trials=1,
        callbacks=[seen],
        raise_on_failed_trial=False,
        storage_path=str(tmp_path / "runs"),
        verbose=0,
    )
    assert len(seen.seen) == 4 and seen.errors == 1  # q=4 raised
    assert any(it < 8 for it in seen.iterations.values()), seen.iterations  # ASHA stopped one
    assert seen.seen == dict.fromkeys(seen.seen, 0)  # gone when the driver heard the end
    assert with_marker(marker) == []
    assert [
        p for p in descendants() if marker.encode() in Path(f"/proc/{p}/cmdline").read_bytes()
    ] == []


DRIVER = textwrap.dedent(
    """
    import os, subprocess, sys, time
    import tunefleet as tune

    SLEEPER = "import time, sys; time.sleep(600)"

    def train(config):
        mark = config["marker"]
        subprocess.Popen([sys.executable, "-c", SLEEPER, mark], start_new_session=True)
        inner = f"setsid {sys.executable} -c '{SLEEPER}' {mark} >/dev/null 2>&1 &"
        subprocess.run(["sh", "-c", inner], check=True)
        for i in range(1000):
            time.sleep(0.05)
            tune.report({"i": i})

    tune.run(train, config={"marker": os.environ["TF_MARK"]}, storage_path=sys.argv[1], verbose=0)
    """
)


def test_a_killed_driver_leaves_no_trial_process(tmp_path: Path, marker: str) -> None:
    script = tmp_path / "driver.py"
    script.write_text(DRIVER)
    driver = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path / "runs")],
        env={**os.environ, "TF_MARK": marker},  # not in its command line: in the config
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while len(with_marker(marker)) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(with_marker(marker)) == 2, "the trial never started its processes"
        driver.kill()
        driver.wait()
        deadline = time.monotonic() + 10  # the workers' watchdog looks every 0.5 s
        while with_marker(marker) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert with_marker(marker) == []
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait()
