"""SQLiteStore: the default store, one SQLite file per experiment (DESIGN.md §6).

Layout under the user's ``storage_path``::

    <root>/<name>/experiment.db        meta(key, value) + events(seq, kind, trial_id, ts, data)
    <root>/<name>/trials/<trial_id>/   the trial's artifacts and checkpoints

WAL mode lets the one writer (the driver) commit while any number of readers (CLI, dashboard,
Results in another process) read through ``mode=ro`` connections: readers never block the
writer and, since every ``append`` is one transaction, never see half a batch.
``synchronous=NORMAL`` makes a commit survive ``kill -9`` of the driver (an OS crash may lose
the last transactions, never corrupt the file) without an fsync per batch.
"""

from __future__ import annotations

import math
import os
import sqlite3
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from tunefleet.errors import TuneValueError
from tunefleet.protocol import dumps, loads
from tunefleet.storage.base import SchemaVersionError, Store, validate_name
from tunefleet.storage.records import RESULT, TRIAL_CREATED, Record

SCHEMA_VERSION = 1
DB_FILE = "experiment.db"
DEFAULT_STORAGE_PATH = "./tunefleet_runs"
_READ_CHUNK = 4096  # rows per query: short read transactions, bounded memory per fetch

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS events ("
    " seq INTEGER PRIMARY KEY, kind TEXT NOT NULL, trial_id TEXT, ts REAL NOT NULL,"
    " data TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS events_trial ON events (trial_id, seq)",
    "CREATE INDEX IF NOT EXISTS events_kind ON events (kind, seq)",
)
_INSERT = "INSERT INTO events (seq, kind, trial_id, ts, data) VALUES (?, ?, ?, ?, ?)"


