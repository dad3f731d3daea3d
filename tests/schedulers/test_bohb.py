"""BOHB (Falkner et al. 2018): HyperBandForBOHB + TuneBOHB, alone and on the simulator."""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tunefleet import tune
from tunefleet.schedulers import HyperBandForBOHB, create_scheduler
from tunefleet.search import create_searcher
from tunefleet.search.bohb import _KDE, TuneBOHB, _bandwidths
from tunefleet.simulation import roundtrip_state, simulate
from tunefleet.storage import records as rk
from tunefleet.worker.session import get_context

SPACE = {"x": tune.uniform(0.0, 1.0), "y": tune.uniform(0.0, 1.0)}
OPT = (0.3, 0.8)


def quality(config: dict[str, Any]) -> float:
    return 1.0 - (config["x"] - OPT[0]) ** 2 - (config["y"] - OPT[1]) ** 2


def curve(config: dict[str, Any]) -> Any:
    """A learning curve whose plateau is a quadratic in (x, y), best at OPT."""
    start = get_context().iteration
    q = quality(config)
    for t in range(start + 1, 10_000):
        yield {"acc": q * (1.0 - math.exp(-t / 3.0))}, True


def run(searcher: TuneBOHB, sched: Any = None, n: int = 40, seed: int = 0, **kw: Any) -> Any:
    sched = sched if sched is not None else HyperBandForBOHB(max_t=9, reduction_factor=3)
    return simulate(
        curve,
        config=SPACE,
        num_samples=n,
        metric="acc",
        mode="max",
        scheduler=sched,
        search_alg=searcher,
        num_workers=4,
        seed=seed,
        **kw,
    )


def fingerprint(res: Any) -> list[Any]:
    return [
        (r.kind, r.trial_id, json.dumps(r.data, sort_keys=True, default=str)) for r in res.records
    ]


def ask(searcher: TuneBOHB, trial_id: str) -> dict[str, Any]:
    config = searcher.suggest(trial_id)
    assert config is not None
    return config


def dist(config: dict[str, Any]) -> float:
    return math.hypot(config["x"] - OPT[0], config["y"] - OPT[1])


# ------------------------------------------------------------------------- sampling paths
def test_random_until_a_budget_has_min_points_then_model() -> None:
    s = TuneBOHB(metric="v", mode="max", seed=0, bohb_config={"random_fraction": 0.0})
    s.setup(SPACE, None, None, None, 100)
    assert s._min_points == 3  # d + 1
    configs = {f"t{i}": ask(s, f"t{i}") for i in range(5)}
    assert [src for _, src, _ in s.suggestion_log] == ["random"] * 5
    for i in range(2):  # two observations at budget 1: not enough
        s.on_result(f"t{i}", {"training_iteration": 1, "v": quality(configs[f"t{i}"])})
    ask(s, "t5")
    assert s.suggestion_log[-1] == ("t5", "random", None) and s.model_budget is None
    s.on_result("t2", {"training_iteration": 1, "v": quality(configs["t2"])})
    ask(s, "t6")
    assert s.suggestion_log[-1] == ("t6", "model", 1.0)
    # A larger budget takes over once it has enough points, not before.
    for i in range(2):
        s.on_result(f"t{i}", {"training_iteration": 3, "v": quality(configs[f"t{i}"])})
    ask(s, "t7")
    assert s.suggestion_log[-1] == ("t7", "model", 1.0)
    s.on_complete("t2", {"training_iteration": 3, "v": quality(configs["t2"])})
    ask(s, "t8")
    assert s.suggestion_log[-1] == ("t8", "model", 3.0)


