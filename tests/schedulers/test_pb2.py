"""PB2 (Parker-Holder et al. 2020) on the simulated executor, and its time-varying GP."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import approx_fprime

from tunefleet import tune
from tunefleet.schedulers import PB2, PopulationBasedTraining, create_scheduler
from tunefleet.schedulers.pb2 import TimeVaryingGP
from tunefleet.simulation import roundtrip_state, simulate
from tunefleet.storage import records as rk
from tunefleet.worker.session import get_context

BEST_LR = 0.7


def make_trainable(mem: dict[str, float]) -> Any:
    """Reward grows each step by a bump in lr that peaks at BEST_LR. The running total is
    the "weights": kept per checkpoint marker, so a restart continues from the donor's."""

    def train(config: dict[str, Any]) -> Any:
        ctx = get_context()
        acc = mem.get(ctx.restore_from, 0.0) if ctx.restore_from else 0.0
        for t in range(ctx.iteration + 1, 10_000):
            acc += math.exp(-((config["lr"] - BEST_LR) ** 2) / (2 * 0.15**2))
            acc += 1e-3 * config.get("bs", 0) / 128  # a weak second hyperparameter
            mem[f"sim://{ctx.trial_id}/checkpoint_{t:06d}"] = acc
            yield {"acc": acc}, True

    return train


def run(sched: Any, n: int = 8, iters: int = 40, seed: int = 0, **kw: Any) -> Any:
    space = kw.pop("config", {"lr": tune.uniform(0.0, 1.0)})
    return simulate(
        make_trainable({}),
        config=space,
        num_samples=n,
        metric="acc",
        mode="max",
        scheduler=sched,
        num_workers=n,
        seed=seed,
        stop={"training_iteration": iters},
        **kw,
    )


def pb2(seed: int = 0, **kw: Any) -> PB2:
    kw.setdefault("hyperparam_bounds", {"lr": [0.0, 1.0]})
    return PB2(time_attr="training_iteration", perturbation_interval=4, seed=seed, **kw)


def restarts(res: Any) -> list[tuple[float, float]]:
    """(donor's lr at the time, explored lr) for every exploit, from the event log."""
    config: dict[str, dict[str, Any]] = {}
    out = []
    for r in res.records:
        if r.kind == rk.TRIAL_CREATED:
            config[r.trial_id] = r.data["config"]
        elif r.kind == rk.TRIAL_RESTARTED:
            out.append((config[r.data["from_trial"]]["lr"], r.data["config"]["lr"]))
            config[r.trial_id] = r.data["config"]
    return out


# ------------------------------------------------------------------------- exploit/explore
@settings(max_examples=8, deadline=None)
@given(
    seed=st.integers(0, 1000),
    quantile=st.sampled_from([0.25, 0.5]),
    lo=st.floats(0.0, 0.5),
    width=st.floats(0.05, 0.5),
)
def test_pb2_exploits_top_into_bottom_and_explores_within_bounds(
    seed: int, quantile: float, lo: float, width: float
) -> None:
    bounds = {"lr": [lo, lo + width], "bs": [16, 128]}
    sched = pb2(seed, hyperparam_bounds=bounds, quantile_fraction=quantile)
    seen = []
    original = sched.on_result

    def spy(trial: Any, result: dict[str, Any]) -> Any:
        decision = original(trial, result)
        if decision.name == "RESTART":
            bottom, top = sched.quantiles()
            seen.append((trial.trial_id, decision.from_trial, bottom, top))
        return decision

    sched.on_result = spy
    res = run(
        sched,
        iters=24,
        seed=seed,
        config={"lr": tune.uniform(0.0, 1.0), "bs": tune.randint(16, 129)},
    )
    assert seen, "PB2 never exploited"
    for recipient, donor, bottom, top in seen:
        assert recipient in bottom and donor in top and recipient != donor
    explored = [r.data["config"] for r in res.records if r.kind == rk.TRIAL_RESTARTED]
    assert len(explored) == len(seen)
    for cfg in explored:
        assert lo <= cfg["lr"] <= lo + width
        assert type(cfg["bs"]) is int and 16 <= cfg["bs"] <= 128
    assert "gp" in sched.explore_sources  # the GP path was exercised, not only random


