"""SQLiteStore: the default store, one SQLite file per experiment (DESIGN.md §6).

Layout under the user's ``storage_path``::

    <root>/<name>/experiment.db        meta(key, value) + events(seq, kind, trial_id, ts, data)
                                       + the writer's summaries of the log (stats.py)
    <root>/<name>/trials/<trial_id>/   the trial's artifacts and checkpoints

WAL mode lets the one writer (the driver) commit while any number of readers (CLI, dashboard,
Results in another process) read through ``mode=ro`` connections: readers never block the
writer and, since every ``append`` is one transaction, never see half a batch.
``synchronous=NORMAL`` makes a commit survive ``kill -9`` of the driver (an OS crash may lose
the last transactions, never corrupt the file) without an fsync per batch.

``experiment.db`` appears complete or not at all: it is built under a temporary name and
hard-linked into place. So an empty, truncated or overwritten file is always damage, never
a creation in progress: it raises :class:`DamagedStoreError` (one line, naming the file and
``tunefleet doctor``) and nothing writes over it. Files are private by default
(:mod:`tunefleet.storage.trust`).

Why ~530 lines: the schema, the writer's transaction and the readers of one file format
belong together; the writer's summary tables are stats.py, replay is replay.py.
"""

from __future__ import annotations

import contextlib
import math
import os
import shlex
import sqlite3
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from tunefleet.errors import TuneValueError
from tunefleet.protocol import dumps, loads
from tunefleet.storage.base import DamagedStoreError, SchemaVersionError, Store, validate_name
from tunefleet.storage.lock import hostname, lock_held
from tunefleet.storage.records import RESULT, TRIAL_CREATED, Record
from tunefleet.storage.stats import Summaries
from tunefleet.storage.trust import check_trusted, file_mode, makedirs_private, storage_umask

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
_TMP_PREFIX = ".experiment-"  # + host-pid-random.db: a file being created
_INSERT = "INSERT INTO events (seq, kind, trial_id, ts, data) VALUES (?, ?, ?, ?, ?)"


