"""Decision points: which reports wait, and schedulers that stop exactly at their rungs."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

import tunefleet as tune
from tunefleet.protocol import DecisionPoints, WaitRule, merge_sync
from tunefleet.schedulers import (
    ASHAScheduler,
    HyperBandScheduler,
    MedianStoppingRule,
    PopulationBasedTraining,
)
from tunefleet.simulation import simulate


def test_rule_waits_at_each_point_once_and_counts_from_the_restore() -> None:
    rule = WaitRule(DecisionPoints("training_iteration", (1.0, 3.0, 9.0)))
    waited = [i for i in range(1, 12) if rule.waits({"training_iteration": i})]
    assert waited == [1, 3, 9]
    restored = WaitRule(DecisionPoints("training_iteration", (1.0, 3.0, 9.0)), start_iteration=3)
    assert [i for i in range(4, 12) if restored.waits({"training_iteration": i})] == [9]


def test_rule_with_a_period_and_skipped_values() -> None:
    rule = WaitRule(DecisionPoints("time_total_s", (), 10.0))
    times = [3.0, 9.9, 10.0, 15.0, 31.0, 39.0, 40.5]
    assert [t for t in times if rule.waits({"time_total_s": t})] == [10.0, 31.0, 40.5]


def test_missing_or_odd_values_never_wait_and_true_always_does() -> None:
    rule = WaitRule(DecisionPoints("epoch", (2.0,)))
    assert not rule.waits({})
    assert not rule.waits({"epoch": True})
    assert not rule.waits({"epoch": "3"})
    assert rule.waits({"epoch": 2})
    assert WaitRule(True).waits({}) and not WaitRule(False).waits({"training_iteration": 1})


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.floats(0.5, 100), min_size=1, max_size=6, unique=True),
    st.lists(st.floats(0.0, 10.0), min_size=1, max_size=40),
)
def test_a_report_waits_iff_it_reaches_a_point_the_previous_one_had_not(
    points: list[float], steps: list[float]
) -> None:
    dp = DecisionPoints("time_total_s", tuple(sorted(points)))
    rule = WaitRule(dp)
    prev, t = 0.0, 0.0
    for step in steps:
        t += step
        expected = any(prev < p <= t for p in dp.at)
        assert rule.waits({"time_total_s": t}) == expected
        prev = t


def test_merge() -> None:
    a = DecisionPoints("training_iteration", (1.0, 3.0))
    b = DecisionPoints("training_iteration", (2.0,), 4.0)
    assert merge_sync(a, False) == a and merge_sync(False, False) is False
    assert merge_sync(a, True) is True
    assert merge_sync(a, b) == DecisionPoints("training_iteration", (1.0, 2.0, 3.0), 4.0)
    assert merge_sync(a, DecisionPoints("time_total_s", (1.0,))) is True


def test_builtin_schedulers_declare_their_points() -> None:
    asha = ASHAScheduler(max_t=27, grace_period=1, reduction_factor=3)
    assert asha.decision_points() == DecisionPoints("training_iteration", (1.0, 3.0, 9.0, 27.0))
    hb = HyperBandScheduler(max_t=9, reduction_factor=3)
    assert set(hb.decision_points().at) == {1.0, 3.0, 9.0}  # type: ignore[union-attr]
    med = MedianStoppingRule(grace_period=5, min_time_slice=10)
    assert med.decision_points() == DecisionPoints("time_total_s", (5.0,), 10.0)
    assert MedianStoppingRule(hard_stop=False).decision_points() is True
    pbt = PopulationBasedTraining(
        perturbation_interval=4, burn_in_period=2, hyperparam_mutations={"q": [1, 2]}
    )
    assert pbt.decision_points() == DecisionPoints("time_total_s", (2.0,), 4.0)


def _curve(config: dict) -> object:
    for i in range(1, 82):
        yield {"score": config["q"] * (1 - 1 / (i + 1))}


def test_asha_trials_end_on_their_rungs_in_simulation() -> None:
    res = simulate(
        _curve,
        config={"q": tune.uniform(0, 1)},
        num_samples=81,
        metric="score",
        mode="max",
        scheduler=ASHAScheduler(max_t=81, grace_period=1, reduction_factor=3),
        num_workers=8,
        seed=1,
    )
    ends = {t.iteration for t in res.trials.values()}
    assert ends <= {1, 3, 9, 27, 81}
    # Reports between rungs were not decision points: only rung reports waited.
    assert res.decisions == sum(t.iteration for t in res.trials.values())
    assert not math.isnan(res.virtual_s)