def test_pb2_explores_towards_the_best_lr_more_often_than_random() -> None:
    closer = {"pb2": 0, "random": 0}
    total = {"pb2": 0, "random": 0}
    dist: dict[str, list[float]] = {"pb2": [], "random": []}
    for seed in range(3):
        rand = PopulationBasedTraining(
            time_attr="training_iteration",
            perturbation_interval=4,
            seed=seed,
            hyperparam_mutations={"lr": tune.uniform(0.0, 1.0)},
            resample_probability=1.0,
        )
        for name, sched in (("pb2", pb2(seed)), ("random", rand)):
            for donor_lr, new_lr in restarts(run(sched, seed=seed)):
                total[name] += 1
                closer[name] += abs(new_lr - BEST_LR) < abs(donor_lr - BEST_LR)
                dist[name].append(abs(new_lr - BEST_LR))
    assert total["pb2"] >= 10 and total["random"] >= 10
    rate = {k: closer[k] / total[k] for k in closer}
    assert rate["pb2"] > rate["random"] + 0.2, rate
    assert np.mean(dist["pb2"]) < 0.5 * np.mean(dist["random"]), dist


def test_pb2_random_until_it_has_data_then_gp() -> None:
    sched = pb2(0)
    run(sched, iters=24)
    assert sched.explore_sources and set(sched.explore_sources) <= {"gp", "random"}
    first_gp = sched.explore_sources.index("gp")
    assert all(s == "random" for s in sched.explore_sources[:first_gp])
    assert all(s == "gp" for s in sched.explore_sources[first_gp:])
    assert len(sched._data) > 0


def test_pb2_data_is_the_reward_rate_of_the_config_that_ran() -> None:
    """Each GP point is (time, config, Δreward/Δtime over the interval). In this problem a
    config adds the same reward every step, so y must equal that config's rate exactly:
    this fails if an interval straddled a restart (new weights and config)."""
    sched = pb2(1)
    res = run(sched, iters=32, seed=1)
    assert any(r.kind == rk.TRIAL_RESTARTED for r in res.records)
    assert len(sched._data) >= 20
    for _, (lr,), y in sched._data:
        assert y == pytest.approx(math.exp(-((lr - BEST_LR) ** 2) / (2 * 0.15**2)), rel=1e-9)


def test_pb2_data_window_is_bounded() -> None:
    sched = pb2(0, max_data_points=5)
    run(sched, iters=24)
    assert len(sched._data) == 5
    times = [t for t, _, _ in sched._data]
    assert times == sorted(times) and times[-1] >= 20  # the most recent points are kept


def test_pb2_validates_hyperparam_bounds() -> None:
    for bad in (
        None,
        {},
        {"lr": [1.0, 0.5]},
        {"lr": [0.0]},
        {"lr": ["a", 1.0]},
        {"lr": [0.0, math.inf]},
        {"nested": {"lr": 3}},
    ):
        with pytest.raises(ValueError, match="hyperparam_bounds"):
            PB2(hyperparam_bounds=bad)
    with pytest.raises(ValueError, match="hyperparam_bounds"):
        create_scheduler("pb2")
    nested = PB2(hyperparam_bounds={"optim": {"lr": [0.1, 0.2]}}, perturbation_interval=1)
    out = nested.explore({"optim": {"lr": 0.15, "momentum": 0.9}})
    assert 0.1 <= out["optim"]["lr"] <= 0.2 and out["optim"]["momentum"] == 0.9


