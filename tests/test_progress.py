"""Live progress: counts, best so far, rate; silent with verbose=0."""

from __future__ import annotations

import io
from contextlib import redirect_stdout

from tunefleet.progress import Progress
from tunefleet.storage import records as rk
from tunefleet.storage.records import Record


def _records() -> list[Record]:
    return [
        Record(rk.TRIAL_CREATED, "t1", {"config": {"lr": 0.1}}, 0.0),
        Record(rk.TRIAL_CREATED, "t2", {"config": {"lr": 0.2}}, 0.0),
        Record(rk.RESULT, "t1", {"loss": 0.5}, 1.0),
        Record(rk.RESULT, "t2", {"loss": 0.25}, 1.0),
        Record(rk.RESULT, "t1", {"loss": float("nan")}, 2.0),
    ]


def test_plain_line_shows_counts_and_best() -> None:
    p = Progress("exp", "loss", "min", total=10, verbose=1)
    p.observe(_records())
    assert p.best_trial == "t2" and p.best_config == {"lr": 0.2}
    buf = io.StringIO()
    with redirect_stdout(buf):
        p.update(
            {"RUNNING": 2, "TERMINATED": 3, "ERROR": 1, "PENDING": 0, "PAUSED": 0}, 5, force=True
        )
    line = buf.getvalue()
    assert "terminated 3/10" in line and "error 1" in line and "running 2" in line
    assert "loss=0.25 (t2)" in line and "trials/s" in line


def test_max_mode_tracks_largest() -> None:
    p = Progress("exp", "loss", "max", total=None, verbose=1)
    p.observe(_records())
    assert p.best_trial == "t1"


def test_quiet_with_verbose_zero() -> None:
    p = Progress("exp", "loss", "min", total=10, verbose=0)
    p.observe(_records())
    buf = io.StringIO()
    with redirect_stdout(buf), p:
        p.update({"TERMINATED": 3}, 5, force=True)
    assert buf.getvalue() == ""
    assert p.best_trial is None


def test_rich_table_renders() -> None:
    from rich.console import Console

    p = Progress("exp", "loss", "min", total=4, verbose=1)
    p.observe(_records())
    console = Console(file=io.StringIO(), width=200)
    console.print(p._render({"RUNNING": 1, "TERMINATED": 2}, 3, p._t0 + 2.0))
    out = console.file.getvalue()  # type: ignore[attr-defined]
    assert "tunefleet · exp" in out and "2/4" in out and "loss=0.25" in out
