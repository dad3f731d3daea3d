"""One experiment as the dashboard sees it: a read-only model caught up from the log.

The store is an append-only log, so the model is folded forward with ``seq > last_seq``
queries on a ``mode=ro`` connection: a running sweep (WAL), a finished one and a crashed one
read the same way, and the dashboard never writes. Results are the bulk of the log (10⁷ at
scale), so they are not decoded in Python: SQLite's ``json_extract`` hands over only the
numbers the views need (the objectives, the iteration, the compute), kept per trial in
compact arrays. Lifecycle records (a handful per trial) go through the reference reader,
:class:`tunefleet.storage.replay.ReplayedExperiment`. A catch-up works in chunks and
releases the lock between them, so requests are answered from what is loaded so far.
"""

from __future__ import annotations

import json
import math
import sqlite3
import threading
import time
import urllib.parse
from array import array
from dataclasses import dataclass, field
from typing import Any

from tunefleet.storage.records import (
    CHECKPOINT,
    RESULT,
    TRIAL_COMPLETED,
    TRIAL_CREATED,
    TRIAL_FAILED,
    TRIAL_PAUSED,
    TRIAL_RESTARTED,
    TRIAL_STARTED,
    Record,
)
from tunefleet.storage.replay import ReplayedExperiment

CHUNK = 10_000  # rows per catch-up step: the lock is released between steps


@dataclass
class Series:
    """One trial's reported objectives, as compact arrays (float32: 8 bytes per result)."""

    iteration: array = field(default_factory=lambda: array("f"))
    values: list[array] = field(default_factory=list)
    best: list[float | None] = field(default_factory=list)
    markers: list[tuple[int, str, str]] = field(default_factory=list)  # (iteration, kind, why)
    checkpoints: list[dict[str, Any]] = field(default_factory=list)
    worker: str | None = None


@dataclass
class Improvement:
    """A new best of the first objective: when, after how much compute, which trial."""

    ts: float
    compute: float
    results: int
    value: float
    trial_id: str


def json_path(key: str) -> str:
    """A JSON path for a top-level key, quoted so any metric name is taken literally."""
    return '$."' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'


def connect_ro(db_path: str) -> sqlite3.Connection:
    """A read-only connection: ``mode=ro`` makes every write fail inside SQLite itself."""
    uri = f"file:{urllib.parse.quote(db_path)}?mode=ro"
    conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout = 5000")
    conn.execute("PRAGMA query_only = 1")
    return conn