# ------------------------------------------------------------------------------ GP
def test_gp_interpolates_training_points_with_tiny_noise() -> None:
    rng = np.random.default_rng(0)
    X = rng.random((12, 2))
    t = rng.integers(0, 5, 12).astype(float)
    y = np.sin(5 * X[:, 0]) + X[:, 1] ** 2
    gp = TimeVaryingGP(lengthscale=0.3, noise_var=1e-8, epsilon=0.1).fit(X, t, y, optimize=False)
    mean, var = gp.predict(X, t)
    np.testing.assert_allclose(mean, y, atol=1e-4)
    assert np.all(var < 1e-4)
    # Far from the data (in config and in time) the posterior returns to the prior.
    far_mean, far_var = gp.predict(np.array([[0.5, 0.5]]), np.array([500.0]))
    assert far_mean[0] == pytest.approx(np.mean(y), abs=1e-6)
    assert far_var[0] == pytest.approx(np.var(y), rel=1e-6)


def test_gp_pending_points_keep_the_mean_and_shrink_the_variance() -> None:
    rng = np.random.default_rng(1)
    X, t, y = 0.5 * rng.random((10, 1)), np.zeros(10), rng.standard_normal(10)
    gp = TimeVaryingGP().fit(X, t, y, optimize=False)
    query = np.array([[0.9]])  # away from the data, where the variance is large
    mean0, var0 = gp.predict(query, np.zeros(1))
    gp.condition_on_pending(query, np.zeros(1))
    mean1, var1 = gp.predict(query, np.zeros(1))
    assert mean1[0] == pytest.approx(mean0[0])
    assert var1[0] < 0.5 * var0[0]


def test_gp_likelihood_gradient_and_fit() -> None:
    rng = np.random.default_rng(2)
    X = rng.random((25, 2))
    t = np.repeat(np.arange(5.0), 5)
    y = np.sin(6 * X[:, 0]) + 0.05 * rng.standard_normal(25)
    gp = TimeVaryingGP().fit(X, t, y, optimize=False)
    theta = np.array([math.log(0.4), 0.2, math.log(0.05), 0.2])
    _, grad = gp.neg_log_likelihood(theta)
    numeric = approx_fprime(theta, lambda z: gp.neg_log_likelihood(z)[0], 1e-6)
    np.testing.assert_allclose(grad, numeric, rtol=1e-3, atol=1e-3)
    before = gp.neg_log_likelihood(gp.theta)[0]
    gp.fit(X, t, y, optimize=True)
    assert gp.neg_log_likelihood(gp.theta)[0] < before
    x = np.array([0.3, 0.6])
    v, g = gp.ucb_and_grad(x, 4.0, 1.5)
    assert v == pytest.approx(gp.ucb(x[None, :], 4.0, 1.5)[0])
    numeric = approx_fprime(x, lambda z: gp.ucb_and_grad(z, 4.0, 1.5)[0], 1e-7)
    np.testing.assert_allclose(g, numeric, rtol=1e-3, atol=1e-4)


# ------------------------------------------------------------------------------ replay
def fingerprint(res: Any) -> list[Any]:
    return [
        (r.kind, r.trial_id, json.dumps(r.data, sort_keys=True, default=str)) for r in res.records
    ]


def test_pb2_deterministic_for_seed() -> None:
    a, b = run(pb2(4), seed=4, iters=24), run(pb2(4), seed=4, iters=24)
    c = run(pb2(5), seed=5, iters=24)
    assert fingerprint(a) == fingerprint(b)
    assert fingerprint(a) != fingerprint(c)


def test_pb2_state_dict_roundtrip_mid_run() -> None:
    plain = run(pb2(5), seed=5, iters=24)
    points = (plain.events // 3, 2 * plain.events // 3)
    swapped_at = []
    states = []

    def swap(engine: Any, n_events: int) -> Any:
        if n_events in points:
            swapped_at.append(n_events)
            states.append(engine.scheduler.state_dict())
            return roundtrip_state(engine.scheduler, pb2(5), engine.trials)
        return None

    resumed = run(pb2(5), seed=5, iters=24, on_event=swap)
    assert swapped_at == list(points)
    assert states[-1]["pb2"]["data"]  # the GP data really travelled through JSON
    assert fingerprint(resumed) == fingerprint(plain)
