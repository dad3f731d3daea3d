"""``tunefleet doctor``: salvage every readable record of a damaged experiment file.

The damaged file is never modified or deleted: it is read through a scratch copy, then
renamed aside (``experiment.db.damaged-<time>``, with its ``-wal``/``-shm``) and replaced
by a new file holding what could be read. A truncated file is first padded back to the
size its header records, so that SQLite reads the pages that survive instead of refusing
the whole file; rows are then read in ``seq`` order, and where a page is unreadable the
scan skips ahead by point lookups (``seq`` is the table's rowid, numbered 1, 2, 3, ...
without gaps, so every missing number is a lost record).

A ``state_delta`` record patches the state as of the record before it, so after a gap the
deltas up to the next full ``state`` snapshot cannot be applied faithfully: they are dropped
and counted as lost rather than replayed into a silently wrong state.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import struct
import tempfile
import time
from dataclasses import dataclass
from typing import Any

from tunefleet.protocol import dumps, loads
from tunefleet.storage.base import DamagedStoreError
from tunefleet.storage.lock import DriverLock
from tunefleet.storage.records import STATE, STATE_DELTA, Record
from tunefleet.storage.replay import ReplayedExperiment, replay
from tunefleet.storage.sqlite import SCHEMA_VERSION, SQLiteStore, write_file
from tunefleet.storage.trust import file_mode

# With the newest page lost, the last seq is unknown: probe past the last readable record
# as far as the missing bytes could hold records (24 bytes at least each), within bounds.
MIN_BLIND_GAP = 4_096
MAX_BLIND_GAP = 100_000
_ROW = "SELECT seq, kind, trial_id, ts, data FROM events"


@dataclass
class SalvageReport:
    name: str
    path: str  # the experiment file, as it is now
    intact: bool = False
    salvaged: int = 0  # records in the new file
    lost: int = 0  # records known to be lost (missing, unreadable, or unusable after a gap)
    tail_unknown: bool = False  # the newest records' page is gone: more may be lost
    spec_lost: bool = False
    kept_aside: str | None = None  # where the damaged file now is

    def message(self) -> str:
        """What happened, in the words ``tunefleet doctor`` prints."""
        if self.intact:
            return (
                f"experiment {self.name!r}: {self.path} is intact ({self.salvaged} records); "
                "nothing to do"
            )
        lost = str(self.lost)
        if self.tail_unknown:  # the page of the newest records is gone: they cannot be counted
            lost = f"{self.lost} or more" if self.lost else "an unknown number of"
        if self.kept_aside is not None and self.salvaged == 0 and self.spec_lost:
            return (
                f"experiment {self.name!r}: nothing in {self.path} could be read ({lost} "
                f"records lost); the damaged file was moved to {self.kept_aside}, and the "
                "name is free for a new run"
            )
        text = (
            f"experiment {self.name!r}: salvaged {self.salvaged} records into {self.path}, "
            f"{lost} records lost; the damaged file is kept as {self.kept_aside}."
        )
        if self.spec_lost:
            text += (
                " Its spec was lost: `tunefleet show` works, but a resume needs the "
                "trainable and config passed again (tune.run(..., resume=True))."
            )
        return text


def salvage(store: SQLiteStore, name: str) -> SalvageReport:
    """Check ``name``; if damaged, replace its file by one with every readable record.

    Holds the experiment's driver lock meanwhile, so no driver writes (or resumes) it.
    """
    path = store.db_path(name)
    if not os.path.exists(path):
        raise store.unknown(name, store.root)
    with DriverLock(store.experiment_dir(name), name, store.umask):
        count = _intact_records(store, name)
        if count is not None:
            return SalvageReport(name, path, intact=True, salvaged=count)
        with tempfile.TemporaryDirectory(prefix=".salvage-", dir=store.experiment_dir(name)) as d:
            copy = os.path.join(d, "copy.db")
            blind_gap = _copy_padded(path, copy)
            meta, records, lost, tail_unknown = _read_what_survives(copy, blind_gap)
            report = SalvageReport(name, path, lost=lost, tail_unknown=tail_unknown)
            report.spec_lost = "spec" not in meta
            report.salvaged = len(records)
            fresh = None
            if records or not report.spec_lost:
                fresh = os.path.join(d, "fresh.db")
                _write(fresh, name, meta, records, file_mode(store.umask))
            report.kept_aside = _move_aside(path)
            if fresh is not None:
                os.replace(fresh, path)
        return report


def _intact_records(store: SQLiteStore, name: str) -> int | None:
    """The number of records when the file reads back whole and replays; else None."""
    try:
        conn = store._reader(name)
        try:
            (check,) = conn.execute("PRAGMA quick_check").fetchone()
        finally:
            conn.close()
        if check != "ok":
            return None
        store.get_spec(name)
        records = list(store.read(name))
        replay(records)
    except (DamagedStoreError, sqlite3.DatabaseError):
        return None
    return len(records)


def _copy_padded(src: str, dst: str) -> int:
    """Copy the file (and its WAL), pad a truncated copy to its header's page count, and
    return how many records the padding could have held (the bound of a blind search)."""
    shutil.copyfile(src, dst)
    if os.path.exists(src + "-wal"):
        shutil.copyfile(src + "-wal", dst + "-wal")
    with open(dst, "rb") as f:
        header = f.read(100)
    if len(header) < 100 or not header.startswith(b"SQLite format 3\0"):
        return 0
    page_size = struct.unpack(">H", header[16:18])[0]
    page_size = 65536 if page_size == 1 else page_size
    expected = struct.unpack(">I", header[28:32])[0] * page_size
    size = os.path.getsize(dst)
    missing = expected - size
    if missing > 0:
        # A page cut in the middle keeps its header but loses the cells at its end: zero
        # it whole, so SQLite reports it unreadable instead of decoding zeros as rows.
        os.truncate(dst, size - size % page_size)
        os.truncate(dst, expected)
    return min(MAX_BLIND_GAP, max(MIN_BLIND_GAP, missing // 24))


def _read_what_survives(
    path: str, blind_gap: int
) -> tuple[dict[str, str], list[tuple[Any, ...]], int, bool]:
    """(meta, rows that decode, records lost, whether the newest ones are unknown)."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        meta = _read_meta(conn)
        high, exact = _last_seq(conn)
        rows = _scan(conn, high if exact else None, blind_gap)
    finally:
        conn.close()
    kept: list[tuple[Any, ...]] = []
    expected = 1
    after_gap = False
    lost = 0
    probe = ReplayedExperiment()  # a record that does not replay is damaged too
    for row in rows:
        seq, kind = row[0], row[1]
        if seq != expected:
            after_gap = True
        expected = seq + 1
        if kind == STATE_DELTA and after_gap:
            lost += 1  # its base state is gone: replaying it would build a wrong state
            continue
        try:
            probe.apply(Record(kind, row[2], loads(row[4]), row[3], seq))
        except DamagedStoreError:
            lost += 1
            after_gap = after_gap or kind in (STATE, STATE_DELTA)
            continue
        if kind == STATE:
            after_gap = False
        kept.append(row)
    last = rows[-1][0] if rows else 0
    top = high if exact and high is not None else max(high or 0, last)
    lost += top - len(rows)
    return meta, kept, lost, not exact


