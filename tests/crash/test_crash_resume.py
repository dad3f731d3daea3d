"""kill -9 of the driver at random moments, then resume: DESIGN.md §6's invariants.

Each scheduler (FIFO, ASHA promotion, PBT) runs a sweep in a separate driver process that
is killed with SIGKILL after a random delay, several times in a row (kills may land during
a resume), and is finally resumed to completion. After every kill:
- no trial the store had recorded as completed is lost or ever started again;
- a trial that was running restarts from exactly the checkpoint the store points to;
- every checkpoint a record points to exists and is complete;
- no worker process outlives its driver.
At the end the store holds exactly num_samples trials, all TERMINATED.
Set TUNEFLEET_CRASH_LOOPS to kill more times (default 3 per scheduler).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

import tunefleet as tune
from tunefleet.storage import open_store
from tunefleet.storage import records as rk
from tunefleet.storage.replay import TrialSnapshot, replay

HERE = Path(__file__).resolve().parent
LOOPS = int(os.environ.get("TUNEFLEET_CRASH_LOOPS", "3"))
NUM_SAMPLES = 8


def _marked_processes(marker: str) -> list[psutil.Process]:
    found = []
    for p in psutil.process_iter(["pid"]):
        try:
            if p.environ().get("CRASH_MARKER") == marker:
                found.append(p)
        except (psutil.Error, OSError):
            continue
    return found


def _driver(sched: str, storage: Path, resume: bool, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            str(HERE / "crash_trainable.py"),
            sched,
            str(storage),
            "1" if resume else "0",
            str(NUM_SAMPLES),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _snapshot(storage: Path) -> dict[str, TrialSnapshot] | None:
    store = open_store(str(storage))
    if not store.experiment_exists("crash"):
        return None
    return replay(store.read("crash")).trials


def _check_checkpoints(storage: Path) -> None:
    store = open_store(str(storage))
    if not store.experiment_exists("crash"):
        return
    for rec in store.read("crash", kinds=(rk.CHECKPOINT,)):
        path = Path(rec.data["path"])
        assert path.is_dir(), f"record points to a missing checkpoint {path}"
        assert (path / "complete").read_text() == "yes", f"incomplete checkpoint {path}"


@pytest.mark.timeout(600)
@pytest.mark.parametrize("sched", ["fifo", "asha_promotion", "pbt"])
def test_kill_minus_nine_then_resume(tmp_path: Path, sched: str) -> None:
    rng = random.Random(hash(sched) % 1000)
    storage = tmp_path / "runs"
    log = tmp_path / "trials.log"
    log.touch()
    marker = f"{sched}-{os.getpid()}-{time.time()}"
    env = dict(os.environ, CRASH_LOG=str(log), CRASH_MARKER=marker, PYTHONWARNINGS="ignore")
    completed_ever: dict[str, object] = {}  # trial id -> its final result
    checkpoints: list[tuple[int, set[str], dict[str, int]]] = []  # after each kill
    for loop in range(LOOPS):
        proc = _driver(sched, storage, resume=loop > 0, env=env)
        time.sleep(rng.uniform(0.4, 2.5))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        # Workers notice the dead driver and exit on their own.
        deadline = time.monotonic() + 10
        while _marked_processes(marker) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _marked_processes(marker), "worker processes outlived the driver"
        trials = _snapshot(storage)
        if trials is None:
            continue  # killed before the experiment was created
        _check_checkpoints(storage)
        if proc.returncode == -signal.SIGKILL:  # killed mid-run: no driver holds it now
            status = tune.ExperimentAnalysis(str(storage / "crash")).status
            allowed = {"crashed", "completed"}  # completed: it finished just before the kill
            if not trials:
                allowed.add("created")  # killed between creating the experiment and its run
            assert status in allowed, (status, len(trials))
        # Completed trials stay completed, with the same final result.
        for tid, last_result in completed_ever.items():
            now = trials[tid]
            assert now.status == "TERMINATED", f"{tid} was completed and is now {now.status}"
            assert now.last_result == last_result
        for tid, snap in trials.items():
            if snap.status == "TERMINATED":
                completed_ever.setdefault(tid, snap.last_result)
        offset = len(log.read_text().splitlines())
        expected_start = {
            tid: snap.checkpoint_iteration or 0
            for tid, snap in trials.items()
            if snap.status in ("RUNNING", "PENDING")
        }
        completed_now = {tid for tid, s in trials.items() if s.status == "TERMINATED"}
        checkpoints.append((offset, completed_now, expected_start))
    # Finally, resume to completion without a kill.
    final = _driver(sched, storage, resume=_snapshot(storage) is not None, env=env)
    out, err = final.communicate(timeout=300)
    assert final.returncode == 0 and "FINISHED" in out, err[-3000:]
    lines = log.read_text().splitlines()
    for offset, completed_then, expected_start in checkpoints:
        later = [ln.split() for ln in lines[offset:]]
        starts = [(p[1], int(p[2])) for p in later if p[0] == "start"]
        for tid, _step in starts:
            assert tid not in completed_then, f"completed trial {tid} was started again"
        first_start: dict[str, int] = {}
        for tid, step in starts:
            first_start.setdefault(tid, step)
        for tid, step in expected_start.items():
            if tid in first_start and sched == "fifo":
                # A running trial loses at most the work since its last recorded checkpoint.
                assert first_start[tid] == step, (tid, first_start[tid], step)
    trials = _snapshot(storage)
    assert trials is not None
    assert len(trials) == NUM_SAMPLES
    assert all(s.status == "TERMINATED" for s in trials.values())
    assert len({s.index for s in trials.values()}) == NUM_SAMPLES
    _check_checkpoints(storage)