class SQLiteStore(Store):
    """Experiments as SQLite files under ``root`` (the user's ``storage_path``).

    The writer connection of each experiment is opened lazily on the first write, by the one
    driver; every read opens its own read-only connection.
    """

    def __init__(
        self, root: str | os.PathLike[str] = DEFAULT_STORAGE_PATH, umask: int | None = None
    ) -> None:
        self.root = os.path.abspath(os.path.expanduser(os.fspath(root)))
        self.umask = storage_umask(umask)  # of what the store creates (trust.py)
        self._writers: dict[str, sqlite3.Connection] = {}
        self._summaries: dict[str, Summaries] = {}  # the writer's summary tables (stats.py)
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
            makedirs_private(self.root, self.umask)
            fd, probe = tempfile.mkstemp(prefix=".tunefleet-probe-", dir=self.root)
            os.close(fd)
            os.unlink(probe)
        except OSError as e:
            raise TuneValueError(
                f"storage_path: cannot create or write {self.root!r} ({e.strerror or e}); "
                "pass a writable directory as storage_path"
            ) from e

    # -- connections ----------------------------------------------------------------------

    def damaged(self, name: str, reason: str) -> DamagedStoreError:
        """The one-line error for a damaged experiment file: what, where, what to do."""
        reason = " ".join(reason.split())
        return DamagedStoreError(
            f"experiment {name!r} is damaged: {self.db_path(name)}: {reason}. Run `tunefleet "
            f"doctor {shlex.quote(name)} --storage-path {shlex.quote(self.root)}` to salvage "
            "its readable records into a new file (the damaged one is kept aside)"
        )

    @contextlib.contextmanager
    def _guard(self, name: str) -> Iterator[None]:
        """SQLite's corruption errors become DamagedStoreError; locks, full disks stay."""
        try:
            yield
        except sqlite3.DatabaseError as e:
            if isinstance(e, sqlite3.OperationalError) and "no such" not in str(e):
                raise
            raise self.damaged(name, str(e)) from None

    def _decode(self, name: str, seq: int, data: Any) -> dict[str, Any]:
        try:
            value = loads(data)
        except (ValueError, TypeError) as e:
            raise self.damaged(name, f"record {seq} is not valid JSON ({e})") from None
        if not isinstance(value, dict):
            raise self.damaged(name, f"record {seq} holds a {type(value).__name__}, not an object")
        return value

    def _check_size(self, name: str) -> None:
        """A file shorter than its header says was truncated; SQLite itself would read the
        lost end of the last page as zeros and answer some queries wrongly without a word."""
        reason = _truncation(self.db_path(name))
        if reason is not None:
            raise self.damaged(name, reason)

    def _check_version(self, conn: sqlite3.Connection, name: str) -> bool:
        """True if the file holds an experiment; raise if it is damaged or from the future."""
        try:
            with self._guard(name):
                row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        except DamagedStoreError:
            size = _size(self.db_path(name))
            if size == 0:
                raise self.damaged(name, "the file is empty (0 bytes)") from None
            raise
        if row is None:
            raise self.damaged(name, "it holds no schema version (its meta table was emptied)")
        try:
            version = int(row[0])
        except (TypeError, ValueError):
            raise self.damaged(name, f"its schema version {row[0]!r} is not a number") from None
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
        self._check_size(name)
        conn = self._connect_writer(path, name)
        try:
            self._check_version(conn, name)
            self._summaries[name] = self._open_summaries(conn, name)
        except BaseException:
            conn.close()
            raise
        self._writers[name] = conn
        return conn

    def _open_summaries(self, conn: sqlite3.Connection, name: str) -> Summaries:
        row = conn.execute("SELECT value FROM meta WHERE key = 'spec'").fetchone()
        try:
            spec = loads(row[0]) if row is not None else {}
        except (ValueError, TypeError):
            spec = {}
        return Summaries.open(conn, spec if isinstance(spec, dict) else {})

    def _connect_writer(self, path: str, name: str) -> sqlite3.Connection:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        try:
            with self._guard(name):
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
        except BaseException:
            conn.close()
            raise
        return conn

    def _reader(self, name: str) -> sqlite3.Connection:
        path = self.db_path(name)
        if not os.path.exists(path):
            raise self.unknown(name, self.root)
        self._check_size(name)
        uri = f"file:{urllib.parse.quote(path)}?mode=ro"
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout = 10000")
        try:
            self._check_version(conn, name)
        except BaseException:
            conn.close()
            raise
        return conn

    def _reopen_summaries(self, conn: sqlite3.Connection, name: str) -> None:
        try:
            self._summaries[name] = self._open_summaries(conn, name)
        except Exception:  # noqa: BLE001 - the writer is dropped: reopened on the next append
            self._writers.pop(name, None)
            self._summaries.pop(name, None)
            conn.close()

    def close(self) -> None:
        with self._lock:
            self._summaries = {}
            writers, self._writers = self._writers, {}
            for conn in writers.values():
                conn.close()

    # -- experiments ----------------------------------------------------------------------

    def create_experiment(self, name: str, spec: dict[str, Any], *, exist_ok: bool = False) -> None:
        validate_name(name)
        self.check_writable()
        spec_json = dumps(spec)
        with self._lock:
            try:
                makedirs_private(os.path.join(self.experiment_dir(name), "trials"), self.umask)
                created = not os.path.exists(self.db_path(name)) and self._create_file(
                    name, spec_json
                )
            except (OSError, sqlite3.OperationalError) as e:
                raise TuneValueError(
                    f"storage_path: cannot create experiment {name!r} under {self.root!r}: {e}"
                ) from e
        # Another file was there first (or won the race): never written over. A damaged one
        # raises here, so resume="AUTO" cannot replace it with a new experiment.
        if not created and self.experiment_exists(name) and not exist_ok:
            raise TuneValueError(
                f"name: experiment {name!r} already exists in {self.root}; choose another name "
                "or resume it"
            )
        with self._lock:
            self._writer(name)  # the one writer connection, open from now on (as before)

    def _create_file(self, name: str, spec_json: str) -> bool:
        """Build the file under a temporary name, then link it into place if none is there:
        readers and racing creators see a complete experiment or none. True if created."""
        path = self.db_path(name)
        _remove_dead_creators_files(os.path.dirname(path))
        prefix = f"{_TMP_PREFIX}{hostname()}-{os.getpid()}-"
        fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=".db", dir=os.path.dirname(path))
        os.close(fd)
        try:
            meta = {
                "schema_version": str(SCHEMA_VERSION),
                "name": name,
                "created": repr(time.time()),
                "spec": spec_json,
            }
            write_file(tmp, meta, (), file_mode(self.umask))
            try:
                os.link(tmp, path)
            except FileExistsError:
                return False
            except OSError:  # a filesystem without hard links
                if os.path.exists(path):
                    return False
                os.rename(tmp, path)
            return True
        finally:
            for leftover in (tmp, tmp + "-wal", tmp + "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(leftover)

    def experiment_exists(self, name: str) -> bool:
        """False when there is no file; raises DamagedStoreError when it is damaged."""
        validate_name(name)
        if not os.path.exists(self.db_path(name)):
            return False
        self._reader(name).close()
        return True

    def driver_alive(self, name: str) -> bool | None:
        return lock_held(self.experiment_dir(name))

    def check_trusted(self, name: str, trusted: bool = False) -> None:
        exp_dir = self.experiment_dir(name)
        paths = [self.root, exp_dir, self.db_path(name), os.path.join(exp_dir, "trials")]
        check_trusted(paths, trusted)

    def _meta(self, name: str, key: str) -> str | None:
        conn = self._reader(name)
        try:
            with self._guard(name):
                row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        finally:
            conn.close()
        return None if row is None else str(row[0])

    def get_spec(self, name: str) -> dict[str, Any]:
        raw = self._meta(name, "spec")
        if raw is None:
            return {}
        try:
            spec = loads(raw)
        except (ValueError, TypeError) as e:
            raise self.damaged(name, f"its spec is not valid JSON ({e})") from None
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
        with self._lock, self._guard(name):
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
                self._summaries[name].update(conn, records, last + 1)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                self._reopen_summaries(conn, name)  # its running totals saw the batch
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
        return self._iter(name, conn, sql, params, since)

    def _iter(
        self, name: str, conn: sqlite3.Connection, sql: str, params: list[Any], since: int
    ) -> Iterator[Record]:
        # Keyset pagination: each chunk is its own short read transaction, so a slow consumer
        # never pins the WAL, and each chunk ends on a commit boundary of what it saw.
        decode = self._decode
        try:
            last = since
            while True:
                with self._guard(name):
                    rows = conn.execute(sql, [last, *params]).fetchall()
                for seq, kind, tid, ts, data in rows:
                    yield Record(kind, tid, decode(name, seq, data), ts, seq)
                if len(rows) < _READ_CHUNK:
                    return
                last = rows[-1][0]
        finally:
            conn.close()

    def last_of_kind(self, name: str, kind: str) -> Record | None:
        """One probe of the (kind, seq) index instead of decoding every record of a kind."""
        conn = self._reader(name)
        try:
            with self._guard(name):
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
        return Record(k, tid, self._decode(name, seq, data), ts, seq)

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
            with self._guard(name):
                rows = conn.execute(sql, (RESULT, TRIAL_CREATED)).fetchall()
        finally:
            conn.close()
        decode = self._decode
        return {
            tid: Record(kind, tid, decode(name, seq, data), ts, seq)
            for seq, kind, tid, ts, data in rows
        }


def write_file(path: str, meta: dict[str, str], rows: Iterable[Sequence[Any]], mode: int) -> None:
    """Fill the empty file ``path`` with the schema, ``meta`` and event ``rows``, in one
    transaction, and give it ``mode`` (its -wal and -shm files get the same).

    The file is not in place yet (callers link or rename it there afterwards, and delete it
    if this fails), so it is written without a journal and without syncs, then switched to
    WAL and synced once: one ``fsync`` instead of the WAL's several (~3 ms against ~30 ms
    on this project's machine, a third of a 300-trial sweep's fixed cost)."""
    os.chmod(path, mode)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=OFF")
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("BEGIN IMMEDIATE")
        for stmt in _SCHEMA:
            conn.execute(stmt)
        conn.executemany("INSERT INTO meta VALUES (?, ?)", meta.items())
        conn.executemany(_INSERT, rows)
        conn.execute("COMMIT")
        conn.execute("PRAGMA journal_mode=WAL")  # recorded in the file's header
    finally:
        conn.close()
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)  # complete on disk before anyone can see it under its real name
    finally:
        os.close(fd)


