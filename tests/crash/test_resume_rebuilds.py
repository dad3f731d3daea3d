"""kill -9 of a driver mid-run, then each resume entry point: the same experiment goes on.

Every scheduler and every searcher (in a covering set of combinations, so the suite stays
short: ``TUNEFLEET_FULL_MATRIX=1`` runs the whole product) with a stop criterion,
``max_failures`` and ``checkpoint_freq`` set, is started, killed once enough results are
committed, and resumed by one of ``tune.resume``, ``Tuner.restore(...).fit()``,
``tunefleet resume`` and ``tune.run(resume=True)`` passing only the trainable and the
name. A spy in each driver process records the components the runner built: the resumed
ones must equal the originals (class and every constructor argument). The trial table
must come out whole (every trial finished, none created twice) and no trial that had
completed before the kill may start again. For ASHA, the state the resume loads must hold
every committed rung result (issue 11: a kill could leave results without the scheduler
state they changed), and no stopped trial may end off its rung.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tunefleet.protocol import RESULT, TRIAL_COMPLETED, TRIAL_CREATED, TRIAL_STARTED
from tunefleet.storage import open_store
from tunefleet.storage.replay import replay
from tunefleet.storage.state_log import read_state

HERE = Path(__file__).resolve().parent
SCHEDULERS = ["fifo", "asha", "asha_promotion", "hyperband", "median", "pbt", "pb2", "bohb"]
SEARCHERS = ["random", "sobol", "bohb"]
ENTRY_POINTS = ["resume", "tuner", "cli", "run"]

if os.environ.get("TUNEFLEET_FULL_MATRIX"):
    CASES = list(itertools.product(SCHEDULERS, SEARCHERS, ENTRY_POINTS))
else:
    # Each scheduler once, each searcher and each entry point at least twice.
    CASES = [
        (sched, SEARCHERS[i % len(SEARCHERS)], ENTRY_POINTS[i % len(ENTRY_POINTS)])
        for i, sched in enumerate(SCHEDULERS)
    ]


def _env(spy: Path) -> dict[str, str]:
    path = os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])
    return dict(os.environ, SPY_FILE=str(spy), PYTHONPATH=path, PYTHONWARNINGS="ignore")


def _driver(how: str, sched: str, search: str, storage: Path, spy: Path) -> subprocess.Popen:
    if how == "cli":
        code = (
            "import sys, rebuild_driver; rebuild_driver.install_spy(); "
            "from tunefleet.cli import main; "
            f"sys.argv = ['tunefleet', 'resume', 'rebuild', '--storage-path', {str(storage)!r}, "
            "'--trainable', 'rebuild_driver:train', '--quiet']; main()"
        )
        cmd = [sys.executable, "-c", code]
    else:
        cmd = [sys.executable, str(HERE / "rebuild_driver.py"), how, sched, search, str(storage)]
    return subprocess.Popen(
        cmd, env=_env(spy), cwd=HERE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _count(storage: Path, kind: str) -> int:
    store = open_store(str(storage))
    if not store.experiment_exists("rebuild"):
        return 0
    return sum(1 for _ in store.read("rebuild", kinds=[kind]))


def _asha_rungs_hold_every_committed_result(storage: Path) -> None:
    """The state a resume loads has each trial at every rung its committed results
    reached, with the score of the first result that reached it."""
    store = open_store(str(storage))
    state = read_state(store, "rebuild")
    if state is None:
        return
    rungs = state["scheduler"]["rungs"][0]
    first_at: dict[tuple[str, float], float] = {}
    for rec in store.read("rebuild", kinds=[RESULT]):
        it = rec.data["training_iteration"]
        for rung in rungs:
            key = (rec.trial_id, rung["milestone"])
            if it >= rung["milestone"] and key not in first_at:
                first_at[key] = rec.data["score"]
    for rung in rungs:
        scores = rung["scores"]
        for (tid, milestone), score in first_at.items():
            if milestone == rung["milestone"]:
                assert tid in scores, f"{tid}'s result at rung {milestone} is not in the state"
                assert scores[tid] == -score


@pytest.mark.timeout(300)
@pytest.mark.parametrize(("sched", "search", "how"), CASES)
def test_killed_sweep_resumes_with_the_same_components(
    tmp_path: Path, sched: str, search: str, how: str
) -> None:
    storage = tmp_path / "runs"
    spy = tmp_path / "spy.jsonl"
    first = _driver("start", sched, search, storage, spy)
    deadline = time.monotonic() + 120
    while first.poll() is None and time.monotonic() < deadline:
        if _count(storage, RESULT) >= 5:
            break
        time.sleep(0.05)
    if first.poll() is None:
        first.send_signal(signal.SIGKILL)
    out, err = first.communicate(timeout=60)
    assert "FINISHED" not in out, "the sweep ended before the kill: make it longer"
    store = open_store(str(storage))
    before = replay(store.read("rebuild")).trials
    done_before = {tid for tid, t in before.items() if t.status in ("TERMINATED", "ERROR")}
    seq_at_kill = max(r.seq for r in store.read("rebuild"))
    if sched == "asha":
        _asha_rungs_hold_every_committed_result(storage)

    second = _driver(how, sched, search, storage, spy)
    out, err = second.communicate(timeout=240)
    assert second.returncode == 0 and ("FINISHED" in out or how == "cli"), err[-3000:]

    rows = [json.loads(line) for line in spy.read_text().splitlines()]
    assert len(rows) == 2, rows
    assert rows[1] == rows[0], "the resumed run did not rebuild the same components"
    trials = replay(store.read("rebuild")).trials
    assert all(t.status in ("TERMINATED", "ERROR") for t in trials.values())
    created = [r.trial_id for r in store.read("rebuild", kinds=[TRIAL_CREATED])]
    assert len(created) == len(set(created)) == len(trials)
    restarted = {
        r.trial_id for r in store.read("rebuild", since=seq_at_kill, kinds=[TRIAL_STARTED])
    }
    assert not restarted & done_before, "a trial completed before the kill ran again"
    if sched == "asha":
        ends = {
            r.trial_id: r.data["last_result"]["training_iteration"]
            for r in store.read("rebuild", kinds=[TRIAL_COMPLETED])
        }
        assert set(ends.values()) <= {1, 3, 9}, f"a trial ended off its rung: {ends}"