@settings(max_examples=4, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_each_suggestion_takes_the_path_the_observations_allow(seed: int) -> None:
    """On the simulator, replay the event log: a trial's config came from the model iff some
    budget had min_points_in_model results when it was created, and from the largest one."""
    s = TuneBOHB(seed=seed, bohb_config={"random_fraction": 0.0})
    res = run(s, n=30, seed=seed)
    seen: dict[float, set[str]] = defaultdict(set)
    expected = []
    for r in res.records:
        if r.kind == rk.RESULT:
            seen[float(r.data["training_iteration"])].add(r.trial_id)
        elif r.kind == rk.TRIAL_CREATED:
            ready = [b for b, ids in seen.items() if len(ids) >= s._min_points]
            expected.append(
                (r.trial_id, "model" if ready else "random", max(ready) if ready else None)
            )
    assert s.suggestion_log == expected
    assert Counter(src for _, src, _ in expected)["model"] > 10


def test_random_fraction_mixes_in_random_suggestions() -> None:
    s = TuneBOHB(seed=3)
    res = run(s, n=60, seed=3)
    sources = Counter(src for _, src, _ in s.suggestion_log)
    assert len(res.trials) == 60
    assert sources["random"] >= 1 and sources["model"] > sources["random_fraction"] > 5


# ------------------------------------------------------------------------- the model
def test_model_concentrates_near_the_optimum_of_a_quadratic() -> None:
    space = {**SPACE, "opt": tune.choice(["a", "b", "c"])}

    def value(c: dict[str, Any]) -> float:
        return quality(c) - (0.0 if c["opt"] == "b" else 0.2)

    model = TuneBOHB(metric="v", mode="min", seed=1, bohb_config={"random_fraction": 0.0})
    model.setup(space, None, None, None, 200)
    rnd = TuneBOHB(metric="v", mode="min", seed=1, bohb_config={"random_fraction": 1.0})
    rnd.setup(space, None, None, None, 200)
    for s in (model, rnd):
        for i in range(30):
            c = ask(s, f"t{i}")
            s.on_result(f"t{i}", {"training_iteration": 1, "v": -value(c)})  # mode="min"
    drawn = {
        name: [ask(s, f"m{i}") for i in range(40)]
        for name, s in (("model", model), ("random", rnd))
    }
    assert [src for _, src, _ in model.suggestion_log[-40:]] == ["model"] * 40
    d_model = np.mean([dist(c) for c in drawn["model"]])
    d_random = np.mean([dist(c) for c in drawn["random"]])
    assert d_model < 0.5 * d_random, (d_model, d_random)
    share_b = {k: np.mean([c["opt"] == "b" for c in v]) for k, v in drawn.items()}
    assert share_b["model"] > 0.8 and share_b["random"] < 0.6, share_b


def test_an_early_model_does_not_collapse_onto_its_single_good_point() -> None:
    """With n = min_points_in_model the good set has one point, which has no spread of its
    own: the model must still sample around it at the scale of all observations."""
    s = TuneBOHB(metric="v", mode="max", seed=2, bohb_config={"random_fraction": 0.0})
    s.setup(SPACE, None, None, None, 100)
    for i in range(3):
        c = ask(s, f"t{i}")
        s.on_result(f"t{i}", {"training_iteration": 1, "v": quality(c)})
    drawn = [ask(s, f"m{i}") for i in range(30)]
    assert {src for _, src, _ in s.suggestion_log[3:]} == {"model"}
    spread = [float(np.std([c[k] for c in drawn])) for k in ("x", "y")]
    assert min(spread) > 0.015, spread  # collapsed: about min_bandwidth (1e-3) wide


def test_kde_densities_are_normalised_on_the_unit_cube() -> None:
    data = np.array([[0.05, 0.0], [0.5, 2.0], [0.97, 2.0]])
    sizes = [0, 3]
    kde = _KDE(data, sizes, _bandwidths(data, sizes, 1e-3))
    grid = (np.arange(4000) + 0.5) / 4000
    total = 0.0
    for cat in range(3):
        X = np.column_stack([grid, np.full_like(grid, cat)])
        total += float(np.mean(np.exp(kde.log_pdf(X))))
    assert total == pytest.approx(1.0, abs=1e-3)  # truncated Gaussians × Aitchison–Aitken
    draws = kde.sample(np.random.default_rng(0), 2000, 3.0)
    assert np.all((draws[:, 0] >= 0) & (draws[:, 0] <= 1))
    assert set(np.unique(draws[:, 1])) <= {0.0, 1.0, 2.0}


def test_kde_bandwidths_follow_scotts_rule_with_a_floor() -> None:
    data = np.array([[0.1], [0.3], [0.5], [0.7]])
    bw = _bandwidths(data, [0], 1e-3)
    assert bw[0] == pytest.approx(np.std(data[:, 0], ddof=1) * 4 ** (-1 / 5))
    assert _bandwidths(np.array([[0.4], [0.4]]), [0], 1e-3)[0] == 1e-3
    cats = np.array([[1.0], [1.0], [1.0]])
    assert _bandwidths(cats, [4], 1e-3)[0] == 1e-3  # all agree: no smoothing but the floor


# ------------------------------------------------------------------------- Hyperband part
def test_hyperband_for_bohb_runs_brackets_like_hyperband() -> None:
    sched = HyperBandForBOHB(max_t=9, reduction_factor=3)
    assert sched.rung_budgets() == [1.0, 3.0, 9.0]
    res = run(TuneBOHB(seed=0), sched, n=17)
    first = [f"sim_{i:05d}" for i in range(9)]
    assert sorted(res.trials[t].iteration for t in first) == [1, 1, 1, 1, 1, 1, 3, 3, 9]
    assert all(t.status.value == "TERMINATED" for t in res.trials.values())


def test_registry_names_resolve() -> None:
    assert isinstance(create_searcher("bohb"), TuneBOHB)
    assert isinstance(create_scheduler("bohb"), HyperBandForBOHB)
    assert isinstance(create_scheduler("hyperband_bohb"), HyperBandForBOHB)
    with pytest.raises(ValueError, match="bohb_config"):
        TuneBOHB(bohb_config={"top_n": 10})
    with pytest.raises(ValueError, match="bohb_config"):
        TuneBOHB(bohb_config={"random_fraction": 2.0})
    given = TuneBOHB(space=SPACE)
    with pytest.raises(ValueError, match="space"):
        given.setup(SPACE, "acc", "max", 0)
    given.setup({"const": 5}, "acc", "max", 0)  # the run's config may add constants
    assert ask(given, "t0")["const"] == 5


def test_points_to_evaluate_come_first() -> None:
    s = TuneBOHB(points_to_evaluate=[{"x": 0.3, "y": 0.8}, {"x": 0.9}], seed=0)
    s.setup(SPACE, "acc", "max", None, 10)
    a, b, c = (ask(s, f"t{i}") for i in range(3))
    assert a == {"x": 0.3, "y": 0.8} and b["x"] == 0.9 and 0 <= b["y"] <= 1
    assert [src for _, src, _ in s.suggestion_log] == ["point", "point", "random"]
    assert s._x["t0"] == pytest.approx([0.3, 0.8])


# ------------------------------------------------------------------------- replay
def test_deterministic_for_seed() -> None:
    a, b = run(TuneBOHB(seed=7), seed=7), run(TuneBOHB(seed=7), seed=7)
    c = run(TuneBOHB(seed=8), seed=8)
    assert fingerprint(a) == fingerprint(b)
    assert fingerprint(a) != fingerprint(c)


def test_state_dict_roundtrip_mid_run() -> None:
    def make_searcher() -> TuneBOHB:
        return TuneBOHB(seed=5)

    def make_sched() -> HyperBandForBOHB:
        return HyperBandForBOHB(max_t=9, reduction_factor=3)

    plain = run(make_searcher(), make_sched(), seed=5)
    points = (plain.events // 3, 2 * plain.events // 3)
    swapped_at = []

    def swap(engine: Any, n_events: int) -> Any:
        if n_events not in points:
            return None
        swapped_at.append(n_events)
        state = json.loads(json.dumps(engine.searcher.state_dict()))
        fresh = make_searcher()
        fresh.setup(SPACE, "acc", "max", 5, 40)
        fresh.load_state_dict(state)
        assert fresh.state_dict() == state
        engine.searcher = fresh
        return roundtrip_state(engine.scheduler, make_sched(), engine.trials)

    resumed = run(make_searcher(), make_sched(), seed=5, on_event=swap)
    assert swapped_at == list(points)
    assert fingerprint(resumed) == fingerprint(plain)
