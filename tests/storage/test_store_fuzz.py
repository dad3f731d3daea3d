"""Fuzzing the store (issue 17 point 7): random record sequences, damage and kills.

Whatever happens to the file, reading it back either rebuilds exactly what was written
(every record, or every whole batch up to a kill) or raises DamagedStoreError in one line
naming the file; and after ``tunefleet doctor`` what reads back is a subset of what was
written, record for record, with a component state that was really written. Never another
exception, never a silently different experiment.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from hypothesis import event, given, settings
from hypothesis import strategies as st

from tunefleet.storage import DamagedStoreError, Record, SQLiteStore, replay
from tunefleet.storage.salvage import salvage
from tunefleet.storage.state_log import StateWriter, read_state

KINDS = (
    "experiment_started",
    "trial_created",
    "trial_started",
    "result",
    "checkpoint",
    "trial_failed",
    "trial_completed",
    "state",
    "experiment_finished",
)


@st.composite
def histories(draw: st.DrawFn) -> tuple[list[list[Record]], list[dict[str, Any]]]:
    """Batches of records as a driver writes them, and the component states among them."""
    writer = StateWriter(ratio=draw(st.sampled_from([0.5, 3.0])))
    states: list[dict[str, Any]] = []
    batches = []
    for b in range(draw(st.integers(1, 8))):
        batch = []
        for _ in range(draw(st.integers(1, 6))):
            kind = draw(st.sampled_from(KINDS))
            tid = draw(st.sampled_from(["t0", "t1", "t2"]))
            pad = "x" * draw(st.sampled_from([0, 300, 3000]))  # spread over many pages
            if kind == "state":
                state = {"seen": draw(st.lists(st.integers(0, 9), max_size=6)), "batch": b}
                states.append(json.loads(json.dumps(state)))
                batch.append(writer.record(state, 1.0))
                continue
            data: dict[str, Any] = {
                "experiment_started": {"run": b},
                "trial_created": {"config": {"x": draw(st.integers(0, 99)), "p": pad}, "index": 0},
                "trial_started": {"attempt": 1},
                "result": {
                    "score": draw(st.floats(allow_nan=False, allow_infinity=False, width=32)),
                    "training_iteration": b + 1,
                    "pad": pad,
                },
                "checkpoint": {"path": f"/c/{tid}/{b}", "iteration": b},
                "trial_failed": {"error": "boom", "will_retry": draw(st.booleans())},
                "trial_completed": {"status": "TERMINATED"},
                "experiment_finished": {"status": "completed"},
            }[kind]
            is_trial = kind.startswith(("trial", "result", "checkpoint"))
            batch.append(Record(kind, tid if is_trial else None, data, 1.0))
        batches.append(batch)
    return batches, states


def key(r: Record) -> tuple[Any, ...]:
    return (r.seq, r.kind, r.trial_id, r.data)


def load(store: SQLiteStore) -> tuple[list[Record], dict[str, Any] | None] | None:
    """What a resume reads, or None when the store reports damage (in one line)."""
    try:
        records = list(store.read("exp"))
        replay(records)
        return records, read_state(store, "exp")
    except DamagedStoreError as e:
        text = str(e)
        assert "\n" not in text and store.db_path("exp") in text and "tunefleet doctor" in text
        return None


def damage(path: Path, how: str, where: float) -> None:
    size = path.stat().st_size
    if how == "truncate":
        os.truncate(path, int(size * where))
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "header":
        with open(path, "r+b") as f:
            f.write(b"\xff" * int(16 + 84 * where))
    elif how == "append":
        with open(path, "ab") as f:
            f.write(b"\x00garbage" * int(1 + 600 * where))
    elif how == "record":
        conn = sqlite3.connect(path)
        # mostly a component-state record: the chain of deltas is what is easiest to get wrong
        seqs = [s for (s,) in conn.execute("SELECT seq FROM events WHERE kind LIKE 'state%'")]
        if not seqs or where > 0.7:
            seqs = [s for (s,) in conn.execute("SELECT seq FROM events")]
        conn.execute(
            "UPDATE events SET data = '{\"cut' WHERE seq = ?", (seqs[int(where * len(seqs))],)
        )
        conn.commit()
        conn.close()


@settings(max_examples=60, deadline=None)
@given(
    history=histories(),
    how=st.sampled_from(["none", "truncate", "empty", "header", "append", "record", "record"]),
    where=st.floats(0.0, 0.999),
)
def test_damage_is_reported_or_harmless_and_doctor_keeps_only_what_was_written(
    history: tuple[list[list[Record]], list[dict[str, Any]]], how: str, where: float
) -> None:
    batches, states = history
    with tempfile.TemporaryDirectory() as tmp:
        store = SQLiteStore(tmp)
        store.create_experiment("exp", {"metric": "score", "mode": "max"})
        for batch in batches:
            store.append("exp", batch)
        written = {r.seq: key(r) for batch in batches for r in batch}
        store.close()  # the WAL is folded into the file: damage hits every record
        damage(Path(store.db_path("exp")), how, where)
        got = load(store)
        event(f"{how}: {'read back whole' if got is not None else 'reported damaged'}")
        if got is not None:  # read without complaint: then it is exactly what was written
            records, state = got
            assert [key(r) for r in records] == list(written.values())
            assert state == (states[-1] if states else None)
        else:
            assert how != "none"
            salvage(store, "exp")
            if not store.experiment_exists("exp"):
                return  # nothing could be read: the name was freed, the file kept aside
            again = load(store)
            assert again is not None, "doctor left a store that still reads as damaged"
            records, state = again
            assert all(written[r.seq] == key(r) for r in records)
            assert state is None or state in states
        store.close()


WRITER = """
import json, sys, time
from tunefleet.storage import Record, SQLiteStore
store = SQLiteStore(sys.argv[1])
store.create_experiment("exp", {"k": 1})
for batch in json.load(open(sys.argv[2])):
    store.append("exp", [Record(kind, tid, data, 1.0) for kind, tid, data in batch])
    time.sleep(0.002)
"""


@settings(max_examples=5, deadline=None)
@given(history=histories(), delay=st.floats(0.1, 0.9))
def test_a_writer_killed_at_any_point_leaves_whole_batches(
    history: tuple[list[list[Record]], list[dict[str, Any]]], delay: float
) -> None:
    batches = history[0] * 150  # enough batches to still be writing when the kill comes
    plain = [[(r.kind, r.trial_id, r.data) for r in batch] for batch in batches]
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp, "batches.json")
        spec.write_text(json.dumps(plain))
        root = Path(tmp, "runs")
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(root), str(spec)])
        time.sleep(delay)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        store = SQLiteStore(root)
        if not store.experiment_exists("exp"):  # killed before the file was complete
            assert not Path(store.db_path("exp")).exists()
            event("killed before the experiment existed")
            return
        got = load(store)
        assert got is not None, "a kill between writes must never damage the store"
        records = [(r.kind, r.trial_id, r.data) for r in got[0]]
        assert [r.seq for r in got[0]] == list(range(1, len(records) + 1))
        done, expected = 0, []
        while len(expected) < len(records):
            expected.extend(tuple(x) for x in plain[done])
            done += 1
        assert records == expected  # every batch whole or absent, in order
        event("killed after the last batch" if done == len(plain) else "killed between writes")
        store.close()
