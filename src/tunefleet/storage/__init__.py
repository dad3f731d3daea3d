"""The experiment store: an append-only event log per experiment (DESIGN.md §6).

Importing this package is cheap: no pandas or pyarrow (Results and the CLI import them
lazily, only when a dataframe or a parquet file is asked for).
"""

from __future__ import annotations

import os

from tunefleet.errors import TuneValueError
from tunefleet.storage.base import (
    LIFECYCLE_KINDS,
    DamagedStoreError,
    ExperimentSummary,
    SchemaVersionError,
    Store,
    UnknownExperimentError,
    validate_name,
)
from tunefleet.storage.memory import MemoryStore
from tunefleet.storage.records import KINDS, Record
from tunefleet.storage.replay import ReplayedExperiment, TrialSnapshot, replay
from tunefleet.storage.sqlite import DEFAULT_STORAGE_PATH, SCHEMA_VERSION, SQLiteStore
from tunefleet.storage.writer import BatchedWriter

__all__ = [
    "DEFAULT_STORAGE_PATH",
    "KINDS",
    "LIFECYCLE_KINDS",
    "SCHEMA_VERSION",
    "BatchedWriter",
    "DamagedStoreError",
    "ExperimentSummary",
    "MemoryStore",
    "Record",
    "ReplayedExperiment",
    "SQLiteStore",
    "SchemaVersionError",
    "Store",
    "TrialSnapshot",
    "UnknownExperimentError",
    "open_store",
    "replay",
    "validate_name",
]


def open_store(storage_path: str | os.PathLike[str] | Store | None = None) -> Store:
    """The store behind a user's ``storage_path`` (None: ``./tunefleet_runs``).

    A Store instance is returned as is, so callers can inject a MemoryStore. ``file://`` URLs
    are local paths; other URL schemes are refused until remote storage lands.
    """
    if isinstance(storage_path, Store):
        return storage_path
    if storage_path is None:
        return SQLiteStore(DEFAULT_STORAGE_PATH)
    if not isinstance(storage_path, str | os.PathLike):
        raise TuneValueError(
            f"storage_path: expected a directory path, got {type(storage_path).__name__}"
        )
    path = os.fspath(storage_path)
    if path.startswith("file://"):
        path = path[len("file://") :]
    elif "://" in path:
        raise TuneValueError(
            f"storage_path: {path!r} is a remote URL; only local directories are supported"
        )
    if not path:
        raise TuneValueError("storage_path: must not be empty")
    return SQLiteStore(path)
