"""Summary tables the SQLite writer keeps beside the log, so that a reader of a 10⁷-result
experiment (the dashboard) starts from O(trials) rows instead of folding every result.

Three tables, written by the one writer in the same transaction as the records they
summarise (a reader sees the log and its summary at the same position, always):

* ``trial_stats(trial_id, results, last_seq, compute, best, best_seq)``: per trial, how many
  results, the ``seq`` of its last one (one primary-key probe reads its values), the sum of
  its ``time_this_iter_s``, and its best value of the spec's first metric (per its mode);
* ``best_so_far(seq, ts, value, trial_id, compute, results)``: each result that improved the
  experiment's best value of that metric, with the compute and result count up to it;
* ``stats_info(key, value)``: ``seq`` (the log position the tables cover), ``metric`` and
  ``mode`` (what ``best`` is of).

They only ever describe the log: a file without them (written by an older tunefleet,
rebuilt by ``tunefleet doctor``) gets them when a writer next opens it, filled from the
log (:meth:`Summaries.open`), and a reader finds the log's records past ``seq`` (an older
writer resumed the experiment) by reading the log itself. No schema version change: the
log stays the source of truth, and older readers ignore the tables.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

from tunefleet.storage.records import RESULT, Record

TABLES = (
    "CREATE TABLE IF NOT EXISTS trial_stats (trial_id TEXT PRIMARY KEY,"
    " results INTEGER NOT NULL, last_seq INTEGER NOT NULL, compute REAL NOT NULL,"
    " best REAL, best_seq INTEGER) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS best_so_far (seq INTEGER PRIMARY KEY, ts REAL NOT NULL,"
    " value REAL NOT NULL, trial_id TEXT, compute REAL NOT NULL, results INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS stats_info (key TEXT PRIMARY KEY, value) WITHOUT ROWID",
)
_BACKFILL_CHUNK = 100_000


def first_objective(spec: dict[str, Any]) -> tuple[str | None, str | None]:
    """The spec's first metric and its mode (None, None when the spec names none)."""
    metric, mode = spec.get("metric"), spec.get("mode")
    if isinstance(metric, list | tuple):
        metric = metric[0] if metric else None
    if isinstance(mode, list | tuple):
        mode = mode[0] if mode else None
    if not isinstance(metric, str):
        return None, None
    return metric, mode if mode in ("min", "max") else "max"


def json_path(key: str) -> str:
    """SQLite's JSON path of a top-level key, quoted so any metric name is taken literally."""
    return '$."' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'


def number(v: object) -> float | None:
    """A finite number as float (bools and NaN are not values)."""
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    f = float(v)
    return f if math.isfinite(f) else None


