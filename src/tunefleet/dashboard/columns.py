"""The per-trial numbers and statuses as numpy columns by row (a trial's first-seen position
in the text index), for the filtered and sorted pages of the trial table.

Why: a new filter or sort over 10⁵ trials was a heap selection with a Python key call per
trial (10-15 ms) and a status test per matching trial (~9 ms), all holding the GIL. The
model keeps those numbers and statuses by row in ``array`` columns as it folds records
(live.py), so here a column is one memory copy (under a millisecond) and a page is a
gather, a mask and an ``argpartition`` in numpy.
"""

from __future__ import annotations

from typing import Any

from tunefleet.dashboard.live import LiveExperiment


def values(live: LiveExperiment, sort: str) -> Any:
    """``live.by_row[sort]`` as a float array (NaN: no value yet); with the model's lock."""
    import numpy as np

    return np.frombuffer(live.by_row[sort], dtype=np.float64).copy()  # no export kept


def status_codes(live: LiveExperiment) -> Any:
    """Each row's status as its position in ``live.STATUSES`` (-1: none); with the lock."""
    import numpy as np

    return np.frombuffer(live.status_row, dtype=np.int8).copy()


def select(
    live: LiveExperiment, rows: Any, sort: str, desc: bool, want: int
) -> tuple[list[int], int]:
    """The first ``want`` of ``rows`` (ascending row numbers, an int array) ordered by the
    log (``sort="index"``) or by ``live.by_row[sort]`` (ties and the rows without a value,
    which come last, in the log's order), and how many rows there are."""
    import numpy as np

    if sort == "index":
        top = rows[::-1][:want] if desc else rows[:want]
        return top.tolist(), len(rows)
    v = values(live, sort)[rows]
    has = ~np.isnan(v)
    valued = rows[has]
    keyed = -v[has] if desc else v[has]
    if want < len(keyed):
        # the ``want`` smallest and every value tied with the last of them (O(n)), then
        # a stable sort of those few: ties stay in the log's order
        cut = keyed[np.argpartition(keyed, want - 1)[want - 1]]
        near = np.flatnonzero(keyed <= cut)
        top = valued[near[np.argsort(keyed[near], kind="stable")[:want]]]
    else:
        top = valued[np.argsort(keyed, kind="stable")]
    if len(top) < want:
        top = np.concatenate([top, rows[~has][: want - len(top)]])
    return top.tolist(), len(rows)