def _remove_dead_creators_files(folder: str) -> None:
    """Delete the half-built files of creators on this host that were killed mid-way."""
    host = hostname()
    try:
        entries = os.listdir(folder)
    except OSError:
        return
    for entry in entries:
        if not entry.startswith(_TMP_PREFIX):
            continue
        stem = entry[len(_TMP_PREFIX) :].split(".db", 1)[0]
        parts = stem.rsplit("-", 2)  # host may hold dashes; pid and mkstemp's part do not
        if len(parts) != 3 or parts[0] != host or not parts[1].isdigit():
            continue
        try:
            os.kill(int(parts[1]), 0)
            continue  # alive: its file is in use
        except ProcessLookupError:
            pass
        except OSError:
            continue  # alive, another user's
        with contextlib.suppress(OSError):
            os.unlink(os.path.join(folder, entry))


def _truncation(path: str) -> str | None:
    """Why the file is shorter than its header says, or None.

    Only when the WAL is empty: while it holds frames (a live or crashed driver), the file
    may lag its header in the middle of a checkpoint, and the WAL holds the rest.
    """
    try:
        if os.path.getsize(path + "-wal") > 0:
            return None
    except OSError:
        pass
    try:
        with open(path, "rb") as f:
            header = f.read(100)
        size = os.path.getsize(path)
    except OSError:
        return None
    if len(header) < 100 or not header.startswith(b"SQLite format 3\0"):
        return None  # empty or not SQLite at all: the version check says which
    if header[24:28] != header[92:96]:
        return None  # a page count SQLite itself would not trust
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    expected = int.from_bytes(header[28:32], "big") * page_size
    if size < expected:
        return f"it is truncated ({size} bytes where its header records {expected})"
    return None


def _size(path: str) -> int | None:
    try:
        return os.path.getsize(path)
    except OSError:
        return None
