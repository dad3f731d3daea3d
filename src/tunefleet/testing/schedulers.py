"""The scheduler conformance suite: what the engine and resume assume of a
:class:`~tunefleet.schedulers.base.Scheduler`.

The engine acts on a scheduler's answers without second-guessing them: a decision it does
not know is a crash mid-experiment, a ``Resume`` of a trial that is not paused is a crash,
a scheduler that starts nothing while nothing runs ends the experiment early, and resume
trusts ``state_dict`` to carry everything. Each rule is a check here, run through
:func:`tunefleet.simulation.simulate` on synthetic learning curves (flat ones, ragged ones
that end early, ones that report NaN or no metric) and through direct calls with
:class:`~tunefleet.trial.Trial` objects, so that any scheduler, built-in or a user's, can be
held to it.

Use it by subclassing in a test module (the class name must start with ``Test``)::

    from tunefleet.testing.schedulers import SPACE, SchedulerConformance

    class TestMyScheduler(SchedulerConformance):
        def make_scheduler(self):
            return MyScheduler(max_t=30)  # a new instance on every call

Leave ``metric`` and ``mode`` to ``setup`` (the suite runs both modes on ``acc`` and its
negation ``neg_acc``). Trials report ``acc`` and ``neg_acc`` once per ``training_iteration``
(``time_this_iter_s`` = 1) for at most :data:`MAX_T` iterations, with a checkpoint each
time; the searched config is :data:`SPACE` (``q`` and ``speed``), which is what a PBT-like
scheduler may mutate. Set ``mode_symmetric = False`` for a scheduler whose decisions
legitimately depend on the sign of the metric. To run the suite over several schedulers,
override the ``factory`` fixture with a parametrised one. Importing this module needs pytest
and hypothesis.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from typing import Any, ClassVar, cast

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tunefleet.schedulers.base import (
    CONTINUE,
    PAUSE,
    STOP,
    Decision,
    NewTrial,
    Restart,
    Resume,
    Scheduler,
    SchedulerView,
    Terminate,
)
from tunefleet.simulation import SimulationResult, roundtrip_state, simulate
from tunefleet.space import uniform
from tunefleet.testing._property import property_settings
from tunefleet.testing.searchers import json_round_trip_problem
from tunefleet.trial import Trial, TrialStatus
from tunefleet.worker.session import get_context

METRIC = "acc"
#: The metric negated: ``mode="min"`` on it must decide what ``mode="max"`` on METRIC does.
NEG_METRIC = "neg_acc"
#: Longest a synthetic trial runs (in training iterations).
MAX_T = 30
#: The searched part of every trial's config.
SPACE: dict[str, Any] = {"q": uniform(0.1, 1.0), "speed": uniform(2.0, 20.0)}
#: Synthetic learning curves (``config["shape"]``), each a way to trip a scheduler up.
SHAPES = ("saturating", "noisy", "flat", "ragged", "flawed")

Factory = Callable[[], Scheduler]


def _acc(shape: str, q: float, speed: float, t: int) -> float | None:
    """The metric of a trial of ``shape`` at iteration ``t``; None: not reported."""
    base = q * (1.0 - math.exp(-t / speed))
    if shape == "noisy":
        return base + 0.1 * math.sin(q * 977.0 + 7.3 * t)
    if shape == "flat":
        return 0.5  # every trial ties at every rung
    if shape == "flawed":
        k = (t + int(q * 10)) % 6
        if k == 0:
            return math.nan
        if k == 1:
            return None
        if k == 2:
            return -math.inf
    return base


def curve(config: dict[str, Any]) -> Iterator[tuple[dict[str, Any], bool]]:
    """The suite's trainable: one of :data:`SHAPES`, a checkpoint after every step.

    It continues from the iteration it was restored at (pause/resume, PBT's restart); a
    ``ragged`` trial ends on its own after 2 to 29 iterations, before some rungs.
    """
    shape = str(config.get("shape", "saturating"))
    q, speed = float(config["q"]), float(config["speed"])
    length = 2 + int(q * 27) if shape == "ragged" else MAX_T
    for t in range(get_context().iteration + 1, length + 1):
        acc = _acc(shape, q, speed, t)
        result: dict[str, Any] = {"time_this_iter_s": 1.0}
        if acc is not None:
            result[METRIC] = acc
            result[NEG_METRIC] = -acc
        yield result, True


def decision_problem(
    decision: Any, trial: Trial, known: set[str], pauses_trials: bool
) -> str | None:
    """Why the engine cannot act on ``decision`` for ``trial`` (None: it can)."""
    where = f"on_result({trial.trial_id})"
    if decision is CONTINUE or decision is STOP:
        return None
    if decision is PAUSE or isinstance(decision, Restart):
        if not pauses_trials:
            return f"{where} returned {decision!r} but the scheduler says pauses_trials=False"
        if isinstance(decision, Restart):
            if not isinstance(decision.config, dict):
                return f"{where}: Restart.config is {decision.config!r}, not a dict"
            if decision.from_trial not in known:
                return f"{where}: Restart from unknown trial {decision.from_trial!r}"
        return None
    if isinstance(decision, Decision):
        return f"{where} returned a copy of a decision ({decision!r}): use the singletons"
    return f"{where} returned {decision!r}: not CONTINUE, STOP, PAUSE or a Restart"


def action_problem(action: Any, paused: set[str]) -> str | None:
    """Why the engine cannot act on ``action`` when ``paused`` trials are paused."""
    if action is None or isinstance(action, NewTrial):
        return None
    if isinstance(action, Resume | Terminate):
        if action.trial_id not in paused:
            verb = type(action).__name__
            return f"next_action returned {verb}({action.trial_id!r}), which is not paused"
        config = action.config if isinstance(action, Resume) else None
        if config is not None and not isinstance(config, dict):
            return f"next_action: Resume.config is {config!r}, not a dict"
        return None
    return f"next_action returned {action!r}: not NEW_TRIAL, Resume, Terminate or None"


class Watched:
    """A scheduler seen through the engine's eyes: every decision and action is checked
    as it is made, so a failure points at the call, not at a crash later.

    It forwards everything else to the scheduler rather than subclassing Scheduler, so
    that a method the base class gains later still reaches the scheduler under test.
    """

    def __init__(self, inner: Scheduler) -> None:
        self._inner = inner
        self.known: set[str] = set()
        self.decisions: list[tuple[str, int, str]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def on_trial_added(self, trial: Trial) -> None:
        self.known.add(trial.trial_id)
        self._inner.on_trial_added(trial)

    def on_result(self, trial: Trial, result: dict[str, Any]) -> Decision:
        assert trial.trial_id in self.known, f"on_result for {trial.trial_id}, never added"
        decision = self._inner.on_result(trial, result)
        problem = decision_problem(
            decision, trial, self.known, bool(getattr(self._inner, "pauses_trials", False))
        )
        assert problem is None, problem
        self.decisions.append((trial.trial_id, trial.iteration, decision.name))
        return decision

    def next_action(self, view: SchedulerView) -> Any:
        paused = set(view.paused)
        action = self._inner.next_action(view)
        problem = action_problem(action, paused)
        assert problem is None, problem
        return action


def fingerprint(res: SimulationResult) -> list[tuple[Any, ...]]:
    """The experiment's whole log, comparable across runs."""
    return [
        (r.kind, r.trial_id, json.dumps(r.data, sort_keys=True, default=str)) for r in res.records
    ]


def trial_table(res: SimulationResult) -> list[tuple[Any, ...]]:
    """What a user sees at the end: each trial's status, iterations and config."""
    return [
        (t.trial_id, t.status.value, t.iteration, json.dumps(t.config, sort_keys=True))
        for t in sorted(res.trials.values(), key=lambda t: t.index)
    ]


def run_simulation(
    factory: Factory,
    shape: str = "saturating",
    *,
    n: int = 12,
    workers: int = 3,
    seed: int = 0,
    metric: str = METRIC,
    mode: str = "max",
    on_event: Callable[[Any, int], Any] | None = None,
) -> tuple[SimulationResult, Watched]:
    """One simulated experiment of ``n`` trials of ``shape`` under a watched scheduler."""
    watched = Watched(factory())
    res = simulate(
        curve,
        config={**SPACE, "shape": shape},
        num_samples=n,
        metric=metric,
        mode=mode,
        scheduler=watched,
        num_workers=workers,
        seed=seed,
        on_event=on_event,
    )
    return res, watched


def _assert_all_ended(res: SimulationResult, n: int) -> None:
    assert res.engine.stop_reason is None, (
        f"the experiment was cut short: {res.engine.stop_reason} (a scheduler that starts "
        "nothing while nothing runs stalls the engine)"
    )
    assert len(res.trials) == n, f"{len(res.trials)} of {n} trials were created"
    unfinished = [t for t in res.trials.values() if t.status not in _ENDED]
    assert not unfinished, f"trials did not end: {unfinished}"
    assert all(t.iteration >= 1 for t in res.trials.values()), "a trial never reported"


_ENDED = (TrialStatus.TERMINATED, TrialStatus.ERROR)
_VALUES: dict[str, Any] = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf, "none": None}


