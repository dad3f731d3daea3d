"""The experiment log mirrored beside remote checkpoints, so that a lost driver machine
(a spot instance, a deleted disk) loses at most one interval of results.

With ``checkpoint_storage`` at a URL the runner copies the log, ``experiment.db``, to
``<checkpoint_storage>/<name>/experiment.db`` every ``log_mirror_interval_s`` seconds (the
``run()``/``RunConfig`` argument; when it is not given, ``$TUNEFLEET_LOG_MIRROR_S``, else
30; either is checked before any compute) while the run goes on, and once more when it ends, however it ends (completed,
failed, interrupted). Each copy is a consistent snapshot taken with SQLite's online backup
API into a private temporary file, then uploaded as one object: object stores replace an
object whole, so a reader sees the previous snapshot or this one, never a mix.

A resume given that URL as ``storage_path`` (``run(resume=True, name=..., storage_path=
"s3://bucket/prefix")``, ``tunefleet.resume``) fetches the snapshot into the local storage
path ``./tunefleet_runs`` (unless that already holds the experiment: then it is this
machine's own log, at least as new) and goes on with the URL as ``checkpoint_storage``.
Checkpoints are committed to the URL before the log records them, so every checkpoint a
snapshot names is there.

``tunefleet ls`` and ``tunefleet show`` given such a URL as ``--storage-path`` read the
snapshots without touching them: :func:`read_mirrors` downloads each
``<url>/<name>/experiment.db`` into a private temporary folder, which a read-only store
(:class:`MirrorStore`) serves and the command deletes when it ends. Nothing is written to
the URL, and no lock is taken: a sweep may be running and mirroring meanwhile.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import tempfile
import threading
import warnings
from typing import Any

from tunefleet.checkpoint_store import filesystem, is_url, join, retry_call
from tunefleet.errors import TuneValueError
from tunefleet.storage.sqlite import SQLiteStore

INTERVAL_ENV = "TUNEFLEET_LOG_MIRROR_S"
DEFAULT_INTERVAL_S = 30.0
LOG_FILE = "experiment.db"


def interval_s() -> float:
    raw = os.environ.get(INTERVAL_ENV, "").strip()
    if not raw:
        return DEFAULT_INTERVAL_S
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise TuneValueError(f"{INTERVAL_ENV}: expected a number of seconds > 0, got {raw!r}")
    return value


def snapshot(db_path: str, dest: str) -> None:
    """A consistent copy of the SQLite file ``db_path`` at ``dest`` (online backup API)."""
    src = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        dst = sqlite3.connect(dest)
        try:
            src.backup(dst)
        finally:
            dst.close()
    finally:
        src.close()


class LogMirror:
    """Uploads snapshots of one experiment's log to ``url`` from a background thread."""

    def __init__(
        self, db_path: str, url: str, options: dict[str, Any] | None, interval: float | None = None
    ) -> None:
        self.db_path = db_path
        self.url = url
        self.options = options
        self.interval = interval_s() if interval is None else interval
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._warned = False
        self._thread = threading.Thread(target=self._loop, name="tunefleet-log-mirror", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.push()

    def push(self) -> None:
        """Upload a snapshot now; a failure warns once and never stops the sweep."""
        with self._lock:
            try:
                with tempfile.TemporaryDirectory(prefix="tunefleet-mirror-") as tmp:
                    local = os.path.join(tmp, LOG_FILE)
                    snapshot(self.db_path, local)
                    fs, path = filesystem(self.url, self.options)
                    retry_call(fs.put_file, local, path)  # S3's 503 SlowDown and the like
            except Exception as exc:  # noqa: BLE001 - the sweep goes on; the next push retries
                if not self._warned:
                    self._warned = True
                    warnings.warn(
                        f"checkpoint_storage: could not mirror the experiment log to "
                        f"{self.url} ({type(exc).__name__}: {exc}); retrying every "
                        f"{self.interval:g} s",
                        stacklevel=1,
                    )

    def close(self) -> None:
        """Stop the thread and upload the final snapshot."""
        self._stop.set()
        self._thread.join()
        self.push()


def start_mirror(
    db_path: str | None,
    name: str,
    storage: str | None,
    options: dict[str, Any] | None,
    interval: float | None = None,
) -> LogMirror | None:
    """A running mirror when checkpoints go to a URL and the log is a local file."""
    if storage is None or not is_url(storage) or db_path is None:
        return None
    return LogMirror(db_path, join(storage, name, LOG_FILE), options, interval)


def localize(
    storage_path: str, name: str | None, options: dict[str, Any] | None, resume: Any
) -> tuple[str, str]:
    """For a URL ``storage_path``: (the local storage path, the URL for checkpoints); on
    resume the mirrored log is fetched first when this machine does not hold it."""
    from tunefleet.storage import DEFAULT_STORAGE_PATH
    from tunefleet.storage.trust import dir_mode, file_mode, makedirs_private, storage_umask

    url = storage_path.rstrip("/")
    local = DEFAULT_STORAGE_PATH
    if resume is False or resume is None:
        return local, url
    if name is None:
        raise TuneValueError(
            f"name: resuming from storage_path={storage_path!r} needs the experiment's name"
        )
    db = os.path.join(local, name, LOG_FILE)
    if os.path.exists(db):
        return local, url
    fs, path = filesystem(join(url, name, LOG_FILE), options)
    if not fs.exists(path):
        if isinstance(resume, str) and resume.upper() == "AUTO":
            return local, url
        raise TuneValueError(
            f"storage_path: no mirrored experiment log at {join(url, name, LOG_FILE)}"
        )
    umask = storage_umask()
    makedirs_private(os.path.dirname(db), umask)
    os.chmod(os.path.dirname(db), dir_mode(umask))
    part = db + ".part"
    fs.get_file(path, part)
    os.chmod(part, file_mode(umask))
    with contextlib.suppress(FileNotFoundError):
        os.remove(db + "-wal")  # a stale log beside would be replayed into the new one
    os.replace(part, db)
    return local, url


class MirrorStore(SQLiteStore):
    """The experiment logs mirrored at ``url``, as copies in ``root`` (read them only).

    Whether a driver still runs is unknown from a snapshot: :meth:`driver_alive` says so
    (None), so an unfinished run is listed as ``running`` (as of its last snapshot), never
    as ``crashed``."""

    def __init__(self, root: str, url: str) -> None:
        super().__init__(root)
        self.url = url

    def __repr__(self) -> str:
        return f"MirrorStore({self.url!r})"

    def driver_alive(self, name: str) -> bool | None:
        return None

    def check_writable(self) -> None:
        raise TuneValueError(f"storage_path: {self.url} is read here from its mirrored logs only")


def read_mirrors(url: str, options: dict[str, Any] | None, dest: str) -> MirrorStore:
    """Copy every experiment log mirrored under ``url`` into ``dest/<name>/experiment.db``
    (private files) and return a store over the copies. ``dest`` is the caller's to delete."""
    from tunefleet.storage import validate_name

    url = url.rstrip("/")
    fs, root = filesystem(url, options)
    try:
        entries = [e for e in retry_call(fs.ls, root, detail=True) if e.get("type") == "directory"]
    except FileNotFoundError:  # no such prefix: nothing mirrored there yet; no bucket: say so
        top = root.split("/", 1)[0]
        if top != root and not retry_call(fs.exists, top):
            raise FileNotFoundError(f"{top}: no such bucket or container") from None
        entries = []
    for entry in entries:
        name = str(entry["name"]).rstrip("/").rsplit("/", 1)[-1]
        try:
            validate_name(name)
        except TuneValueError:
            continue  # not an experiment's folder
        remote = f"{str(entry['name']).rstrip('/')}/{LOG_FILE}"
        if not retry_call(fs.exists, remote):
            continue  # checkpoints without a mirrored log (an older run, another tool)
        folder = os.path.join(dest, name)
        os.makedirs(folder, mode=0o700, exist_ok=True)
        local = os.path.join(folder, LOG_FILE)
        retry_call(fs.get_file, remote, local)
        os.chmod(local, 0o600)
    return MirrorStore(dest, url)
