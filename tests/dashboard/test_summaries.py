"""The writer's summary tables (tunefleet.storage.stats) and the dashboard model built on
them: the same answers as folding the whole log, without reading the results at start-up;
the text filter's index; the Pareto front over more than two objectives."""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import sqlite3
import sys
from typing import Any

import pytest

pytest.importorskip("fastapi")

from starlette.testclient import TestClient  # noqa: E402

from tunefleet.dashboard import live as live_module  # noqa: E402
from tunefleet.dashboard import views  # noqa: E402
from tunefleet.dashboard.app import create_app  # noqa: E402
from tunefleet.dashboard.live import LiveExperiment  # noqa: E402
from tunefleet.pareto import pareto_front  # noqa: E402
from tunefleet.protocol import dumps  # noqa: E402
from tunefleet.storage.records import (  # noqa: E402
    CHECKPOINT,
    EXPERIMENT_STARTED,
    RESULT,
    TRIAL_COMPLETED,
    TRIAL_CREATED,
    TRIAL_PAUSED,
    TRIAL_RESTARTED,
    TRIAL_STARTED,
    Record,
)
from tunefleet.storage.sqlite import SQLiteStore  # noqa: E402

LOCAL = "http://127.0.0.1"
SPEC = {"metric": ["loss", "acc"], "mode": ["min", "max"]}


