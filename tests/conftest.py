"""Which tests may run side by side when the suite runs on two pytest-xdist workers.

``make test`` runs ``pytest -n 2 --dist loadgroup``. Every test module that starts an
engine cluster or a server process (Ray, Dask, Spark, a moto S3 server, a browser) goes
into one xdist group, ``clusters``: one worker runs those tests one after another while
the other worker runs everything else. So two clusters never run at once (on CI's two
cores they would starve each other's start-up timeouts, and Ray and Spark each expect one
cluster per process), and the module-scoped cluster fixtures still start once per module.

A module joins the group by what its source says (see ``_CLUSTER_SOURCE``), so a new test
file that starts a cluster needs no marker; ``@pytest.mark.cluster`` (or a module's
``pytestmark``) puts any other test there. Without xdist (``pytest tests/x.py``) nothing
changes: the group mark is inert and the order is the files' own.
"""

from __future__ import annotations

import os
import re
from functools import cache

import pytest

GROUP = "clusters"

#: What in a test module's source means "starts an engine cluster or a server process".
_CLUSTER_SOURCE = re.compile(
    r"""engine\s*=\s*["'](?:ray|dask|spark)["']"""  # tune.run(..., engine="ray")
    r"""|\b(?:Ray|Dask|Spark)Executor\("""  # an executor of a distributed engine
    r"""|\bray\.init\(|\bLocalCluster\(|\bSpark(?:Context|Session)\b"""
    r"""|["'](?:ray|dask|spark)["']\s*[,)\]]"""  # an engine name as a parameter
    r"""|\bThreadedMotoServer\b|\bmoto\.server\b"""  # an S3 server
    r"""|\bplaywright\b|\bselenium\b|\bwebdriver\b"""  # a browser
)


@cache
def _starts_clusters(path: str) -> bool:
    try:
        with open(path, encoding="utf-8") as f:
            return _CLUSTER_SOURCE.search(f.read()) is not None
    except OSError:
        return False


def _in_group(item: pytest.Item) -> bool:
    return item.get_closest_marker("cluster") is not None or _starts_clusters(str(item.path))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not config.pluginmanager.hasplugin("xdist"):
        return  # not installed or -p no:xdist: its mark would not even be known
    grouped = [item for item in items if _in_group(item)]
    for item in grouped:
        item.add_marker(pytest.mark.xdist_group(GROUP))
    if os.environ.get("PYTEST_XDIST_WORKER"):
        # The group is the longest chain of work: first, so the other worker takes the
        # rest meanwhile. Stable, so each module keeps its order (same on every worker).
        chosen = {id(item) for item in grouped}
        items[:] = grouped + [item for item in items if id(item) not in chosen]
