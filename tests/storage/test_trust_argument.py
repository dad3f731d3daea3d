"""trust_storage=: the argument form of TUNEFLEET_TRUST_STORAGE, on every resume entry point."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

import tunefleet as tf
from tunefleet.errors import TuneTypeError
from tunefleet.storage.trust import UntrustedStorageError
from tunefleet.tuner import Tuner


def trainable(config: dict[str, Any]) -> None:
    tf.report({"score": config["x"]})


def test_trust_storage_lets_a_shared_storage_path_resume(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TUNEFLEET_TRUST_STORAGE", raising=False)
    root = tmp_path / "runs"
    common = {"config": {"x": 1}, "name": "exp", "storage_path": str(root), "verbose": 0}
    tf.run(trainable, **common)
    os.chmod(root / "exp", 0o777)
    with pytest.raises(UntrustedStorageError, match="storage_path"):
        tf.run(trainable, resume=True, **common)
    with pytest.raises(UntrustedStorageError, match="storage_path"):
        Tuner.restore(str(root / "exp"), trainable)
    with pytest.raises(TuneTypeError, match="trust_storage"):
        tf.run(trainable, resume=True, trust_storage="yes", **common)  # type: ignore[arg-type]
    results = tf.run(trainable, resume=True, trust_storage=True, **common)
    assert [t.last_result["score"] for t in results.trials] == [1]
    assert len(tf.resume("exp", trainable, storage_path=str(root), trust_storage=True)) == 1
    grid = Tuner.restore(str(root / "exp"), trainable, trust_storage=True).fit()
    assert len(grid) == 1 and not grid.errors
