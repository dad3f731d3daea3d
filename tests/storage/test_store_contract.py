"""The Store contract, run against every store (SQLite on real files, and in memory)."""

from __future__ import annotations

import math
import os
from collections.abc import Iterator

import pytest

from tunefleet.errors import TuneValueError
from tunefleet.storage import (
    MemoryStore,
    Record,
    SQLiteStore,
    Store,
    UnknownExperimentError,
    open_store,
)

SPEC = {"metric": "score", "mode": "max", "space": {"lr": {"type": "loguniform"}}}


@pytest.fixture(params=["sqlite", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: os.PathLike[str]) -> Iterator[Store]:
    s: Store = SQLiteStore(tmp_path) if request.param == "sqlite" else MemoryStore(tmp_path)
    yield s
    s.close()


def rec(kind: str, trial_id: str | None = None, ts: float = 1.0, **data: object) -> Record:
    return Record(kind, trial_id, dict(data), ts)


def lifecycle(n_trials: int = 3, n_results: int = 4) -> list[Record]:
    out = [rec("experiment_started", run=0)]
    for i in range(n_trials):
        tid = f"t{i}"
        out.append(rec("trial_created", tid, config={"x": i}, index=i, parent=None))
        out.append(rec("trial_started", tid, attempt=1, worker=0, checkpoint=None))
        for j in range(n_results):
            out.append(rec("result", tid, score=float(i * 10 + j), training_iteration=j + 1))
        out.append(rec("trial_completed", tid, status="TERMINATED", error=None, traceback=None))
    out.append(rec("experiment_finished", status="completed", reason=None))
    return out


def test_append_assigns_consecutive_seq_and_read_is_ordered(store: Store) -> None:
    store.create_experiment("exp", SPEC)
    recs = lifecycle()
    store.append("exp", recs[:5])
    store.append("exp", recs[5:])
    assert [r.seq for r in recs] == list(range(1, len(recs) + 1))
    back = list(store.read("exp"))
    assert [r.seq for r in back] == list(range(1, len(recs) + 1))
    assert [(r.kind, r.trial_id, r.data) for r in back] == [
        (r.kind, r.trial_id, r.data) for r in recs
    ]


def test_read_filters_since_kinds_and_trial(store: Store) -> None:
    store.create_experiment("exp", SPEC)
    recs = lifecycle()
    store.append("exp", recs)
    assert [r.seq for r in store.read("exp", since=10)] == list(range(11, len(recs) + 1))
    completed = list(store.read("exp", kinds=["trial_completed"]))
    assert [r.trial_id for r in completed] == ["t0", "t1", "t2"]
    t1 = list(store.read("exp", trial_id="t1"))
    assert {r.trial_id for r in t1} == {"t1"} and len(t1) == 7
    t1_results = list(store.read("exp", since=t1[3].seq, kinds=("result",), trial_id="t1"))
    assert [r.data["score"] for r in t1_results] == [12.0, 13.0]
    assert list(store.read("exp", kinds=[])) == []
    assert list(store.read("exp", since=10_000)) == []


def test_nan_and_inf_round_trip(store: Store) -> None:
    store.create_experiment("exp", SPEC)
    store.append("exp", [rec("result", "t0", a=math.nan, b=math.inf, c=-math.inf, d=None)])
    (r,) = store.read("exp")
    assert math.isnan(r.data["a"]) and r.data["b"] == math.inf and r.data["c"] == -math.inf
    assert r.data["d"] is None


def test_empty_append_is_a_no_op(store: Store) -> None:
    store.create_experiment("exp", SPEC)
    store.append("exp", [])
    store.append("exp", [rec("state", searcher={})])
    assert [r.seq for r in store.read("exp")] == [1]


def test_spec_and_exists(store: Store) -> None:
    assert not store.experiment_exists("exp")
    store.create_experiment("exp", SPEC)
    assert store.experiment_exists("exp")
    assert store.get_spec("exp") == SPEC
    with pytest.raises(TuneValueError, match="name.*already exists"):
        store.create_experiment("exp", SPEC)
    store.create_experiment("exp", {"other": 1}, exist_ok=True)
    assert store.get_spec("exp") == SPEC  # resume keeps the original spec


@pytest.mark.parametrize("bad", ["", "  ", "a/b", "../up", ".hidden", "a\\b", " pad"])
def test_bad_names_are_refused(store: Store, bad: str) -> None:
    with pytest.raises(TuneValueError, match="name"):
        store.create_experiment(bad, SPEC)


def test_unknown_experiment_names_the_existing_ones(store: Store) -> None:
    store.create_experiment("alpha", SPEC)
    with pytest.raises(UnknownExperimentError, match=r"name.*'nope'.*alpha"):
        store.get_spec("nope")
    with pytest.raises(UnknownExperimentError):
        store.read("nope")  # eager: fails at the call, not on first next()
    with pytest.raises(UnknownExperimentError):
        store.append("nope", [rec("state")])


def test_list_experiments_summarises(store: Store) -> None:
    store.create_experiment("done", SPEC)
    store.append("done", lifecycle(n_trials=3, n_results=2))
    store.create_experiment("live", {"metric": "score", "mode": "min"})
    store.append(
        "live",
        [
            rec("experiment_started", run=0),
            rec("trial_created", "a", config={}, index=0),
            rec("trial_created", "b", config={}, index=1),
            rec("trial_started", "a", attempt=1),
            rec("result", "a", score=math.nan),
        ],
    )
    store.create_experiment("empty", {})
    by_name = {s.name: s for s in store.list_experiments()}
    assert set(by_name) == {"done", "live", "empty"}
    done = by_name["done"]
    assert done.status == "completed" and done.num_trials == 3
    assert done.counts["TERMINATED"] == 3 and done.counts["ERROR"] == 0
    assert done.best == 21.0 and done.best_trial_id == "t2" and done.metric == "score"
    assert done.path == store.experiment_dir("done")
    live = by_name["live"]
    assert live.status == "running" and live.counts["RUNNING"] == 1
    assert live.counts["PENDING"] == 1 and live.best is None  # NaN is never "best"
    assert by_name["empty"].status == "created" and by_name["empty"].best is None


def test_last_results_matches_a_full_scan(store: Store) -> None:
    store.create_experiment("exp", SPEC)
    store.append("exp", lifecycle(n_trials=4, n_results=5))
    last = store.last_results("exp")
    expected = {}
    for r in store.read("exp", kinds=["result"]):
        expected[r.trial_id] = r
    assert {k: (v.seq, v.data) for k, v in last.items()} == {
        k: (v.seq, v.data) for k, v in expected.items()
    }


def test_trial_dir_is_under_experiment_dir(store: Store) -> None:
    store.create_experiment("exp", SPEC)
    d = store.experiment_dir("exp")
    assert store.trial_dir("exp", "t0") == os.path.join(d, "trials", "t0")


def test_open_store(tmp_path: os.PathLike[str]) -> None:
    default = open_store(None)
    assert isinstance(default, SQLiteStore)
    assert default.root == os.path.abspath("tunefleet_runs")
    mem = MemoryStore()
    assert open_store(mem) is mem
    assert isinstance(open_store(tmp_path), SQLiteStore)
    via_url = open_store(f"file://{tmp_path}")
    assert isinstance(via_url, SQLiteStore) and via_url.root == os.fspath(tmp_path)
    with pytest.raises(TuneValueError, match="storage_path"):
        open_store("s3://bucket/runs")
