"""What a sweep writes outlives it only if the log refers to it: Checkpoint.from_dict's
temporary folders go with their objects, and checkpoint folders that no record names
(reports dropped while their trial was being stopped, copies cut short by a kill) are
deleted when the run ends."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import pytest

import tunefleet as tune
from tunefleet.checkpoint_manager import remove_unrecorded
from tunefleet.schedulers import ASHAScheduler
from tunefleet.storage import open_store
from tunefleet.storage import records as rk


def dict_reporter(config: dict[str, Any]) -> None:
    for i in range(6):
        tune.report(
            {"score": config["q"] * (i + 1)}, checkpoint=tune.Checkpoint.from_dict({"i": i})
        )


def test_from_dict_leaves_no_temporary_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp))  # the workers are fresh interpreters: they read it
    tune.run(
        dict_reporter,
        config={"q": tune.grid_search([0.1, 0.5, 0.9])},
        metric="score",
        mode="max",
        storage_path=str(tmp_path / "runs"),
        verbose=0,
    )
    assert sorted(p.name for p in tmp.iterdir() if "ckpt" in p.name) == []
    ck = tune.Checkpoint.from_dict({"a": 1})
    folder = ck.path
    assert ck.to_dict() == {"a": 1} and os.path.isdir(folder)
    del ck
    assert not os.path.exists(folder)


def asha_trainable(config: dict[str, Any]) -> None:
    for i in range(9):
        tune.report(
            {"score": config["q"] * (i + 1)}, checkpoint=tune.Checkpoint.from_dict({"i": i})
        )


def test_only_recorded_checkpoint_folders_remain(tmp_path: Path) -> None:
    storage = str(tmp_path / "runs")
    tune.run(
        asha_trainable,
        config={"q": tune.uniform(0, 1)},
        num_samples=8,
        metric="score",
        mode="max",
        scheduler=ASHAScheduler(max_t=9, grace_period=1, reduction_factor=3),
        storage_path=storage,
        name="a",
        seed=0,
        verbose=0,
    )
    store = open_store(storage)
    recorded = {r.data["path"] for r in store.read("a", kinds=(rk.CHECKPOINT,))}
    deleted = {r.data["path"] for r in store.read("a", kinds=(rk.CHECKPOINT_DELETED,))}
    on_disk = {str(p) for p in Path(storage, "a", "trials").glob("*/checkpoint_*")}
    assert on_disk, "the sweep wrote checkpoints"
    assert {os.path.realpath(p) for p in on_disk} == {
        os.path.realpath(p) for p in recorded - deleted if os.path.exists(p)
    }
    assert not list(Path(storage, "a", "trials").glob("*/.tmp_checkpoint_*"))


def test_remove_unrecorded_keeps_recorded_and_other_files(tmp_path: Path) -> None:
    trial = tmp_path / "trials" / "t1"
    for name in ("checkpoint_000001", "checkpoint_000002", ".tmp_checkpoint_x", "artifacts"):
        (trial / name).mkdir(parents=True)
    (trial / "checkpoint_000003").write_text("a file, not a checkpoint folder")
    # recorded under another working directory: only the last two parts count
    recorded = {"/elsewhere/runs/a/trials/t1/checkpoint_000001"}
    assert remove_unrecorded(str(tmp_path / "trials"), recorded) == 2
    assert sorted(p.name for p in trial.iterdir()) == [
        "artifacts",
        "checkpoint_000001",
        "checkpoint_000003",
    ]
    assert remove_unrecorded(str(tmp_path / "missing"), recorded) == 0


def takes_data(config: dict[str, Any]) -> None:
    tune.report(n=len(config["data"]["rows"]))


def test_a_large_constant_in_the_config_is_named_with_the_way_out(tmp_path: Path) -> None:
    big = {"rows": list(range(300_000)), "lr": tune.uniform(0, 1)}  # ~2 MB as JSON
    with pytest.warns(UserWarning, match=r"config\['data'\]\['rows'\]: a constant of 2\.\d MB"):
        tune.run(takes_data, config={"data": big}, storage_path=str(tmp_path), verbose=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a small config says nothing
        tune.run(takes_data, config={"data": {"rows": [1]}}, storage_path=str(tmp_path), verbose=0)
