"""Several objectives end to end on the local engine: front vs brute force, constraints,
MO-ASHA and the Pareto stopping rule, resume, refusals."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tunefleet import tune
from tunefleet.errors import TuneValueError
from tunefleet.schedulers import MOASHAScheduler, ParetoStoppingRule

pytestmark = pytest.mark.timeout(120)


def two_goals(config: dict[str, Any]) -> None:
    x = config["x"]
    for i in range(1, config.get("epochs", 3) + 1):
        # ZDT1-like trade-off: acc rises with x, latency too; more epochs help both
        tune.report(acc=x * (1 - 0.5 / i), latency=x**2 + 0.1 * (1 - x), waste=x - 0.8)


def _brute_front(last: dict[str, dict[str, Any]]) -> set[str]:
    def dom(a: dict[str, Any], b: dict[str, Any]) -> bool:
        ge = a["acc"] >= b["acc"] and a["latency"] <= b["latency"]
        return ge and (a["acc"] > b["acc"] or a["latency"] < b["latency"])

    return {t for t, r in last.items() if not any(dom(q, r) for q in last.values())}


def test_front_matches_brute_force_and_export_marks_it(tmp_path: Path) -> None:
    results = tune.run(
        two_goals,
        config={"x": tune.uniform(0, 1)},
        metric=["acc", "latency"],
        mode=["max", "min"],
        num_samples=12,
        storage_path=str(tmp_path),
        name="mo",
        verbose=1,  # the progress display has no single best to track
        seed=3,
    )
    last = {t.trial_id: t.last_result for t in results.trials}
    front = {t.trial_id for t in results.pareto_front()}
    assert front and front == _brute_front(last)
    df = results.dataframe()
    assert set(df.loc[df["pareto"], "trial_id"]) == front
    with pytest.raises(TuneValueError, match="several objectives"):
        results.get_best_trial()
    assert results.get_best_trial("acc", "max") is not None  # one of them, asked explicitly
    # outcome constraint (c <= 0 satisfied): waste = x - 0.8 must not be positive
    feasible = {t.trial_id for t in results.pareto_front(constraints=["waste"])}
    assert feasible == _brute_front({t: r for t, r in last.items() if r["waste"] <= 0})
    assert all(last[t]["waste"] <= 0 for t in feasible)


@pytest.mark.parametrize(
    "scheduler",
    [
        MOASHAScheduler(max_t=9, grace_period=1, reduction_factor=3),
        ParetoStoppingRule(max_t=9, grace_period=2, check_every=2, min_samples_required=2),
    ],
    ids=["mo_asha", "pareto_stopping"],
)
def test_schedulers_stop_dominated_trials(tmp_path: Path, scheduler: Any) -> None:
    def fn(config: dict[str, Any]) -> None:
        for i in range(1, 10):
            # trials with larger y are dominated in both objectives at every step
            tune.report(a=config["y"] + 1 / i, b=config["y"] * 2 + 1 / i)

    results = tune.run(
        fn,
        config={"y": tune.grid_search([0.0, 1.0, 2.0, 3.0, 4.0, 5.0])},
        metric=["a", "b"],
        mode=["min", "min"],
        scheduler=scheduler,
        max_concurrent_trials=1,
        storage_path=str(tmp_path),
        verbose=0,
    )
    iters = {t.config["y"]: t.last_result["training_iteration"] for t in results.trials}
    assert iters[0.0] == 9  # the best trial always runs to max_t
    assert min(iters.values()) < 9  # some dominated trial was stopped early
    assert [t.trial_id for t in results.pareto_front()] == [
        t.trial_id for t in results.trials if t.config["y"] == 0.0
    ]


def test_optuna_nsga2_resume_rebuilds_the_same_experiment(tmp_path: Path) -> None:
    from tunefleet.search.optuna import OptunaSearch

    kwargs: dict[str, Any] = dict(
        config={"x": tune.uniform(0, 1)},
        metric=["acc", "latency"],
        mode=["max", "min"],
        storage_path=str(tmp_path),
        name="mo_resume",
        verbose=0,
        seed=1,
    )
    first = tune.run(two_goals, num_samples=3, search_alg=OptunaSearch(sampler="nsgaii"), **kwargs)
    assert len(first.trials) == 3
    # resume with more samples and no searcher given: the recorded one is rebuilt
    again = tune.run(two_goals, num_samples=5, resume=True, **kwargs)
    assert len(again.trials) == 5
    assert again.spec["metric"] == ["acc", "latency"]
    assert again.spec["components"]["searcher"]["params"]["sampler"] == "nsgaii"
    assert {t.trial_id for t in again.pareto_front()} == _brute_front(
        {t.trial_id: t.last_result for t in again.trials}
    )


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"metric": ["acc", "latency"], "mode": ["max"]}, "mode: 1 modes for 2 metrics"),
        ({"metric": ["acc", "acc"], "mode": ["max", "max"]}, "metric: .*more than once"),
        ({"metric": ["acc", "latency"], "mode": ["max", "up"]}, "mode: each entry"),
        ({"metric": ["acc", "latency"], "mode": "max"}, "mode: metric="),
        (
            {"metric": ["acc", "latency"], "mode": ["max", "min"], "scheduler": "asha"},
            "scheduler: ASHA",
        ),
        (
            {"metric": ["acc", "latency"], "mode": ["max", "min"], "search_alg": "tpe"},
            "search_alg: TPE",
        ),
    ],
)
def test_refusals_name_the_parameter_before_compute(
    tmp_path: Path, kwargs: dict[str, Any], match: str
) -> None:
    calls: list[int] = []

    def fn(config: dict[str, Any]) -> None:
        calls.append(1)
        tune.report(acc=1.0, latency=1.0)

    with pytest.raises(TuneValueError, match=match):
        tune.run(
            fn, config={"x": tune.uniform(0, 1)}, storage_path=str(tmp_path), verbose=0, **kwargs
        )
    assert not calls


def test_scalarized_tpe_spreads_along_the_front_and_resumes(tmp_path: Path) -> None:
    from tunefleet.search.scalarized import ScalarizedSearch

    def fn(config: dict[str, Any]) -> None:
        x, y = config["x"], config["y"]
        # a convex trade-off in x; y only hurts both objectives
        tune.report(f1=x + y, f2=(1 - x) ** 2 + y, bad=y - 0.5)

    kwargs: dict[str, Any] = dict(
        config={"x": tune.uniform(0, 1), "y": tune.uniform(0, 1)},
        metric=["f1", "f2"],
        mode=["min", "min"],
        storage_path=str(tmp_path),
        name="scal",
        verbose=0,
        seed=0,
    )
    searcher = ScalarizedSearch(n_startup_trials=5, constraints=["bad"])
    assert len(tune.run(fn, num_samples=14, search_alg=searcher, **kwargs).trials) == 14
    again = tune.run(fn, num_samples=24, resume=True, **kwargs)
    assert len(again.trials) == 24
    ys = [t.config["y"] for t in again.trials]
    # after the random start the model learns that y > 0.5 is infeasible and y hurts both
    assert sum(y < 0.5 for y in ys[5:]) > 0.75 * len(ys[5:])
    front = again.pareto_front(constraints=["bad"])
    assert all(t.last_result["bad"] <= 0 for t in front)
    # by default the front honours the searcher's constraints (recorded in the run spec)
    assert [t.trial_id for t in again.pareto_front()] == [t.trial_id for t in front]
    xs = {round(t.config["x"], 1) for t in front}
    assert len(xs) >= 3  # the front is spread, not one weighting's optimum


def test_cli_show_marks_the_front_and_export_has_the_column(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from tunefleet.cli import app

    results = tune.run(
        two_goals,
        config={"x": tune.uniform(0, 1)},
        metric=["acc", "latency"],
        mode=["max", "min"],
        num_samples=6,
        storage_path=str(tmp_path),
        name="mo_cli",
        verbose=0,
        seed=5,
    )
    front = {t.trial_id for t in results.pareto_front()}
    runner = CliRunner()
    out = runner.invoke(app, ["show", "mo_cli", "--storage-path", str(tmp_path)])
    assert out.exit_code == 0, out.output
    marked = {line.split()[1] for line in out.output.splitlines() if "│ *" in line}
    assert marked == front and "Pareto front of acc (max), latency (min)" in out.output
    out = runner.invoke(
        app, ["export", "mo_cli", "--storage-path", str(tmp_path), "-f", "json", "-o", "-"]
    )
    import json

    rows = json.loads(out.output)
    assert {r["trial_id"] for r in rows if r["pareto"]} == front


def test_tuner_with_tune_config_lists_and_the_pareto_stopping_name(tmp_path: Path) -> None:
    import tunefleet as tf

    grid = tf.Tuner(
        two_goals,
        param_space={"x": tune.uniform(0, 1), "epochs": 4},
        tune_config=tf.TuneConfig(
            metric=["acc", "latency"],
            mode=["max", "min"],
            num_samples=6,
            scheduler="pareto_stopping",
            search_alg="scalarized",
        ),
        run_config=tf.RunConfig(storage_path=str(tmp_path), name="tuner_mo", verbose=0),
    ).fit()
    front = grid.pareto_front()
    last = {r.trial_id: r.metrics for r in grid}
    assert {r.trial_id for r in front} == _brute_front(last)
    with pytest.raises(TuneValueError, match="several objectives"):
        grid.get_best_result()