class LiveExperiment:
    """The folded state of one experiment; ``refresh()`` reads what was appended since."""

    def __init__(self, db_path: str, metrics: list[str], modes: list[str]) -> None:
        self.db_path = db_path
        self.metrics = metrics
        self.modes = modes
        self.replay = ReplayedExperiment()
        self.series: dict[str, Series] = {}
        self.text: dict[str, str] = {}  # trial_id -> what the filter box searches
        # the first objective per trial, kept as it is folded so that views sort and sample
        # 10⁵ trials with C-level dict walks instead of a Python call per trial
        self.scores: dict[str, float] = {}  # best reported
        self.lasts: dict[str, float] = {}  # last reported
        self.edges: list[dict[str, Any]] = []  # PBT/PB2: parent -> child, at an iteration
        self.improvements: list[Improvement] = []
        self.num_results = 0
        self.compute = 0.0
        self.first_ts: float | None = None
        self.last_ts: float | None = None
        self.last_seq = 0
        self.max_seq = 0  # the log's end when last looked at: catching up while below it
        self.lock = threading.RLock()
        self._refreshing = threading.Lock()
        self._best: float | None = None
        self._paused_at: dict[str, int] = {}
        cols = ", ".join(f"json_extract(data, ?{i + 3})" for i in range(len(metrics)))
        self._sql = (
            "SELECT seq, kind, trial_id, ts,"
            " CASE WHEN kind = 'result' THEN NULL ELSE data END,"
            " CASE WHEN kind = 'result' THEN json_extract(data, '$.training_iteration') END,"
            " CASE WHEN kind = 'result' THEN json_extract(data, '$.time_this_iter_s') END"
            + (", " + cols if cols else "")
            + " FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2"
        )
        self._paths = [json_path(m) for m in metrics]

    @property
    def loading(self) -> bool:
        return self.last_seq < self.max_seq

    def refresh(self, budget_s: float = 0.15) -> None:
        """Fold in new records for up to ``budget_s`` (one refresher at a time)."""
        if not self._refreshing.acquire(blocking=False):
            return
        try:
            conn = connect_ro(self.db_path)
            try:
                (self.max_seq,) = conn.execute(
                    "SELECT coalesce(max(seq), 0) FROM events"
                ).fetchone()
                deadline = time.perf_counter() + budget_s
                while self.last_seq < self.max_seq:
                    rows = conn.execute(self._sql, (self.last_seq, CHUNK, *self._paths)).fetchall()
                    if not rows:
                        break
                    with self.lock:
                        self._fold(rows)
                    if time.perf_counter() > deadline:
                        break
            finally:
                conn.close()
        finally:
            self._refreshing.release()

    def _fold(self, rows: list[tuple[Any, ...]]) -> None:
        nm = len(self.metrics)
        sign = 1.0 if not self.modes or self.modes[0] == "min" else -1.0
        for row in rows:
            seq, kind, tid, ts, data, it, dt = row[:7]
            if self.first_ts is None:
                self.first_ts = ts
            self.last_ts = ts
            if kind == RESULT:
                s = self._series(tid)
                n = len(s.iteration) + 1
                s.iteration.append(float(it) if isinstance(it, int | float) else n)
                self.num_results += 1
                if isinstance(dt, int | float) and math.isfinite(dt):
                    self.compute += float(dt)
                for k in range(nm):
                    v = _num(row[7 + k])
                    s.values[k].append(math.nan if v is None else v)
                    if v is not None:
                        b = s.best[k]
                        good = 1.0 if self.modes[k] == "min" else -1.0
                        if b is None or good * v < good * b:
                            s.best[k] = v
                if nm:
                    v0 = _num(row[7])
                    if v0 is not None:
                        self.lasts[tid] = v0
                        best0 = s.best[0]
                        if best0 is not None:
                            self.scores[tid] = best0
                    if v0 is not None and (self._best is None or sign * v0 < sign * self._best):
                        self._best = v0
                        self.improvements.append(
                            Improvement(ts, self.compute, self.num_results, v0, tid or "")
                        )
                self.replay.last_seq = seq
            else:
                try:
                    payload = json.loads(data)
                except (TypeError, ValueError):
                    payload = {}
                if not isinstance(payload, dict):
                    payload = {}
                self.replay.apply(Record(kind, tid, payload, ts, seq))
                if tid is not None:
                    self._mark(tid, kind, payload)
                    if kind in (TRIAL_CREATED, TRIAL_RESTARTED):  # the config, as logged
                        self.text[tid] = f"{tid} {data}".lower()
                    parent = payload.get("parent" if kind == TRIAL_CREATED else "from_trial")
                    if kind in (TRIAL_CREATED, TRIAL_RESTARTED) and parent:
                        it = self.series[tid].iteration if tid in self.series else []
                        at = int(it[-1]) if len(it) else 0
                        self.edges.append({"parent": str(parent), "child": tid, "iteration": at})
            self.last_seq = seq

    def _series(self, tid: str | None) -> Series:
        key = tid or ""
        s = self.series.get(key)
        if s is None:
            s = self.series[key] = Series()
            s.values = [array("f") for _ in self.metrics]
            s.best = [None] * len(self.metrics)
        return s

    def _mark(self, tid: str, kind: str, d: dict[str, Any]) -> None:
        """Scheduler decisions on the learning curve: stops, pauses, promotions, exploits."""
        s = self._series(tid)
        it = int(s.iteration[-1]) if len(s.iteration) else 0
        if kind == TRIAL_PAUSED:
            s.markers.append((it, "paused", ""))
            self._paused_at[tid] = it
        elif kind == TRIAL_STARTED and tid in self._paused_at:
            s.markers.append((self._paused_at.pop(tid), "promoted", "resumed after a pause"))
        elif kind == TRIAL_RESTARTED:
            s.markers.append((it, "exploited", f"from {d.get('from_trial')}"))
        elif kind == TRIAL_COMPLETED:
            if d.get("stopped"):
                s.markers.append((it, "stopped", ""))
            elif d.get("status") == "ERROR":
                s.markers.append((it, "error", ""))
        elif kind == TRIAL_FAILED:
            s.markers.append((it, "failed", str(d.get("error") or "").split("\n", 1)[0]))
            if d.get("worker"):
                s.worker = str(d["worker"])
        elif kind == CHECKPOINT:
            s.checkpoints.append({"path": d.get("path"), "iteration": d.get("iteration")})

    def score(self, tid: str) -> float | None:
        """The trial's best value of the first objective (None before it reports)."""
        return self.scores.get(tid)

    def best_last(self) -> tuple[float | None, str | None]:
        """The best last-reported value of the first objective, and its trial."""
        if not self.lasts or not self.modes:
            return None, None
        pick = min if self.modes[0] == "min" else max
        tid = pick(self.lasts, key=self.lasts.__getitem__)
        return self.lasts[tid], tid

    def last_value(self, tid: str) -> float | None:
        v = self.lasts.get(tid)
        return None if v is None else short(v)

    def last_result(self, tid: str) -> dict[str, Any] | None:
        """The trial's last result in full: one probe of the (trial_id, seq) index."""
        conn = connect_ro(self.db_path)
        try:
            row = conn.execute(
                "SELECT data FROM events WHERE trial_id = ? AND +kind = 'result' "
                "ORDER BY seq DESC LIMIT 1",
                (tid,),
            ).fetchone()
        finally:
            conn.close()
        if row is None:
            return None
        try:
            value = json.loads(row[0])
        except ValueError:
            return None
        return value if isinstance(value, dict) else None


def short(v: float) -> float | None:
    """A stored float32 as the number it was (7 significant digits); None for NaN."""
    return None if not math.isfinite(v) else float(f"{v:.7g}")


def _num(v: object) -> float | None:
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    f = float(v)
    return f if math.isfinite(f) else None
