"""The store conformance suite: what Results, the CLI, resume and the dashboard assume of a
:class:`~tunefleet.storage.base.Store`.

Every reader of an experiment goes through the Store interface, so a store that reorders a
batch, loses records on close or hands out its own spec dict for the caller to mutate breaks
resume far from the bug. These checks pin the written rules of ``storage/base.py`` down as
tests that any store (the built-in ones, or a user's) runs unchanged.

Use it by subclassing in a test module (the class name must start with ``Test``)::

    from tunefleet.testing.stores import StoreConformance

    class TestMyStore(StoreConformance):
        persistent = True  # a new instance on the same path sees what was written

        def make_store(self, path):
            return MyStore(path)

``make_store(path)`` gets an empty directory per test; a store that keeps nothing on disk
may ignore it (set ``persistent = False``). Importing this module needs pytest and
hypothesis.
"""

from __future__ import annotations

import copy
import itertools
import math
import os
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tunefleet.errors import TuneValueError
from tunefleet.storage.base import Store, UnknownExperimentError
from tunefleet.storage.records import (
    CHECKPOINT,
    EXPERIMENT_FINISHED,
    EXPERIMENT_STARTED,
    RESULT,
    STATE,
    TRIAL_COMPLETED,
    TRIAL_CREATED,
    TRIAL_STARTED,
    Record,
)
from tunefleet.testing._property import property_settings

#: The spec most checks create their experiment with.
SPEC: dict[str, Any] = {
    "metric": "score",
    "mode": "max",
    "space": {"lr": {"type": "loguniform", "lower": 1e-4, "upper": 0.1}},
}


def rec(kind: str, trial_id: str | None = None, ts: float = 1.0, **data: Any) -> Record:
    """A fresh record (stores set ``seq`` on append, so records are never reused)."""
    return Record(kind, trial_id, dict(data), ts)


def lifecycle(n_trials: int = 3, n_results: int = 4) -> list[Record]:
    """A whole, well-formed experiment: trial ``t{i}`` reports ``score = 10 i + j``."""
    out = [rec(EXPERIMENT_STARTED, run=0)]
    for i in range(n_trials):
        tid = f"t{i}"
        out.append(rec(TRIAL_CREATED, tid, config={"x": i}, index=i, parent=None))
        out.append(rec(TRIAL_STARTED, tid, attempt=1, worker=0, checkpoint=None))
        for j in range(n_results):
            out.append(rec(RESULT, tid, score=float(i * 10 + j), training_iteration=j + 1))
        out.append(rec(TRIAL_COMPLETED, tid, status="TERMINATED", error=None, traceback=None))
    out.append(rec(EXPERIMENT_FINISHED, status="completed", reason=None))
    return out


