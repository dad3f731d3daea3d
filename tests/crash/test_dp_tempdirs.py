"""A data-parallel launcher killed with SIGKILL leaves its ``tunefleet-dp-*`` folder behind
(its ``with`` never unwinds); the next launcher on the host removes the folders of dead
launchers, so a crash loop does not fill the temp dir."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import tunefleet as tune
import tunefleet.distributed as tdist
from tunefleet.executors.local import LocalExecutor
from tunefleet.worker.data_parallel import remove_stale_tempdirs

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


def kill_launcher_three_times(config: dict[str, Any]) -> None:
    crashes = Path(config["dir"], "crashes")
    if tdist.world_rank() == 0:
        n = len(crashes.read_text()) if crashes.exists() else 0
        if n < 3:
            crashes.write_text("x" * (n + 1))
            os.kill(os.getppid(), signal.SIGKILL)  # the launcher: the trial's worker process
        tune.report({"score": 1})


def dp_dirs(tmp: Path) -> list[str]:
    return sorted(p.name for p in tmp.iterdir() if p.name.startswith("tunefleet-dp-"))


def test_a_crash_loop_leaves_no_launcher_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp))  # the workers are fresh interpreters: they read it
    results = tune.run(
        kill_launcher_three_times,
        config={"dir": str(tmp_path)},
        resources_per_trial={"workers": 2, "cpu": 1},
        max_failures=3,
        engine=LocalExecutor(num_cpus=2),
        storage_path=str(tmp_path / "runs"),
        verbose=0,
    )
    assert (tmp_path / "crashes").read_text() == "xxx"  # three launchers were killed
    assert [t.status for t in results.trials] == ["TERMINATED"]
    assert dp_dirs(tmp) == []


def test_only_dead_launchers_folders_are_removed(tmp_path: Path) -> None:
    host = socket.gethostname()
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True
    )
    stale = tmp_path / f"tunefleet-dp-{host}-{int(dead.stdout)}-abc"
    live = tmp_path / f"tunefleet-dp-{host}-{os.getpid()}-def"
    other = tmp_path / f"tunefleet-dp-{host}x-{int(dead.stdout)}-ghi"  # not this host's
    for d in (stale, live, other):
        d.mkdir()
        (d / "trial.pkl").write_bytes(b"x")
    assert remove_stale_tempdirs(str(tmp_path)) == 1
    assert dp_dirs(tmp_path) == sorted([live.name, other.name])
