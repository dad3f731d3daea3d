"""One experiment as the dashboard sees it: a read-only model caught up from the store.

Everything is read through ``mode=ro`` connections: a running sweep (WAL), a finished one
and a crashed one read the same way, and the dashboard never writes.

Start-up costs O(trials), not O(results): the writer keeps per-trial summaries beside the
log (:mod:`tunefleet.storage.stats`: each trial's result count, last result, compute and best
value, and the experiment's improvements), so the model starts from those, at the log
position they cover, plus the lifecycle records (a handful per trial, read through the
``(kind, seq)`` index and folded by the reference reader,
:class:`tunefleet.storage.replay.ReplayedExperiment`). From there it folds the log forward
with ``seq > last_seq`` queries; SQLite's ``json_extract`` hands over only the numbers the
views need from each result. A trial's whole learning curve is read from the
``(trial_id, seq)`` index when a view first needs it (:meth:`LiveExperiment.ensure_series`)
and kept up to date from then on. A file without summaries (an older tunefleet wrote it
and no writer has opened it since) is folded from its first record, as before.

Loading works in steps and releases the lock between them, so requests are answered from
what is loaded so far (``loading`` says so). Optionally
(``TUNEFLEET_DASHBOARD_LOADER=process``) a log longer than ``PROCESS_ROWS`` runs the
start-up load in a process of its own (:mod:`tunefleet.dashboard.loader`), whose steps'
changes this model installs (:meth:`LiveExperiment.install`): the seconds of Python that
folding 10⁵ trials' lifecycle takes do not hold this interpreter's GIL. The text filter's
index (:mod:`tunefleet.dashboard.textindex`) holds each trial's id and logged config.

Why ~750 lines: the model's load steps, the changes it sends from a loader process and
installs from one, its fold of new records and the queries the views make share its
tables and its lock; the HTTP layer (app.py), the loader process's protocol (loader.py)
and the shaping of answers (views.py) are modules of their own.
"""

from __future__ import annotations

