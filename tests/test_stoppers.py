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


def test_trial_plateau_stops_flat_trials_only() -> None:
    from tunefleet.stoppers import TrialPlateauStopper

    s = TrialPlateauStopper("loss", std=0.01, num_results=3, grace_period=3)
    flat = [s("a", {"loss": v}) for v in (1.0, 0.5, 0.5, 0.5, 0.5)]
    assert flat == [False, False, False, True, True]
    moving = [s("b", {"loss": v}) for v in (1.0, 0.8, 0.6, 0.4, 0.2)]
    assert not any(moving)
    gated = TrialPlateauStopper(
        "acc", std=0.01, num_results=2, grace_period=2, metric_threshold=0.9, mode="max"
    )
    assert [gated("c", {"acc": v}) for v in (0.5, 0.5, 0.95, 0.95)] == [False, False, False, True]
    with pytest.raises(TuneValueError, match="num_results"):
        TrialPlateauStopper("x", num_results=1)


def test_experiment_plateau_stops_everything() -> None:
    from tunefleet.stoppers import ExperimentPlateauStopper

    s = ExperimentPlateauStopper("loss", std=0.001, top=3, mode="min", patience=1)
    for v in (3.0, 2.0, 1.0):
        s("t", {"loss": v})
    assert not s.stop_all()
    s("t", {"loss": 1.0005})
    s("t", {"loss": 1.0001})
    s("t", {"loss": 1.0002})
    assert s.stop_all()
