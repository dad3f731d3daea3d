"""pyspark's worker daemon, started from the installed pyspark instead of Spark's zip.

Spark puts ``$SPARK_HOME/python/lib/pyspark.zip`` (and py4j's zip) at the front of every
Python worker's ``PYTHONPATH``. For a pip-installed pyspark that zip holds the very same
sources as the installed package, but ``zipimport`` never caches bytecode, so the daemon
and each worker it forks compile pyspark from source on every start: 1.5 s before the
daemon can fork and 0.8 s more per worker on this project's 2-core machine, paid on every
cold start and every slot replacement. :class:`~tunefleet.executors.spark.SparkExecutor`
names this module as ``spark.python.daemon.module`` for clusters on this machine; it moves
the zips behind the installed copy when (and only when) they belong to that installation,
then runs pyspark's own daemon unchanged.
"""

from __future__ import annotations

import os
import sys
from importlib.machinery import PathFinder


def _installed_pyspark_home() -> str | None:
    """The directory of the pyspark package found outside any zip, if there is one."""
    spec = PathFinder.find_spec("pyspark", [p for p in sys.path if not p.endswith(".zip")])
    if spec is None or not spec.submodule_search_locations:
        return None
    return os.path.realpath(next(iter(spec.submodule_search_locations)))


def prefer_installed_pyspark() -> list[str]:
    """Move the pyspark and py4j zips of the installed pyspark to the end of ``sys.path``.

    Returns the entries moved. Zips of another Spark distribution (``SPARK_HOME`` pointing
    elsewhere) stay in front: there the zip, not the installed package, is the right copy.
    """
    home = _installed_pyspark_home()
    if home is None:
        return []
    lib = os.path.join(home, "python", "lib")
    moved = [
        entry
        for entry in sys.path
        if entry.endswith(".zip")
        and os.path.basename(entry).startswith(("pyspark", "py4j"))
        and os.path.realpath(os.path.dirname(entry)) == lib
    ]
    if moved and PathFinder.find_spec("py4j", [p for p in sys.path if p not in moved]) is None:
        moved = [e for e in moved if not os.path.basename(e).startswith("py4j")]
    for entry in moved:
        sys.path.remove(entry)
        sys.path.append(entry)
    return moved


def main() -> None:
    prefer_installed_pyspark()
    from pyspark.daemon import manager

    manager()


if __name__ == "__main__":
    main()
