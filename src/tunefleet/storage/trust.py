"""Who may read and write a storage path, and whether a resume may trust what it holds.

A resume runs what the store recorded: the ``module:function`` named in the spec is
imported and called, checkpoints written by ``Checkpoint.from_dict`` are unpickled, and a
trainable that was not importable was recorded cloudpickled. Whoever can write the storage
path can therefore run code in the next resume. So the store is private by default (files
0600, folders 0700: ``umask`` 077, whatever the process umask), and a resume refuses a
storage path that other users can write, unless told it is trusted.

Settings, read when a store is opened (the environment, so that every process of a sweep
and the CLI agree without an argument each):

* ``TUNEFLEET_STORAGE_UMASK`` (octal, e.g. ``027`` to share read access with the group):
  the bits removed from 0666 for files and 0777 for folders the store creates.
* ``TUNEFLEET_TRUST_STORAGE=1``: resume from a storage path others can write (a shared
  team folder whose writers are all trusted).
"""

from __future__ import annotations

import os
import stat

from tunefleet.errors import TuneValueError

UMASK_ENV = "TUNEFLEET_STORAGE_UMASK"
TRUST_ENV = "TUNEFLEET_TRUST_STORAGE"
DEFAULT_UMASK = 0o077


class UntrustedStorageError(TuneValueError):
    """A resume was asked of a storage path that other users can write."""


def storage_umask(umask: int | None = None) -> int:
    """The explicit ``umask``, else ``$TUNEFLEET_STORAGE_UMASK``, else 077 (private)."""
    if umask is None:
        raw = os.environ.get(UMASK_ENV, "").strip()
        if not raw:
            return DEFAULT_UMASK
        try:
            umask = int(raw, 8)
        except ValueError:
            raise TuneValueError(
                f"{UMASK_ENV}: expected an octal umask such as 077 or 027, got {raw!r}"
            ) from None
    if isinstance(umask, bool) or not isinstance(umask, int) or not 0 <= umask <= 0o777:
        raise TuneValueError(f"umask: expected an octal number from 0 to 0o777, got {umask!r}")
    return umask


def file_mode(umask: int) -> int:
    return 0o666 & ~umask


def dir_mode(umask: int) -> int:
    return 0o777 & ~umask


def makedirs_private(path: str, umask: int) -> None:
    """``os.makedirs``, but every folder it creates gets exactly ``0777 & ~umask``.

    (``os.makedirs(mode=...)`` applies the mode to the last folder only, and lets the
    process umask widen nothing but narrow it; here the store's setting decides.)
    """
    path = os.path.abspath(path)
    missing: list[str] = []
    while not os.path.isdir(path):
        missing.append(path)
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    for folder in reversed(missing):
        try:
            os.mkdir(folder, dir_mode(umask))
        except FileExistsError:
            continue  # made by a racing process: its mode is its creator's business
        os.chmod(folder, dir_mode(umask))


def trust_from_env() -> bool:
    return os.environ.get(TRUST_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def untrusted_reason(path: str) -> str | None:
    """Why another user could change ``path``, or None when only its owner (or root) can."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    if st.st_uid not in (os.getuid(), 0):
        return f"owned by user id {st.st_uid}, not by you (user id {os.getuid()})"
    writable = st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    sticky = stat.S_ISDIR(st.st_mode) and st.st_mode & stat.S_ISVTX
    if writable and not sticky:
        who = "its group and others" if writable == stat.S_IWGRP | stat.S_IWOTH else None
        who = who or ("its group" if writable & stat.S_IWGRP else "other users")
        return f"writable by {who} (mode {stat.S_IMODE(st.st_mode):04o})"
    return None


def check_trusted(paths: list[str], trusted: bool = False) -> None:
    """Raise :class:`UntrustedStorageError` naming the first path others could have written."""
    if trusted or trust_from_env():
        return
    for path in paths:
        why = untrusted_reason(path)
        if why is not None:
            raise UntrustedStorageError(
                f"storage_path: refusing to resume from {path}: it is {why}, and a resume "
                "runs what the store holds (it imports the recorded trainable and unpickles "
                f"checkpoints). Make it private (chmod go-w {path}) or, if you trust everyone "
                f"who can write it, set {TRUST_ENV}=1"
            )
