"""BatchedWriter: no I/O on add, flush by age or size, nothing lost on a failed write."""

from __future__ import annotations

import time
from collections.abc import Sequence

import pytest

from tunefleet.storage import BatchedWriter, MemoryStore, Record


class CountingStore(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[int] = []
        self.fail = False

    def append(self, name: str, records: Sequence[Record]) -> None:
        if self.fail:
            raise OSError("disk full")
        self.calls.append(len(records))
        super().append(name, records)


def rec(ts: float, i: int = 0) -> Record:
    return Record("result", "t0", {"i": i}, ts)


@pytest.fixture
def store() -> CountingStore:
    s = CountingStore()
    s.create_experiment("exp", {})
    return s


def test_add_never_writes(store: CountingStore) -> None:
    w = BatchedWriter(store, "exp", max_delay=0.1, max_batch=10)
    for i in range(25):
        w.add(rec(100.0, i))
    assert store.calls == [] and len(w) == 25


def test_flush_when_oldest_record_is_due(store: CountingStore) -> None:
    w = BatchedWriter(store, "exp", max_delay=0.1, max_batch=1000)
    w.add(rec(100.0, 0))
    w.add(rec(100.05, 1))
    assert not w.maybe_flush(now=100.09)
    assert w.maybe_flush(now=100.11)
    assert store.calls == [2] and w.pending == 0
    assert not w.maybe_flush(now=200.0)  # nothing queued
    assert [r.seq for r in store.read("exp")] == [1, 2]


def test_flush_when_batch_is_full_regardless_of_age(store: CountingStore) -> None:
    w = BatchedWriter(store, "exp", max_delay=60.0, max_batch=3)
    w.add(rec(100.0))
    w.add(rec(100.0))
    assert not w.maybe_flush(now=100.0)
    w.add(rec(100.0))
    assert w.maybe_flush(now=100.0)
    assert store.calls == [3]


def test_default_now_is_wall_clock(store: CountingStore) -> None:
    w = BatchedWriter(store, "exp", max_delay=0.05)
    w.add(rec(time.time()))
    assert not w.maybe_flush()
    w.add(rec(time.time() - 1.0))  # age counts from the oldest (first) record
    assert not w.maybe_flush()
    time.sleep(0.06)
    assert w.maybe_flush()


def test_failed_flush_keeps_records_in_order(store: CountingStore) -> None:
    w = BatchedWriter(store, "exp")
    w.add(rec(1.0, 0))
    w.add(rec(1.0, 1))
    store.fail = True
    with pytest.raises(OSError):
        w.flush()
    w.add(rec(1.0, 2))
    store.fail = False
    w.flush()
    assert [r.data["i"] for r in store.read("exp")] == [0, 1, 2]


def test_context_manager_flushes(store: CountingStore) -> None:
    with BatchedWriter(store, "exp", max_delay=999) as w:
        w.add(rec(1.0))
    assert store.calls == [1]


def test_add_is_cheap(store: CountingStore) -> None:
    w = BatchedWriter(store, "exp", max_batch=10**9)
    r = rec(1.0)
    add = w.add
    n = 200_000
    t0 = time.perf_counter()
    for _ in range(n):
        add(r)
    per_add = (time.perf_counter() - t0) / n
    assert per_add < 2e-6  # a few hundred ns in practice; generous for loaded CI machines
