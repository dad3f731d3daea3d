"""Every registered scheduler passes the shipped scheduler suite
(:mod:`tunefleet.testing.schedulers`), and the suite fails schedulers that break the
contract, so that passing it means something."""

from __future__ import annotations

import math
from typing import Any

import pytest

from tunefleet.schedulers import (
    CONTINUE,
    NEW_TRIAL,
    PB2,
    STOP,
    ASHAScheduler,
    Decision,
    FIFOScheduler,
    HyperBandScheduler,
    MedianStoppingRule,
    PopulationBasedTraining,
    Resume,
    SchedulerView,
    create_scheduler,
    scheduler_names,
)
from tunefleet.space import uniform
from tunefleet.testing.schedulers import Factory, SchedulerConformance
from tunefleet.trial import Trial

pytestmark = pytest.mark.timeout(180)


def _registered(name: str) -> Factory:
    return lambda: create_scheduler(name)


#: Every registered name with its defaults (PBT and PB2 must be told what to explore),
#: plus settings that make a scheduler act within the suite's 30 iterations: the defaults
#: of the median rule (a 60 s grace period) never stop a trial there.
FACTORIES: dict[str, Factory] = {
    **{name: _registered(name) for name in scheduler_names()},
    "pbt": lambda: PopulationBasedTraining(
        hyperparam_mutations={"q": uniform(0.1, 1.0)}, perturbation_interval=4, seed=0
    ),
    "pb2": lambda: PB2(hyperparam_bounds={"q": [0.1, 1.0]}, perturbation_interval=4, seed=0),
    "asha[max_t=27,eta=3,brackets=2]": lambda: ASHAScheduler(
        max_t=27, grace_period=1, reduction_factor=3, brackets=2
    ),
    "asha_promotion[max_t=27,eta=3]": lambda: ASHAScheduler(
        max_t=27, grace_period=1, reduction_factor=3, variant="promotion"
    ),
    "hyperband[max_t=27]": lambda: HyperBandScheduler(max_t=27, reduction_factor=3),
    "median[grace=4]": lambda: MedianStoppingRule(
        time_attr="training_iteration", grace_period=4, min_samples_required=2
    ),
    "median[grace=4,hard_stop=False]": lambda: MedianStoppingRule(
        time_attr="training_iteration", grace_period=4, min_samples_required=2, hard_stop=False
    ),
    "pbt[synch]": lambda: PopulationBasedTraining(
        hyperparam_mutations={"q": uniform(0.1, 1.0), "speed": [2.0, 5.0, 10.0]},
        perturbation_interval=4,
        synch=True,
        seed=0,
    ),
}

#: (registry name, check) -> why the built-in fails it today (reported, not fixed here).
KNOWN_FAILURES: dict[tuple[str, str], str] = {}


class TestRegisteredSchedulers(SchedulerConformance):
    @pytest.fixture(params=sorted(FACTORIES))
    def factory(self, request: pytest.FixtureRequest) -> Factory:
        name: str = request.param
        reason = KNOWN_FAILURES.get((name, request.function.__name__))
        if reason is not None:
            request.applymarker(pytest.mark.xfail(reason=reason, strict=True))
        return FACTORIES[name]


# ------------------------------------------------------------------ the suite can fail
class _Forgetful(FIFOScheduler):
    """Stops every 7th result it sees, but keeps its count out of state_dict."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def on_result(self, trial: Trial, result: dict[str, Any]) -> Decision:
        self.count += 1
        return STOP if self.count % 7 == 0 else CONTINUE


class _ResumesRunning(FIFOScheduler):
    """Asks to resume a trial that is running, not paused."""

    def next_action(self, view: SchedulerView) -> Any:
        running = [t for t, trial in view.trials.items() if trial.status.value == "RUNNING"]
        return Resume(running[0]) if running else super().next_action(view)


class _StringDecisions(FIFOScheduler):
    def on_result(self, trial: Trial, result: dict[str, Any]) -> Any:
        return "CONTINUE"


class _Waits(FIFOScheduler):
    """Starts two trials, then waits for something that never comes."""

    def next_action(self, view: SchedulerView) -> Any:
        return NEW_TRIAL if len(view.trials) < 2 else None


class _RawMetric(FIFOScheduler):
    """Stops trials below 0.3 of the raw metric, whatever the mode says."""

    def on_result(self, trial: Trial, result: dict[str, Any]) -> Decision:
        value = result.get(self.metric or "")
        return STOP if isinstance(value, float) and value < 0.3 else CONTINUE


class _NaNAverse(FIFOScheduler):
    def on_result(self, trial: Trial, result: dict[str, Any]) -> Decision:
        value = result.get(self.metric or "")
        if not isinstance(value, float) or not math.isfinite(value):
            raise ValueError(f"bad metric {value!r}")
        return CONTINUE


def test_suite_catches_state_kept_out_of_state_dict() -> None:
    with pytest.raises(AssertionError, match="restored from state_dict"):
        SchedulerConformance().test_state_dict_round_trip_mid_run(_Forgetful, "noisy")


def test_suite_catches_a_resume_of_a_running_trial() -> None:
    with pytest.raises(AssertionError, match="not paused"):
        SchedulerConformance().test_next_action_resumes_only_paused_trials(_ResumesRunning)


def test_suite_catches_a_decision_that_is_not_one() -> None:
    with pytest.raises(AssertionError, match="not CONTINUE, STOP, PAUSE or a Restart"):
        SchedulerConformance().test_every_trial_ends(_StringDecisions, "saturating")


def test_suite_catches_a_scheduler_that_stalls() -> None:
    with pytest.raises(AssertionError, match="cut short"):
        SchedulerConformance().test_every_trial_ends(_Waits, "saturating")


def test_suite_catches_a_scheduler_that_ignores_the_mode() -> None:
    with pytest.raises(AssertionError, match="decides otherwise"):
        SchedulerConformance().test_min_and_max_modes_mirror_each_other(_RawMetric)


def test_suite_catches_a_scheduler_that_cannot_take_nan() -> None:
    with pytest.raises(ValueError, match="bad metric"):
        SchedulerConformance().test_on_result_never_raises_on_nan_or_missing_metric(_NaNAverse)


def test_every_registered_name_and_known_failure_is_covered() -> None:
    assert set(scheduler_names()) <= set(FACTORIES)
    checks = {n for n in dir(SchedulerConformance) if n.startswith("test_")}
    for name, check in KNOWN_FAILURES:
        assert name in FACTORIES and check in checks, (name, check)
