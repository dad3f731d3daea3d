"""A worker SIGKILLed right after ``report()`` returned loses no reported checkpoint.

Asynchronous reports are batched for up to ``FLUSH_AFTER_S`` before they are written; a
report that carries a checkpoint is written before ``report()`` returns. Data written to an
AF_UNIX socket is in the driver's receive buffer and survives the writer's death, so the
driver sees every checkpoint a killed trial reported, and the retry restores from it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import tunefleet
from tunefleet.executors.base import Event, Failed, Launch, Reported, Resources
from tunefleet.executors.local import LocalExecutor
from tunefleet.storage import open_store
from tunefleet.storage import records as rk

pytestmark = pytest.mark.timeout(120)

#: Quick reports before the checkpoint: they sit in the batch the checkpoint report flushes.
BURST = 20


def _burst_then_checkpoint(config: dict[str, Any]) -> None:
    ckpt = tunefleet.get_checkpoint()
    if ckpt is not None:
        step = json.loads(Path(ckpt.path, "state.json").read_text())["step"]
        tunefleet.report({"restored": step})
        return
    if os.path.exists(config["marker"]):  # a retry without the checkpoint: the bug
        tunefleet.report({"restored": 0})
        return
    for i in range(BURST):
        tunefleet.report({"restored": -1, "i": i})
    d = Path(tunefleet.get_trial_dir(), "scratch")
    d.mkdir(parents=True, exist_ok=True)
    (d / "state.json").write_text(json.dumps({"step": BURST + 1}))
    tunefleet.report(
        {"restored": -1, "i": BURST}, checkpoint=tunefleet.Checkpoint.from_directory(d)
    )
    Path(config["marker"]).write_text(str(os.getpid()))  # report() has returned
    if config["killer"] == "self":  # the earliest moment there is: no flusher can run first
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(60)  # the test kills us as soon as it sees the marker


def test_executor_gets_the_checkpoint_of_a_worker_killed_right_after_report(
    tmp_path: Path,
) -> None:
    ex = LocalExecutor(num_cpus=1)
    ex.start(_burst_then_checkpoint, Resources(cpu=1), 1, str(tmp_path))
    try:
        marker = tmp_path / "reported"
        config = {"marker": str(marker), "killer": "self"}
        ex.submit(Launch("t", config, 0, str(tmp_path / "t")))
        events: list[Event] = []
        deadline = time.monotonic() + 30
        while not any(isinstance(e, Failed) for e in events):
            assert time.monotonic() < deadline, events
            events.extend(ex.poll(0.05))
        assert marker.exists()
        reports = [e for e in events if isinstance(e, Reported)]
        # the burst went out with the checkpoint report, in order, nothing lost
        assert [r.result["i"] for r in reports] == list(range(BURST + 1))
        assert reports[-1].checkpoint is not None
        assert Path(reports[-1].checkpoint, "state.json").exists()
        failed = events[-1]
        assert isinstance(failed, Failed) and failed.worker_lost and "SIGKILL" in failed.error
    finally:
        ex.close()


def _kill_when_marked(marker: Path, stop: threading.Event) -> None:
    """Poll for the marker without sleeping, then SIGKILL the pid written in it."""
    while not stop.is_set():
        try:
            pid = int(marker.read_text())
        except (FileNotFoundError, ValueError):
            continue
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        return


@pytest.mark.parametrize("killer", ["test", "self"])
def test_run_records_the_checkpoint_and_the_retry_restores_from_it(
    tmp_path: Path, killer: str
) -> None:
    marker = tmp_path / "reported"
    stop = threading.Event()
    watcher = threading.Thread(target=_kill_when_marked, args=(marker, stop), daemon=True)
    if killer == "test":
        watcher.start()
    try:
        res = tunefleet.run(
            _burst_then_checkpoint,
            config={"marker": str(marker), "killer": killer},
            num_samples=1,
            max_failures=1,
            storage_path=str(tmp_path / "store"),
            name="killed",
            verbose=0,
            engine=LocalExecutor(num_cpus=1),
        )
    finally:
        stop.set()
        if watcher.is_alive():
            watcher.join(5)
    (trial,) = res.trials
    assert trial.status == "TERMINATED" and trial.last_result["restored"] == BURST + 1
    store = open_store(str(tmp_path / "store"))
    checkpoints = list(store.read("killed", kinds=[rk.CHECKPOINT]))
    assert len(checkpoints) == 1  # the one attempt 0 reported just before it was killed
    results = [r.data for r in store.read("killed", kinds=[rk.RESULT])]
    assert [r.get("i") for r in results[: BURST + 1]] == list(range(BURST + 1))
