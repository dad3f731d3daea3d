"""The dashboard's quick paths (docs/benchmarks.md, dashboard run G) answer as the plain
ones: the text index (FTS5, its scan, its cache of recent needles) as a plain substring
test; filtered and sorted pages over the numpy columns as a sort in Python; a trial's
curve read off the model's lock misses no result folded meanwhile; the importance fit in
a child process."""

from __future__ import annotations

import heapq
import random
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("fastapi")

from tunefleet.dashboard import views  # noqa: E402
from tunefleet.dashboard.fit import fit_elsewhere  # noqa: E402
from tunefleet.dashboard.live import STATUSES, LiveExperiment  # noqa: E402
from tunefleet.dashboard.textindex import TextIndex  # noqa: E402
from tunefleet.storage.records import (  # noqa: E402
    RESULT,
    TRIAL_COMPLETED,
    TRIAL_CREATED,
    TRIAL_STARTED,
    Record,
)
from tunefleet.storage.sqlite import SQLiteStore  # noqa: E402

WORDS = st.text(alphabet="abAB\"' 1", min_size=0, max_size=8)


@settings(max_examples=150, deadline=None)
@given(
    ops=st.lists(
        st.one_of(
            st.tuples(st.just("put"), st.integers(0, 12), WORDS),
            st.tuples(st.just("flush"), st.just(0), st.just("")),
            st.tuples(st.just("search"), st.just(0), WORDS),
            st.tuples(st.just("busy search"), st.just(0), WORDS),
        ),
        max_size=40,
    )
)
def test_text_index_answers_as_a_substring_test(ops: list[tuple[str, int, str]]) -> None:
    """Whatever the order of puts (new texts and replaced ones), flushes and searches
    (through the index, while it is busy, through the recent needles' answers): the rows
    whose current text holds the needle, case-insensitively, ascending."""
    index = TextIndex()
    texts: dict[str, str] = {}
    for op, i, word in ops:
        if op == "put":
            tid = f"t{i}"
            assert index.put(tid, f"{tid} {word}") == (tid not in texts)
            texts[tid] = f"{tid} {word}"
        elif op == "flush":
            index.flush()
        else:
            busy = op == "busy search"
            if busy:
                assert index._lock.acquire(blocking=False)
            try:
                got = index.search(word)
            finally:
                if busy:
                    index._lock.release()
            want = [r for r, tid in enumerate(index.ids) if word.lower() in texts[tid].lower()]
            assert got == want


def _store(root: str, trials: int = 60, seed: int = 3) -> str:
    """Trials with few distinct values (many ties), some with no value, some errors,
    varied statuses and configs."""
    rng = random.Random(seed)
    store = SQLiteStore(root)
    store.create_experiment("x", {"metric": "loss", "mode": "min"})
    recs = []
    for i in range(trials):
        tid = f"t{i}"
        cfg = {"opt": rng.choice(["Adam", "sgd", "adamw"]), "n": rng.randint(0, 12)}
        recs.append(Record(TRIAL_CREATED, tid, {"config": cfg, "index": i}, time.time()))
        if i % 7 == 6:
            continue  # pending: never started, no value
        recs.append(Record(TRIAL_STARTED, tid, {"attempt": 1}, time.time()))
        for it in range(1, rng.randint(1, 4) + 1):
            d: dict[str, Any] = {"training_iteration": it}
            if rng.random() < 0.8:
                d["loss"] = float(rng.randint(0, 5))
            recs.append(Record(RESULT, tid, d, time.time()))
        if i % 5 == 0:
            status = {"status": "ERROR", "error": f"Boom {rng.choice(['adam', 'x'])}"}
            recs.append(Record(TRIAL_COMPLETED, tid, status, time.time()))
        elif i % 3 == 0:
            recs.append(Record(TRIAL_COMPLETED, tid, {"status": "TERMINATED"}, time.time()))
    store.append("x", recs)
    store.close()
    return store.db_path("x")


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> LiveExperiment:
    live = LiveExperiment(_store(str(tmp_path_factory.mktemp("fast"))), ["loss"], ["min"])
    while live.loading:
        live.refresh(budget_s=10)
    return live


