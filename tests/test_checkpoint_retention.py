"""Checkpoint retention (num_to_keep, score attribute and order) on real runs."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest

import tunefleet as tune
from tunefleet.checkpoint_manager import CheckpointKeeper
from tunefleet.storage import records as rk
from tunefleet.storage.records import Record


def zigzag(config: dict[str, Any]) -> None:
    scores = [0.1, 0.9, 0.2, 0.8, 0.3, 0.4]
    for s in scores:
        d = tempfile.mkdtemp()
        Path(d, "s").write_text(str(s))
        tune.report({"acc": s}, checkpoint=tune.Checkpoint.from_directory(d))


def checkpoint_dirs(path: str) -> list[float]:
    return sorted(float(Path(p, "s").read_text()) for p in Path(path).glob("checkpoint_*"))


def test_keeps_best_by_score_plus_latest(tmp_path: Path) -> None:
    grid = tune.Tuner(
        zigzag,
        tune_config=tune.TuneConfig(metric="acc", mode="max"),
        run_config=tune.RunConfig(
            storage_path=str(tmp_path),
            verbose=0,
            checkpoint_config=tune.CheckpointConfig(
                num_to_keep=2, checkpoint_score_attribute="acc", checkpoint_score_order="max"
            ),
        ),
    ).fit()
    result = grid[0]
    assert checkpoint_dirs(result.path) == [0.4, 0.8, 0.9]  # best two + the latest
    kept = sorted(float(Path(c.path, "s").read_text()) for c, _ in result.best_checkpoints)
    assert kept == [0.4, 0.8, 0.9]
    best = result.get_best_checkpoint("acc", "max")
    assert Path(best.path, "s").read_text() == "0.9"


def test_classic_args_keep_most_recent(tmp_path: Path) -> None:
    res = tune.run(zigzag, storage_path=str(tmp_path), verbose=0, keep_checkpoints_num=1)
    assert checkpoint_dirs(res.trials[0].path) == [0.4]


def test_min_order_and_deletion_records() -> None:
    keeper = CheckpointKeeper(num_to_keep=1, score_attribute="loss", score_order="min")
    recs: list[Record] = []
    for it, loss in enumerate([3.0, 1.0, 2.0], 1):
        recs.append(Record(rk.RESULT, "t", {"loss": loss}, it))
        recs.append(Record(rk.CHECKPOINT, "t", {"path": f"sim://t/{it}", "iteration": it}, it))
    deleted = keeper.observe(recs)
    assert [d.data["path"] for d in deleted] == ["sim://t/1"]
    # 1.0 (best) and the latest (2.0) survive.
    assert [c[2] for c in keeper._kept["t"]] == ["sim://t/2", "sim://t/3"]
    with pytest.raises(ValueError, match="num_to_keep"):
        CheckpointKeeper(num_to_keep=0)


def test_checkpoint_in_use_by_another_trial_is_kept_until_released() -> None:
    keeper = CheckpointKeeper(num_to_keep=1)
    in_use = {"sim://donor/1"}
    recs = [
        Record(rk.RESULT, "donor", {"acc": 1.0}, 1.0),
        Record(rk.CHECKPOINT, "donor", {"path": "sim://donor/1", "iteration": 1}, 1.0),
        Record(rk.RESULT, "donor", {"acc": 2.0}, 2.0),
        Record(rk.CHECKPOINT, "donor", {"path": "sim://donor/2", "iteration": 2}, 2.0),
    ]
    assert keeper.observe(recs, lambda: set(in_use)) == []  # a recipient still needs it
    in_use.clear()
    later = [Record(rk.RESULT, "other", {"acc": 0.0}, 3.0)]
    deleted = keeper.observe(later, lambda: set(in_use))
    assert [d.data["path"] for d in deleted] == ["sim://donor/1"]


def test_checkpoint_names_are_never_reused(tmp_path: Path) -> None:
    from tunefleet.checkpoint import persist_checkpoint

    src = tmp_path / "src"
    src.mkdir()
    (src / "w").write_text("first")
    a = persist_checkpoint(str(src), str(tmp_path / "trial"), 4)
    (src / "w").write_text("second")
    b = persist_checkpoint(str(src), str(tmp_path / "trial"), 4)  # same iteration again
    assert a.path != b.path and b.path.endswith("checkpoint_000004.1")
    assert Path(a.path, "w").read_text() == "first"  # not replaced under a reader
    assert Path(b.path, "w").read_text() == "second"
