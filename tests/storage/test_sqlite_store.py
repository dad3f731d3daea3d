"""SQLiteStore on real files: WAL, cross-process readers, versions, unwritable paths."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import tunefleet.storage.sqlite as sqlite_mod
from tunefleet.errors import TuneValueError
from tunefleet.storage import Record, SchemaVersionError, SQLiteStore

SPEC = {"metric": "score", "mode": "max"}


def results(n: int, start: int = 0, tid: str = "t0") -> list[Record]:
    return [
        Record("result", tid, {"score": float(i), "training_iteration": i + 1}, time.time())
        for i in range(start, start + n)
    ]


def test_layout_wal_and_synchronous(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "runs")
    store.create_experiment("exp", SPEC)
    store.append("exp", results(3))
    db = tmp_path / "runs" / "exp" / "experiment.db"
    assert db.is_file()
    assert store.experiment_dir("exp") == str(tmp_path / "runs" / "exp")
    writer = store._writers["exp"]
    assert writer.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert writer.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    store.close()
    raw = sqlite3.connect(db)
    assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"  # persistent in the file
    tables = {r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    indexes = {r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert {"meta", "events"} <= tables
    assert {"events_trial", "events_kind"} <= indexes
    raw.close()


def test_reopen_continues_sequence(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path)
    store.create_experiment("exp", SPEC)
    store.append("exp", results(3))
    store.close()
    again = SQLiteStore(tmp_path)
    more = results(2, start=3)
    again.append("exp", more)
    assert [r.seq for r in more] == [4, 5]
    assert [r.data["score"] for r in again.read("exp")] == [0.0, 1.0, 2.0, 3.0, 4.0]
    again.close()


def test_read_pages_through_many_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlite_mod, "_READ_CHUNK", 7)
    store = SQLiteStore(tmp_path)
    store.create_experiment("exp", SPEC)
    store.append("exp", results(50))
    assert [r.seq for r in store.read("exp")] == list(range(1, 51))
    assert [r.seq for r in store.read("exp", since=13)] == list(range(14, 51))
    store.close()


def test_open_reader_transaction_does_not_block_the_writer(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path)
    store.create_experiment("exp", SPEC)
    store.append("exp", results(10))
    reader = sqlite3.connect(f"file:{store.db_path('exp')}?mode=ro", uri=True)
    reader.isolation_level = None
    reader.execute("BEGIN")
    assert reader.execute("SELECT count(*) FROM events").fetchone()[0] == 10  # snapshot taken
    t0 = time.perf_counter()
    store.append("exp", results(100, start=10))
    assert time.perf_counter() - t0 < 2.0  # no waiting on the reader's lock
    assert reader.execute("SELECT count(*) FROM events").fetchone()[0] == 10  # still its snapshot
    reader.execute("COMMIT")
    assert reader.execute("SELECT count(*) FROM events").fetchone()[0] == 110
    reader.close()
    store.close()


READER = textwrap.dedent(
    """
    import json, sys, time
    from tunefleet.storage import SQLiteStore
    root, total, batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    store = SQLiteStore(root)
    counts, bad = [], []
    deadline = time.time() + 30
    while time.time() < deadline:
        seqs = [r.seq for r in store.read("exp")]
        if seqs != list(range(1, len(seqs) + 1)):
            bad.append("gap")
        if len(seqs) % batch:
            bad.append(len(seqs))
        if not counts:
            print("ready", flush=True)
        counts.append(len(seqs))
        if len(seqs) >= total:
            break
    print(json.dumps({"counts": counts, "bad": bad}), flush=True)
    """
)


def test_reader_in_another_process_never_sees_partial_batches(tmp_path: Path) -> None:
    batch, n_batches = 200, 150
    store = SQLiteStore(tmp_path)
    store.create_experiment("exp", SPEC)
    store.append("exp", results(batch))
    proc = subprocess.Popen(
        [sys.executable, "-c", READER, str(tmp_path), str(batch * n_batches), str(batch)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    slowest = 0.0
    for i in range(1, n_batches):
        t0 = time.perf_counter()
        store.append("exp", results(batch, start=i * batch))
        slowest = max(slowest, time.perf_counter() - t0)
        time.sleep(0.002)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    report = json.loads(out.strip().splitlines()[-1])
    assert report["bad"] == []
    assert report["counts"][-1] == batch * n_batches
    assert len(set(report["counts"])) > 2  # it really read while we were writing
    assert report["counts"] == sorted(report["counts"])
    assert slowest < 1.0  # readers never made the writer wait
    store.close()


def test_newer_schema_version_is_refused(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path)
    store.create_experiment("exp", SPEC)
    store.append("exp", results(2))
    store.close()
    raw = sqlite3.connect(tmp_path / "exp" / "experiment.db")
    raw.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    raw.commit()
    raw.close()
    fresh = SQLiteStore(tmp_path)
    with pytest.raises(SchemaVersionError, match=r"version 99.*upgrade tunefleet"):
        list(fresh.read("exp"))
    with pytest.raises(SchemaVersionError):
        fresh.append("exp", results(1))
    with pytest.raises(SchemaVersionError):
        fresh.create_experiment("exp", SPEC, exist_ok=True)
    (summary,) = fresh.list_experiments()  # `ls` survives it
    assert summary.name == "exp" and summary.status.startswith("unreadable")


def test_unwritable_storage_path_names_storage_path(tmp_path: Path) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    store = SQLiteStore(blocker / "runs")
    with pytest.raises(TuneValueError, match="storage_path"):
        store.check_writable()
    with pytest.raises(TuneValueError, match="storage_path"):
        store.create_experiment("exp", SPEC)
    SQLiteStore(tmp_path / "fine" / "nested").check_writable()
    assert (tmp_path / "fine" / "nested").is_dir()
    assert os.listdir(tmp_path / "fine" / "nested") == []  # the probe file is removed


def test_values_json_cannot_encode_are_stored_readably(tmp_path: Path) -> None:
    np = pytest.importorskip("numpy")
    store = SQLiteStore(tmp_path)
    store.create_experiment("exp", {"space": {"f": object()}})
    data = {"np": np.float32(0.5), "arr": np.arange(3), "set": {2, 1}, "path": Path("/x")}
    store.append("exp", [Record("trial_created", "t", {"config": data}, 1.0)])
    (r,) = store.read("exp")
    assert r.data["config"] == {"np": 0.5, "arr": [0, 1, 2], "set": [1, 2], "path": "/x"}
    assert store.get_spec("exp")["space"]["f"].startswith("<object object")
    store.close()


def test_importing_storage_does_not_import_pandas() -> None:
    code = (
        "import sys, tunefleet.storage, tunefleet.results, tunefleet.storage.replay;"
        "bad = [m for m in ('pandas', 'pyarrow') if m in sys.modules];"
        "assert not bad, bad"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_corrupt_experiment_file_is_listed_not_fatal(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path)
    store.create_experiment("good", SPEC)
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "experiment.db").write_bytes(b"this is not sqlite" * 100)
    by_name = {s.name: s for s in store.list_experiments()}
    assert by_name["good"].status == "created"
    assert by_name["broken"].status == "damaged"
    assert "tunefleet doctor broken" in (by_name["broken"].problem or "")
    store.close()