class _Direct:
    """A minimal engine of direct calls: results go to ``on_result`` and each decision is
    applied to plain Trial objects, without any executor."""

    def __init__(self, scheduler: Scheduler, n_trials: int) -> None:
        self.s = Watched(scheduler)
        self.trials = {
            f"d{i}": Trial(trial_id=f"d{i}", config={"q": 0.5, "speed": 5.0}, index=i)
            for i in range(n_trials)
        }
        self.paused: dict[str, None] = {}
        for t in self.trials.values():
            self.s.on_trial_added(t)
            t.status, t.attempt = TrialStatus.RUNNING, 1

    def report(self, trial: Trial, value: str | float) -> None:
        it = trial.iteration + 1
        result: dict[str, Any] = {
            "training_iteration": it,
            "time_total_s": float(it),
            "time_this_iter_s": 1.0,
            "trial_id": trial.trial_id,
            "done": False,
        }
        if isinstance(value, float):
            result[METRIC] = value
        elif value != "missing":
            result[METRIC] = _VALUES[value]
        trial.last_result = result
        trial.checkpoint, trial.checkpoint_iteration = f"mem://{trial.trial_id}/{it}", it
        decision = self.s.on_result(trial, result)
        if decision is STOP:
            self.finish(trial)
        elif decision is PAUSE:
            trial.status = TrialStatus.PAUSED
            self.paused[trial.trial_id] = None
        elif isinstance(decision, Restart):
            trial.config = decision.config

    def finish(self, trial: Trial) -> None:
        trial.status = TrialStatus.TERMINATED
        self.s.on_trial_finished(trial)

    def slot_free(self) -> None:
        running = sum(t.status is TrialStatus.RUNNING for t in self.trials.values())
        view = SchedulerView(self.trials, self.paused.keys(), running, 0, False)
        action = self.s.next_action(view)
        if isinstance(action, Resume):
            del self.paused[action.trial_id]
            self.trials[action.trial_id].status = TrialStatus.RUNNING
        elif isinstance(action, Terminate):
            del self.paused[action.trial_id]
            self.finish(self.trials[action.trial_id])