class Summaries:
    """The writer's side: the running totals of one experiment, and the SQL that keeps the
    tables up to date. Built by :meth:`open` on the writer connection."""

    def __init__(self, metric: str | None, mode: str | None) -> None:
        self.metric = metric
        self.sign = -1.0 if mode == "max" else 1.0  # smaller sign*value is better
        better = ">" if mode == "max" else "<"
        self._upsert = (
            "INSERT INTO trial_stats (trial_id, results, last_seq, compute, best, best_seq)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (trial_id) DO UPDATE SET"
            " results = results + excluded.results, last_seq = excluded.last_seq,"
            " compute = compute + excluded.compute,"
            f" best_seq = CASE WHEN excluded.best IS NOT NULL AND (best IS NULL OR"
            f"  excluded.best {better} best) THEN excluded.best_seq ELSE best_seq END,"
            f" best = CASE WHEN excluded.best IS NOT NULL AND (best IS NULL OR"
            f"  excluded.best {better} best) THEN excluded.best ELSE best END"
        )
        self.best: float | None = None
        self.results = 0
        self.compute = 0.0

    @classmethod
    def open(cls, conn: sqlite3.Connection, spec: dict[str, Any]) -> Summaries:
        """Create the tables if missing and bring them up to the log's end (one transaction;
        the whole log the first time a writer opens a file that lacks them)."""
        metric, mode = first_objective(spec)
        self = cls(metric, mode)
        conn.execute("BEGIN IMMEDIATE")
        try:
            for stmt in TABLES:
                conn.execute(stmt)
            info = dict(conn.execute("SELECT key, value FROM stats_info").fetchall())
            if info and (info.get("metric") != metric or info.get("mode") != mode):
                for table in ("trial_stats", "best_so_far", "stats_info"):  # rebuilt
                    conn.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed names
                info = {}
            if not info:
                conn.executemany(
                    "INSERT INTO stats_info VALUES (?, ?)",
                    (("seq", 0), ("metric", metric), ("mode", mode)),
                )
            row = conn.execute("SELECT value FROM best_so_far ORDER BY seq DESC LIMIT 1").fetchone()
            self.best = None if row is None else float(row[0])
            n, c = conn.execute(
                "SELECT coalesce(sum(results), 0), coalesce(sum(compute), 0.0) FROM trial_stats"
            ).fetchone()
            self.results, self.compute = int(n), float(c)
            self._backfill(conn, int(info.get("seq") or 0))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return self

    def _backfill(self, conn: sqlite3.Connection, since: int) -> None:
        """Fold the log's results past ``since`` into the tables (SQLite extracts the two
        numbers; a record SQLite cannot parse, such as one holding NaN, is decoded here)."""
        (end,) = conn.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()
        if end <= since:
            return
        path = json_path(self.metric) if self.metric is not None else "$.__none__"
        cur = conn.execute(
            "SELECT seq, trial_id, ts, json_valid(data),"
            " CASE WHEN json_valid(data) THEN json_extract(data, '$.time_this_iter_s') END,"
            " CASE WHEN json_valid(data) THEN json_extract(data, ?) END,"
            " CASE WHEN json_valid(data) THEN NULL ELSE data END"
            " FROM events WHERE kind = ? AND seq > ? AND seq <= ? ORDER BY seq",
            (path, RESULT, since, end),
        )
        metric = self.metric
        while True:
            rows = cur.fetchmany(_BACKFILL_CHUNK)
            if not rows:
                break
            items = []
            for seq, tid, ts, valid, dt, v, raw in rows:
                if not valid:
                    try:
                        d = json.loads(raw)
                    except ValueError:
                        d = {}
                    d = d if isinstance(d, dict) else {}
                    dt, v = d.get("time_this_iter_s"), d.get(metric) if metric else None
                items.append((seq, tid, ts, dt, v))
            self._write(conn, items)
        self._set_seq(conn, end)

    def update(self, conn: sqlite3.Connection, records: Sequence[Record], first: int) -> None:
        """Inside the writer's transaction: fold ``records`` (given ``seq`` ``first``,
        ``first + 1``, ...) into the tables."""
        metric: Any = self.metric  # None: no key is None, so no value
        items = [
            (first + i, r.trial_id, r.ts, r.data.get("time_this_iter_s"), r.data.get(metric))
            for i, r in enumerate(records)
            if r.kind == RESULT
        ]
        if items:
            self._write(conn, items)
        self._set_seq(conn, first + len(records) - 1)

    def _write(self, conn: sqlite3.Connection, items: Iterable[tuple[Any, ...]]) -> None:
        # the driver's thread runs this for every batch: plain float checks inline (a
        # finite float is x - x == 0; NaN and infinities are not), number() for the rest
        per: dict[str, list[Any]] = {}
        improved = []
        sign = self.sign
        best, results, compute = self.best, self.results, self.compute
        for seq, tid, ts, dt, v in items:
            if tid is None:
                continue
            if type(dt) is not float or dt - dt != 0.0:
                dt = number(dt) or 0.0
            if v is not None and (type(v) is not float or v - v != 0.0):
                v = number(v)
            results += 1
            compute += dt
            p = per.get(tid)
            if p is None:
                p = per[tid] = [tid, 1, seq, dt, None, None]
            else:
                p[1] += 1
                p[2] = seq
                p[3] += dt
            if v is not None:
                if p[4] is None or sign * v < sign * p[4]:
                    p[4], p[5] = v, seq
                if best is None or sign * v < sign * best:
                    best = v
                    improved.append((seq, ts, v, tid, compute, results))
        conn.executemany(self._upsert, per.values())
        if improved:
            conn.executemany("INSERT INTO best_so_far VALUES (?, ?, ?, ?, ?, ?)", improved)
        self.best, self.results, self.compute = best, results, compute

    @staticmethod
    def _set_seq(conn: sqlite3.Connection, seq: int) -> None:
        conn.execute("UPDATE stats_info SET value = ? WHERE key = 'seq'", (seq,))