def _sweep_records(seed: int, trials: int = 12) -> list[list[Record]]:
    """Batches of an ASHA/PBT-like log with pauses, promotions, stops, an exploit, a NaN
    result, a result without the metric and checkpoints, interleaved across trials."""
    rng = random.Random(seed)
    batches: list[list[Record]] = [[Record(EXPERIMENT_STARTED, None, {"run": 0}, 1.0)]]
    ts = 1.0
    its = dict.fromkeys(range(trials), 0)
    for i in range(trials):
        cfg = {"lr": rng.random(), "opt": rng.choice(["Adam", "sgd"]), "note": f'say "hi" {i}'}
        batches[-1] += [
            Record(TRIAL_CREATED, f"t{i}", {"config": cfg, "index": i, "parent": None}, ts),
            Record(TRIAL_STARTED, f"t{i}", {"attempt": 1, "checkpoint": None}, ts),
        ]
    for step in range(30):
        batch = []
        for i in rng.sample(range(trials), k=trials // 2):
            ts += 0.5
            its[i] += 1
            tid = f"t{i}"
            d: dict[str, Any] = {"training_iteration": its[i], "time_this_iter_s": 0.25}
            if rng.random() < 0.9:
                d["loss"] = rng.random() / its[i]
                d["acc"] = 1 - d["loss"] + rng.random() * 0.1
            if step == 7 and i == 0:
                d["loss"] = math.nan  # SQLite cannot parse this record's JSON
            batch.append(Record(RESULT, tid, d, ts, 0, dumps(d)))
            if its[i] == 3 and i % 3 == 0:
                batch.append(Record(TRIAL_PAUSED, tid, {"checkpoint": None}, ts))
                batch.append(Record(TRIAL_STARTED, tid, {"attempt": 1}, ts + 0.1))
            if its[i] == 4:
                batch.append(Record(CHECKPOINT, tid, {"path": f"{tid}/c4", "iteration": 4}, ts))
        batches.append(batch)
    batches.append(
        [
            Record(
                TRIAL_RESTARTED,
                "t1",
                {"config": {"lr": 0.5, "opt": "xyzzy"}, "from_trial": "t2", "iteration": 4},
                ts + 1,
            ),
            Record(TRIAL_COMPLETED, "t3", {"status": "TERMINATED", "stopped": True}, ts + 2),
            Record(TRIAL_COMPLETED, "t4", {"status": "ERROR", "error": "Boom"}, ts + 3),
        ]
    )
    return batches


def _write(root: str, name: str, batches: list[list[Record]], spec: dict[str, Any]) -> str:
    store = SQLiteStore(root)
    store.create_experiment(name, spec)
    for b in batches:
        store.append(name, b)
    store.close()
    return store.db_path(name)


def _tables(db: str) -> dict[str, Any]:
    conn = sqlite3.connect(db)
    try:
        return {
            t: conn.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall()  # noqa: S608
            for t in ("trial_stats", "best_so_far", "stats_info")
        }
    finally:
        conn.close()


def _folded(db: str, mode: str) -> dict[str, Any]:
    """The tables' content computed here from the log itself, in Python."""
    conn = sqlite3.connect(db)
    rows = conn.execute("SELECT seq, trial_id, ts, data FROM events WHERE kind = 'result'")
    per: dict[str, list[Any]] = {}
    imps, best, n, compute = [], None, 0, 0.0
    better = (lambda a, b: a < b) if mode == "min" else (lambda a, b: a > b)
    for n, (seq, tid, ts, data) in enumerate(rows, 1):
        d = json.loads(data)
        compute += d.get("time_this_iter_s", 0.0)
        p = per.setdefault(tid, [tid, 0, 0, 0.0, None, None])
        p[1] += 1
        p[2] = seq
        p[3] += d.get("time_this_iter_s", 0.0)
        v = d.get("loss")
        if isinstance(v, float) and math.isfinite(v):
            if p[4] is None or better(v, p[4]):
                p[4], p[5] = v, seq
            if best is None or better(v, best):
                best = v
                imps.append((seq, ts, v, tid, compute, n))
    (end,) = conn.execute("SELECT max(seq) FROM events").fetchone()
    conn.close()
    return {
        "trial_stats": sorted(tuple(p) for p in per.values()),
        "best_so_far": imps,
        "seq": end,
    }


@pytest.mark.parametrize("mode", ["min", "max"])
def test_writer_keeps_the_summaries_of_the_log(tmp_path: Any, mode: str) -> None:
    db = _write(str(tmp_path), "x", _sweep_records(1), {"metric": "loss", "mode": mode})
    got, want = _tables(db), _folded(db, mode)
    # compute: sums of 0.25 s steps, exact in binary floating point
    assert got["trial_stats"] == want["trial_stats"]
    assert got["best_so_far"] == want["best_so_far"] and len(want["best_so_far"]) >= 2
    assert dict(got["stats_info"]) == {"seq": want["seq"], "metric": "loss", "mode": mode}


def test_a_file_without_summaries_gets_them_when_a_writer_opens_it(tmp_path: Any) -> None:
    """An older tunefleet's file (no tables), or one whose tables lag the log (an older
    writer appended): the next writer fills them from the log, the same as if it had
    written every record itself."""
    batches = _sweep_records(2)
    ref = _write(str(tmp_path / "ref"), "x", batches, SPEC)
    db = _write(str(tmp_path / "old"), "x", batches[:10], SPEC)
    conn = sqlite3.connect(db)
    for t in ("trial_stats", "best_so_far", "stats_info"):
        conn.execute(f"DROP TABLE {t}")  # noqa: S608
    conn.close()
    store = SQLiteStore(str(tmp_path / "old"))
    store.append("x", batches[10])  # the writer opens: the tables are rebuilt, then kept
    store.close()
    _raw_append(db, batches[11:])  # an older writer: the log grows, the tables do not
    assert dict(_tables(db)["stats_info"])["seq"] < _max_seq(db)
    store = SQLiteStore(str(tmp_path / "old"))
    store.create_experiment("x", SPEC, exist_ok=True)  # a resume: the writer catches up
    store.close()
    assert _tables(db) == _tables(ref)


def _max_seq(db: str) -> int:
    conn = sqlite3.connect(db)
    try:
        return int(conn.execute("SELECT max(seq) FROM events").fetchone()[0])
    finally:
        conn.close()


def _raw_append(db: str, batches: list[list[Record]]) -> None:
    conn = sqlite3.connect(db, isolation_level=None)
    seq = _max_seq(db)
    for b in batches:
        for r in b:
            seq += 1
            conn.execute(
                "INSERT INTO events VALUES (?, ?, ?, ?, ?)",
                (seq, r.kind, r.trial_id, r.ts, r.raw or dumps(r.data)),
            )
    conn.close()


def _model(db: str) -> LiveExperiment:
    live = LiveExperiment(db, list(SPEC["metric"]), list(SPEC["mode"]))
    while live.loading:
        live.refresh(budget_s=10)
    return live


def _answers(live: LiveExperiment) -> dict[str, Any]:
    par = views.pareto(live)
    params = views.param_sample(live)[0]
    out: dict[str, Any] = {  # pareto's and params' trials in no particular order
        "history": views.history(live),
        "pareto": par and {**par, "points": sorted(par["points"], key=lambda p: p["trial_id"])},
        "errors": views.errors(live),
        "lineage": views.lineage(live),
        "params": sorted(zip(params["trial_ids"], params["scores"], strict=True)),
        "curves": views.curves(live),
    }
    for sort in ("index", "score", "last", "iteration", "status"):
        for q in ("", "adam", "t1", "xyzzy", 'say "hi" 1', "boom", "terminated"):
            page = views.trials_page(live, sort=sort, q=q, limit=50)
            if sort == "iteration":  # equal iterations: in no particular order
                page["rows"].sort(key=lambda r: (-r["iteration"], r["trial_id"]))
            out[sort, q] = page
    for i in range(12):
        out[f"t{i}"] = views.trial_detail(live, f"t{i}")
    return out


def test_model_from_summaries_answers_as_the_whole_log_does(tmp_path: Any) -> None:
    """The start-up from the summaries reads no result (curves are read when asked), and
    every view answers exactly what folding the whole log answers; so does a model whose
    summaries lag the log (it folds the rest)."""
    batches = _sweep_records(3)
    db = _write(str(tmp_path / "a"), "x", batches, SPEC)
    os.makedirs(tmp_path / "b" / "x")
    plain = str(tmp_path / "b" / "x" / "experiment.db")
    shutil.copy(db, plain)
    conn = sqlite3.connect(plain)
    conn.execute("DROP TABLE stats_info")
    conn.close()
    fast, full = _model(db), _model(plain)
    assert fast.series == {} and len(full.series) == 12  # no result read at start-up
    assert fast.num_results == full.num_results and fast.compute == pytest.approx(full.compute)
    assert _answers(fast) == _answers(full)
    _raw_append(db, [_sweep_records(4)[5]])
    _raw_append(plain, [_sweep_records(4)[5]])
    assert _answers(_model(db)) == _answers(_model(plain))


def test_a_model_loaded_in_a_loader_process_answers_the_same(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Opted in, a long log's start-up load runs in a process of its own (loader.py)
    whose frames the dashboard installs: every view answers as a model loaded here, the
    text filter too (the child's FTS table, adopted), and records appended past the
    summaries are folded here. A loader that fails: the load starts again, here."""
    db = _write(str(tmp_path), "x", _sweep_records(3), SPEC)
    here = _model(db)
    started = []
    real = live_module.load_elsewhere

    def spy(live: LiveExperiment) -> Any:
        started.append(live)
        return real(live)

    monkeypatch.setattr(live_module, "PROCESS_ROWS", 0)
    monkeypatch.setattr(live_module, "load_elsewhere", spy)
    there = _model(db)
    assert len(started) == 1 and there.loader is None  # the child has exited
    assert there.text.conn is not None and not there.text.deferred
    assert _answers(there) == _answers(here)
    assert there.status_row == here.status_row

    def numbers(live: LiveExperiment) -> dict[str, list[float | None]]:
        return {k: [x if x == x else None for x in v] for k, v in live.by_row.items()}

    assert numbers(there) == numbers(here)
    _raw_append(db, [_sweep_records(4)[5]])
    monkeypatch.setattr(live_module, "PROCESS_ROWS", 10**9)
    here = _model(db)
    monkeypatch.setattr(live_module, "PROCESS_ROWS", 0)
    assert _answers(_model(db)) == _answers(here)
    monkeypatch.setattr(sys, "executable", "/bin/false")  # the child exits at once
    failing = LiveExperiment(db, list(SPEC["metric"]), list(SPEC["mode"]))
    with pytest.raises(RuntimeError, match="loader process failed"):
        while failing.loading:
            failing.refresh(budget_s=10)
    assert failing.replay.trials == {} and len(started) == 3
    while failing.loading:
        failing.refresh(budget_s=10)
    assert len(started) == 3 and _answers(failing) == _answers(here)


def test_markers_land_on_their_iterations(tmp_path: Any) -> None:
    db = _write(str(tmp_path), "x", _sweep_records(5), SPEC)
    live = _model(db)
    detail = views.trial_detail(live, "t0")
    assert detail is not None
    kinds = [(m["kind"], m["iteration"]) for m in detail["markers"]]
    assert ("paused", 3) in kinds and ("promoted", 3) in kinds
    assert detail["checkpoints"] == [{"path": "t0/c4", "iteration": 4}]
    (curve,) = views.curves(live, trial="t3")["curves"]
    stop = next(m for m in curve["markers"] if m["kind"] == "stopped")
    assert stop["iteration"] == curve["x"][-1]


def test_text_filter_index_matches_a_scan(tmp_path: Any) -> None:
    """Case-insensitive substrings of the id and logged config (3+ characters through the
    FTS5 trigram index, shorter ones scanned), the status and the error; a PBT exploit's
    new config replaces the old one in the index."""
    db = _write(str(tmp_path), "x", _sweep_records(6), SPEC)
    live = _model(db)
    conn = sqlite3.connect(db)
    logged = conn.execute(
        "SELECT trial_id, data FROM events WHERE kind IN (?, ?) ORDER BY seq",
        (TRIAL_CREATED, TRIAL_RESTARTED),
    ).fetchall()
    conn.close()
    texts = {tid: f"{tid} {data}".lower() for tid, data in logged}  # the last one holds
    assert "xyzzy" in texts["t1"] and '"opt": "adam"' not in texts["t1"]
    for q in ("ADAM", "sg", "t1", "say", '"hi" 1', "xyzzy", "boom", "ERROR", "ter", "zzzz"):
        page = views.trials_page(live, q=q, limit=500)
        got = [r["trial_id"] for r in page["rows"]]
        want = [
            tid
            for tid, t in live.replay.trials.items()
            if q.lower() in texts[tid]
            or q.lower() in t.status.lower()
            or (t.error and q.lower() in t.error.lower())
        ]
        assert got == want and page["total"] == len(want), q
        for sort, key in (("score", "score"), ("last", "last"), ("iteration", "iteration")):
            for desc in (False, True):
                rows = views.trials_page(live, q=q, sort=sort, desc=desc, limit=500)["rows"]
                assert sorted(r["trial_id"] for r in rows) == sorted(want)
                vals = [r[key] for r in rows if r[key] is not None]
                assert vals == sorted(vals, reverse=desc), (q, sort, desc)
                nones = [r["index"] for r in rows if r[key] is None]  # last, in log order
                assert [r[key] for r in rows[len(vals) :]] == [None] * len(nones)
                assert nones == sorted(nones)
    assert views.trials_page(live, q="xyzzy")["rows"][0]["trial_id"] == "t1"
    assert views.trials_page(live, q="adam")["total"] > 0


def test_pareto_over_three_objectives(tmp_path: Any) -> None:
    """The front over all objectives (numpy pre-filter, then tunefleet.pareto) equals the
    front of all points; the page gets every objective's value to plot any pair."""
    rng = random.Random(7)
    spec = {"metric": ["a", "b", "c"], "mode": ["min", "max", "min"]}
    recs: list[Record] = []
    pts = []
    for i in range(1500):
        tid = f"t{i}"
        v = {"a": rng.random(), "b": rng.random(), "c": rng.random()}
        pts.append([v["a"], v["b"], v["c"]])
        recs += [
            Record(TRIAL_CREATED, tid, {"config": {"i": i}, "index": i}, 1.0),
            Record(RESULT, tid, {**v, "training_iteration": 1}, 1.0),
        ]
    store = SQLiteStore(str(tmp_path))
    store.create_experiment("three", spec)
    store.append("three", recs)
    store.close()
    front = {f"t{i}" for i in pareto_front(pts, spec["mode"])}
    with TestClient(create_app(str(tmp_path)), base_url=LOCAL) as c:
        par = c.get("/api/experiments/three/pareto").json()
    assert par["metrics"] == ["a", "b", "c"] and par["total"] == 1500
    assert {p["trial_id"] for p in par["points"] if p["front"]} == front
    assert par["front_size"] == len(front) and 2 < len(front) < 1500
    assert all(len(p["values"]) == 3 for p in par["points"])


def test_each_attempt_records_where_it_ran(store_path: str) -> None:
    """The engine writes a trial_placed record when the executor's Started event names
    the worker (trial_started is written at launch, before that is known); the trial's
    detail shows it: a local worker's slot and pid, the simulated engine's name."""
    store = SQLiteStore(store_path)
    placed = list(store.read("asha", kinds=("trial_placed",)))
    starts = list(store.read("asha", kinds=(TRIAL_STARTED,)))
    assert len(placed) == len(starts) == 9
    assert all(r.data["attempt"] == 1 and "(pid " in r.data["worker"] for r in placed)
    with TestClient(create_app(store_path), base_url=LOCAL) as c:
        for r in placed:
            detail = c.get(f"/api/experiments/asha/trials/{r.trial_id}").json()
            assert detail["worker"] == r.data["worker"]
            assert detail["worker"].startswith("local-")
        pbt = c.get("/api/experiments/pbt/trials?limit=1").json()["rows"][0]["trial_id"]
        assert c.get(f"/api/experiments/pbt/trials/{pbt}").json()["worker"] == "simulated"
