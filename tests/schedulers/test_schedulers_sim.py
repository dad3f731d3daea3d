"""Scheduler properties from the papers' definitions, on the simulated executor."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tunefleet import tune
from tunefleet.schedulers import (
    ASHAScheduler,
    HyperBandScheduler,
    MedianStoppingRule,
    PopulationBasedTraining,
)
from tunefleet.schedulers.hyperband import hyperband_brackets
from tunefleet.simulation import roundtrip_state, simulate
from tunefleet.storage import records as rk
from tunefleet.worker.session import get_context

SPACE = {"q": tune.uniform(0.0, 1.0), "speed": tune.uniform(2.0, 20.0)}


def curve(config: dict[str, Any]) -> Any:
    """A saturating learning curve; checkpoints every step (a marker in simulation)."""
    start = get_context().iteration  # continue after a pause/restore
    q, speed = config["q"], config["speed"]
    for t in range(start + 1, 10_000):
        acc = q * (1.0 - math.exp(-t / speed))
        yield {"acc": acc, "time_this_iter_s": 1.0}, True


def run(scheduler: Any, n: int = 30, workers: int = 4, seed: int = 0, **kw: Any) -> Any:
    return simulate(
        curve,
        config=SPACE,
        num_samples=n,
        metric="acc",
        mode="max",
        scheduler=scheduler,
        num_workers=workers,
        seed=seed,
        **kw,
    )


def rung_records(result: Any, milestones: list[float]) -> dict[float, list[str]]:
    """Which trials reported a result at each milestone."""
    at: dict[float, list[str]] = defaultdict(list)
    for r in result.records:
        if r.kind == rk.RESULT and r.data["training_iteration"] in milestones:
            at[r.data["training_iteration"]].append(r.trial_id)
    return at


# ------------------------------------------------------------------------------ ASHA
@settings(max_examples=15, deadline=None)
@given(
    n=st.integers(5, 60),
    eta=st.sampled_from([2, 3, 4]),
    workers=st.integers(1, 8),
    seed=st.integers(0, 1000),
)
def test_asha_promotion_never_promotes_more_than_n_over_eta(
    n: int, eta: int, workers: int, seed: int
) -> None:
    sched = ASHAScheduler(max_t=27, grace_period=1, reduction_factor=eta, variant="promotion")
    checks = []

    def check(engine: Any, _: int) -> None:
        for rung in sched._rungs[0]:
            checks.append(rung.promoted <= len(rung.keys) // eta)
        return None

    res = run(sched, n=n, workers=workers, seed=seed, on_event=check)
    assert all(checks)
    milestones = sched.rung_milestones()
    # Everyone reaches the first rung; each next rung has at most ⌊n_k/η⌋ of the previous.
    counts = [len(set(rung_records(res, milestones)[m])) for m in milestones]
    assert counts[0] == n
    for below, above in zip(counts, counts[1:], strict=False):
        assert above <= below // eta
    # Every trial ends TERMINATED, and none ran past max_t.
    assert all(t.status.value == "TERMINATED" for t in res.trials.values())
    assert all(t.iteration <= 27 for t in res.trials.values())


def test_asha_promotion_resumes_from_checkpoint_and_keeps_iterations() -> None:
    sched = ASHAScheduler(max_t=9, grace_period=1, reduction_factor=3, variant="promotion")
    res = run(sched, n=27, workers=3)
    for tid in res.trials:
        iters = [
            r.data["training_iteration"]
            for r in res.records
            if r.kind == rk.RESULT and r.trial_id == tid
        ]
        assert iters == list(range(1, len(iters) + 1))  # no repeats, no gaps across pauses
    paused = [r for r in res.records if r.kind == rk.TRIAL_PAUSED]
    assert paused and all(r.data["checkpoint"].startswith("sim://") for r in paused)
    best = res.best("acc", "max")
    assert best.iteration == 9  # the winner ran to max_t


def test_asha_stopping_stops_and_saves_compute() -> None:
    fifo = run(None, n=40, stop={"training_iteration": 27})
    asha = run(ASHAScheduler(max_t=27, grace_period=1, reduction_factor=3), n=40)
    spent_fifo = sum(t.iteration for t in fifo.trials.values())
    spent_asha = sum(t.iteration for t in asha.trials.values())
    assert spent_asha < 0.5 * spent_fifo
    assert (
        asha.best("acc", "max").last_result["acc"]
        >= 0.9 * fifo.best("acc", "max").last_result["acc"]
    )


def test_asha_rungs_follow_grace_and_eta() -> None:
    assert ASHAScheduler(max_t=100, grace_period=1, reduction_factor=4).rung_milestones() == [
        1,
        4,
        16,
        64,
    ]
    assert ASHAScheduler(max_t=81, grace_period=3, reduction_factor=3).rung_milestones() == [
        3,
        9,
        27,
    ]
    with pytest.raises(ValueError, match="reduction_factor"):
        ASHAScheduler(reduction_factor=1)
    with pytest.raises(ValueError, match="grace_period"):
        ASHAScheduler(grace_period=0)
    with pytest.raises(ValueError, match="variant"):
        ASHAScheduler(variant="eager")


# ------------------------------------------------------------------------------ Hyperband
def test_hyperband_brackets_match_li_et_al_table() -> None:
    """Li et al. (JMLR 2018), Table 1: R=81, η=3."""
    expected = [
        [(81, 1), (27, 3), (9, 9), (3, 27), (1, 81)],
        [(34, 3), (11, 9), (3, 27), (1, 81)],
        [(15, 9), (5, 27), (1, 81)],
        [(8, 27), (2, 81)],
        [(5, 81)],
    ]
    got = [[(n, round(r)) for n, r in b] for b in hyperband_brackets(81, 3)]
    assert got == expected


def test_hyperband_runs_bracket_and_halves_synchronously() -> None:
    sched = HyperBandScheduler(max_t=9, reduction_factor=3)
    # s_max = 2: brackets (9@1, 3@3, 1@9), (5@3, 1@9), (3@9).
    res = run(sched, n=17, workers=4)
    first = [f"sim_{i:05d}" for i in range(9)]
    iters = {tid: res.trials[tid].iteration for tid in first}
    assert sorted(iters.values()) == [1, 1, 1, 1, 1, 1, 3, 3, 9]
    # The winners were the best at each rung.
    acc_at_1 = {}
    for r in res.records:
        if r.kind == rk.RESULT and r.trial_id in first and r.data["training_iteration"] == 1:
            acc_at_1[r.trial_id] = r.data["acc"]
    top3 = sorted(acc_at_1, key=acc_at_1.get, reverse=True)[:3]
    assert {t for t in first if iters[t] >= 3} == set(top3)
    second = [f"sim_{i:05d}" for i in range(9, 14)]
    assert sorted(res.trials[t].iteration for t in second) == [3, 3, 3, 3, 9]
    assert all(res.trials[f"sim_{i:05d}"].iteration == 9 for i in range(14, 17))
    assert all(t.status.value == "TERMINATED" for t in res.trials.values())


# ------------------------------------------------------------------------------ median
@settings(max_examples=10, deadline=None)
@given(grace=st.integers(1, 15), seed=st.integers(0, 100))
def test_median_never_stops_before_grace_period(grace: int, seed: int) -> None:
    sched = MedianStoppingRule(
        time_attr="training_iteration", grace_period=grace, min_samples_required=2
    )
    res = run(sched, n=20, workers=3, seed=seed, stop={"training_iteration": 30})
    for t in res.trials.values():
        assert t.iteration >= grace  # stopped no earlier than the grace period
    stopped_early = [t for t in res.trials.values() if t.iteration < 30]
    assert stopped_early  # it does stop the weak ones


# ------------------------------------------------------------------------------ PBT
def test_pbt_exploits_only_top_into_bottom() -> None:
    sched = PopulationBasedTraining(
        time_attr="training_iteration",
        perturbation_interval=4,
        hyperparam_mutations={"q": tune.uniform(0.0, 1.0), "speed": [2.0, 5.0, 10.0, 20.0]},
        quantile_fraction=0.25,
        seed=3,
    )
    seen = []
    original_on_result = sched.on_result

    def spy(trial: Any, result: dict[str, Any]) -> Any:
        decision = original_on_result(trial, result)
        if decision.name == "RESTART":
            bottom, top = sched.quantiles()
            seen.append((trial.trial_id, decision.from_trial, bottom, top))
        return decision

    sched.on_result = spy  # type: ignore[method-assign]
    res = run(sched, n=8, workers=8, stop={"training_iteration": 40})
    assert seen, "PBT never exploited"
    for recipient, donor, bottom, top in seen:
        assert recipient in bottom and donor in top and recipient != donor
    restarts = [r for r in res.records if r.kind == rk.TRIAL_RESTARTED]
    assert len(restarts) == len(seen)
    for r in restarts:
        donor = r.data["from_trial"]
        assert r.data["checkpoint"].startswith(f"sim://{donor}/")


def test_pbt_explore_respects_bounds_and_lists() -> None:
    sched = PopulationBasedTraining(
        perturbation_interval=1,
        hyperparam_mutations={"lr": tune.uniform(0.1, 1.0), "bs": [16, 32, 64]},
        resample_probability=0.0,
        seed=0,
    )
    for _ in range(200):
        out = sched.explore({"lr": 0.95, "bs": 32})
        assert 0.1 <= out["lr"] <= 1.0 and out["lr"] in (pytest.approx(0.76), 1.0)
        assert out["bs"] in (16, 64)
    with pytest.raises(ValueError, match="hyperparam_mutations"):
        PopulationBasedTraining(hyperparam_mutations={"lr": []})


# ------------------------------------------------------------------------------ all
def make(name: str) -> Any:
    if name == "asha":
        return ASHAScheduler(max_t=27, grace_period=1, reduction_factor=3)
    if name == "asha_promotion":
        return ASHAScheduler(max_t=27, grace_period=1, reduction_factor=3, variant="promotion")
    if name == "hyperband":
        return HyperBandScheduler(max_t=27, reduction_factor=3)
    if name == "median":
        return MedianStoppingRule(
            time_attr="training_iteration", grace_period=3, min_samples_required=2
        )
    return PopulationBasedTraining(
        time_attr="training_iteration",
        perturbation_interval=3,
        hyperparam_mutations={"q": tune.uniform(0.0, 1.0)},
        seed=1,
    )


NAMES = ["asha", "asha_promotion", "hyperband", "median", "pbt"]


def fingerprint(res: Any) -> list[Any]:
    return [
        (r.kind, r.trial_id, json.dumps(r.data, sort_keys=True, default=str)) for r in res.records
    ]


@pytest.mark.parametrize("name", NAMES)
def test_deterministic_for_seed_and_event_order(name: str) -> None:
    a = run(make(name), n=16, workers=3, seed=7, stop={"training_iteration": 27})
    b = run(make(name), n=16, workers=3, seed=7, stop={"training_iteration": 27})
    assert fingerprint(a) == fingerprint(b)


@pytest.mark.parametrize("name", NAMES)
def test_state_dict_roundtrip_mid_run(name: str) -> None:
    plain = run(make(name), n=16, workers=3, seed=5, stop={"training_iteration": 27})
    swapped_at = []
    points = (plain.events // 3, 2 * plain.events // 3)

    def swap(engine: Any, n_events: int) -> Any:
        if n_events in points:
            swapped_at.append(n_events)
            return roundtrip_state(engine.scheduler, make(name), engine.trials)
        return None

    resumed = run(
        make(name), n=16, workers=3, seed=5, stop={"training_iteration": 27}, on_event=swap
    )
    assert swapped_at == list(points)
    assert fingerprint(resumed) == fingerprint(plain)
