"""run(warm_start_from=[...]): earlier experiments' results reach a model-based searcher
before its first suggestion; bad names and searchers that cannot learn are refused by name
before any trial runs."""

from __future__ import annotations

from pathlib import Path

import pytest

import tunefleet
from tunefleet import space as sp
from tunefleet.errors import TuneValueError
from tunefleet.search.tpe import TPESearch

SPACE = {"x": sp.uniform(-5.0, 5.0)}


def trainable(config: dict) -> dict:
    return {"loss": (config["x"] - 1.0) ** 2}


def _run(tmp: Path, name: str, n: int, **kw: object) -> object:
    return tunefleet.run(
        trainable,
        config=dict(SPACE),
        metric="loss",
        mode="min",
        num_samples=n,
        name=name,
        storage_path=str(tmp),
        verbose=0,
        seed=1,
        **kw,  # type: ignore[arg-type]
    )


def test_earlier_results_start_the_model(tmp_path: Path) -> None:
    _run(tmp_path, "first", 12)
    tpe = TPESearch(n_startup_trials=10, seed=3)
    _run(tmp_path, "second", 2, search_alg=tpe, warm_start_from=["first"])
    warm = [t for t in tpe._x if t.startswith("__warm_")]
    assert len(warm) == 12
    # 12 earlier observations >= n_startup_trials: the very first suggestion is the model's
    assert tpe.suggestion_log[0][1] == "model"


def test_bad_names_and_searchers_are_refused(tmp_path: Path) -> None:
    _run(tmp_path, "first", 2)
    with pytest.raises(TuneValueError, match="warm_start_from: no experiment 'nope'"):
        _run(tmp_path, "x", 2, search_alg="tpe", warm_start_from=["nope"])
    with pytest.raises(TuneValueError, match="warm_start_from: RandomSearch cannot"):
        _run(tmp_path, "y", 2, warm_start_from=["first"])
    with pytest.raises(TypeError, match="warm_start_from"):
        _run(tmp_path, "z", 2, search_alg="tpe", warm_start_from="first")
