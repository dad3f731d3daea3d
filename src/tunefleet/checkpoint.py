"""Checkpoint: a directory of files that a trial can be restarted from (Ray Tune's model).

A user creates one from any directory (``Checkpoint.from_directory(d)``) and passes it to
``report(..., checkpoint=ckpt)``; tunefleet copies it under the trial's directory with a
temporary name and an atomic rename (or, at a URL, an upload and a ``.complete`` manifest
written last: :mod:`tunefleet.checkpoint_store`), so a record only ever points at a complete
copy, and records its content hash so that it can be verified before a restore.

Checkpoints at a URL (``run(checkpoint_storage="s3://bucket/prefix")``):

* ``Checkpoint.path`` is the URL, as recorded in the log.
* ``as_directory()`` downloads into a temporary directory that is removed on exit;
  ``to_directory(path)`` downloads into ``path`` (a new temporary directory when None) and
  keeps it; ``to_dict()`` reads ``data.pkl`` through a download.
* ``os.fspath(ckpt)`` (and so ``os.path.join(ckpt, "model.pt")``, ``open(...)``) downloads
  once, lazily, into a temporary directory that lives as long as the Checkpoint object.
* A download whose content does not match the checkpoint's manifest raises
  :class:`~tunefleet.checkpoint_store.CheckpointError`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tunefleet import checkpoint_store
from tunefleet.checkpoint_store import PersistedCheckpoint

__all__ = ["Checkpoint", "PersistedCheckpoint", "persist_checkpoint"]


class Checkpoint:
    """A checkpoint directory on local disk or at an fsspec URL (see the module docstring).

    ``storage_options`` are the fsspec options for a URL; by default those that ``run()``
    registered for its ``checkpoint_storage`` in this process, else fsspec's defaults
    (credentials and endpoint from the environment).
    """

    __slots__ = ("path", "storage_options", "_local", "_finalizer", "__weakref__")

    def __init__(
        self, path: str | os.PathLike[str], storage_options: dict[str, Any] | None = None
    ) -> None:
        self.path = os.fspath(path)
        self.storage_options = storage_options
        self._local: str | None = None  # lazily downloaded copy of a URL checkpoint
        self._finalizer: Any = None

    @classmethod
    def from_directory(cls, path: str | os.PathLike[str]) -> Checkpoint:
        p = Path(path)
        if not p.is_dir():
            raise ValueError(f"Checkpoint.from_directory: {os.fspath(path)!r} is not a directory")
        return cls(p)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Checkpoint:
        """Convenience for small states: pickled into a fresh temporary directory, which
        lives as long as the returned object (``report()`` copies it into the trial's
        folder), so a long sweep does not fill the temp dir with one folder per report."""
        import cloudpickle

        d = tempfile.mkdtemp(prefix="tunefleet-ckpt-")
        try:
            with open(os.path.join(d, "data.pkl"), "wb") as f:
                cloudpickle.dump(data, f)
        except BaseException:
            shutil.rmtree(d, ignore_errors=True)
            raise
        ckpt = cls(d)
        ckpt._finalizer = weakref.finalize(ckpt, shutil.rmtree, d, True)
        return ckpt

    @property
    def is_remote(self) -> bool:
        return checkpoint_store.is_url(self.path) and not checkpoint_store.is_marker(self.path)

    def to_dict(self) -> dict[str, Any]:
        import pickle

        with open(os.path.join(self.local_path(), "data.pkl"), "rb") as f:
            return pickle.load(f)  # noqa: S301 - the user's own checkpoint, written by from_dict

    def to_directory(self, path: str | os.PathLike[str] | None = None) -> str:
        """Copy (or download) the checkpoint into ``path`` (a new temporary directory when
        None); return that directory."""
        dest = os.fspath(path) if path is not None else tempfile.mkdtemp(prefix="tunefleet-ckpt-")
        if self.is_remote and self._local is None:
            return checkpoint_store.download_checkpoint(self.path, dest, self.storage_options)
        shutil.copytree(self.local_path(), dest, dirs_exist_ok=True)
        return dest

    @contextlib.contextmanager
    def as_directory(self) -> Iterator[str]:
        """Yield a local directory holding the checkpoint (read it, do not modify it). For a
        URL it is a temporary download, removed on exit."""
        if not self.is_remote or self._local is not None:
            yield self.local_path()
            return
        d = tempfile.mkdtemp(prefix="tunefleet-ckpt-")
        try:
            yield checkpoint_store.download_checkpoint(self.path, d, self.storage_options)
        finally:
            shutil.rmtree(d, ignore_errors=True)

    def local_path(self) -> str:
        """A local directory with the checkpoint: ``path`` itself, or for a URL a download
        made on first use and kept while this object lives."""
        if not self.is_remote:
            return self.path
        if self._local is None:
            d = tempfile.mkdtemp(prefix="tunefleet-ckpt-")
            try:
                checkpoint_store.download_checkpoint(self.path, d, self.storage_options)
            except BaseException:
                shutil.rmtree(d, ignore_errors=True)
                raise
            self._local = d
            self._finalizer = weakref.finalize(self, shutil.rmtree, d, True)
        return self._local

    def __fspath__(self) -> str:
        return self.local_path()

    def __getstate__(self) -> tuple[str, dict[str, Any] | None]:
        return (self.path, self.storage_options)

    def __setstate__(self, state: tuple[str, dict[str, Any] | None]) -> None:
        self.path, self.storage_options = state
        self._local = None
        self._finalizer = None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Checkpoint) and other.path == self.path

    def __hash__(self) -> int:
        return hash(self.path)

    def __repr__(self) -> str:
        return f"Checkpoint({self.path!r})"


def persist_checkpoint(
    source: str | os.PathLike[str],
    trial_dir: str,
    iteration: int,
    storage_options: dict[str, Any] | None = None,
) -> PersistedCheckpoint:
    """Save ``source`` as ``trial_dir/checkpoint_<iteration>``; return its path and hash.

    Local: copied under a temporary name in the same directory (hashing while copying) and
    renamed, so that a crash leaves either nothing or a complete checkpoint. URL: uploaded,
    then committed by its manifest (:func:`tunefleet.checkpoint_store.upload_checkpoint`).
    A checkpoint is never replaced: another trial may be restoring from it (a PBT
    recipient reading its donor's checkpoint). When the name is taken (a retried or
    exploited attempt reaching the same iteration again) the new one is
    ``checkpoint_<iteration>.<n>``.
    ``source`` may itself be a URL (a restored checkpoint reported again): it is downloaded.
    """
    if isinstance(source, Checkpoint) and source.is_remote:
        with source.as_directory() as local:
            return persist_checkpoint(local, trial_dir, iteration, storage_options)
    src = os.fspath(source)
    if checkpoint_store.is_url(src):
        with Checkpoint(src, storage_options).as_directory() as local:
            return persist_checkpoint(local, trial_dir, iteration, storage_options)
    if checkpoint_store.is_url(trial_dir):
        return checkpoint_store.upload_checkpoint(src, trial_dir, iteration, storage_options)
    final = os.path.join(trial_dir, f"checkpoint_{iteration:06d}")
    if os.path.abspath(src) == os.path.abspath(final):
        return PersistedCheckpoint(final, checkpoint_store.hash_directory(final))
    n = 0
    base = final
    while os.path.exists(final):
        n += 1
        final = f"{base}.{n}"
    os.makedirs(trial_dir, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".tmp_checkpoint_", dir=trial_dir)
    try:
        digest = checkpoint_store.copy_and_hash(src, tmp)
        _commit(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return PersistedCheckpoint(final, digest)


def _commit(tmp: str, final: str) -> None:
    """Make the copy visible under its final name (a separate function so that tests can
    crash right before it)."""
    if os.path.exists(final):
        shutil.rmtree(final)
    os.rename(tmp, final)
