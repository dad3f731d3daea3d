"""A sweep tells its user how to watch it live: the dashboard command, with its store."""

from __future__ import annotations

import shlex
from typing import Any

import pytest

import tunefleet as tune


def test_run_prints_the_dashboard_command(
    tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    def trainable(config: dict[str, Any]) -> None:
        tune.report({"x": config["a"]})

    root = str(tmp_path / "my runs")
    tune.run(
        trainable,
        config={"a": tune.uniform(0, 1)},
        num_samples=2,
        metric="x",
        mode="max",
        storage_path=root,
        verbose=1,
        name="hinted",
    )
    out = capsys.readouterr().out
    line = next(ln for ln in out.splitlines() if "tunefleet dashboard" in ln)
    # the command as printed is one a shell runs as is: the path with a space is quoted
    argv = shlex.split(line.split("watch it live: ", 1)[1])
    assert argv[:3] == ["tunefleet", "dashboard", "--storage-path"] and argv[3] == root
    tune.run(
        trainable,
        config={"a": 0.5},
        metric="x",
        mode="max",
        storage_path=root,
        verbose=0,
        name="quiet",
    )
    assert "tunefleet dashboard" not in capsys.readouterr().out