_metric_values = st.one_of(
    st.floats(-1e6, 1e6, allow_nan=False),
    st.sampled_from(["nan", "inf", "-inf", "none", "missing"]),
)


class SchedulerConformance:
    """Base class of the suite; subclasses implement :meth:`make_scheduler` (or override
    the ``factory`` fixture)."""

    #: Maximising ``acc`` gives the same trial table as minimising ``neg_acc``.
    mode_symmetric: ClassVar[bool] = True
    #: Hypothesis examples per property check.
    max_examples: ClassVar[int] = 6

    def make_scheduler(self) -> Scheduler:
        raise NotImplementedError

    @pytest.fixture
    def factory(self) -> Factory:
        return self.make_scheduler

    # ------------------------------------------------------------------ whole runs
    @pytest.mark.parametrize("shape", SHAPES)
    def test_every_trial_ends(self, factory: Factory, shape: str) -> None:
        res, watched = run_simulation(factory, shape)
        _assert_all_ended(res, 12)
        assert watched.decisions, "on_result was never called"

    def test_random_experiments_end_with_valid_decisions(self, factory: Factory) -> None:
        @property_settings(self.max_examples)
        @given(
            shape=st.sampled_from(SHAPES),
            n=st.integers(1, 20),
            workers=st.integers(1, 6),
            seed=st.integers(0, 2**16),
        )
        def check(shape: str, n: int, workers: int, seed: int) -> None:
            res, _ = run_simulation(factory, shape, n=n, workers=workers, seed=seed)
            _assert_all_ended(res, n)

        check()

    def test_same_seed_same_trial_table(self, factory: Factory) -> None:
        a, _ = run_simulation(factory, "noisy", seed=11)
        b, _ = run_simulation(factory, "noisy", seed=11)
        assert trial_table(a) == trial_table(b)
        assert fingerprint(a) == fingerprint(b)

    def test_min_and_max_modes_mirror_each_other(self, factory: Factory) -> None:
        if not self.mode_symmetric:
            pytest.skip("mode_symmetric = False")
        for shape in ("noisy", "flawed"):
            high, w_high = run_simulation(factory, shape, seed=3)
            low, w_low = run_simulation(factory, shape, seed=3, metric=NEG_METRIC, mode="min")
            assert w_low.decisions == w_high.decisions, (
                f"{shape}: minimising {NEG_METRIC} decides otherwise than maximising {METRIC}"
            )
            assert trial_table(low) == trial_table(high)

    @pytest.mark.parametrize("shape", ["noisy", "flawed"])
    def test_state_dict_round_trip_mid_run(self, factory: Factory, shape: str) -> None:
        """Swapping in a fresh scheduler loaded from the JSON state, twice mid-run, changes
        nothing that happens afterwards."""
        plain, _ = run_simulation(factory, shape, seed=5)
        points = {plain.events // 3, 2 * plain.events // 3}
        swapped: list[int] = []

        def swap(engine: Any, n_events: int) -> Any:
            if n_events not in points:
                return None
            problem = json_round_trip_problem(engine.scheduler.state_dict())
            assert problem is None, problem
            swapped.append(n_events)
            fresh = cast(Scheduler, Watched(factory()))
            return roundtrip_state(engine.scheduler, fresh, engine.trials)

        resumed, _ = run_simulation(factory, shape, seed=5, on_event=swap)
        assert sorted(swapped) == sorted(points)
        assert fingerprint(resumed) == fingerprint(plain), (
            "the scheduler restored from state_dict decided otherwise than the original"
        )

    # ------------------------------------------------------------------ direct calls
    def test_on_result_never_raises_on_nan_or_missing_metric(self, factory: Factory) -> None:
        @property_settings(self.max_examples * 3)
        @given(
            mode=st.sampled_from(["min", "max"]),
            steps=st.lists(st.tuples(st.integers(0, 3), _metric_values), max_size=40),
        )
        def check(mode: str, steps: list[tuple[int, str | float]]) -> None:
            scheduler = factory()
            scheduler.setup(METRIC, mode, 0)
            run = _Direct(scheduler, 4)
            for i, (which, value) in enumerate(steps):
                trial = run.trials[f"d{which}"]
                if trial.status is TrialStatus.RUNNING:
                    run.report(trial, value)
                if i % 3 == 2:
                    run.slot_free()
            problem = json_round_trip_problem(scheduler.state_dict())
            assert problem is None, problem
            for trial in run.trials.values():
                if trial.status is TrialStatus.RUNNING:
                    run.finish(trial)

        check()

    def test_next_action_resumes_only_paused_trials(self, factory: Factory) -> None:
        scheduler = factory()
        scheduler.setup(METRIC, "max", 0)
        run = _Direct(scheduler, 3)
        for can_create in (True, False):
            view = SchedulerView(run.trials, {}.keys(), 3, 0, can_create)
            action = run.s.next_action(view)  # Watched asserts it names no running trial
            assert not isinstance(action, Resume | Terminate), action


__all__ = [
    "MAX_T",
    "METRIC",
    "NEG_METRIC",
    "SHAPES",
    "SPACE",
    "SchedulerConformance",
    "Watched",
    "action_problem",
    "curve",
    "decision_problem",
    "fingerprint",
    "run_simulation",
    "trial_table",
]