class SQLiteStore(Store):
    """Experiments as SQLite files under ``root`` (the user's ``storage_path``).

    The writer connection of each experiment is opened lazily on the first write, by the one
    driver; every read opens its own read-only connection.
    """

    def __init__(self, root: str | os.PathLike[str] = DEFAULT_STORAGE_PATH) -> None:
        self.root = os.path.abspath(os.path.expanduser(os.fspath(root)))
        self._writers: dict[str, sqlite3.Connection] = {}
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        return f"SQLiteStore({self.root!r})"

    # -- paths ----------------------------------------------------------------------------

    def experiment_dir(self, name: str) -> str:
        validate_name(name)
        return os.path.join(self.root, name)

    def db_path(self, name: str) -> str:
        return os.path.join(self.experiment_dir(name), DB_FILE)

    def check_writable(self) -> None:
        """Create the storage directory and write a probe file, before any compute is spent."""
        try:
            os.makedirs(self.root, exist_ok=True)
            fd, probe = tempfile.mkstemp(prefix=".tunefleet-probe-", dir=self.root)
            os.close(fd)
            os.unlink(probe)
        except OSError as e:
            raise TuneValueError(
                f"storage_path: cannot create or write {self.root!r} ({e.strerror or e}); "
                "pass a writable directory as storage_path"
            ) from e

    # -- connections ----------------------------------------------------------------------

    def _check_version(self, conn: sqlite3.Connection, name: str) -> bool:
        """True if the file holds an initialised experiment; raise if it is from the future."""
        try:
            row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        except sqlite3.OperationalError:  # no meta table: creation never committed
            return False
        if row is None:
            return False
        version = int(row[0])
        if version > SCHEMA_VERSION:
            raise SchemaVersionError(
                f"experiment {name!r} at {self.db_path(name)} uses storage schema version "
                f"{version}, but this tunefleet reads up to version {SCHEMA_VERSION}; "
                "upgrade tunefleet to open it"
            )
        return True

    def _writer(self, name: str) -> sqlite3.Connection:
        conn = self._writers.get(name)
        if conn is not None:
            return conn
        path = self.db_path(name)
        if not os.path.exists(path):
            raise self.unknown(name, self.root)
        conn = self._connect_writer(path)
        try:
            if not self._check_version(conn, name):
                raise self.unknown(name, self.root)
        except BaseException:
            conn.close()
            raise
        self._writers[name] = conn
        return conn

    @staticmethod
    def _connect_writer(path: str) -> sqlite3.Connection:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    def _reader(self, name: str) -> sqlite3.Connection:
        path = self.db_path(name)
        if not os.path.exists(path):
            raise self.unknown(name, self.root)
        uri = f"file:{urllib.parse.quote(path)}?mode=ro"
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout = 10000")
        try:
            if not self._check_version(conn, name):
                raise self.unknown(name, self.root)
        except BaseException:
            conn.close()
            raise
        return conn

    def close(self) -> None:
        with self._lock:
            writers, self._writers = self._writers, {}
            for conn in writers.values():
                conn.close()

    # -- experiments ----------------------------------------------------------------------

    def create_experiment(self, name: str, spec: dict[str, Any], *, exist_ok: bool = False) -> None:
        validate_name(name)
        self.check_writable()
        spec_json = dumps(spec)
        with self._lock:
            path = self.db_path(name)
            try:
                os.makedirs(os.path.dirname(path), exist_ok=True)
                conn = self._writers.get(name) or self._connect_writer(path)
            except (OSError, sqlite3.OperationalError) as e:
                raise TuneValueError(
                    f"storage_path: cannot create experiment {name!r} under {self.root!r}: {e}"
                ) from e
            try:
                conn.execute("BEGIN IMMEDIATE")  # also serialises racing creators
                try:
                    exists = self._check_version(conn, name)
                    if not exists:
                        for stmt in _SCHEMA:
                            conn.execute(stmt)
                        meta = {
                            "schema_version": str(SCHEMA_VERSION),
                            "name": name,
                            "created": repr(time.time()),
                            "spec": spec_json,
                        }
                        conn.executemany("INSERT INTO meta VALUES (?, ?)", meta.items())
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
            except BaseException:
                conn.close()
                self._writers.pop(name, None)
                raise
            self._writers[name] = conn
        if exists and not exist_ok:
            raise TuneValueError(
                f"name: experiment {name!r} already exists in {self.root}; choose another name "
                "or resume it"
            )

    def experiment_exists(self, name: str) -> bool:
        validate_name(name)
        if not os.path.exists(self.db_path(name)):
            return False
        conn = sqlite3.connect(
            f"file:{urllib.parse.quote(self.db_path(name))}?mode=ro", uri=True, timeout=10
        )
        try:
            return self._check_version(conn, name)
        finally:
            conn.close()

    def _meta(self, name: str, key: str) -> str | None:
        conn = self._reader(name)
        try:
            row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        finally:
            conn.close()
        return None if row is None else str(row[0])

    def get_spec(self, name: str) -> dict[str, Any]:
        raw = self._meta(name, "spec")
        spec = loads(raw) if raw is not None else {}
        return spec if isinstance(spec, dict) else {}

    def created_at(self, name: str) -> float:
        raw = self._meta(name, "created")
        try:
            return float(raw) if raw is not None else math.nan
        except ValueError:
            return math.nan

    def experiment_names(self) -> list[str]:
        try:
            entries = os.listdir(self.root)
        except OSError:
            return []
        return sorted(
            e
            for e in entries
            if not e.startswith(".") and os.path.isfile(os.path.join(self.root, e, DB_FILE))
        )

    # -- the log --------------------------------------------------------------------------

    def append(self, name: str, records: Sequence[Record]) -> None:
        if not records:
            return
        # outside the write lock; results encoded by workers are stored as they came
        encoded = [r.raw if r.raw is not None else dumps(r.data) for r in records]
        with self._lock:
            conn = self._writer(name)
            conn.execute("BEGIN IMMEDIATE")
            try:
                (last,) = conn.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()
                conn.executemany(
                    _INSERT,
                    [
                        (last + i, r.kind, r.trial_id, r.ts, d)
                        for i, (r, d) in enumerate(zip(records, encoded, strict=True), 1)
                    ],
                )
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        for i, r in enumerate(records, 1):
            r.seq = last + i

    def read(
        self,
        name: str,
        since: int = 0,
        kinds: Iterable[str] | None = None,
        trial_id: str | None = None,
    ) -> Iterator[Record]:
        where = ["seq > ?"]
        params: list[Any] = []
        if kinds is not None:
            kinds = list(kinds)
            if not kinds:
                return iter(())
            where.append(f"kind IN ({', '.join('?' * len(kinds))})")
            params.extend(kinds)
        if trial_id is not None:
            where.append("trial_id = ?")
            params.append(trial_id)
        sql = (
            f"SELECT seq, kind, trial_id, ts, data FROM events WHERE {' AND '.join(where)} "
            f"ORDER BY seq LIMIT {_READ_CHUNK}"
        )
        conn = self._reader(name)  # eager: an unknown name fails here, not on first next()
        return self._iter(conn, sql, params, since)

    @staticmethod
    def _iter(
        conn: sqlite3.Connection, sql: str, params: list[Any], since: int
    ) -> Iterator[Record]:
        # Keyset pagination: each chunk is its own short read transaction, so a slow consumer
        # never pins the WAL, and each chunk ends on a commit boundary of what it saw.
        try:
            last = since
            while True:
                rows = conn.execute(sql, [last, *params]).fetchall()
                for seq, kind, tid, ts, data in rows:
                    yield Record(kind, tid, loads(data), ts, seq)
                if len(rows) < _READ_CHUNK:
                    return
                last = rows[-1][0]
        finally:
            conn.close()

    def last_of_kind(self, name: str, kind: str) -> Record | None:
        """One probe of the (kind, seq) index instead of decoding every record of a kind."""
        conn = self._reader(name)
        try:
            row = conn.execute(
                "SELECT seq, kind, trial_id, ts, data FROM events WHERE kind = ? "
                "ORDER BY seq DESC LIMIT 1",
                (kind,),
            ).fetchone()
        finally:
            conn.close()
        if row is None:
            return None
        seq, k, tid, ts, data = row
        return Record(k, tid, loads(data), ts, seq)

    def last_results(self, name: str) -> dict[str, Record]:
        """One index probe per trial instead of decoding every result.

        ``+r.kind`` keeps the planner on the (trial_id, seq) index: walking a trial's records
        backwards finds its last result in a step or two, where the kind index would scan
        every result of the experiment for every trial.
        """
        sql = (
            "SELECT seq, kind, trial_id, ts, data FROM events WHERE seq IN ("
            " SELECT (SELECT r.seq FROM events r WHERE r.trial_id = c.trial_id AND +r.kind = ?"
            "         ORDER BY r.seq DESC LIMIT 1)"
            " FROM events c WHERE c.kind = ?)"
        )
        conn = self._reader(name)
        try:
            rows = conn.execute(sql, (RESULT, TRIAL_CREATED)).fetchall()
        finally:
            conn.close()
        return {tid: Record(kind, tid, loads(data), ts, seq) for seq, kind, tid, ts, data in rows}
