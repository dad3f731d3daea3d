"""The per-trial numbers and statuses as numpy columns by row (a trial's first-seen position
in the text index), made once per model version and shared by every filtered or sorted page.

Why: a new filter or sort over 10⁵ trials was a heap selection with a Python key call per
trial (10-15 ms) and a status test per matching trial (~9 ms), all holding the GIL; over
the columns the same page is a gather, a mask and a stable ``argsort`` in numpy (about
1-3 ms, most of it without the GIL). A finished sweep builds the columns once; a running
one once per model version that a new question meets (3-10 ms, as one of the old pages),
and a loading one at most once a second.
"""

from __future__ import annotations

import threading
import time
import weakref
from typing import Any

from tunefleet.dashboard.live import LiveExperiment

_memo: weakref.WeakKeyDictionary[LiveExperiment, dict[str, Any]] = weakref.WeakKeyDictionary()
_lock = threading.Lock()
LOADING_REUSE_S = 1.0  # as the dashboard's cached answers while a model loads (app.py)


def _column(live: LiveExperiment, name: str, build: Any, fill: Any) -> Any:
    """``build()`` for the model's current version, memoised (call with the model's lock).
    While the model loads (a new version every few milliseconds) a column up to
    ``LOADING_REUSE_S`` old is reused, as the cached answers are, its rows of trials
    loaded since as ``fill`` (no value, no status: a page of a loading model is partial
    anyway)."""
    import numpy as np

    now = time.monotonic()
    with _lock:
        memo = _memo.get(live)
        fresh = memo is not None and (
            memo["version"] == live.version or (live.loading and now - memo["at"] < LOADING_REUSE_S)
        )
        if memo is None or not fresh:
            memo = _memo[live] = {"version": live.version, "at": now}
        if name not in memo:
            memo[name] = build()
        column = memo[name]
    short = len(live.text.ids) - len(column)
    if short > 0:
        column = np.concatenate([column, np.full(short, fill, dtype=column.dtype)])
    return column


def values(live: LiveExperiment, sort: str) -> Any:
    """``live.by_row[sort]`` as a float array (NaN: no value yet)."""
    import numpy as np

    return _column(live, sort, lambda: np.array(live.by_row[sort], dtype=float), np.nan)


def status_codes(live: LiveExperiment, statuses: tuple[str, ...]) -> Any:
    """Each row's status as its position in ``statuses`` (-1: another status, or a row
    whose trial the replay does not hold)."""
    import numpy as np

    def build() -> Any:
        code = {s: i for i, s in enumerate(statuses)}
        get = live.replay.trials.get
        return np.fromiter(
            (
                code.get(t.status, -1) if (t := get(tid)) is not None else -1
                for tid in live.text.ids
            ),
            dtype=np.int8,
            count=len(live.text.ids),
        )

    return _column(live, "status:" + ",".join(statuses), build, -1)


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
