"""Results / ExperimentAnalysis / ResultGrid on a hand-built event log."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from tunefleet.checkpoint import Checkpoint
from tunefleet.errors import TuneError, TuneValueError
from tunefleet.results import ExperimentAnalysis, Result, ResultGrid, Results, TrialError
from tunefleet.storage import MemoryStore, Record, SQLiteStore, Store

SPEC = {"metric": "score", "mode": "max"}
NAN, INF = math.nan, math.inf

# trial -> (config, scores, final status). Winners under mode=max:
#   last: t0 (2.0; t2 ends NaN, t4 ends inf)   all: t2 (6.0)   avg: t1 (2.967)
TRIALS: dict[str, tuple[dict[str, Any], list[float], str]] = {
    "t0": ({"lr": 0.1, "net": {"width": 32}}, [1.0, 5.0, 2.0], "TERMINATED"),
    "t1": ({"lr": 0.01, "net": {"width": 64}}, [3.5, 3.5, 1.9], "TERMINATED"),
    "t2": ({"lr": 0.2, "net": {"width": 8}}, [6.0, NAN], "TERMINATED"),
    "t3": ({"lr": 0.3, "net": {"width": 8}}, [0.5], "ERROR"),
    "t4": ({"lr": 0.4, "net": {"width": 16}}, [1.0, INF], "TERMINATED"),
    "t5": ({"lr": 0.5, "net": {"width": 16}}, [], "PENDING"),
}


def build(store: Store, name: str = "exp", spec: dict[str, Any] | None = None) -> None:
    store.create_experiment(name, SPEC if spec is None else spec)
    recs = [Record("experiment_started", None, {"run": 0}, 0.0)]
    for i, (tid, (config, scores, status)) in enumerate(TRIALS.items()):
        recs.append(Record("trial_created", tid, {"config": config, "index": i}, 1.0))
        if status == "PENDING":
            continue
        recs.append(Record("trial_started", tid, {"attempt": 1, "worker": 0}, 2.0))
        for it, s in enumerate(scores, 1):
            if tid == "t0" and it == 3:  # a checkpoint record may precede its result
                recs.append(Record("checkpoint", tid, {"path": "/ck/t0/3", "iteration": 3}, 3.0))
            recs.append(Record("result", tid, {"score": s, "training_iteration": it}, 3.0))
            if tid == "t0" and it == 2:
                recs.append(Record("checkpoint", tid, {"path": "/ck/t0/2", "iteration": 2}, 3.0))
        if status == "ERROR":
            err = {"status": "ERROR", "error": "ValueError('boom')", "traceback": "Traceback: boom"}
            recs.append(Record("trial_completed", tid, err, 4.0))
        else:
            recs.append(Record("trial_completed", tid, {"status": status}, 4.0))
    recs.append(Record("experiment_finished", None, {"status": "completed"}, 5.0))
    store.append(name, recs)


@pytest.fixture
def store(tmp_path: Path) -> MemoryStore:
    s = MemoryStore(tmp_path)
    build(s)
    return s


@pytest.fixture
def res(store: MemoryStore) -> Results:
    return Results(store, "exp")


@pytest.mark.parametrize(
    ("scope", "mode", "filt", "winner"),
    [
        ("last", "max", True, "t0"),
        ("last", "max", False, "t4"),  # inf counts when not filtered; NaN never does
        ("all", "max", True, "t2"),
        ("avg", "max", True, "t1"),
        ("last-10-avg", "max", True, "t1"),
        ("last", "min", True, "t3"),
        ("all", "min", True, "t3"),
    ],
)
def test_best_trial_by_scope(res: Results, scope: str, mode: str, filt: bool, winner: str) -> None:
    best = res.get_best_trial("score", mode, scope=scope, filter_nan_and_inf=filt)
    assert best is not None and best.trial_id == winner


def test_last_5_avg_differs_from_avg(tmp_path: Path) -> None:
    store = MemoryStore(tmp_path)
    store.create_experiment("w", SPEC)
    recs = []
    for i, (tid, scores) in enumerate({"a": [10.0] + [0.0] * 5, "b": [1.0] * 6}.items()):
        recs.append(Record("trial_created", tid, {"config": {"k": i}, "index": i}, 0.0))
        recs += [Record("result", tid, {"score": s}, 0.0) for s in scores]
    store.append("w", recs)
    res = Results(store, "w")
    assert res.get_best_trial(scope="avg").trial_id == "a"  # type: ignore[union-attr]
    assert res.get_best_trial(scope="last-5-avg").trial_id == "b"  # type: ignore[union-attr]


def test_best_properties_use_spec_metric_and_mode(res: Results) -> None:
    assert res.default_metric == "score" and res.default_mode == "max"
    assert res.best_trial is not None and res.best_trial.trial_id == "t0"
    assert res.best_config == {"lr": 0.1, "net": {"width": 32}}
    assert res.best_result == {"score": 2.0, "training_iteration": 3}
    assert res.get_best_config(scope="all") == TRIALS["t2"][0]
    assert res.best_logdir == res.best_trial.path
    assert res.best_logdir.endswith("/exp/trials/t0")
    # t0's checkpoints: iteration 2 scored 5.0, iteration 3 scored 2.0 -> iteration 2 wins
    assert res.best_checkpoint == Checkpoint("/ck/t0/2")
    assert res.get_best_checkpoint("t0", "score", "min") == Checkpoint("/ck/t0/3")
    assert res.get_last_checkpoint() == Checkpoint("/ck/t0/3")
    assert res.get_best_checkpoint("t1") is None  # no checkpoints
    assert res.best_dataframe is not None and list(res.best_dataframe["score"]) == [1, 5, 2]


def test_constructor_metric_mode_override_spec(store: MemoryStore) -> None:
    res = Results(store, "exp", metric="training_iteration", mode="min")
    assert res.best_trial is not None and res.best_trial.trial_id == "t3"  # 1 iteration


def test_bad_mode_scope_and_missing_metric(store: MemoryStore, res: Results) -> None:
    with pytest.raises(TuneValueError, match="mode"):
        Results(store, "exp", mode="maximum")
    with pytest.raises(TuneValueError, match="mode"):
        res.get_best_trial("score", "biggest")
    with pytest.raises(TuneValueError, match="scope"):
        res.get_best_trial(scope="median")
    build(store, "nometric", spec={})
    bare = Results(store, "nometric")
    with pytest.raises(TuneValueError, match="metric"):
        bare.get_best_trial()
    with pytest.raises(TuneValueError, match="metric"):
        _ = bare.best_config
    with pytest.raises(TuneValueError, match="mode"):
        bare.get_best_trial("score")
    assert bare.get_best_trial("score", "max").trial_id == "t0"  # type: ignore[union-attr]


def test_no_finite_score_gives_none_and_grid_raises(res: Results) -> None:
    assert res.get_best_trial("missing", "max") is None
    assert res.best_config is not None
    with pytest.raises(TuneError, match="missing"):
        ResultGrid(res).get_best_result("missing", "max")


def test_dataframe_one_row_per_trial(res: Results) -> None:
    df = res.dataframe()
    assert list(df["trial_id"]) == list(TRIALS)
    assert {"config/lr", "config/net/width", "trial_id", "status", "error"} <= set(df.columns)
    assert list(df["config/net/width"]) == [32, 64, 8, 8, 16, 16]
    assert list(df["status"]) == [t[2] for t in TRIALS.values()]
    row = df.set_index("trial_id")
    assert row.loc["t0", "score"] == 2.0 and math.isnan(row.loc["t2", "score"])
    assert math.isnan(row.loc["t5", "score"])  # no results, still a row
    assert row.loc["t3", "error"] == "ValueError('boom')"
    assert row["error"].isna().sum() == 5  # only the ERROR trial has one
    best_rows = res.dataframe(metric="score", mode="max").set_index("trial_id")
    assert best_rows.loc["t0", "score"] == 5.0 and best_rows.loc["t2", "score"] == 6.0
    assert best_rows.loc["t0", "training_iteration"] == 2
    assert list(res.results_df.index) == list(TRIALS)


def test_trial_dataframes_and_views(res: Results) -> None:
    dfs = res.trial_dataframes
    assert list(dfs["t0"]["score"]) == [1.0, 5.0, 2.0] and dfs["t5"].empty
    assert res.results["t1"]["score"] == 1.9 and res.results["t5"] == {}
    assert [t.trial_id for t in res.trials] == list(TRIALS)
    assert len(res) == 6 and res.num_terminated == 4 and res.num_errors == 1
    assert res.status == "completed"
    assert res.counts["PENDING"] == 1
    (err,) = res.errors
    assert isinstance(err, TrialError) and err.trial_id == "t3"
    assert "Traceback: boom" in str(err) and "boom" in str(err)
    t0 = res.trials[0]
    assert t0.metric_analysis is not None  # filled once the history was read
    assert t0.metric_analysis["score"] == {
        "max": 5.0,
        "min": 1.0,
        "avg": pytest.approx(8 / 3),
        "last": 2.0,
        "last-5-avg": pytest.approx(8 / 3),
        "last-10-avg": pytest.approx(8 / 3),
    }
    assert res.get_all_configs()["t4"] == TRIALS["t4"][0]


def test_result_grid(res: Results) -> None:
    grid = ResultGrid(res)
    assert len(grid) == 6 and grid.num_errors == 1 and grid.num_terminated == 4
    assert grid.experiment_path == res.experiment_path
    best = grid.get_best_result()
    assert isinstance(best, Result) and best.trial_id == "t0"
    assert best.metrics == {"score": 2.0, "training_iteration": 3}
    assert best.checkpoint == Checkpoint("/ck/t0/3") and best.error is None
    assert list(best.metrics_dataframe["score"]) == [1.0, 5.0, 2.0]
    assert best.best_checkpoints == [
        (Checkpoint("/ck/t0/2"), {"score": 5.0, "training_iteration": 2}),
        (Checkpoint("/ck/t0/3"), {"score": 2.0, "training_iteration": 3}),
    ]
    assert best.get_best_checkpoint("score", "max") == Checkpoint("/ck/t0/2")
    assert grid.get_best_result(scope="all").trial_id == "t2"
    assert grid.get_best_result("score", "min").trial_id == "t3"
    assert [r.trial_id for r in grid] == list(TRIALS)
    assert grid[3].error is not None and "Traceback: boom" in str(grid[3].error)
    assert grid[5].metrics == {} and grid[5].checkpoint is None
    assert len(grid.errors) == 1
    assert len(grid.get_dataframe()) == 6
    df = grid.get_dataframe(filter_metric="score", filter_mode="min").set_index("trial_id")
    assert df.loc["t0", "score"] == 1.0


def test_load_by_name_and_by_path_on_sqlite(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "runs")
    build(store)
    store.close()
    by_name = Results.load("exp", storage_path=tmp_path / "runs")
    by_path = Results.load(tmp_path / "runs" / "exp")
    ray_style = ExperimentAnalysis(str(tmp_path / "runs" / "exp"), default_mode="min")
    for r in (by_name, by_path):
        assert r.best_trial is not None and r.best_trial.trial_id == "t0"
        assert r.experiment_path == str(tmp_path / "runs" / "exp")
    assert ray_style.best_trial is not None and ray_style.best_trial.trial_id == "t3"
    assert math.isnan(by_name.trial_dataframes["t2"]["score"].iloc[-1])  # NaN survived SQLite


def test_relative_checkpoint_paths_resolve_against_the_experiment(tmp_path: Path) -> None:
    store = MemoryStore(tmp_path)
    store.create_experiment("rel", SPEC)
    store.append(
        "rel",
        [
            Record("trial_created", "a", {"config": {}, "index": 0}, 0.0),
            Record("result", "a", {"score": 1.0, "training_iteration": 1}, 0.0),
            Record("checkpoint", "a", {"path": "trials/a/checkpoint_000001", "iteration": 1}, 0.0),
        ],
    )
    res = Results(store, "rel")
    expected = str(tmp_path / "rel" / "trials" / "a" / "checkpoint_000001")
    assert res.trials[0].checkpoint == Checkpoint(expected)
    assert res.best_checkpoint == Checkpoint(expected)
