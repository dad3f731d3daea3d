"""Ray's ``chdir_to_trial_dir``: an attempt runs with its trial's directory as the process's
working directory, so that the trainable's relative file writes land there.

Workers are reused from trial to trial, so whatever an attempt changes comes back when it
ends: the working directory, ``TUNE_ORIG_WORKING_DIR`` (Ray's name for the directory the
worker started in, which scripts use to find their data files) and the ``""`` entries of
``sys.path`` (they mean "the working directory": while the attempt runs they stand for the
original one, so the user's modules still import).

A process has one working directory. Where one process runs several attempts at once (a
Dask worker with ``threads_per_worker > 1``) no attempt can have its own: an attempt that
starts while another one runs puts the process back in its original directory and warns,
and the process's attempts run there, as with the option off, until none is running.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import warnings
from collections.abc import Iterator

ORIG_DIR_ENV = "TUNE_ORIG_WORKING_DIR"

_lock = threading.Lock()
_active = 0  # attempts of this process inside in_working_dir()
_home: str | None = None  # where the owner came from
_saved_env: str | None = None
_saved_path: list[str] | None = None
_shared = False  # this process ran two attempts at once: nobody changes directory


@contextlib.contextmanager
def in_working_dir(path: str | None, trial_dir: str | None = None) -> Iterator[None]:
    """Run the body in ``path`` (created if missing); None: where the process already is.

    ``trial_dir``, a local path, is created first (best effort) whatever ``path`` is: Ray's
    trials find their directory there, to write into with ``get_trial_dir()``."""
    if trial_dir and "://" not in trial_dir:
        with contextlib.suppress(OSError):  # e.g. not mounted on this machine: it only
            os.makedirs(trial_dir, exist_ok=True)  # matters if the trial writes there
    if path is None:
        yield
        return
    owner = _enter(path)
    try:
        yield
    finally:
        _leave(owner)


def _enter(path: str) -> bool:
    global _active, _home, _saved_env, _saved_path, _shared
    with _lock:
        _active += 1
        if _active > 1 or _shared:
            if not _shared:
                _shared = True
                _restore()
                warnings.warn(
                    "chdir_to_trial_dir: this worker process runs several trials at once "
                    "(threads_per_worker > 1?) and a process has one working directory, so "
                    "its trials run in its own; use get_context().get_trial_dir() for their "
                    "files",
                    stacklevel=4,
                )
            return False
        try:
            os.makedirs(path, exist_ok=True)
            home = os.getcwd()
            os.chdir(path)
        except BaseException:
            _active -= 1
            raise
        _home = home
        _saved_env = os.environ.get(ORIG_DIR_ENV)
        os.environ[ORIG_DIR_ENV] = home
        _saved_path = list(sys.path)
        sys.path[:] = [home if entry == "" else entry for entry in sys.path]
        return True


def _leave(owner: bool) -> None:
    global _active, _shared
    with _lock:
        _active -= 1
        if owner and _home is not None:
            _restore()
        if _active == 0:
            _shared = False


def _restore() -> None:
    """Back to where the owning attempt came from (holding the lock)."""
    global _home, _saved_env, _saved_path
    if _home is None:
        return
    with contextlib.suppress(OSError):  # the directory may be gone; nothing better to do
        os.chdir(_home)
    if _saved_env is None:
        os.environ.pop(ORIG_DIR_ENV, None)
    else:
        os.environ[ORIG_DIR_ENV] = _saved_env
    if _saved_path is not None:
        # The entries the attempt added stay (later imports may need them).
        swapped = {_home if entry == "" else entry for entry in _saved_path}
        sys.path[:] = _saved_path + [p for p in sys.path if p not in swapped]
    _home = _saved_env = _saved_path = None
