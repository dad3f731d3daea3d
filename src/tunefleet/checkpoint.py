"""Checkpoint: a directory of files that a trial can be restarted from (Ray Tune's model).

A user creates one from any directory (``Checkpoint.from_directory(d)``) and passes it to
``report(..., checkpoint=ckpt)``; tunefleet copies it under the trial's directory with a
temporary name and an atomic rename, so a record only ever points at a complete copy.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


class Checkpoint:
    """A directory on local disk (remote URLs arrive with the S3 support of a later issue)."""

    __slots__ = ("path",)

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)

    @classmethod
    def from_directory(cls, path: str | os.PathLike[str]) -> Checkpoint:
        p = Path(path)
        if not p.is_dir():
            raise ValueError(f"Checkpoint.from_directory: {os.fspath(path)!r} is not a directory")
        return cls(p)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Checkpoint:
        """Convenience for small states: pickled into a fresh temporary directory."""
        import cloudpickle

        d = tempfile.mkdtemp(prefix="tunefleet-ckpt-")
        with open(os.path.join(d, "data.pkl"), "wb") as f:
            cloudpickle.dump(data, f)
        return cls(d)

    def to_dict(self) -> dict[str, Any]:
        import pickle

        with open(os.path.join(self.path, "data.pkl"), "rb") as f:
            return pickle.load(f)  # noqa: S301 - the user's own checkpoint, written by from_dict

    def to_directory(self, path: str | os.PathLike[str] | None = None) -> str:
        """Copy the checkpoint into ``path`` (a new temporary directory when None)."""
        dest = os.fspath(path) if path is not None else tempfile.mkdtemp(prefix="tunefleet-ckpt-")
        shutil.copytree(self.path, dest, dirs_exist_ok=True)
        return dest

    @contextlib.contextmanager
    def as_directory(self) -> Iterator[str]:
        """Yield a local directory holding the checkpoint (read it, do not modify it)."""
        yield self.path

    def __fspath__(self) -> str:
        return self.path

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Checkpoint) and other.path == self.path

    def __hash__(self) -> int:
        return hash(self.path)

    def __repr__(self) -> str:
        return f"Checkpoint({self.path!r})"


def persist_checkpoint(source: str, trial_dir: str, iteration: int) -> str:
    """Copy ``source`` to ``trial_dir/checkpoint_<iteration>`` atomically; return the path.

    The copy is made under a temporary name in the same directory and renamed, so that a
    crash leaves either nothing or a complete checkpoint. An existing checkpoint of the same
    iteration (a retried attempt) is replaced.
    """
    final = os.path.join(trial_dir, f"checkpoint_{iteration:06d}")
    if os.path.abspath(source) == os.path.abspath(final):
        return final
    os.makedirs(trial_dir, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".tmp_checkpoint_", dir=trial_dir)
    try:
        shutil.copytree(source, tmp, dirs_exist_ok=True)
        if os.path.exists(final):
            shutil.rmtree(final)
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final
