"""Trainable validation and the class API run in-process through a collecting channel."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tunefleet.errors import StopTrial, TuneTypeError
from tunefleet.trainable import (
    Trainable,
    _ClassRunner,
    as_function,
    trainable_ref,
    with_parameters,
    with_resources,
)
from tunefleet.worker.session import Session, set_session


class Collect:
    def __init__(self, stop_at: int | None = None) -> None:
        self.results: list[tuple[dict[str, Any], str | None]] = []
        self.stop_at = stop_at

    def send_result(self, session: Session, result: dict[str, Any], checkpoint: str | None) -> None:
        self.results.append((result, checkpoint))
        if self.stop_at is not None and result["training_iteration"] >= self.stop_at:
            raise StopTrial(pause=True)


def run_in_session(fn: Any, config: dict[str, Any], tmp: Path, **kw: Any) -> Collect:
    channel = Collect(kw.pop("stop_at", None))
    freq = kw.pop("freq", 0)
    s = Session("t_0", 1, str(tmp / "trial"), channel, config=config, **kw)
    s.checkpoint_frequency = freq
    set_session(s)
    try:
        fn(config)
    except StopTrial:
        pass
    finally:
        set_session(None)
    return channel


class Acc(Trainable):
    instances = 0

    def setup(self, config: dict[str, Any], offset: int = 0) -> None:
        Acc.instances += 1
        self.total = offset

    def step(self) -> dict[str, Any]:
        self.total += self.config["inc"]
        return {"total": self.total, "done": self.iteration + 1 >= 3}

    def save_checkpoint(self, checkpoint_dir: str) -> None:
        Path(checkpoint_dir, "total").write_text(str(self.total))

    def load_checkpoint(self, checkpoint: Any) -> None:
        self.total = int(Path(checkpoint, "total").read_text())

    def reset_config(self, new_config: dict[str, Any]) -> bool:
        self.total = 0
        return True


def test_class_runs_steps_and_checkpoints(tmp_path: Path) -> None:
    ch = run_in_session(_ClassRunner(Acc), {"inc": 2}, tmp_path, freq=2)
    assert [r["total"] for r, _ in ch.results] == [2, 4, 6]
    assert [r["training_iteration"] for r, _ in ch.results] == [1, 2, 3]
    ckpts = [c for _, c in ch.results]
    assert ckpts[0] is None and ckpts[2] is None
    assert ckpts[1] is not None and Path(ckpts[1], "total").read_text() == "4"


def test_class_restores_from_checkpoint(tmp_path: Path) -> None:
    ck = tmp_path / "ck"
    ck.mkdir()
    (ck / "total").write_text("100")
    ch = run_in_session(
        _ClassRunner(Acc), {"inc": 1}, tmp_path, restore_from=str(ck), start_iteration=1
    )
    assert [r["total"] for r, _ in ch.results] == [101, 102]
    assert [r["training_iteration"] for r, _ in ch.results] == [2, 3]


def test_reset_config_reuses_instance(tmp_path: Path) -> None:
    runner = _ClassRunner(Acc)
    Acc.instances = 0
    run_in_session(runner, {"inc": 1}, tmp_path)
    ch = run_in_session(runner, {"inc": 5}, tmp_path)
    assert Acc.instances == 1
    assert [r["total"] for r, _ in ch.results] == [5, 10, 15]


def test_sync_pause_checkpoints_every_step(tmp_path: Path) -> None:
    ch = run_in_session(_ClassRunner(Acc), {"inc": 1}, tmp_path, sync=True, stop_at=2)
    assert len(ch.results) == 2 and all(c is not None for _, c in ch.results)


def test_with_parameters_for_classes_and_functions(tmp_path: Path) -> None:
    ch = run_in_session(with_parameters(Acc, offset=10), {"inc": 1}, tmp_path)
    assert ch.results[0][0]["total"] == 11

    def fn(config: dict[str, Any], data: list[int]) -> None:
        from tunefleet.worker.session import report

        report(n=len(data))

    ch = run_in_session(as_function(with_parameters(fn, data=[1, 2, 3])), {}, tmp_path)
    assert ch.results[0][0]["n"] == 3


def test_as_function_validation() -> None:
    with pytest.raises(TuneTypeError, match="trainable"):
        as_function(3)

    def no_args() -> None: ...

    def kw_only(*, config: dict[str, Any]) -> None: ...

    with pytest.raises(TuneTypeError, match="no_args"):
        as_function(no_args)
    with pytest.raises(TuneTypeError, match="kw_only"):
        as_function(kw_only, "run_or_experiment")

    def ok(config: dict[str, Any], extra: int = 1) -> None: ...

    assert as_function(ok).__wrapped__ is ok  # Ray conventions wrap the call
    assert isinstance(as_function(Acc), _ClassRunner)


def test_with_resources_attaches_request() -> None:
    def fn(config: dict[str, Any]) -> None: ...

    wrapped = with_resources(fn, {"cpu": 2, "gpu": 0.5})
    assert wrapped._tunefleet_resources == {"cpu": 2, "gpu": 0.5}
    assert with_resources(Acc, {"cpu": 1})._tunefleet_resources == {"cpu": 1}


def test_trainable_ref() -> None:
    assert trainable_ref(Acc) == f"{__name__}:Acc"
    assert trainable_ref(with_parameters(test_trainable_ref)) == f"{__name__}:test_trainable_ref"
    assert os.sep not in trainable_ref(Acc)
