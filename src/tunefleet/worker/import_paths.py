"""The driver's own import directories, carried to workers that do not start from its script.

Why: cloudpickle ships a trainable defined in the user's script by value, but one imported
from a module next to the script (``from mytrain import train``) by reference: the worker
must import ``mytrain`` itself. Python finds it in the driver because the script's directory
is ``sys.path[0]`` there; a pyspark Python worker starts elsewhere and has no such entry, so
the trial failed with ``ModuleNotFoundError`` (Ray adds the script's directory to its workers
for the same reason). The driver sends the directories of its ``sys.path`` that are the
user's (the script's directory, ``PYTHONPATH``, the working directory), not those of the
Python installation; the worker appends each one that exists on its machine and is missing,
after its own entries, so that its own packages still win.
"""

from __future__ import annotations

import os
import sys
import sysconfig
from collections.abc import Iterable

__all__ = ["add_import_paths", "driver_import_paths"]


def _installation_dirs() -> list[str]:
    dirs = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        path = sysconfig.get_path(key)
        if path:
            dirs.add(path)
    return [os.path.realpath(d) for d in dirs if d]


def _inside(path: str, roots: list[str]) -> bool:
    return any(path == root or path.startswith(root + os.sep) for root in roots)


def driver_import_paths() -> list[str]:
    """The user's directories on this process's ``sys.path``, absolute, in order."""
    roots = _installation_dirs()
    out: list[str] = []
    for entry in sys.path:
        if not isinstance(entry, str):
            continue
        path = os.path.realpath(entry or os.getcwd())
        if path not in out and os.path.isdir(path) and not _inside(path, roots):
            out.append(path)
    return out


def add_import_paths(paths: Iterable[str]) -> None:
    """Append the driver's directories that this machine has and ``sys.path`` lacks."""
    present = {os.path.realpath(p or os.getcwd()) for p in sys.path if isinstance(p, str)}
    for path in paths:
        if isinstance(path, str) and path not in present and os.path.isdir(path):
            sys.path.append(path)
            present.add(path)