def same_json(a: Any, b: Any) -> bool:
    """Equal as JSON values *and* of the same JSON types (1 is not 1.0, True is not 1),
    with NaN equal to NaN: what "payloads round-trip" means for a log of metrics."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same_json(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same_json(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _view(records: Iterable[Record]) -> list[tuple[int, str, str | None, Any]]:
    return [(r.seq, r.kind, r.trial_id, r.data) for r in records]


_KINDS = (RESULT, TRIAL_CREATED, CHECKPOINT, STATE)
_TRIALS = ("a", "b", "c", None)
_batch = st.lists(
    st.tuples(st.sampled_from(_KINDS), st.sampled_from(_TRIALS), st.integers(-5, 5)),
    max_size=6,
)


class StoreConformance:
    """Base class of the suite; subclasses implement :meth:`make_store`."""

    #: A second instance made on the same path sees everything the first one wrote.
    persistent: ClassVar[bool] = True
    #: Hypothesis examples per property check (each makes one experiment).
    max_examples: ClassVar[int] = 20

    def make_store(self, path: Path) -> Store:
        raise NotImplementedError

    @pytest.fixture
    def store_path(self, tmp_path: Path) -> Path:
        return tmp_path / "store"

    @pytest.fixture
    def store(self, store_path: Path) -> Iterator[Store]:
        s = self.make_store(store_path)
        try:
            yield s
        finally:
            s.close()

    # ------------------------------------------------------------------ the log
    def test_append_assigns_consecutive_seq_and_read_is_ordered(self, store: Store) -> None:
        store.create_experiment("exp", SPEC)
        recs = lifecycle()
        store.append("exp", recs[:5])
        store.append("exp", recs[5:])
        assert [r.seq for r in recs] == list(range(1, len(recs) + 1)), "seq set on append"
        back = list(store.read("exp"))
        assert [r.seq for r in back] == list(range(1, len(recs) + 1))
        assert [(r.kind, r.trial_id, r.data, r.ts) for r in back] == [
            (r.kind, r.trial_id, r.data, r.ts) for r in recs
        ]

    def test_read_filters_since_kinds_and_trial(self, store: Store) -> None:
        store.create_experiment("exp", SPEC)
        recs = lifecycle()
        store.append("exp", recs)
        n = len(recs)
        assert [r.seq for r in store.read("exp", since=10)] == list(range(11, n + 1))
        assert [r.seq for r in store.read("exp", since=0)] == list(range(1, n + 1))
        completed = list(store.read("exp", kinds=[TRIAL_COMPLETED]))
        assert [r.trial_id for r in completed] == ["t0", "t1", "t2"]
        t1 = list(store.read("exp", trial_id="t1"))
        assert {r.trial_id for r in t1} == {"t1"} and len(t1) == 7
        t1_results = list(store.read("exp", since=t1[3].seq, kinds=(RESULT,), trial_id="t1"))
        assert [r.data["score"] for r in t1_results] == [12.0, 13.0]
        assert list(store.read("exp", kinds=[])) == []
        assert list(store.read("exp", kinds=["no_such_kind"])) == []
        assert list(store.read("exp", trial_id="nobody")) == []
        assert list(store.read("exp", since=10_000)) == []
        assert list(store.read("exp", kinds=iter([RESULT]), trial_id="t0")) == list(
            store.read("exp", kinds=[RESULT], trial_id="t0")
        ), "kinds may be any iterable"

    def test_read_filters_agree_with_a_scan(self, store: Store) -> None:
        """Any mix of batches and filters gives what filtering the whole log would."""
        names = (f"prop{i}" for i in itertools.count())

        @property_settings(self.max_examples)
        @given(
            batches=st.lists(_batch, max_size=5),
            since=st.integers(-2, 40),
            kinds=st.none() | st.sets(st.sampled_from(_KINDS)),
            trial=st.sampled_from(_TRIALS),
        )
        def check(
            batches: list[list[tuple[str, str | None, int]]],
            since: int,
            kinds: set[str] | None,
            trial: str | None,
        ) -> None:
            name = next(names)
            store.create_experiment(name, SPEC)
            log: list[Record] = []
            for batch in batches:
                recs = [rec(k, t, v=v) for k, t, v in batch]
                store.append(name, recs)
                log.extend(recs)
            assert [r.seq for r in log] == list(range(1, len(log) + 1))
            want = [
                r
                for r in log
                if r.seq > since
                and (kinds is None or r.kind in kinds)
                and (trial is None or r.trial_id == trial)
            ]
            got = list(store.read(name, since=since, kinds=kinds, trial_id=trial))
            assert _view(got) == _view(want)
            for kind in _KINDS:
                newest = [r for r in log if r.kind == kind][-1:]
                assert _view(filter(None, [store.last_of_kind(name, kind)])) == _view(newest)
            # last_results covers the trials the log created (an index may start from them)
            created = {r.trial_id for r in log if r.kind == TRIAL_CREATED} - {None}
            scan = {r.trial_id: r for r in log if r.kind == RESULT and r.trial_id in created}
            last = store.last_results(name)
            assert {t: (r.seq, r.data) for t, r in last.items() if t in created} == {
                t: (r.seq, r.data) for t, r in scan.items()
            }

        check()

    def test_empty_append_is_a_no_op(self, store: Store) -> None:
        store.create_experiment("exp", SPEC)
        store.append("exp", [])
        store.append("exp", [rec(STATE, searcher={})])
        assert [r.seq for r in store.read("exp")] == [1]

    def test_experiments_have_their_own_logs(self, store: Store) -> None:
        store.create_experiment("one", SPEC)
        store.create_experiment("two", SPEC)
        store.append("one", [rec(RESULT, "a", score=1.0)])
        store.append("two", [rec(RESULT, "b", score=2.0), rec(RESULT, "b", score=3.0)])
        store.append("one", [rec(RESULT, "a", score=4.0)])
        assert [(r.seq, r.data["score"]) for r in store.read("one")] == [(1, 1.0), (2, 4.0)]
        assert [(r.seq, r.data["score"]) for r in store.read("two")] == [(1, 2.0), (2, 3.0)]

    # ------------------------------------------------------------------ JSON payloads
    def test_nan_and_inf_round_trip(self, store: Store) -> None:
        store.create_experiment("exp", SPEC)
        store.append("exp", [rec(RESULT, "t0", a=math.nan, b=math.inf, c=-math.inf, d=None)])
        (r,) = store.read("exp")
        assert math.isnan(r.data["a"]) and r.data["b"] == math.inf and r.data["c"] == -math.inf
        assert r.data["d"] is None

    def test_json_payloads_keep_their_types(self, store: Store) -> None:
        """A metric logged as an int must not come back as a float (nor a flag as 1)."""
        payload: dict[str, Any] = {
            "int": 3,
            "big": 2**62 + 1,
            "neg": -7,
            "float": 0.1,
            "whole_float": 2.0,
            "true": True,
            "false": False,
            "none": None,
            "text": 'naïve ✓ "quoted" \\ \n',
            "empty_list": [],
            "empty_dict": {},
            "nested": {"list": [1, 2.5, "x", None, [True]], "dict": {"k": {"deeper": [{}]}}},
        }
        store.create_experiment("exp", {"nested": copy.deepcopy(payload)})
        store.append("exp", [Record(RESULT, "t0", copy.deepcopy(payload), 1.5)])
        (r,) = store.read("exp")
        assert same_json(r.data, payload), r.data
        assert r.ts == 1.5 and r.kind == RESULT and r.trial_id == "t0"
        assert same_json(store.get_spec("exp"), {"nested": payload})

    def test_spec_round_trips_and_is_never_shared(self, store: Store) -> None:
        spec = copy.deepcopy(SPEC)
        store.create_experiment("exp", spec)
        spec["metric"] = "changed after create"
        got = store.get_spec("exp")
        assert got == SPEC
        got["space"]["lr"]["type"] = "changed by a reader"
        assert store.get_spec("exp") == SPEC, "get_spec must return a copy"

    # ------------------------------------------------------------------ experiments
    def test_spec_and_exists(self, store: Store) -> None:
        assert not store.experiment_exists("exp")
        store.create_experiment("exp", SPEC)
        assert store.experiment_exists("exp")
        assert store.get_spec("exp") == SPEC
        with pytest.raises(TuneValueError, match="name.*already exists"):
            store.create_experiment("exp", SPEC)
        store.create_experiment("exp", {"other": 1}, exist_ok=True)
        assert store.get_spec("exp") == SPEC, "resume keeps the original spec"
        assert store.experiment_names() == ["exp"]

    @pytest.mark.parametrize("bad", ["", "  ", "a/b", "../up", ".hidden", "a\\b", " pad"])
    def test_bad_names_are_refused(self, store: Store, bad: str) -> None:
        with pytest.raises(TuneValueError, match="name"):
            store.create_experiment(bad, SPEC)
        assert bad not in store.experiment_names()

    def test_unknown_experiment_names_the_existing_ones(self, store: Store) -> None:
        store.create_experiment("alpha", SPEC)
        with pytest.raises(UnknownExperimentError, match=r"name.*'nope'.*alpha"):
            store.get_spec("nope")
        with pytest.raises(UnknownExperimentError):
            store.read("nope")  # eager: fails at the call, not on first next()
        with pytest.raises(UnknownExperimentError):
            store.append("nope", [rec(STATE)])
        assert not store.experiment_exists("nope")

    def test_list_experiments_summarises(self, store: Store) -> None:
        store.create_experiment("done", SPEC)
        store.append("done", lifecycle(n_trials=3, n_results=2))
        store.create_experiment("live", {"metric": "score", "mode": "min"})
        store.append(
            "live",
            [
                rec(EXPERIMENT_STARTED, run=0),
                rec(TRIAL_CREATED, "a", config={}, index=0),
                rec(TRIAL_CREATED, "b", config={}, index=1),
                rec(TRIAL_STARTED, "a", attempt=1),
                rec(RESULT, "a", score=math.nan),
            ],
        )
        store.create_experiment("empty", {})
        assert sorted(store.experiment_names()) == ["done", "empty", "live"]
        by_name = {s.name: s for s in store.list_experiments()}
        assert set(by_name) == {"done", "live", "empty"}
        done = by_name["done"]
        assert done.status == "completed" and done.num_trials == 3
        assert done.counts["TERMINATED"] == 3 and done.counts["ERROR"] == 0
        assert done.best == 21.0 and done.best_trial_id == "t2" and done.metric == "score"
        assert done.path == store.experiment_dir("done")
        live = by_name["live"]
        # no driver holds its lock: "crashed" where the store can tell, else "running"
        expected = "crashed" if store.driver_alive("live") is False else "running"
        assert live.status == expected and live.counts["RUNNING"] == 1
        assert live.counts["PENDING"] == 1 and live.best is None  # NaN is never "best"
        assert by_name["empty"].status == "created" and by_name["empty"].best is None

    def test_last_results_matches_a_full_scan(self, store: Store) -> None:
        store.create_experiment("exp", SPEC)
        store.append("exp", lifecycle(n_trials=4, n_results=5))
        store.append("exp", [rec(RESULT, "t1", score=-1.0, training_iteration=6)])
        last = store.last_results("exp")
        expected = {}
        for r in store.read("exp", kinds=[RESULT]):
            expected[r.trial_id] = r
        assert {k: (v.seq, v.data) for k, v in last.items()} == {
            k: (v.seq, v.data) for k, v in expected.items()
        }
        assert last["t1"].data["score"] == -1.0
        store.create_experiment("no_results", SPEC)
        assert store.last_results("no_results") == {}

    def test_last_of_kind_is_the_newest_record_of_that_kind(self, store: Store) -> None:
        store.create_experiment("exp", SPEC)
        assert store.last_of_kind("exp", STATE) is None
        store.append("exp", [rec(STATE, n=1), rec(RESULT, "t", score=1.0), rec(STATE, n=2)])
        store.append("exp", [rec(RESULT, "t", score=2.0)])
        last = store.last_of_kind("exp", STATE)
        assert last is not None and (last.seq, last.kind, last.data) == (3, STATE, {"n": 2})
        last_result = store.last_of_kind("exp", RESULT)
        assert last_result is not None and last_result.seq == 4
        assert store.last_of_kind("exp", "no_such_kind") is None

    def test_trial_dir_is_under_experiment_dir(self, store: Store) -> None:
        store.create_experiment("exp", SPEC)
        d = store.experiment_dir("exp")
        assert store.trial_dir("exp", "t0") == os.path.join(d, "trials", "t0")

    # ------------------------------------------------------------------ readers and writer
    def test_concurrent_readers_see_whole_batches(self, store: Store, store_path: Path) -> None:
        """Readers in other threads (and, for a persistent store, through another instance
        on the same path) only ever see whole appended batches, in order, never a gap."""
        batch, n_batches = 20, 40
        store.create_experiment("exp", SPEC)
        others = [store]
        if self.persistent:
            others.append(self.make_store(store_path))
        done = threading.Event()
        problems: list[str] = []
        seen: list[int] = []

        def read_until_done(reader: Store) -> None:
            try:
                while True:
                    finished = done.is_set()
                    got = list(reader.read("exp"))
                    seqs = [r.seq for r in got]
                    if seqs != list(range(1, len(seqs) + 1)):
                        problems.append(f"gap or disorder: {seqs[:5]}...")
                    if len(seqs) % batch:
                        problems.append(f"half a batch: {len(seqs)} records")
                    if any(r.data["i"] != r.seq - 1 for r in got):
                        problems.append("a record's payload does not match its place")
                    seen.append(len(seqs))
                    if finished:
                        return
            except Exception as e:  # reported below; a reader must not crash either
                problems.append(f"reader raised {e!r}")

        threads = [
            threading.Thread(target=read_until_done, args=(r,)) for r in others for _ in (0, 1)
        ]
        for t in threads:
            t.start()
        try:
            for b in range(n_batches):
                store.append("exp", [rec(RESULT, "t", i=b * batch + i) for i in range(batch)])
        finally:
            done.set()
            for t in threads:
                t.join(timeout=60)
            for other in others[1:]:
                other.close()
        assert not any(t.is_alive() for t in threads), "a reader never returned"
        assert problems == []
        assert max(seen) == batch * n_batches

    def test_close_then_reuse_keeps_everything(self, store: Store, store_path: Path) -> None:
        store.create_experiment("exp", SPEC)
        store.append("exp", lifecycle(n_trials=2, n_results=3))
        before = _view(store.read("exp"))
        last_before = {k: v.seq for k, v in store.last_results("exp").items()}
        store.close()
        assert _view(store.read("exp")) == before, "a closed store is usable again"
        more = [rec(STATE, searcher={"n": 1})]
        store.append("exp", more)
        assert more[0].seq == len(before) + 1, "seq continues after close"
        store.close()
        store.close()  # closing twice is harmless
        if not self.persistent:
            return
        again = self.make_store(store_path)
        try:
            assert again.experiment_names() == ["exp"]
            assert again.experiment_exists("exp")
            assert again.get_spec("exp") == SPEC
            assert _view(again.read("exp")) == [*before, *_view(more)]
            assert {k: v.seq for k, v in again.last_results("exp").items()} == last_before
            assert again.list_experiments()[0].status == "completed"
            later = [rec(STATE, searcher={"n": 2})]
            again.append("exp", later)
            assert later[0].seq == len(before) + 2
        finally:
            again.close()


__all__ = ["SPEC", "StoreConformance", "lifecycle", "rec", "same_json"]
