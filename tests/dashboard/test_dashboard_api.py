"""The dashboard's JSON endpoints against real stores: sweeps run by tune.run, and logs
written through SQLiteStore for the running, crashed, damaged and two-objective cases."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("fastapi")

from starlette.testclient import TestClient  # noqa: E402

from tunefleet.dashboard.app import MAX_ANSWERS, STALE_S, Registry, create_app  # noqa: E402
from tunefleet.dashboard.live import LiveExperiment  # noqa: E402
from tunefleet.pareto import pareto_front  # noqa: E402
from tunefleet.storage.records import (  # noqa: E402
    EXPERIMENT_STARTED,
    RESULT,
    TRIAL_CREATED,
    TRIAL_STARTED,
    Record,
)
from tunefleet.storage.sqlite import SQLiteStore  # noqa: E402

LOCAL = "http://127.0.0.1"


@pytest.fixture
def client(store_path: str) -> Iterator[TestClient]:
    with TestClient(create_app(store_path), base_url=LOCAL) as c:
        yield c


def _wal_sizes(root: str) -> dict[str, int]:
    """Each WAL's size: a write, even one not yet checkpointed, would grow it."""
    return {
        os.path.join(d, f): os.path.getsize(os.path.join(d, f))
        for d, _, files in os.walk(root)
        for f in files
        if f.endswith("-wal")
    }


def _digest(root: str) -> dict[str, str]:
    """Every file's hash, but SQLite's -wal/-shm housekeeping files: the sweeps' writer
    connections in this process close whenever they are freed, and the last one to close
    removes them (their content is in experiment.db, which is hashed)."""
    out = {}
    for dirpath, _, files in os.walk(root):
        for f in files:
            if f.endswith(("-wal", "-shm")):
                continue
            p = os.path.join(dirpath, f)
            with open(p, "rb") as fh:
                out[p] = hashlib.sha256(fh.read()).hexdigest()
    return out


def test_list_shows_status_counts_and_best(client: TestClient, store_path: str) -> None:
    rows = {r["name"]: r for r in client.get("/api/experiments").json()["experiments"]}
    assert set(rows) == {"asha", "pbt"}
    asha = rows["asha"]
    assert asha["status"] == "completed"
    assert asha["trials"] == 9
    assert asha["counts"]["ERROR"] == 1 and asha["counts"]["TERMINATED"] == 8
    expected = SQLiteStore(store_path).summary("asha")  # the store's own reading
    assert asha["best"] == pytest.approx(expected.best) and asha["counts"] == expected.counts
    assert asha["duration"] is not None and asha["duration"] >= 0


def test_trials_sort_filter_and_page(client: TestClient) -> None:
    page = client.get("/api/experiments/asha/trials?sort=score&desc=true").json()
    scores = [r["score"] for r in page["rows"] if r["score"] is not None]
    assert scores == sorted(scores, reverse=True) and len(scores) >= 8
    asc = client.get("/api/experiments/asha/trials?sort=score").json()["rows"]
    assert asc[0]["score"] == min(scores)
    errs = client.get("/api/experiments/asha/trials?status=ERROR").json()
    assert errs["total"] == 1 and errs["rows"][0]["config"]["lr"] == 0.99
    found = client.get("/api/experiments/asha/trials?q=diverged").json()
    assert [r["trial_id"] for r in found["rows"]] == [errs["rows"][0]["trial_id"]]
    paged = client.get("/api/experiments/asha/trials?offset=3&limit=2").json()
    assert paged["total"] == 9 and [r["index"] for r in paged["rows"]] == [3, 4]
    bad = client.get("/api/experiments/asha/trials?sort=nope")
    assert bad.status_code == 422 and "sort" in bad.json()["detail"]


def test_stopped_curves_end_at_their_rung(client: TestClient) -> None:
    curves = client.get("/api/experiments/asha/curves").json()["curves"]
    stopped_early = [
        c for c in curves if any(m["kind"] == "stopped" for m in c["markers"]) and c["x"][-1] < 9
    ]
    assert stopped_early, "ASHA stopped no trial before max_t"
    for c in stopped_early:
        assert c["x"][-1] in (1.0, 3.0)  # rungs of grace 1, reduction factor 3
        marker = next(m for m in c["markers"] if m["kind"] == "stopped")
        assert marker["iteration"] == c["x"][-1]
    thin = client.get("/api/experiments/asha/curves?points=2&trials=1").json()["curves"]
    assert len(thin) == 1 and len(thin[0]["x"]) <= 3 and thin[0]["x"][-1] == 9.0


