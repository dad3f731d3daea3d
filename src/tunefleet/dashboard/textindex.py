"""The trial table's text filter: substring search over each trial's id and logged config.

An in-memory SQLite FTS5 table with the trigram tokenizer (any substring of 3+ characters,
case-insensitive) answers rare needles in a few milliseconds; a needle under 3 characters,
or one in thousands of texts, is scanned (a Python ``in`` per text: at 10⁵ trials 10-20 ms,
less than reading the index's full answer). Private to the dashboard's process.

Why the index has a lock of its own: inserting into FTS5 now and then merges its segments,
which took up to ~300 ms per insert batch during a 10⁵-trial load. The model calls
:meth:`TextIndex.put` under its lock (cheap: a list append), and the refresher calls
:meth:`TextIndex.flush` after releasing the model's lock, under this one. A search that
finds the index busy, or rows not indexed yet, scans instead of waiting (the texts are
all in memory), so no request waits for a merge (dashboard benchmark, run G).
"""

from __future__ import annotations

import sqlite3
import threading

FTS_MOST = 2_000  # a text filter matching more trials scans instead of using the index
RECENT = 16  # needles whose answers are kept (until a text changes)


class TextIndex:
    """Each trial's text (lower-cased) by row number: the order trials were first seen."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.rowid: dict[str, int] = {}
        self.conn: sqlite3.Connection | None = sqlite3.connect(":memory:", check_same_thread=False)
        try:
            self.conn.execute("CREATE VIRTUAL TABLE t USING fts5(text, tokenize='trigram')")
        except sqlite3.OperationalError:  # an SQLite without FTS5 or trigram: scans
            self.conn = None
        self._lock = threading.Lock()  # the FTS table's: held by a flush or a query
        self._pending: list[tuple[int, str]] = []  # rows to (re)index
        self._indexed = 0  # rows below this one are in the index
        self.by_row: list[str] = []  # the texts by row number
        # the last needles' answers while no text changes: a needle asked again (another
        # page or sort of the same filter) costs nothing, and one that extends an earlier
        # one (typing "ad", "ada", "adam") is looked for in that one's rows only
        self._recent: dict[str, list[int]] = {}
        self.deferred = False  # filled elsewhere (the loader process): scanned meanwhile

    def put(self, tid: str, text: str) -> bool:
        """Set ``text`` as ``tid``'s (replacing its previous one); True if it is new. Only
        noted for the index: :meth:`flush` writes it."""
        text = text.lower()
        new = tid not in self.rowid
        self._recent.clear()
        row = self.rowid.get(tid)
        if row is None:
            row = self.rowid[tid] = len(self.ids)
            self.ids.append(tid)
            self.by_row.append(text)
        else:
            self.by_row[row] = text
        if not self.deferred:
            self._pending.append((row, text))
        return new

    def adopt(self, data: bytes | None) -> None:
        """End a deferred fill with the FTS table built elsewhere from the same ``put``
        calls (``Connection.serialize``), or, if none came, index the texts here."""
        self.deferred = False
        if self.conn is None:
            return
        if data is not None:
            conn = sqlite3.connect(":memory:", check_same_thread=False)
            conn.deserialize(data)
            with self._lock:
                self.conn = conn
                self._indexed = len(self.ids)
        else:
            self._pending = list(enumerate(self.by_row))
            self.flush()

    def flush(self) -> None:
        """Write the pending texts into the index (call without the model's lock: an
        FTS5 segment merge can take a few hundred milliseconds)."""
        if not self._pending or self.conn is None:
            return
        with self._lock:
            pending, self._pending = self._pending, []
            latest = dict(pending)  # a row's newest text only
            # a trial's text replaced (a PBT exploit): its indexed row goes first
            old = [(r,) for r in latest if r < self._indexed]
            self.conn.executemany("DELETE FROM t WHERE rowid = ?", old)
            self.conn.executemany("INSERT INTO t (rowid, text) VALUES (?, ?)", latest.items())
            self._indexed = max(self._indexed, max(latest) + 1)

    def search(self, needle: str) -> list[int]:
        """The row numbers (ascending) of the trials whose text holds ``needle``. Call
        with the model's lock held (no ``put`` meanwhile)."""
        needle = needle.lower()
        recent = self._recent
        rows = recent.get(needle)
        if rows is None:
            # the narrowest earlier answer whose needle this one holds
            within = [r for n, r in recent.items() if n in needle]
            if within:
                texts = self.by_row
                base = min(within, key=len)
                rows = [r for r in base if needle in texts[r]]
            else:
                rows = self._search(needle)
            if len(recent) >= RECENT:
                del recent[next(iter(recent))]
        else:
            del recent[needle]  # most recent last
        recent[needle] = rows
        return list(rows)

    def _search(self, needle: str) -> list[int]:
        if (
            self.conn is None
            or self.deferred
            or len(needle) < 3
            or self._pending  # not indexed yet: the texts hold them
            or not self._lock.acquire(blocking=False)  # a flush is merging: no wait
        ):
            return self.scan(needle)
        try:
            phrase = '"' + needle.replace('"', '""') + '"'
            rows = self.conn.execute(
                "SELECT rowid FROM t WHERE t MATCH ? ORDER BY rowid LIMIT ?",
                (phrase, FTS_MOST + 1),
            ).fetchall()
        finally:
            self._lock.release()
        if len(rows) <= FTS_MOST:
            return [r for (r,) in rows]
        # a needle in thousands of texts ("adam"): the scan beats the index's full answer
        return self.scan(needle)

    def scan(self, needle: str) -> list[int]:
        """:meth:`search` without the index: a Python loop (it lets other threads run
        every few milliseconds, where one C call would hold the GIL throughout)."""
        return [i for i, text in enumerate(self.by_row) if needle in text]