def _reference(
    live: LiveExperiment, q: str, status: str, sort: str, desc: bool, offset: int, limit: int
) -> tuple[int, list[str]]:
    """The page as the dashboard made it before the columns: a Python test per trial and
    a stable heap selection over the rows in the log's order."""
    ids = live.text.ids
    every = live.replay.trials
    needle = q.lower()
    rows = []
    for r, tid in enumerate(ids):
        t = every[tid]
        text = f"{tid} " + " ".join(
            str(x)
            for x in (
                live.text.by_row[r],
                t.status.lower() if needle and needle in t.status.lower() else "",
                (t.error or "").lower() if tid in live.errors else "",
            )
        )
        if needle and needle not in text.lower():
            continue
        if status and t.status not in {s.strip().upper() for s in status.split(",")}:
            continue
        rows.append(r)
    want = offset + min(limit, views.MAX_PAGE)
    if sort == "index":
        top = (rows[::-1] if desc else rows)[:want]
    else:
        values = live.by_row[sort]
        valued = [r for r in rows if values[r] == values[r]]
        pick = heapq.nlargest if desc else heapq.nsmallest
        top = pick(want, valued, key=values.__getitem__)
        top += [r for r in rows if values[r] != values[r]][: want - len(top)]
    return len(rows), [ids[r] for r in top[offset:want]]


@settings(max_examples=200, deadline=None)
@given(
    q=st.sampled_from(["", "adam", "ADAM", "t1", "sgd", "boom", "termin", "pend", '"n": 1', "zz"]),
    status=st.sampled_from(["", "TERMINATED", "ERROR,PENDING", "running", "NOPE"]),
    sort=st.sampled_from(["index", "score", "last", "iteration"]),
    desc=st.booleans(),
    offset=st.integers(0, 70),
    limit=st.integers(1, 30),
)
def test_filtered_and_sorted_pages_as_the_plain_path(
    model: LiveExperiment, q: str, status: str, sort: str, desc: bool, offset: int, limit: int
) -> None:
    """Every filter, status, order and page over the numpy columns: the same trials in
    the same order (ties in the log's order) and the same total as the plain path."""
    page = views.trials_page(
        model, sort=sort, desc=desc, q=q, status=status, offset=offset, limit=limit
    )
    total, tids = _reference(model, q, status, sort, desc, offset, limit)
    every = model.replay.trials
    assert [STATUSES[c] for c in model.status_row] == [every[t].status for t in model.text.ids]
    if not q and sort == "index" and status:  # the plain path itself serves this one
        assert page["total"] == total
    assert (page["total"], [r["trial_id"] for r in page["rows"]]) == (total, tids)


def test_a_curve_read_off_the_lock_misses_no_result_folded_meanwhile(tmp_path: Any) -> None:
    """A trial's detail reads its curve without the model's lock; results folded while
    it reads are read under the lock after it: each result once, in order. And the
    detail shows new results as they are folded."""
    store = SQLiteStore(str(tmp_path))
    store.create_experiment("x", {"metric": "loss", "mode": "min"})

    def results(a: int, b: int) -> list[Record]:
        d = [{"loss": 1.0 / it, "training_iteration": it} for it in range(a, b)]
        return [Record(RESULT, "t0", x, time.time()) for x in d]

    created = Record(TRIAL_CREATED, "t0", {"config": {"a": 1}, "index": 0}, time.time())
    store.append("x", [created, Record(TRIAL_STARTED, "t0", {"attempt": 1}, time.time())])
    store.append("x", results(1, 4))
    live = LiveExperiment(store.db_path("x"), ["loss"], ["min"])
    live.refresh()
    live.series.clear()  # as a large log's start-up load leaves it: curves not read
    read = live._read_series
    calls = []

    def racing(conn: Any, tid: str, after: int, upto: int, s: Any) -> None:
        read(conn, tid, after, upto, s)
        calls.append((after, upto))
        if len(calls) == 1:  # between the read and the install: more results folded
            store.append("x", results(4, 7))
            live.refresh()

    live._read_series = racing  # type: ignore[method-assign]
    detail = views.trial_detail(live, "t0")
    assert detail is not None
    assert len(calls) == 2 and calls[1][0] == calls[0][1]  # the second read: what came since
    assert list(live.series["t0"].iteration) == [1, 2, 3, 4, 5, 6]
    assert [m["kind"] for m in detail["markers"]] == []
    store.append("x", results(7, 8))
    live.refresh()
    detail = views.trial_detail(live, "t0")
    assert detail is not None
    assert detail["results"] == 7 and detail["iteration"] == 7
    assert detail["last_result"]["training_iteration"] == 7
    assert list(live.series["t0"].iteration) == [1, 2, 3, 4, 5, 6, 7]
    store.close()