def _last_seq(conn: sqlite3.Connection) -> tuple[int | None, bool]:
    """The newest record's seq, and whether it is certain.

    The table's rightmost page answers; when it is lost, the (kind, seq) and (trial_id,
    seq) indexes still name the seqs they hold, on pages of their own: an index read to
    its end names them all, one cut short gives a lower bound.
    """
    try:
        (high,) = conn.execute("SELECT max(seq) FROM events").fetchone()
        return (high if isinstance(high, int) else 0), True
    except sqlite3.DatabaseError:
        pass
    best: int | None = None
    for index in ("events_kind", "events_trial"):
        try:
            for (seq,) in conn.execute(f"SELECT seq FROM events INDEXED BY {index}"):
                if isinstance(seq, int) and (best is None or seq > best):
                    best = seq
        except sqlite3.DatabaseError:
            continue
        return best, True
    return best, False


def _read_meta(conn: sqlite3.Connection) -> dict[str, str]:
    meta: dict[str, str] = {}
    for key in ("schema_version", "name", "created", "spec"):
        try:
            row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        except sqlite3.DatabaseError:
            continue
        if row is not None and isinstance(row[0], str):
            meta[key] = row[0]
    if "spec" in meta:
        try:
            if not isinstance(loads(meta["spec"]), dict):
                del meta["spec"]
        except (ValueError, TypeError):
            del meta["spec"]
    return meta


def _scan(conn: sqlite3.Connection, high: int | None, blind_gap: int) -> list[tuple[Any, ...]]:
    """Every row that reads and decodes, in seq order, skipping unreadable pages."""
    rows: list[tuple[Any, ...]] = []
    last = 0
    while True:
        try:
            for row in conn.execute(f"{_ROW} WHERE seq > ? ORDER BY seq", (last,)):
                last = row[0]
                if _valid(row):
                    rows.append(row)
            return rows
        except sqlite3.DatabaseError as e:
            if "no such table" in str(e) or "not a database" in str(e):
                return rows  # the schema or the header is gone: nothing to look up
                return rows
        # An unreadable page: look the next numbers up one by one until one reads.
        limit = high if high is not None else last + blind_gap
        found = None
        for seq in range(last + 1, limit + 1):
            with contextlib.suppress(sqlite3.DatabaseError):
                found = conn.execute(f"{_ROW} WHERE seq = ?", (seq,)).fetchone()
            if found is not None:
                break
        if found is None:
            return rows
        last = found[0]
        if _valid(found):
            rows.append(found)


def _valid(row: tuple[Any, ...]) -> bool:
    _seq, kind, trial_id, ts, data = row
    if not isinstance(kind, str) or not (trial_id is None or isinstance(trial_id, str)):
        return False
    if isinstance(ts, bool) or not isinstance(ts, int | float):
        return False
    try:
        return isinstance(loads(data), dict)
    except (ValueError, TypeError):
        return False


def _write(
    path: str, name: str, meta: dict[str, str], rows: list[tuple[Any, ...]], mode: int
) -> None:
    fresh = {
        "schema_version": str(SCHEMA_VERSION),
        "name": name,
        "created": meta.get("created", repr(time.time())),
        "spec": meta.get("spec", dumps({})),
        "salvaged": repr(time.time()),
    }
    open(path, "wb").close()
    write_file(path, fresh, rows, mode)


def _move_aside(path: str) -> str:
    """Rename the damaged file and its WAL files aside; never delete them."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    aside = f"{path}.damaged-{stamp}"
    n = 1
    while os.path.exists(aside):
        n += 1
        aside = f"{path}.damaged-{stamp}-{n}"
    os.rename(path, aside)
    for suffix in ("-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.rename(path + suffix, aside + suffix)
    return aside
