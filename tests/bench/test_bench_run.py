"""``tunefleet bench run`` and ``bench schedulers`` end to end on a small generated dataset.

Each system runs in its own child process, as for users; the tests read the written
JSON/markdown/PNG and check the figures are consistent with the raw reports.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tunefleet.bench.run import BenchConfig, validate
from tunefleet.bench.synth import synthesize
from tunefleet.cli import app
from tunefleet.errors import TuneValueError

pytest.importorskip("sklearn")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bench") / "data"
    synthesize(path, rows=6000, features=10, classes=2, informative=5, seed=0, formats="parquet")
    return path


def _invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def test_run_local_and_optuna_writes_table_json_and_charts(data_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("optuna")
    out = tmp_path / "out"
    code, output = _invoke(
        "bench", "run", "--workload", "logreg", "--engines", "local", "--peers", "optuna",
        "--trials", "4", "--data", str(data_dir), "--out", str(out), "--target", "0.5",
        "--price-per-core-hour", "0.04", "--spot-price-per-core-hour", "0.01",
    )  # fmt: skip
    assert code == 0, output
    report = json.loads((out / "bench.json").read_text())
    rows = {r["system"]: r for r in report["rows"]}
    assert set(rows) == {"local", "optuna"}
    for name, row in rows.items():
        assert row.get("error") is None, (name, row)
        assert row["trials"] == 4
        assert row["reports"] == 4 * 20  # logreg: 20 epochs each, fifo
        assert 0 < row["time_to_target_s"] <= row["wall_s"]
        assert 0 < row["utilisation"] <= row["utilisation_busy"] <= 1.0 + 1e-9
        assert row["cost_per_1000_spot"] == pytest.approx(row["cost_per_1000"] / 4)
        assert row["best"] > 0.5
    assert "| local |" in (out / "bench.md").read_text()
    # Both systems trained the same configurations (drawn once by the harness).
    trained = {
        name: sorted(
            json.dumps(c, sort_keys=True)
            for c in json.loads((out / "jobs" / f"{name}.outcome.json").read_text())["configs"]
        )
        for name in rows
    }
    assert len(trained["local"]) == 4 and trained["local"] == trained["optuna"]
    assert (out / "bench.png").stat().st_size > 0 and (out / "bench_curve.png").stat().st_size > 0
    assert "local" in output and "optuna" in output


def test_inject_failure_kills_a_trial_and_measures_recovery(data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    code, output = _invoke(
        "bench", "run", "--workload", "logreg", "--engines", "local", "--trials", "3",
        "--data", str(data_dir), "--out", str(out), "--inject-failure",
    )  # fmt: skip
    assert code == 0, output
    row = json.loads((out / "bench.json").read_text())["rows"][0]
    assert row.get("error") is None, row
    assert row["trials"] == 3 and row["errored"] == 0  # retried from its checkpoint
    assert row["recovery_s"] is not None and 0 < row["recovery_s"] < 30
    outcome = json.loads((out / "jobs" / "local.outcome.json").read_text())
    killed = row["killed_trial"]
    attempts = {e["pid"] for e in outcome["entries"] if e["trial"] == killed}
    assert len(attempts) == 2  # the killed attempt and its replacement
    # The replacement continued from a checkpoint: it never re-reported iteration 1.
    after = [
        r
        for r in outcome["rows"]
        if r["trial_id"] == killed and r["bench_entered"] > outcome["kill"]["time"]
    ]
    assert after and min(r["training_iteration"] for r in after) > 1


def test_schedulers_compute_to_reach_grid_best(data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "sched"
    code, output = _invoke(
        "bench", "schedulers", "--workload", "logreg", "--methods", "grid,random,asha,bohb,pbt",
        "--data", str(data_dir), "--out", str(out), "--rows", "3000",
    )  # fmt: skip
    assert code == 0, output
    report = json.loads((out / "schedulers.json").read_text())
    rows = {r["system"]: r for r in report["rows"]}
    assert rows["grid"]["compute_spent"] == pytest.approx(100.0)
    assert rows["grid"]["gap_to_grid_best"] == pytest.approx(0.0)
    assert 0 < rows["grid"]["compute_to_grid_best"] <= 100.0
    assert rows["random"]["compute_spent"] == pytest.approx(100.0)  # as many full trials
    assert rows["asha"]["compute_spent"] < 100.0  # early stopping spends less
    assert rows["bohb"].get("error") is None and rows["pbt"].get("error") is None
    for row in rows.values():
        assert row["compute_to_near_best"] is None or (
            row["compute_to_grid_best"] is None
            or row["compute_to_near_best"] <= row["compute_to_grid_best"]
        )
        reached = row["compute_to_grid_best"]
        assert reached is None or reached <= row["compute_spent"] + 1e-9
        assert (reached is None) == (row["gap_to_grid_best"] < 0)
    assert (out / "schedulers.png").stat().st_size > 0

    # --reuse: the same jobs are summarised again from their saved outcomes, untrained.
    saved = {p: p.stat().st_mtime_ns for p in out.glob("*/jobs/*.outcome.json")}
    code, output = _invoke(
        "bench", "schedulers", "--workload", "logreg", "--methods", "grid,random,asha,bohb,pbt",
        "--data", str(data_dir), "--out", str(out), "--rows", "3000",
        "--reuse", "--tolerance", "0",
    )  # fmt: skip
    assert code == 0, output
    assert saved and {p: p.stat().st_mtime_ns for p in saved} == saved
    again = {r["system"]: r for r in json.loads((out / "schedulers.json").read_text())["rows"]}
    for name, row in again.items():
        assert row["compute_spent"] == rows[name]["compute_spent"]
        assert row["compute_to_near_best"] == row["compute_to_grid_best"]  # tolerance 0
    # A job that differs in anything is not taken from the saved outcome.
    from tunefleet.bench.compare_schedulers import saved_outcome
    from tunefleet.bench.systems import Job

    job_file = next(out.glob("grid/jobs/*.job.json"))
    job = Job.from_json(job_file.read_text())
    assert saved_outcome(job) is not None
    job.rows = 2000
    assert saved_outcome(job) is None


@pytest.mark.parametrize(
    ("change", "option"),
    [
        ({"workload": "nope"}, "workload"),
        ({"engines": ["local", "yarn"]}, "--engines"),
        ({"peers": ["hyperopt"]}, "--peers"),
        ({"scheduler": "sha"}, "--scheduler"),
        ({"trials": 0}, "--trials"),
        ({"workers_per_trial": 2}, "--workers-per-trial"),
        ({"price_per_core_hour": -1.0}, "--price-per-core-hour"),
        ({"data": "/nonexistent"}, "--data"),
    ],
)
def test_bad_arguments_name_the_option(data_dir: Path, change: dict, option: str) -> None:
    cfg = BenchConfig(workload="logreg", data=str(data_dir))
    for key, value in change.items():
        setattr(cfg, key, value)
    with pytest.raises(TuneValueError, match=option):
        validate(cfg)


def test_cli_bad_engine_exits_2_before_running(data_dir: Path, tmp_path: Path) -> None:
    code, output = _invoke(
        "bench", "run", "--workload", "logreg", "--engines", "yarn", "--data", str(data_dir),
        "--out", str(tmp_path / "o"),
    )  # fmt: skip
    assert code == 2
    assert "--engines" in output
    assert not (tmp_path / "o").exists()
