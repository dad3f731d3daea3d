"""The ``tunefleet`` CLI: ls, show, export, run against real SQLite experiments."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from tunefleet.cli import app
from tunefleet.storage import Record, SQLiteStore

runner = CliRunner()


def make_runs(root: Path) -> Path:
    """Two experiments: `sweep` (3 trials, one failed) and a metric-less `bare`."""
    store = SQLiteStore(root)
    store.create_experiment("sweep", {"metric": "acc", "mode": "max"})
    recs = [Record("experiment_started", None, {"run": 0}, 1.0)]
    trials = {
        "trial_a": ({"lr": 0.001, "opt": {"name": "sgd"}}, [0.5, 0.7], "TERMINATED"),
        "trial_b": ({"lr": 0.01, "opt": {"name": "adam"}}, [0.6, 0.9, 0.95], "TERMINATED"),
        "trial_c": ({"lr": 0.1, "opt": {"name": "adam"}}, [math.nan], "ERROR"),
    }
    for i, (tid, (config, accs, status)) in enumerate(trials.items()):
        recs.append(Record("trial_created", tid, {"config": config, "index": i}, 1.0))
        recs.append(Record("trial_started", tid, {"attempt": 1}, 1.0))
        for it, acc in enumerate(accs, 1):
            recs.append(Record("result", tid, {"acc": acc, "training_iteration": it}, 1.0))
        err = "RuntimeError('diverged')\nmore detail" if status == "ERROR" else None
        recs.append(
            Record("trial_completed", tid, {"status": status, "error": err, "traceback": "tb"}, 2.0)
        )
    recs.append(Record("experiment_finished", None, {"status": "completed"}, 3.0))
    store.append("sweep", recs)
    store.create_experiment("bare", {})
    store.append("bare", [Record("trial_created", "x", {"config": {"k": 1}, "index": 0}, 1.0)])
    store.close()
    return root


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return make_runs(tmp_path / "runs")


def read_json(path: Path) -> pd.DataFrame:
    return pd.DataFrame(json.loads(path.read_text()))


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_ls(root: Path) -> None:
    code, out = invoke("ls", "--storage-path", str(root))
    assert code == 0, out
    assert "sweep" in out and "bare" in out and "completed" in out
    sweep_line = next(line for line in out.splitlines() if "sweep" in line)
    assert "acc=0.95 (max)" in sweep_line
    cells = [c.strip() for c in sweep_line.split("│")]
    assert cells[4:8] == ["3", "2", "1", "0"]  # trials, terminated, error, running


def test_ls_empty(tmp_path: Path) -> None:
    code, out = invoke("ls", "-s", str(tmp_path / "nothing"))
    assert code == 0 and "No experiments" in out


def test_show(root: Path) -> None:
    code, out = invoke("show", "sweep", "--storage-path", str(root))
    assert code == 0, out
    lines = out.splitlines()
    rows = [line for line in lines if line.startswith("│ trial_")]
    assert [r.split()[1] for r in rows] == ["trial_b", "trial_a", "trial_c"]  # best first
    assert "lr" in out and "opt/name" in out and "adam" in out
    assert "RuntimeError('diverged')" in out and "more detail" not in out
    assert "Best trial: trial_b" in out and "acc=0.95" in out
    assert f"Results stored in: {root / 'sweep'}" in out.replace("\n", "")


def test_show_with_metric_mode_and_limit(root: Path) -> None:
    code, out = invoke("show", "sweep", "-s", str(root), "--metric", "acc", "--mode", "min")
    assert code == 0, out
    assert "Best trial: trial_a" in out
    code, out = invoke("show", "sweep", "-s", str(root), "--limit", "1")
    assert code == 0 and "2 more trials" in out
    assert "trial_b" in out and "│ trial_a" not in out


def test_show_without_metric(root: Path) -> None:
    code, out = invoke("show", "bare", "-s", str(root))
    assert code == 0, out
    assert "x" in out and "pass --metric and --mode" in out


def test_unknown_experiment_exits_1_and_lists_existing(root: Path) -> None:
    for cmd in ("show", "export"):
        result = runner.invoke(app, [cmd, "nope", "-s", str(root)])
        assert result.exit_code == 1
        assert "nope" in result.stderr and "bare, sweep" in result.stderr


def test_bad_options_name_the_option(root: Path) -> None:
    result = runner.invoke(app, ["export", "sweep", "-s", str(root), "--format", "xml"])
    assert result.exit_code == 2 and "--format" in result.output
    result = runner.invoke(app, ["show", "sweep", "-s", str(root), "--mode", "best"])
    assert result.exit_code == 2 and "--mode" in result.output


@pytest.mark.parametrize("fmt", ["csv", "json", "parquet"])
def test_export_formats_read_back(root: Path, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"trials.{fmt}"
    code, msg = invoke("export", "sweep", "-s", str(root), "--format", fmt, "--out", str(out))
    assert code == 0, msg
    reader = {"csv": pd.read_csv, "json": read_json, "parquet": pd.read_parquet}[fmt]
    df = reader(out)
    assert list(df["trial_id"]) == ["trial_a", "trial_b", "trial_c"]
    assert list(df["acc"][:2]) == [0.7, 0.95] and pd.isna(df["acc"][2])
    assert list(df["config/opt/name"]) == ["sgd", "adam", "adam"]
    assert list(df["status"]) == ["TERMINATED", "TERMINATED", "ERROR"]

    every = tmp_path / f"all.{fmt}"
    code, msg = invoke(
        "export", "sweep", "-s", str(root), "-f", fmt, "-o", str(every), "--all-results"
    )
    assert code == 0, msg
    df_all = reader(every)
    assert len(df_all) == 6
    assert list(df_all["trial_id"]).count("trial_b") == 3
    assert "config/lr" in df_all.columns


def test_export_default_file_and_stdout(root: Path, tmp_path: Path) -> None:
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        code, msg = invoke("export", "sweep", "-s", str(root))
    finally:
        os.chdir(cwd)
    assert code == 0, msg
    assert len(pd.read_csv(tmp_path / "sweep.csv")) == 3
    result = runner.invoke(app, ["export", "sweep", "-s", str(root), "-f", "json", "-o", "-"])
    assert result.exit_code == 0
    rows = json.loads(result.stdout)
    assert [r["trial_id"] for r in rows] == ["trial_a", "trial_b", "trial_c"]


def test_real_subprocess_ls(root: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "tunefleet.cli", "ls", "--storage-path", str(root)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "sweep" in proc.stdout and "acc=0.95 (max)" in proc.stdout


def test_show_displays_pbt_lineage(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path)
    store.create_experiment("pbt", {"metric": "acc", "mode": "max"})
    ck0 = str(tmp_path / "pbt" / "trials" / "t0" / "checkpoint_000004")
    store.append(
        "pbt",
        [
            Record("trial_created", "t0", {"config": {"lr": 0.1}, "index": 0}, 1.0),
            Record("trial_created", "t1", {"config": {"lr": 0.9}, "index": 1}, 1.0),
            Record("trial_started", "t0", {"attempt": 1, "checkpoint": None}, 1.0),
            Record("trial_started", "t1", {"attempt": 1, "checkpoint": None}, 1.0),
            Record("result", "t0", {"acc": 0.8, "training_iteration": 4}, 2.0),
            Record("result", "t1", {"acc": 0.2, "training_iteration": 4}, 2.0),
            Record(
                "trial_restarted",
                "t1",
                {"config": {"lr": 0.12}, "from_trial": "t0", "checkpoint": ck0, "iteration": 4},
                3.0,
            ),
            Record("trial_started", "t1", {"attempt": 2, "checkpoint": ck0}, 3.0),
        ],
    )
    code, out = invoke("show", "pbt", "--storage-path", str(tmp_path))
    assert code == 0, out
    assert "Lineage" in out
    assert "exploit" in out and "lr: 0.9 → 0.12" in out
    assert "resume (attempt 2)" in out and "checkpoint_000004" in out


def test_show_without_continuations_has_no_lineage(root: Path) -> None:
    code, out = invoke("show", "sweep", "--storage-path", str(root))
    assert code == 0 and "Lineage" not in out


def test_damaged_store_is_one_line_in_every_command_and_doctor_repairs_it(root: Path) -> None:
    db = root / "sweep" / "experiment.db"
    db.write_bytes(b"not an experiment" * 300)
    for args in (("show", "sweep"), ("resume", "sweep"), ("export", "sweep", "-o", "-")):
        code, out = invoke(*args, "--storage-path", str(root))
        assert code == 1 and "Traceback" not in out, (args, out)
        (line,) = [x for x in out.splitlines() if x.strip()]
        assert line.startswith("Error: experiment 'sweep' is damaged") and str(db) in line
        assert "tunefleet doctor sweep" in line
    code, out = invoke("ls", "--storage-path", str(root))
    assert code == 0 and "damaged" in out and "tunefleet doctor sweep" in out
    code, out = invoke("doctor", "sweep", "--storage-path", str(root))
    assert code == 0 and "nothing in" in out and "free for a new run" in out, out
    assert [p.name for p in (root / "sweep").iterdir() if p.name.startswith("experiment.db")]
    code, out = invoke("repair", "bare", "--storage-path", str(root))
    assert code == 0 and "is intact (1 records)" in out, out


def test_ls_shows_a_dead_drivers_run_as_crashed(root: Path) -> None:
    store = SQLiteStore(root)
    store.append("bare", [Record("experiment_started", None, {"run": 0}, 1.0)])
    store.close()
    code, out = invoke("ls", "--storage-path", str(root))
    assert code == 0
    (row,) = [x for x in out.splitlines() if " bare " in x]
    assert "crashed" in row
    code, out = invoke("show", "bare", "--storage-path", str(root))
    assert code == 0 and "status: crashed" in out


def test_resume_refuses_a_storage_path_others_can_write(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TUNEFLEET_TRUST_STORAGE", raising=False)
    os.chmod(root / "sweep", 0o777)
    code, out = invoke("resume", "sweep", "--storage-path", str(root))
    assert code == 1 and "Traceback" not in out
    assert f"refusing to resume from {root / 'sweep'}" in out and "chmod go-w" in out
    code, out = invoke("resume", "sweep", "--storage-path", str(root), "--trust-storage")
    assert "refusing to resume" not in out and "Traceback" not in out
