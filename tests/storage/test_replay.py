"""replay(): the experiment rebuilt from its log agrees with a simple model of the lifecycle."""

from __future__ import annotations

import tracemalloc
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tunefleet.storage import Record, ReplayedExperiment, SQLiteStore, replay

FINISHED = ("TERMINATED", "ERROR")
ALLOWED = {
    "PENDING": ["start"],
    "RUNNING": ["result", "checkpoint", "pause", "fail_retry", "fail_final", "complete"],
    "PAUSED": ["start", "restart"],
}


@dataclass
class Model:
    config: dict[str, Any]
    status: str = "PENDING"
    attempt: int = 0
    results: int = 0
    failures: int = 0
    last: dict[str, Any] | None = None
    checkpoint: str | None = None
    parent: str | None = None
    error: str | None = None


def build(data: st.DataObject) -> tuple[list[Record], dict[str, Model], dict[str, Any]]:
    """Random valid event sequence, and what each trial should look like afterwards."""
    out: list[Record] = []
    model: dict[str, Model] = {}
    exp = {"runs": 0, "finished": None, "state": None}

    def emit(kind: str, tid: str | None, **d: Any) -> None:
        out.append(Record(kind, tid, d, float(len(out)), len(out) + 1))

    emit("experiment_started", None, run=0)
    exp["runs"] = 1
    for _ in range(data.draw(st.integers(0, 80), label="steps")):
        live = [t for t, m in model.items() if m.status not in FINISHED]
        choice = data.draw(st.sampled_from(["new", "state", "restart_run", *live]))
        if choice == "new":
            tid = f"t{len(model)}"
            model[tid] = Model(config={"x": len(model)})
            emit("trial_created", tid, config=model[tid].config, index=len(model) - 1)
            continue
        if choice == "state":
            exp["state"] = {"searcher": {"n": len(out)}}
            emit("state", None, **exp["state"])
            continue
        if choice == "restart_run":  # the driver stopped, and a resume started a new run
            emit("experiment_finished", None, status="interrupted", reason="test")
            emit("experiment_started", None, run=exp["runs"])
            exp["runs"] += 1
            continue
        m = model[choice]
        action = data.draw(st.sampled_from(ALLOWED[m.status]))
        if action == "start":
            m.status, m.attempt = "RUNNING", m.attempt + 1
            emit("trial_started", choice, attempt=m.attempt, worker=0, checkpoint=m.checkpoint)
        elif action == "result":
            m.results += 1
            m.last = {"score": data.draw(st.floats(allow_nan=True)), "training_iteration": 1}
            emit("result", choice, **m.last)
        elif action == "checkpoint":
            m.checkpoint = f"/ck/{choice}/{len(out)}"
            emit("checkpoint", choice, path=m.checkpoint, iteration=m.results)
        elif action == "pause":
            m.status = "PAUSED"
            emit("trial_paused", choice, checkpoint=m.checkpoint)
        elif action == "restart":
            donor = data.draw(st.sampled_from(sorted(model)))
            m.status, m.parent, m.config = "PENDING", donor, {"x": -1, "from": donor}
            m.checkpoint = model[donor].checkpoint or m.checkpoint
            emit(
                "trial_restarted",
                choice,
                config=m.config,
                from_trial=donor,
                checkpoint=m.checkpoint,
            )
        elif action == "fail_retry":
            m.status, m.failures, m.error = "PENDING", m.failures + 1, f"lost {len(out)}"
            emit("trial_failed", choice, attempt=m.attempt, error=m.error, will_retry=True)
        elif action == "fail_final":
            m.status, m.failures, m.error = "ERROR", m.failures + 1, f"boom {len(out)}"
            emit("trial_failed", choice, attempt=m.attempt, error=m.error, traceback="tb")
            emit("trial_completed", choice, status="ERROR", error=m.error, traceback="tb")
        else:
            m.status, m.error = "TERMINATED", None
            emit("trial_completed", choice, status="TERMINATED", error=None, traceback=None)
    if data.draw(st.booleans(), label="finish"):
        exp["finished"] = {"status": "completed", "reason": None}
        emit("experiment_finished", None, **exp["finished"])
    return out, model, exp