import bisect
import heapq
import json
import math
import os
import sqlite3
import subprocess
import threading
import time
import urllib.parse
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from tunefleet.dashboard.loader import load_elsewhere
from tunefleet.dashboard.textindex import TextIndex
from tunefleet.protocol import TRIAL_PLACED
from tunefleet.storage.records import (
    CHECKPOINT,
    CHECKPOINT_INVALID,
    EXPERIMENT_FINISHED,
    EXPERIMENT_STARTED,
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
from tunefleet.storage.stats import json_path
from tunefleet.storage.stats import number as _num

#: what a loader process sends (loader.py): the summaries' per-trial numbers (dicts by
#: trial id), their totals, the replay's experiment-level fields
PER_TRIAL_FIELDS = ("counts", "last_it", "lasts", "scores", "last_values")
TOTAL_FIELDS = (
    "improvements",
    "num_results",
    "compute",
    "first_ts",
    "last_ts",
    "_best",
    "_results_seq",
)
REPLAY_FIELDS = ("state", "num_runs", "finished", "started", "finished_ts", "_state_record")
#: with TUNEFLEET_DASHBOARD_LOADER=process, a log longer than this (rows) is loaded at
#: start in a process of its own (loader.py). Off by default: on a 2-core machine the
#: load in a thread answered as fast or faster (docs/benchmarks.md, dashboard run E)
PROCESS_ROWS: int | None = (
    1_000_000 if os.environ.get("TUNEFLEET_DASHBOARD_LOADER") == "process" else None
)
#: the trial statuses the table filters by, and their codes in ``status_row``
STATUSES = ("PENDING", "RUNNING", "PAUSED", "TERMINATED", "ERROR")
STATUS_CODE = {s: i for i, s in enumerate(STATUSES)}
CHUNK = 10_000  # log rows per fold step: the lock is released between steps
BASE_CHUNK = 250  # lifecycle rows per step of the start-up replay (the lock is held ~2 ms)
#: what the start-up replay reads (every kind but results and the components' state)
BASE_KINDS = (
    EXPERIMENT_STARTED,
    TRIAL_CREATED,
    TRIAL_STARTED,
    CHECKPOINT,
    TRIAL_PAUSED,
    TRIAL_RESTARTED,
    TRIAL_FAILED,
    TRIAL_COMPLETED,
    EXPERIMENT_FINISHED,
    CHECKPOINT_INVALID,
    TRIAL_PLACED,
)


@dataclass
class Series:
    """One trial's reported objectives, as compact arrays (float32), with each result's seq
    (so the scheduler's decisions, kept by seq, land at the iteration they followed)."""

    seqs: array = field(default_factory=lambda: array("q"))
    iteration: array = field(default_factory=lambda: array("f"))
    values: list[array] = field(default_factory=list)

    def iteration_before(self, seq: int) -> int:
        """The iteration of the trial's last result before ``seq`` (0 before any)."""
        i = bisect.bisect_left(self.seqs, seq)
        return int(self.iteration[i - 1]) if i else 0


@dataclass
class TrialInfo:
    """What a trial's detail and its curve's markers show, from its lifecycle records."""

    markers: list[tuple[int, str, str]] = field(default_factory=list)  # (seq, kind, why)
    checkpoints: list[dict[str, Any]] = field(default_factory=list)
    worker: str | None = None
    paused_seq: int | None = None


@dataclass
class Improvement:
    """A new best of the first objective: when, after how much compute, which trial."""

    ts: float
    compute: float
    results: int
    value: float
    trial_id: str


def connect_ro(db_path: str) -> sqlite3.Connection:
    """A read-only connection: ``mode=ro`` makes every write fail inside SQLite itself."""
    uri = f"file:{urllib.parse.quote(db_path)}?mode=ro"
    conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout = 5000")
    conn.execute("PRAGMA query_only = 1")
    return conn


def _guarded(expr: str) -> str:
    """``json_extract`` only on valid JSON (a result holding NaN is not, for SQLite)."""
    return f"CASE WHEN json_valid(data) THEN {expr} END"


class LiveExperiment:
    """The folded state of one experiment; ``refresh()`` reads what was appended since."""

    def __init__(self, db_path: str, metrics: list[str], modes: list[str]) -> None:
        self.db_path = db_path
        self.metrics = metrics
        self.modes = modes
        self.version = 0  # bumped by every fold step: what cached answers are keyed on
        self.lock = threading.RLock()
        self._refreshing = threading.Lock()
        self.loader: subprocess.Popen[bytes] | None = None  # the loader process, if any
        self._dirty: dict[str, None] | None = None  # in a loader process: what changed
        self._text_changes: list[tuple[str, str]] = []
        self._edges_sent = 0
        self._sign = [1.0 if m == "min" else -1.0 for m in modes]  # smaller sign*v: better
        cols = ", ".join(_guarded(f"json_extract(data, ?{i + 3})") for i in range(len(metrics)))
        self._sql = (
            "SELECT seq, kind, trial_id, ts,"
            " CASE WHEN kind = 'result' AND json_valid(data) THEN NULL ELSE data END,"
            " CASE WHEN kind = 'result' THEN "
            + _guarded("json_extract(data, '$.training_iteration')")
            + " END, CASE WHEN kind = 'result' THEN "
            + _guarded("json_extract(data, '$.time_this_iter_s')")
            + " END"
            + (", " + cols if cols else "")
            + " FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2"
        )
        self._paths = [json_path(m) for m in metrics]
        self._init_model()

    def _init_model(self) -> None:
        """The model's state, empty (also after a loader process failed part-way)."""
        self.replay = ReplayedExperiment()
        self.series: dict[str, Series] = {}  # curves read so far (complete up to last_seq)
        self.info: dict[str, TrialInfo] = {}
        self.text = TextIndex()
        # per trial, kept as they are folded so that views sort and sample 10⁵ trials with
        # C-level dict walks instead of a Python call per trial
        self.scores: dict[str, float] = {}  # best reported value of the first objective
        self.lasts: dict[str, float] = {}  # last reported value of the first objective
        self.last_values: dict[str, list[float]] = {}  # last values, every objective (NaN: none)
        self.counts: dict[str, int] = {}  # results per trial
        self.last_it: dict[str, float] = {}  # the last result's iteration
        self.errors: set[str] = set()  # trials with an error
        # the same numbers by the text index's row number (a trial's first-seen position;
        # NaN: none yet), so a filtered page is ordered with C-level keys over row numbers
        self.by_row: dict[str, array] = {k: array("d") for k in ("score", "last", "iteration")}
        self.status_row = array("b")  # each row's status, its position in STATUSES (-1: none)
        self.edges: list[dict[str, Any]] = []  # PBT/PB2: parent -> child, at an iteration
        self.improvements: list[Improvement] = []
        self.num_results = 0
        self.compute = 0.0
        self.first_ts: float | None = None
        self.last_ts: float | None = None
        self.last_seq = 0  # the model is complete up to here
        self.max_seq = 0  # the log's end when last looked at: catching up while below it
        self._best: float | None = None
        self._base: Iterator[None] | None = None  # the start-up load, step by step
        self._based = False
        self._results_seq = 0  # the per-trial numbers cover the log up to here

    @property
    def loading(self) -> bool:
        return not self._based or self.last_seq < self.max_seq

    # -- loading ----------------------------------------------------------------------

    def refresh(
        self, budget_s: float = 0.15, foreground: bool = False, between: Any = None
    ) -> None:
        """Load or fold in new records for up to ``budget_s`` (one refresher at a time).

        A log of up to ``CHUNK`` records is always read whole. ``foreground`` (a request
        waiting): a larger one's start-up load is left to the background refresher.
        ``between()`` is called between the load's steps, without the lock (the
        dashboard's refresher gives requests in flight the GIL there)."""
        if not self._refreshing.acquire(blocking=False):
            return
        try:
            deadline = time.perf_counter() + budget_s
            conn = connect_ro(self.db_path)
            try:
                (self.max_seq,) = conn.execute(
                    "SELECT coalesce(max(seq), 0) FROM events"
                ).fetchone()
                small = self.max_seq <= CHUNK
                if not self._based:
                    if foreground and not small:
                        return
                    if self._base is None:
                        most = PROCESS_ROWS
                        elsewhere = most is not None and self.max_seq > most and os.name == "posix"
                        self._base = load_elsewhere(self) if elsewhere else self._load_base()
                    try:
                        for _ in self._base:
                            if not small and time.perf_counter() > deadline:
                                return
                            if between is not None:
                                between()
                    except Exception:
                        with self.lock:  # start again, here (what it installed is partial)
                            self._init_model()
                            self._base = self._load_base()
                            self.version += 1
                        raise
                    self._based = True
                while self.last_seq < self.max_seq:
                    rows = conn.execute(self._sql, (self.last_seq, CHUNK, *self._paths)).fetchall()
                    if not rows:
                        break
                    with self.lock:
                        self._fold(rows)
                        self.version += 1
                    self.text.flush()  # off the model's lock (textindex.py)
                    if time.perf_counter() > deadline:
                        break
                    if between is not None:
                        between()
            finally:
                conn.close()
        finally:
            self._refreshing.release()

    def _load_base(self) -> Iterator[None]:
        """The start-up load from the writer's summaries, in steps (a generator: each
        ``next`` does one step). Without summaries it does nothing: the fold reads the log
        from its first record."""
        conn = connect_ro(self.db_path)
        try:
            base = self._read_summaries(conn)
            if base is None:
                return
            seq = base["seq"]
            with self.lock:  # assignments only: built outside the lock
                self.counts, self.last_it = base["counts"], base["last_it"]
                self.lasts, self.scores = base["lasts"], base["scores"]
                self.last_values, self.improvements = base["last_values"], base["improvements"]
                self.num_results, self.compute = base["num_results"], base["compute"]
                self.first_ts, self.last_ts = base["first_ts"], base["last_ts"]
                self._best = self.improvements[-1].value if self.improvements else None
                self._results_seq = seq
                self.version += 1
            yield
            for rows in self._lifecycle(conn, seq):
                decoded = [decode(r[4]) for r in rows]  # before the lock: a third of a step
                with self.lock:
                    for (seq_, kind, tid, ts, data), payload in zip(rows, decoded, strict=True):
                        self._apply(seq_, kind, tid, ts, data, None, payload)
                    self.version += 1
                self.text.flush()
                yield
            with self.lock:
                self.last_seq = self.replay.last_seq = seq
                self.version += 1
        finally:
            conn.close()

    def _read_summaries(self, conn: sqlite3.Connection) -> dict[str, Any] | None:
        """The summary tables, in one read transaction: at one log position ``seq``."""
        conn.execute("BEGIN")
        try:
            try:
                info = dict(conn.execute("SELECT key, value FROM stats_info").fetchall())
            except sqlite3.OperationalError:  # no such table: an older writer's file
                return None
            seq = int(info.get("seq") or 0)
            if seq <= 0:
                return None
            if self.metrics and (
                info.get("metric") != self.metrics[0] or info.get("mode") != self.modes[0]
            ):
                return None
            cols = "".join(
                ", " + _guarded(f"json_extract(data, ?{i + 1})") for i in range(len(self.metrics))
            )
            rows = conn.execute(  # data: the last result's (trial_stats has no such column)
                "SELECT s.trial_id, s.results, s.compute, s.best, "
                + _guarded("json_extract(data, '$.training_iteration')")
                + cols
                + " FROM trial_stats s JOIN events e ON e.seq = s.last_seq",
                self._paths,
            ).fetchall()
            imps = conn.execute(
                "SELECT ts, compute, results, value, trial_id FROM best_so_far ORDER BY seq"
            ).fetchall()
            first = conn.execute("SELECT ts FROM events ORDER BY seq LIMIT 1").fetchone()
            last = conn.execute("SELECT ts FROM events WHERE seq = ?", (seq,)).fetchone()
        finally:
            conn.execute("COMMIT")
        nm = len(self.metrics)
        counts, last_it, lasts, scores, last_values = {}, {}, {}, {}, {}
        num, compute = 0, 0.0
        for tid, n, c, best, it, *vals in rows:
            counts[tid] = n
            num += n
            compute += c
            if isinstance(it, int | float):
                last_it[tid] = float(it)
            if nm:
                vs = [_num(v) for v in vals]
                last_values[tid] = [math.nan if v is None else v for v in vs]
                if vs[0] is not None:
                    lasts[tid] = vs[0]
                if best is not None:
                    scores[tid] = float(best)
        return {
            "seq": seq,
            "counts": counts,
            "last_it": last_it,
            "lasts": lasts,
            "scores": scores,
            "last_values": last_values,
            "improvements": [Improvement(a, b, c, d, e or "") for a, b, c, d, e in imps]
            if nm
            else [],
            "num_results": num,
            "compute": compute,
            "first_ts": first[0] if first else None,
            "last_ts": last[0] if last else None,
        }

    def _lifecycle(self, conn: sqlite3.Connection, upto: int) -> Iterator[list[Any]]:
        """Lifecycle records up to ``upto`` in seq order, ``BASE_CHUNK`` at a time: one
        ``(kind, seq)`` index range per kind, merged (no sort of the whole set)."""

        def one(kind: str) -> Iterator[tuple[Any, ...]]:
            last = 0
            while True:
                rows = conn.execute(
                    "SELECT seq, kind, trial_id, ts, data FROM events WHERE kind = ? AND"
                    " seq > ? AND seq <= ? ORDER BY seq LIMIT ?",
                    (kind, last, upto, BASE_CHUNK),
                ).fetchall()
                yield from rows
                if len(rows) < BASE_CHUNK:
                    return
                last = rows[-1][0]

        merged = heapq.merge(*(one(k) for k in BASE_KINDS))
        while True:
            chunk = [r for _, r in zip(range(BASE_CHUNK), merged, strict=False)]
            if not chunk:
                return
            yield chunk

    # -- folding ----------------------------------------------------------------------

    def _fold(self, rows: list[tuple[Any, ...]]) -> None:
        nm = len(self.metrics)
        sign0 = self._sign[0] if nm else 1.0
        for row in rows:
            seq, kind, tid, ts, data, it, dt = row[:7]
            if self.first_ts is None:
                self.first_ts = ts
            self.last_ts = ts
            if kind == RESULT and data is None:
                self._result(seq, tid, ts, it, dt, row[7:], nm, sign0)
            elif kind == RESULT:  # not valid JSON for SQLite (it holds NaN): decoded here
                try:
                    d = json.loads(data)
                except ValueError:
                    d = {}
                d = d if isinstance(d, dict) else {}
                vals = [d.get(m) for m in self.metrics]
                it, dt = d.get("training_iteration"), d.get("time_this_iter_s")
                self._result(seq, tid, ts, it, dt, vals, nm, sign0)
            else:
                self._apply(seq, kind, tid, ts, data, self.last_it.get(tid or ""))
            self.last_seq = seq

    def _result(
        self,
        seq: int,
        tid: str | None,
        ts: float,
        it: Any,
        dt: Any,
        vals: Any,
        nm: int,
        sign0: float,
    ) -> None:
        key = tid or ""
        n = self.counts.get(key, 0)
        self.counts[key] = n + 1
        itf = float(it) if isinstance(it, int | float) else float(n + 1)
        self.last_it[key] = itf
        row = self.text.rowid.get(key)
        if row is not None:
            self.by_row["iteration"][row] = itf
        self.num_results += 1
        dtf = _num(dt)
        if dtf is not None:
            self.compute += dtf
        vs = [_num(v) for v in vals]
        s = self.series.get(key)
        if s is None and n == 0:  # its first result: the curve is complete from here
            s = self.series[key] = Series(values=[array("f") for _ in range(nm)])
        if s is not None:
            s.seqs.append(seq)
            s.iteration.append(itf)
            for k in range(nm):
                v = vs[k]
                s.values[k].append(math.nan if v is None else v)
        if nm:
            self.last_values[key] = [math.nan if v is None else v for v in vs]
            v0 = vs[0]
            if v0 is None:  # as `tunefleet ls`: the last result's value, or none
                self.lasts.pop(key, None)
                if row is not None:
                    self.by_row["last"][row] = math.nan
            else:
                self.lasts[key] = v0
                b = self.scores.get(key)
                if b is None or sign0 * v0 < sign0 * b:
                    self.scores[key] = v0
                    if row is not None:
                        self.by_row["score"][row] = v0
                if row is not None:
                    self.by_row["last"][row] = v0
                if self._best is None or sign0 * v0 < sign0 * self._best:
                    self._best = v0
                    self.improvements.append(
                        Improvement(ts, self.compute, self.num_results, v0, key)
                    )
        self.replay.last_seq = seq

    def _apply(
        self,
        seq: int,
        kind: str,
        tid: str | None,
        ts: float,
        data: Any,
        at: float | None,
        payload: dict[str, Any] | None = None,
    ) -> None:
        """A lifecycle (or any non-result) record: the reference reader, then markers,
        text, lineage. ``at``: the trial's iteration then, if known; ``payload``: ``data``
        decoded already (:func:`decode`)."""
        if payload is None:
            payload = decode(data)
        if self.first_ts is None:
            self.first_ts = ts
        self.replay.apply(Record(kind, tid, payload, ts, seq))
        if tid is None:
            return
        if self._dirty is not None:
            self._dirty[tid] = None
        self._mark(seq, tid, kind, payload)
        if kind in (TRIAL_CREATED, TRIAL_RESTARTED):  # the config, as logged
            self._new_text(tid, f"{tid} {data}")
            parent = payload.get("parent" if kind == TRIAL_CREATED else "from_trial")
            if parent:
                it = payload.get("iteration") if kind == TRIAL_RESTARTED else None
                if not isinstance(it, int | float):
                    it = at or 0
                self.edges.append({"parent": str(parent), "child": tid, "iteration": int(it)})
        if kind in (TRIAL_FAILED, TRIAL_COMPLETED) and payload.get("error"):
            self.errors.add(tid)
        self._status(tid)

    def _status(self, tid: str) -> None:
        """Keep the trial's status by row (the filter's status test over numpy)."""
        row = self.text.rowid.get(tid)
        t = self.replay.trials.get(tid)
        if row is not None and t is not None:
            self.status_row[row] = STATUS_CODE.get(t.status, -1)

    def _new_text(self, tid: str, text: str) -> None:
        """Index a trial's logged config (a new trial: a new row, with its numbers)."""
        if self._dirty is not None:
            self._text_changes.append((tid, text))
        if self.text.put(tid, text):
            nan = math.nan
            self.by_row["score"].append(self.scores.get(tid, nan))
            self.by_row["last"].append(self.lasts.get(tid, nan))
            self.by_row["iteration"].append(self.last_it.get(tid, nan))
            self.status_row.append(-1)
            self._status(tid)

    # -- a load in another process (tunefleet.dashboard.loader) -------------------------

    def track_changes(self) -> None:
        """In the loader process: keep what each step changes, for :meth:`take_changes`."""
        self._dirty = {}

    def take_changes(self) -> dict[str, Any]:
        """What the steps since the last call changed: the trials they touched (whole),
        the texts indexed, new lineage edges, the replay's experiment-level fields."""
        assert self._dirty is not None
        dirty = list(self._dirty)
        self._dirty.clear()
        trials, info = self.replay.trials, self.info
        out = {
            "trials": {t: trials[t] for t in dirty if t in trials},
            "info": {t: info[t] for t in dirty if t in info},
            "text": self._text_changes,
            "edges": self.edges[self._edges_sent :],
            "errors": [t for t in dirty if t in self.errors],
            "replay": {k: getattr(self.replay, k) for k in REPLAY_FIELDS},
        }
        self._text_changes = []
        self._edges_sent = len(self.edges)
        return out

    def install(self, frame: dict[str, Any]) -> None:
        """In the dashboard, under the lock: one frame of the loader process (its kinds:
        the summaries' per-trial numbers in parts, their totals, a step's changes, the
        end with the text index)."""
        kind = frame["kind"]
        if kind == "numbers":
            for name in PER_TRIAL_FIELDS:
                getattr(self, name).update(frame[name])
        elif kind == "totals":
            for name in TOTAL_FIELDS:
                setattr(self, name, frame[name])
        elif kind == "step":
            self.replay.trials.update(frame["trials"])
            self.info.update(frame["info"])
            for tid, text in frame["text"]:
                self._new_text(tid, text)
            for tid in frame["trials"]:
                self._status(tid)
            self.edges.extend(frame["edges"])
            self.errors.update(frame["errors"])
            for k, v in frame["replay"].items():
                setattr(self.replay, k, v)
        elif kind == "end":
            self.text.adopt(frame["fts"])
            self.last_seq = self.replay.last_seq = frame["seq"]
        self.version += 1

    def close(self) -> None:
        """Stop a loader process still running."""
        proc = self.loader
        if proc is not None and proc.poll() is None:
            proc.terminate()

    def _info(self, tid: str) -> TrialInfo:
        info = self.info.get(tid)
        if info is None:
            info = self.info[tid] = TrialInfo()
        return info

    def _mark(self, seq: int, tid: str, kind: str, d: dict[str, Any]) -> None:
        """Scheduler decisions on the learning curve: stops, pauses, promotions, exploits
        (by seq: the iteration is the last result's before it, found when drawn)."""
        if kind == TRIAL_STARTED:
            info = self.info.get(tid)
            if info is not None and info.paused_seq is not None:
                info.markers.append((info.paused_seq, "promoted", "resumed after a pause"))
                info.paused_seq = None
            if d.get("worker"):
                self._info(tid).worker = str(d["worker"])
            return
        if kind == TRIAL_CREATED:
            return
        info = self._info(tid)
        if kind == TRIAL_PAUSED:
            info.markers.append((seq, "paused", ""))
            info.paused_seq = seq
        elif kind == TRIAL_RESTARTED:
            info.markers.append((seq, "exploited", f"from {d.get('from_trial')}"))
        elif kind == TRIAL_COMPLETED:
            if d.get("stopped"):
                info.markers.append((seq, "stopped", ""))
            elif d.get("status") == "ERROR":
                info.markers.append((seq, "error", ""))
        elif kind == TRIAL_FAILED:
            info.markers.append((seq, "failed", str(d.get("error") or "").split("\n", 1)[0]))
            if d.get("worker"):
                info.worker = str(d["worker"])
        elif kind == TRIAL_PLACED:
            if d.get("worker"):
                info.worker = str(d["worker"])
        elif kind == CHECKPOINT:
            info.checkpoints.append({"path": d.get("path"), "iteration": d.get("iteration")})

    # -- reading ----------------------------------------------------------------------

    def ensure_series(self, tids: list[str]) -> None:
        """Read the curves of ``tids`` that are not in memory yet (one ``(trial_id, seq)``
        index range each). The file is read without the model's lock (a 10⁷-row file: a
        read can wait on the disk; the load's steps go on meanwhile), then what was
        folded since is read under the lock, so no result is missed or counted twice."""
        with self.lock:
            missing = [t for t in tids if t not in self.series and self.counts.get(t)]
            bound = max(self.last_seq, self._results_seq)
        if not missing:
            return
        nm = len(self.metrics)
        read = {t: Series(values=[array("f") for _ in range(nm)]) for t in missing}
        conn = connect_ro(self.db_path)
        try:
            for tid, s in read.items():
                self._read_series(conn, tid, 0, bound, s)
            with self.lock:
                now = max(self.last_seq, self._results_seq)
                for tid, s in read.items():
                    if tid in self.series:  # read meanwhile by another request
                        continue
                    if now > bound:  # folded since the read: not in any series
                        self._read_series(conn, tid, bound, now, s)
                    self.series[tid] = s
        finally:
            conn.close()

    def _read_series(
        self, conn: sqlite3.Connection, tid: str, after: int, upto: int, s: Series
    ) -> None:
        """Append ``tid``'s results with ``after < seq <= upto`` to ``s``."""
        nm = len(self.metrics)
        cols = "".join(", " + _guarded(f"json_extract(data, ?{i + 4})") for i in range(nm))
        sql = (
            "SELECT seq, "
            + _guarded("json_extract(data, '$.training_iteration')")
            + cols
            + ", CASE WHEN json_valid(data) THEN NULL ELSE data END FROM events"
            " WHERE trial_id = ?1 AND +kind = 'result' AND seq > ?2 AND seq <= ?3 ORDER BY seq"
        )
        for row in conn.execute(sql, (tid, after, upto, *self._paths)):
            seq, it, vals, raw = row[0], row[1], row[2 : 2 + nm], row[-1]
            if raw is not None:
                try:
                    d = json.loads(raw)
                except ValueError:
                    d = {}
                d = d if isinstance(d, dict) else {}
                it, vals = d.get("training_iteration"), [d.get(m) for m in self.metrics]
            s.seqs.append(seq)
            s.iteration.append(float(it) if isinstance(it, int | float) else len(s.seqs))
            for k in range(nm):
                v = _num(vals[k])
                s.values[k].append(math.nan if v is None else v)

    def markers(self, tid: str) -> list[dict[str, Any]]:
        """The trial's markers at their iterations (its series must be loaded)."""
        info = self.info.get(tid)
        if info is None:
            return []
        s = self.series.get(tid)
        return [
            {"iteration": s.iteration_before(seq) if s else 0, "kind": k, "detail": d}
            for seq, k, d in info.markers
        ]

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


def decode(data: Any) -> dict[str, Any]:
    """A record's JSON payload as a dict (``{}`` if it is none or not an object)."""
    try:
        payload = json.loads(data)
    except (TypeError, ValueError):
        return {}
    return payload if isinstance(payload, dict) else {}


def short(v: float) -> float | None:
    """A stored float32 as the number it was (7 significant digits); None for NaN."""
    return None if not math.isfinite(v) else float(f"{v:.7g}")
