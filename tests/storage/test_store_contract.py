"""Every built-in store passes the shipped store suite (:mod:`tunefleet.testing.stores`),
and the suite fails stores that break the contract, so that passing it means something."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tunefleet.errors import TuneValueError
from tunefleet.storage import MemoryStore, Record, SQLiteStore, Store, open_store
from tunefleet.testing.stores import StoreConformance

pytestmark = pytest.mark.timeout(120)


class TestMemoryStore(StoreConformance):
    persistent = False

    def make_store(self, path: Path) -> Store:
        return MemoryStore(path)


class TestSQLiteStore(StoreConformance):
    def make_store(self, path: Path) -> Store:
        return SQLiteStore(path)


# ------------------------------------------------------------------ the suite can fail
class _ReorderingStore(MemoryStore):
    """Hands records out grouped by kind: every record is there, in the wrong order."""

    def read(
        self,
        name: str,
        since: int = 0,
        kinds: Iterable[str] | None = None,
        trial_id: str | None = None,
    ) -> Iterator[Record]:
        got = list(super().read(name, since, kinds, trial_id))
        return iter(sorted(got, key=lambda r: r.kind))


class _SharedSpecStore(MemoryStore):
    """Returns its own spec dict, so a reader's edit changes the stored experiment."""

    def get_spec(self, name: str) -> dict[str, Any]:
        return self._get(name).spec


def test_suite_catches_a_store_that_reorders_records(tmp_path: Path) -> None:
    with pytest.raises(AssertionError):
        StoreConformance().test_append_assigns_consecutive_seq_and_read_is_ordered(
            _ReorderingStore(tmp_path)
        )


def test_suite_catches_a_store_that_shares_its_spec(tmp_path: Path) -> None:
    with pytest.raises(AssertionError, match="copy"):
        StoreConformance().test_spec_round_trips_and_is_never_shared(_SharedSpecStore(tmp_path))


# ------------------------------------------------------------------ open_store
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