def test_importance_is_fit_in_a_child_process() -> None:
    """The fit's answer comes back from the child; too few trials: the problem, said."""
    rng = random.Random(0)
    scored = []
    for i in range(40):
        lr, wd = rng.random(), rng.random()
        scored.append((f"t{i}", {"lr": lr, "wd": wd}, lr * 10 + wd * 0.01))
    out = fit_elsewhere("loss", scored)
    assert out["trials"] == 40 and set(out["importance"]) == {"lr", "wd"}
    assert out["importance"]["lr"] > out["importance"]["wd"]
    few = fit_elsewhere("loss", scored[:2])
    assert "importance needs at least" in few["problem"]


def test_the_load_gives_way_between_its_steps(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The refresher's hook runs between the start-up load's steps (where it lets the
    requests in flight have the GIL), never inside one: the model's lock is free there."""
    from tunefleet.dashboard import live as live_module

    monkeypatch.setattr(live_module, "BASE_CHUNK", 10)
    live = LiveExperiment(_store(str(tmp_path)), ["loss"], ["min"])
    calls = []

    def between() -> None:
        got = live.lock.acquire(blocking=False)  # an RLock: free, or held by this thread
        assert got and live.lock._is_owned()  # type: ignore[attr-defined]
        live.lock.release()
        calls.append(live.version)

    while live.loading:
        live.refresh(budget_s=10, between=between)
    assert len(calls) >= 10 and calls == sorted(calls)


def test_requests_in_flight_are_counted(tmp_path: Any) -> None:
    """The guard counts the requests being answered (the refresher reads the count) and
    counts each out again, answered, refused or failed."""
    from starlette.testclient import TestClient

    from tunefleet.dashboard.app import create_app

    _store(str(tmp_path))
    app = create_app(str(tmp_path))
    seen = []
    reg = app.state.registry
    real = reg.get

    def get(name: str) -> Any:
        seen.append(reg.in_flight.count)
        return real(name)

    reg.get = get
    with TestClient(app, base_url="http://127.0.0.1") as c:
        assert c.get("/api/experiments/x/trials").status_code == 200
        assert c.get("/api/experiments/nope/trials").status_code == 404
        assert c.post("/api/experiments/x").status_code == 405
    assert seen == [1, 1] and reg.in_flight.count == 0


def test_a_trials_detail_is_cached_and_follows_new_results(tmp_path: Any) -> None:
    """The detail is served from the answer cache, and recomputed once results arrive;
    an unknown trial is a 404 (and not cached as one)."""
    from starlette.testclient import TestClient

    from tunefleet.dashboard.app import create_app

    store = SQLiteStore(str(tmp_path))
    store.create_experiment("x", {"metric": "loss", "mode": "min"})
    created = Record(TRIAL_CREATED, "t0", {"config": {"a": 1}, "index": 0}, time.time())
    store.append("x", [created, Record(TRIAL_STARTED, "t0", {"attempt": 1}, time.time())])

    def report(it: int) -> None:
        d = {"loss": 1.0 / it, "training_iteration": it}
        store.append("x", [Record(RESULT, "t0", d, time.time())])

    report(1)
    app = create_app(str(tmp_path))
    reg = app.state.registry
    with TestClient(app, base_url="http://127.0.0.1") as c:
        first = c.get("/api/experiments/x/trials/t0").json()
        assert first["results"] == 1 and first["last_result"]["training_iteration"] == 1
        assert ("x", "trial", "t0") in reg.answers
        assert c.get("/api/experiments/x/trials/t9").status_code == 404
        assert ("x", "trial", "t9") not in reg.answers
        report(2)
        deadline = time.monotonic() + 30
        while c.get("/api/experiments/x").json()["results"] < 2:  # the refresher folds it
            assert time.monotonic() < deadline
            time.sleep(0.05)
        again = c.get("/api/experiments/x/trials/t0").json()
        assert again["results"] == 2 and again["last_result"]["training_iteration"] == 2
    store.close()