def test_detail_errors_history_params_lineage(
    client: TestClient, evil: str, store_path: str
) -> None:
    err = client.get("/api/experiments/asha/errors").json()
    assert err["total"] == 1 and "lr too high" in err["rows"][0]["traceback"]
    tid = err["rows"][0]["trial_id"]
    detail = client.get(f"/api/experiments/asha/trials/{tid}").json()
    assert detail["config"]["note"] == evil and detail["last_result"]["training_iteration"] == 2
    assert client.get("/api/experiments/asha/trials/nope").status_code == 404
    hist = client.get("/api/experiments/asha/history").json()
    assert hist["best"] == sorted(hist["best"]) and hist["best"][-1] == pytest.approx(
        SQLiteStore(store_path).summary("asha").best
    )
    assert hist["compute"] == sorted(hist["compute"])
    params = client.get("/api/experiments/asha/params").json()
    assert [p["name"] for p in params["params"]] == ["lr"] and len(params["scores"]) == 9
    pbt = client.get("/api/experiments/pbt/lineage").json()
    assert pbt["total"] >= 1 and all(e["parent"] != e["child"] for e in pbt["edges"])
    ckpts = client.get("/api/experiments/pbt/trials?limit=1").json()["rows"][0]["trial_id"]
    assert client.get(f"/api/experiments/pbt/trials/{ckpts}").json()["checkpoints"]
    deadline = time.monotonic() + 20
    while (imp := client.get("/api/experiments/asha/importance").json()).get("pending"):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert "lr" in imp["importance"] or "problem" in imp


def test_read_only_and_security_headers(store_path: str, client: TestClient) -> None:
    before, wal_before = _digest(store_path), _wal_sizes(store_path)
    for path in ("/", "/api/experiments", "/api/experiments/asha/trials", "/static/app.js"):
        r = client.get(path)
        assert r.status_code == 200, path
        assert "script-src 'self'" in r.headers["content-security-policy"]
    for method in ("post", "put", "delete", "patch"):
        assert getattr(client, method)("/api/experiments/asha").status_code == 405
    assert client.get("/", headers={"host": "evil.example:8265"}).status_code == 403
    assert _digest(store_path) == before
    assert all(n <= wal_before.get(p, 0) for p, n in _wal_sizes(store_path).items())


def test_token_required_off_loopback(store_path: str) -> None:
    app = create_app(store_path, token="s3cret-token", host="0.0.0.0")
    with TestClient(app, base_url="http://192.0.2.1") as c:
        assert c.get("/api/experiments").status_code == 401
        assert c.get("/", params={"token": "wrong-token"}).status_code == 401
        assert c.get("/api/experiments", params={"token": "s3cret-token"}).status_code == 200
        ok = c.get("/api/experiments", headers={"X-Tunefleet-Token": "s3cret-token"})
        assert ok.status_code == 200 and ok.json()["experiments"]
        # the answer set the cookie (HttpOnly, SameSite=Strict): the page's own requests
        # carry it from then on; a wrong cookie is refused, with the security headers
        cookie = ok.headers["set-cookie"]
        assert "tunefleet_token=s3cret-token" in cookie and "HttpOnly" in cookie
        assert "samesite=strict" in cookie.lower()
        assert c.get("/static/app.js").status_code == 200
        c.cookies.set("tunefleet_token", "wrong-token")
        refused = c.get("/api/experiments")
        assert refused.status_code == 401 and "set-cookie" not in refused.headers
        assert "script-src 'self'" in refused.headers["content-security-policy"]


def _log(store: SQLiteStore, name: str, spec: dict[str, Any], n: int, t0: int = 0) -> None:
    recs = []
    for i in range(t0, t0 + n):
        tid = f"t{i}"
        recs += [
            Record(TRIAL_CREATED, tid, {"config": {"x": i}, "index": i}, time.time()),
            Record(TRIAL_STARTED, tid, {"attempt": 1}, time.time()),
        ]
        for it in range(1, 4):
            recs.append(
                Record(
                    RESULT, tid, {"a": i + it, "b": -i * it, "training_iteration": it}, time.time()
                )
            )
    store.append(name, recs)


def test_running_then_crashed_and_incremental(tmp_path: Any) -> None:
    store = SQLiteStore(str(tmp_path))
    spec = {"metric": "a", "mode": "max"}
    store.create_experiment("live", spec)
    store.append("live", [Record(EXPERIMENT_STARTED, None, {"run": 0}, time.time())])
    _log(store, "live", spec, 3)
    live = LiveExperiment(store.db_path("live"), ["a"], ["max"])
    live.refresh()
    assert len(live.replay.trials) == 3 and live.num_results == 9
    seq = live.last_seq
    _log(store, "live", spec, 2, t0=3)  # the writer still open: WAL frames not checkpointed
    live.refresh()
    assert len(live.replay.trials) == 5 and live.num_results == 15 and live.last_seq > seq
    store.close()  # no driver holds the lock: a run that never finished has crashed
    with TestClient(create_app(str(tmp_path)), base_url=LOCAL) as c:
        row = c.get("/api/experiments/live").json()
        assert row["status"] == "crashed" and row["trials"] == 5 and row["best"] == 4 + 3