def same_float_or_equal(a: Any, b: Any) -> bool:
    return a == b or (a != a and b != b)


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_replay_agrees_with_model(data: st.DataObject) -> None:
    records, model, exp_model = build(data)
    exp = replay(records)
    assert set(exp.trials) == set(model)
    for tid, m in model.items():
        s = exp.trials[tid]
        assert (s.status, s.attempt, s.num_results, s.num_failures) == (
            m.status,
            m.attempt,
            m.results,
            m.failures,
        ), tid
        assert (s.checkpoint, s.parent_trial_id, s.config, s.error) == (
            m.checkpoint,
            m.parent,
            m.config,
            m.error,
        ), tid
        if m.last is None:
            assert s.last_result is None
        else:
            assert s.last_result is not None
            assert same_float_or_equal(s.last_result["score"], m.last["score"])
    expected_counts = Counter(m.status for m in model.values())
    assert {k: v for k, v in exp.counts().items() if v} == dict(expected_counts)
    assert exp.num_runs == exp_model["runs"]
    assert exp.state == exp_model["state"]
    assert exp.finished == exp_model["finished"]
    assert exp.status == ("completed" if exp_model["finished"] else "running")
    assert exp.last_seq == len(records)
    assert [t.index for t in exp.trials_in_order()] == list(range(len(model)))
    # Incremental application (a live view polling with since=) gives the same answer.
    k = data.draw(st.integers(0, len(records)), label="split")
    inc = ReplayedExperiment().extend(records[:k]).extend(records[k:])
    assert list(inc.trials) == list(exp.trials)
    for tid in model:
        a, b = inc.trials[tid], exp.trials[tid]
        assert (a.status, a.num_results, a.checkpoint) == (b.status, b.num_results, b.checkpoint)


def test_pause_then_start_and_timestamps() -> None:
    recs = [
        Record("trial_created", "a", {"config": {}, "index": 0}, 1.0, 1),
        Record("trial_started", "a", {"attempt": 1}, 2.0, 2),
        Record("checkpoint", "a", {"path": "/c1", "iteration": 3}, 3.0, 3),
        Record("trial_paused", "a", {"checkpoint": "/c1"}, 4.0, 4),
    ]
    exp = replay(recs)
    a = exp.trials["a"]
    assert a.status == "PAUSED" and a.checkpoint == "/c1" and a.checkpoint_iteration == 3
    exp.apply(Record("trial_started", "a", {"attempt": 2, "checkpoint": "/c1"}, 5.0, 5))
    exp.apply(Record("trial_completed", "a", {"status": "TERMINATED"}, 6.0, 6))
    assert (a.status, a.attempt, a.created, a.started, a.finished) == (
        "TERMINATED",
        2,
        1.0,
        2.0,
        6.0,
    )
    assert exp.status == "created"  # no experiment_started record


def test_completion_last_result_and_unknown_kinds() -> None:
    recs = [
        Record("trial_created", "a", {"config": {"x": 1}, "index": 0}, 1.0, 1),
        Record("some_future_kind", "a", {"whatever": 1}, 1.5, 2),
        Record("trial_completed", "a", {"status": "ERROR", "last_result": {"score": 2}}, 2.0, 3),
    ]
    a = replay(recs).trials["a"]
    assert a.status == "ERROR" and a.last_result == {"score": 2} and a.num_results == 0


def _many_results(n: int) -> Iterator[Record]:
    yield Record("trial_created", "a", {"config": {}, "index": 0}, 0.0, 1)
    for i in range(n):
        yield Record(
            "result", "a", {"score": float(i), "training_iteration": i, "pad": "x" * 50}, 0.0, i + 2
        )


def test_replay_keeps_no_per_result_memory() -> None:
    tracemalloc.start()
    try:
        exp = replay(_many_results(50_000))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert exp.trials["a"].num_results == 50_000
    assert peak < 2_000_000  # keeping every result would take > 15 MB


def test_replay_from_sqlite_round_trip(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path)
    store.create_experiment("exp", {})
    store.append(
        "exp",
        [
            Record("experiment_started", None, {"run": 0}, 1.0),
            Record("trial_created", "a", {"config": {"lr": 0.1}, "index": 0}, 1.0),
            Record("trial_started", "a", {"attempt": 1}, 1.0),
            Record("result", "a", {"score": float("nan")}, 1.0),
        ],
    )
    exp = replay(store.read("exp"))
    a = exp.trials["a"]
    assert a.status == "RUNNING" and a.config == {"lr": 0.1} and a.last_result is not None
    assert a.last_result["score"] != a.last_result["score"]
    assert exp.status == "running"
    store.close()
