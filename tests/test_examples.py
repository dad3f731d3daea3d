"""Every example runs (a smaller sweep, into a temporary store)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.timeout(300)
def test_quickstart_runs_and_prints_best(tmp_path: Path) -> None:
    out = subprocess.run(
        [
            sys.executable,
            str(ROOT / "examples" / "quickstart.py"),
            "--num-samples",
            "6",
            "--storage-path",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "Best config:" in out.stdout and "'loss'" in out.stdout
    assert "Results:" in out.stdout and str(tmp_path) in out.stdout
    dbs = list(tmp_path.glob("*/experiment.db"))
    assert len(dbs) == 1
    show = subprocess.run(
        [
            sys.executable,
            "-m",
            "tunefleet.cli",
            "show",
            dbs[0].parent.name,
            "--storage-path",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert show.returncode == 0 and "Best trial" in show.stdout