def test_best_is_the_best_last_value_as_ls_reports_it(tmp_path: Any) -> None:
    """A trial that peaked early and ended low does not make the experiment's best: the
    list shows what `tunefleet ls` and Results show (each trial's last result)."""
    store = SQLiteStore(str(tmp_path))
    store.create_experiment("peak", {"metric": "a", "mode": "max"})
    recs = [Record(EXPERIMENT_STARTED, None, {"run": 0}, time.time())]
    for i, curve in enumerate(([1.0, 9.0, 2.0], [3.0, 4.0, 5.0])):
        tid = f"t{i}"
        recs.append(Record(TRIAL_CREATED, tid, {"config": {"i": i}, "index": i}, time.time()))
        for it, v in enumerate(curve, 1):
            recs.append(Record(RESULT, tid, {"a": v, "training_iteration": it}, time.time()))
    store.append("peak", recs)
    expected = store.summary("peak")
    store.close()
    with TestClient(create_app(str(tmp_path)), base_url=LOCAL) as c:
        row = c.get("/api/experiments/peak").json()
    assert (
        (row["best"], row["best_trial"]) == (expected.best, expected.best_trial_id) == (5.0, "t1")
    )


def test_damaged_is_listed_and_pareto(tmp_path: Any) -> None:
    store = SQLiteStore(str(tmp_path))
    store.create_experiment("two", {"metric": ["a", "b"], "mode": ["max", "max"]})
    _log(store, "two", {}, 6)
    dominated = [
        Record(RESULT, f"t{i}", {"a": 0.5, "b": -100.0, "training_iteration": 1}, time.time())
        for i in range(6, 9)
    ]
    store.append("two", dominated)
    store.close()
    os.makedirs(tmp_path / "broken")
    (tmp_path / "broken" / "experiment.db").write_bytes(b"not a database at all" * 10)
    with TestClient(create_app(str(tmp_path)), base_url=LOCAL) as c:
        rows = {r["name"]: r for r in c.get("/api/experiments").json()["experiments"]}
        assert rows["broken"]["status"] == "damaged" and "doctor" in rows["broken"]["problem"]
        par = c.get("/api/experiments/two/pareto").json()
        # best a = i + 3 rises with i, best b = -i falls: every trial is on the front
        assert par["metrics"] == ["a", "b"] and par["front_size"] == 6 and len(par["points"]) == 9
        pts = [p["values"] for p in par["points"]]
        expected = {par["points"][i]["trial_id"] for i in pareto_front(pts, ["max", "max"])}
        assert {p["trial_id"] for p in par["points"] if p["front"]} == expected
        assert c.get("/api/experiments/nope").status_code == 404


def _model_stub() -> Any:
    """What the answer cache reads of a LiveExperiment: its version and loading flag."""

    class Model:
        version = 0
        loading = False

    return Model()


def test_answer_cache_keeps_what_pages_poll(tmp_path: Any) -> None:
    """Answers asked again (an open page's polls) survive a flood of one-off questions
    (the least recently asked half goes when the cache is full) and are the ones the
    refresher recomputes when the model changes; a question asked once is not."""
    reg = Registry(str(tmp_path))
    try:
        live = _model_stub()
        computed: list[Any] = []

        def answer(key: Any) -> Any:
            return lambda: computed.append(key) or (key, live.version)

        for i in range(MAX_ANSWERS * 2):
            reg._lookup(reg.answers, ("x", "polled"), live, answer("polled"))
            reg._lookup(reg.answers, ("x", i), live, answer(i))
        assert len(reg.answers) <= MAX_ANSWERS and computed.count("polled") == 1
        assert ("x", MAX_ANSWERS * 2 - 1) in reg.answers and ("x", 0) not in reg.answers
        live.version = 1
        computed.clear()
        reg._prewarm("x", live)
        assert computed == ["polled"]
        assert reg._lookup(reg.answers, ("x", "polled"), live, answer("no")) == ("polled", 1)
        # loading: nothing is recomputed while a request is being answered (it says it
        # stopped), then once, and not again within the second
        live.loading, live.version = True, 2
        reg.answers[("x", "polled")][4] -= 2  # computed two seconds ago
        computed.clear()
        reg.in_flight.count = 1
        assert reg._prewarm("x", live) is False and computed == []
        reg.in_flight.count = 0
        assert reg._prewarm("x", live) is True and computed == ["polled"]
        live.version = 3
        assert reg._prewarm("x", live) is True and computed == ["polled"]
    finally:
        reg.close()


def test_a_polled_answer_is_served_while_the_refresher_recomputes_it(tmp_path: Any) -> None:
    """After a model change, an answer that pages poll (asked twice or more) is served as
    it was (the refresher recomputes it meanwhile) unless it is older than STALE_S, then
    it is recomputed on the request; a one-off question is recomputed at once."""
    reg = Registry(str(tmp_path))
    try:
        live = _model_stub()

        def answer(key: str) -> Any:
            return lambda: (key, live.version)

        for _ in range(2):
            reg._lookup(reg.answers, ("x", "polled"), live, answer("polled"))
        reg._lookup(reg.answers, ("x", "once"), live, answer("once"))
        live.version = 1
        assert reg._lookup(reg.answers, ("x", "polled"), live, answer("polled")) == ("polled", 0)
        assert reg._lookup(reg.answers, ("x", "once"), live, answer("once")) == ("once", 1)
        reg.answers[("x", "polled")][4] -= STALE_S + 1
        assert reg._lookup(reg.answers, ("x", "polled"), live, answer("polled")) == ("polled", 1)
    finally:
        reg.close()
