"""Stop criteria normalisation and semantics."""

from __future__ import annotations

import pytest

from tunefleet.errors import TuneTypeError, TuneValueError
from tunefleet.stoppers import (
    CombinedStopper,
    DictStopper,
    FunctionStopper,
    MaximumIterationStopper,
    Stopper,
    TimeoutStopper,
    make_stopper,
)


def test_dict_semantics_any_key_reaches_threshold() -> None:
    s = make_stopper({"training_iteration": 5, "acc": 0.9})
    assert isinstance(s, DictStopper)
    assert not s("t", {"training_iteration": 4, "acc": 0.5})
    assert s("t", {"training_iteration": 5, "acc": 0.5})
    assert s("t", {"training_iteration": 1, "acc": 0.95})
    assert not s("t", {"other": 1})


def test_function_and_list() -> None:
    s = make_stopper([lambda tid, r: r["x"] > 3, MaximumIterationStopper(2)])
    assert isinstance(s, CombinedStopper)
    assert s("t", {"x": 4, "training_iteration": 1})
    assert s("t", {"x": 0, "training_iteration": 2})
    assert not s("t", {"x": 0, "training_iteration": 1})
    assert isinstance(make_stopper(lambda t, r: False), FunctionStopper)
    assert make_stopper(None) is None and make_stopper({}) is None


def test_duck_typed_foreign_stopper() -> None:
    class Foreign:
        def __call__(self, trial_id: str, result: dict) -> bool:
            return True

        def stop_all(self) -> bool:
            return True

    s = make_stopper(Foreign())
    assert isinstance(s, Stopper) and s("t", {}) and s.stop_all()


def test_timeout_stopper(monkeypatch: pytest.MonkeyPatch) -> None:
    import tunefleet.stoppers as mod

    now = [100.0]
    monkeypatch.setattr(mod.time, "monotonic", lambda: now[0])
    s = TimeoutStopper(10)
    assert not s.stop_all()
    now[0] = 109.0
    assert not s.stop_all()
    now[0] = 110.0
    assert s.stop_all()


def test_bad_stop_arguments() -> None:
    with pytest.raises(TuneTypeError, match="stop"):
        make_stopper(42)
    with pytest.raises(TuneTypeError, match="stop\\['acc'\\]"):
        make_stopper({"acc": "high"})
    with pytest.raises(TuneValueError, match="max_iter"):
        MaximumIterationStopper(0)
