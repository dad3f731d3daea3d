"""MO-ASHA's pause-and-promote variant, the epsilon-net order, run-level outcome
constraints and ``tunefleet show`` with several ``--metric`` (issue 16)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import tunefleet as tf
from tunefleet import tune
from tunefleet.cli import app
from tunefleet.errors import TuneTypeError, TuneValueError
from tunefleet.pareto import epsnet_order, hypervolume_order, non_dominated_sort, rank_order
from tunefleet.schedulers import (
    CONTINUE,
    PAUSE,
    MOASHAScheduler,
    Resume,
    SchedulerView,
    create_scheduler,
)
from tunefleet.search.constraints import infeasible
from tunefleet.storage import open_store
from tunefleet.storage import records as rk
from tunefleet.trial import Trial

pytestmark = pytest.mark.timeout(120)

MODES = ["min", "max"]
points = st.lists(st.tuples(st.integers(0, 5), st.integers(0, 5)), min_size=1, max_size=16)


# -- epsilon-net order -----------------------------------------------------------------------
@given(points)
@settings(max_examples=100, deadline=None)
def test_epsnet_order_is_a_permutation_front_by_front(pts) -> None:
    order = epsnet_order(pts, MODES)
    assert sorted(order) == list(range(len(pts)))
    fronts = non_dominated_sort(pts, MODES)
    front_of = {i: k for k, f in enumerate(fronts) for i in f}
    assert [front_of[i] for i in order] == sorted(front_of[i] for i in order)
    # the first point is the first front's best in the first objective (a is minimised)
    assert pts[order[0]][0] == min(pts[i][0] for i in fronts[0])
    # the same fronts as rank_order, only the order inside a front may differ
    assert [front_of[i] for i in rank_order(pts, MODES)] == [front_of[i] for i in order]


def test_epsnet_order_spreads_before_it_fills_in() -> None:
    # a front of 5 points on a line plus near-duplicates of its first point
    pts = [(0, 10), (0.1, 9.9), (5, 5), (10, 0), (0.2, 9.8), (7.5, 2.5)]
    order = epsnet_order(pts, ["min", "min"])
    assert order[:3] == [0, 3, 2]  # one end, the far end, the middle
    assert set(order[3:]) == {1, 4, 5}


# -- MO-ASHA promotion: decisions against a brute-force ranking ------------------------------
def _view(paused: list[str]) -> SchedulerView:
    return SchedulerView(trials={}, paused=paused, num_running=0, num_pending=0, can_create=True)


@given(points, st.sampled_from(["hypervolume", "crowding", "epsnet"]))
@settings(max_examples=80, deadline=None)
def test_promotion_only_ever_promotes_a_top_trial_within_the_quota(pts, tie_break) -> None:
    sched = MOASHAScheduler(
        max_t=9, grace_period=1, reduction_factor=3, variant="promotion", tie_break=tie_break
    )
    sched.setup(["a", "b"], MODES)
    order_fn = {"epsnet": epsnet_order, "crowding": rank_order, "hypervolume": hypervolume_order}[
        tie_break
    ]
    paused: list[str] = []
    promoted: list[str] = []
    for i, (a, b) in enumerate(pts):
        trial = Trial(trial_id=f"t{i}", config={})
        sched.on_trial_added(trial)
        decision = sched.on_result(trial, {"training_iteration": 1, "a": a, "b": b})
        n = i + 1
        top = {f"t{j}" for j in order_fn(pts[:n], MODES)[: n // 3]}
        if decision is CONTINUE:
            promoted.append(trial.trial_id)
            assert trial.trial_id in top  # promoted at once only when in the top 1/eta
        else:
            assert decision is PAUSE
            paused.append(trial.trial_id)
        # a free slot: resume a paused top trial while the rung's quota allows
        while (action := sched.next_action(_view(paused))) is not None and isinstance(
            action, Resume
        ):
            assert action.trial_id in top and action.trial_id in paused
            paused.remove(action.trial_id)
            promoted.append(action.trial_id)
        assert len(promoted) <= max(0, n // 3)  # never more than floor(n/eta) promoted
    # at the end every paused trial outside the top stays paused; top ones were promoted
    n = len(pts)
    top = {f"t{j}" for j in order_fn(pts, MODES)[: n // 3]}
    assert len(promoted) == n // 3 or top <= set(promoted)


def test_promotion_state_round_trips_and_bad_arguments_name_themselves() -> None:
    a = MOASHAScheduler(max_t=9, grace_period=1, reduction_factor=3, variant="promotion")
    a.setup(["a", "b"], MODES)
    for i, (x, y) in enumerate([(1, 1), (2, 0), (0, 3), (4, 0)]):
        a.on_result(Trial(trial_id=f"t{i}", config={}), {"training_iteration": 1, "a": x, "b": y})
    b = MOASHAScheduler(max_t=9, grace_period=1, reduction_factor=3, variant="promotion")
    b.setup(["a", "b"], MODES)
    b.load_state_dict(json.loads(json.dumps(a.state_dict())))
    view = _view(["t0", "t1", "t3"])
    assert a.next_action(view) == b.next_action(view)
    with pytest.raises(TuneValueError, match="variant"):
        MOASHAScheduler(variant="sync")
    with pytest.raises(TuneValueError, match="tie_break"):
        MOASHAScheduler(tie_break="random")


def stepper(config: dict[str, Any]) -> None:
    """Two objectives that improve with steps; continues from its checkpoint."""
    step = 0
    ckpt = tune.get_checkpoint()
    if ckpt is not None:
        step = json.loads(Path(ckpt.path, "state.json").read_text())["step"]
    x = config["x"]
    while step < 9:
        step += 1
        with tempfile.TemporaryDirectory() as d:
            Path(d, "state.json").write_text(json.dumps({"step": step}))
            tune.report(
                {"err": x + 1 / step, "size": (1 - x) + 1 / step, "step_seen": step},
                checkpoint=tune.Checkpoint.from_directory(d),
            )


def test_mo_asha_promotion_pauses_and_resumes_on_the_local_engine(tmp_path: Path) -> None:
    res = tune.run(
        stepper,
        config={"x": tune.grid_search([0.0, 0.2, 0.4, 0.6, 0.8, 1.0, 0.1, 0.3, 0.5])},
        metric=["err", "size"],
        mode=["min", "min"],
        scheduler=MOASHAScheduler(max_t=9, grace_period=1, reduction_factor=3, variant="promotion"),
        max_concurrent_trials=2,
        storage_path=str(tmp_path),
        name="moasha",
        verbose=0,
        seed=1,
    )
    assert res.spec["components"]["scheduler"]["params"]["variant"] == "promotion"
    assert create_scheduler("mo_asha_promotion").variant == "promotion"  # type: ignore[attr-defined]
    store = open_store(str(tmp_path))
    assert list(store.read("moasha", kinds=(rk.TRIAL_PAUSED,))), "no trial was ever paused"
    iters = []
    for t in res.trials:
        df = res.trial_dataframes[t.trial_id]
        # resumed from the paused result's checkpoint: steps continue, none repeat
        assert list(df["step_seen"]) == list(df["training_iteration"])
        assert list(df["training_iteration"]) == list(range(1, len(df) + 1))
        iters.append(t.last_result["training_iteration"])
    assert max(iters) == 9 and min(iters) < 9


# -- run-level outcome constraints -----------------------------------------------------------
def latency_trade(config: dict[str, Any]) -> None:
    x = config["x"]
    tune.report(acc=x, latency=10 * x, size=x - 0.5)


def test_constraints_exclude_infeasible_trials_from_best_and_front(tmp_path: Path) -> None:
    kwargs: dict[str, Any] = dict(
        config={"x": tune.grid_search([0.1, 0.3, 0.5, 0.7, 0.9])},
        storage_path=str(tmp_path),
        verbose=0,
        engine="simulated",  # the virtual clock: constraints do not depend on the engine
    )
    one = tune.run(
        latency_trade, metric="acc", mode="max", constraints=["latency <= 6"], name="c1", **kwargs
    )
    assert one.get_best_trial().config["x"] == 0.5  # 0.7 and 0.9 break latency <= 6
    # `tunefleet ls` (the store's summary) picks the same best
    summary = open_store(str(tmp_path)).summary("c1")
    assert summary.best == 0.5 and summary.best_trial_id == one.get_best_trial().trial_id
    assert one.spec["constraints"] == ["latency <= 6"]
    many = tune.run(
        latency_trade,
        metric=["acc", "latency"],
        mode=["max", "min"],
        constraints=["latency < 8", "size"],  # a bare key: its value must be <= 0
        name="c2",
        **kwargs,
    )
    assert sorted(t.config["x"] for t in many.pareto_front()) == [0.1, 0.3, 0.5]
    assert len(many.pareto_front(constraints=[])) == 5  # explicitly none
    # resuming without the argument keeps the recorded constraints
    again = tune.run(latency_trade, metric="acc", mode="max", name="c1", resume=True, **kwargs)
    assert again.spec["constraints"] == ["latency <= 6"]
    assert again.get_best_trial().config["x"] == 0.5


def test_constraints_are_told_to_a_searcher_that_takes_them(tmp_path: Path) -> None:
    from tunefleet.search.tpe import TPESearch

    searcher = TPESearch(n_startup_trials=4, constraints=["size"])
    grid = tf.Tuner(
        latency_trade,
        param_space={"x": tune.uniform(0, 1)},
        tune_config=tf.TuneConfig(
            metric="acc",
            mode="max",
            constraints=["latency <= 4"],
            search_alg=searcher,
            num_samples=12,
            seed=0,
        ),
        run_config=tf.RunConfig(
            storage_path=str(tmp_path), name="told", verbose=0, engine="simulated"
        ),
    ).fit()
    assert searcher.constraints == ["size", "latency <= 4"]
    assert grid.get_best_result().metrics["latency"] <= 4
    recorded = grid._analysis.spec["components"]["searcher"]["params"]["constraints"]
    assert recorded == ["size", "latency <= 4"]
    # the model scores every result that breaks the run's constraint as the worst
    scores = {tid: v for at in searcher._obs.values() for tid, v in at.items()}
    ids = {r.trial_id: r.metrics for r in grid}
    assert any(m["latency"] > 4 for m in ids.values())
    for tid, m in ids.items():
        worst = m["latency"] > 4 or m["size"] > 0
        assert (scores[tid] == float("-inf")) is worst


@pytest.mark.parametrize(
    ("constraints", "error", "match"),
    [
        ("latency <= 6", TuneTypeError, "constraints: expected a list"),
        (["latency <= 6", "latency = 3"], TuneValueError, r"constraints\[1\]: 'latency = 3'"),
        (["latency <= fast"], TuneValueError, r"constraints\[0\]: .*not a finite number"),
        ([lambda r: r["latency"] < 3], TuneTypeError, r"constraints\[0\]: .*feasible=False"),
    ],
)
def test_bad_constraints_are_refused_before_compute(
    tmp_path: Path, constraints: Any, error: type, match: str
) -> None:
    calls: list[int] = []

    def fn(config: dict[str, Any]) -> None:
        calls.append(1)
        tune.report(acc=1.0, latency=1.0)

    with pytest.raises(error, match=match):
        tune.run(fn, metric="acc", mode="max", constraints=constraints, storage_path=str(tmp_path))
    assert not calls


def test_infeasible_reads_comparisons_and_bare_keys() -> None:
    assert infeasible({"lat": 11.0}, ["lat <= 10"]) and not infeasible({"lat": 10}, ["lat <= 10"])
    assert infeasible({"lat": 10}, ["lat < 10"]) and infeasible({"acc": 0.8}, ["acc >= 0.9"])
    assert infeasible({"c": 0.1}, ["c"]) and not infeasible({"c": 0}, ["c"])
    assert not infeasible({"acc": 0.5}, ["lat <= 1"])  # a missing key breaks nothing
    assert infeasible({"feasible": False}, None)


# -- tunefleet show --metric a --metric b ----------------------------------------------------
def test_show_with_several_metrics_marks_their_front(tmp_path: Path) -> None:
    res = tune.run(
        latency_trade,
        config={"x": tune.grid_search([0.1, 0.5, 0.9])},
        metric="acc",
        mode="max",
        storage_path=str(tmp_path),
        name="one",
        verbose=0,
        engine="simulated",
    )
    runner = CliRunner()
    base = ["show", "one", "-s", str(tmp_path)]
    out = runner.invoke(app, [*base, "--metric", "acc", "--metric", "size"])
    assert out.exit_code != 0 and "--mode" in out.output  # run with one metric: modes needed
    # acc (max) vs size (min): every trial is on the front
    out = runner.invoke(app, [*base, "-m", "acc,size", "--mode", "max", "--mode", "min"])
    assert out.exit_code == 0, out.output
    marked = {line.split()[1] for line in out.output.splitlines() if "│ *" in line}
    assert marked == {t.trial_id for t in res.trials}
    assert "Pareto front of acc (max), size (min): 3 trial(s)" in out.output
    # acc (max) vs latency (max): only the largest x is on the front
    out = runner.invoke(app, [*base, "-m", "acc,latency", "--mode", "max", "--mode", "max"])
    marked = {line.split()[1] for line in out.output.splitlines() if "│ *" in line}
    assert marked == {t.trial_id for t in res.trials if t.config["x"] == 0.9}
    out = runner.invoke(app, [*base, "-m", "acc", "-m", "size", "--mode", "max"])
    assert out.exit_code != 0 and "1 modes for 2 metrics" in out.output
