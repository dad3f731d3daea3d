"""The benchmark's figures from raw reports: definitions checked on hand-made outcomes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tunefleet.bench.compare_schedulers import compute_to_reach
from tunefleet.bench.measure import best_so_far, figures


def _report(trial: str, entered: float, t: float, acc: float, it: int = 1, pid: int = 1) -> dict:
    return {
        "trial_id": trial,
        "training_iteration": it,
        "bench_entered": entered,
        "bench_time": t,
        "bench_pid": pid,
        "accuracy": acc,
    }


def _outcome(**kw: object) -> dict:
    base = {
        "system": "local",
        "load_s": 0.5,
        "t0": 100.0,
        "t_end": 120.0,
        "rows": [],
        "kill": None,
        "entries": [],
        "trials": 2,
        "errored": 0,
        "error": None,
        "notes": [],
    }
    base.update(kw)
    return base


def test_figures_from_two_trials_on_two_slots() -> None:
    rows = [
        _report("a", 101.0, 105.0, 0.70, 1),
        _report("a", 101.0, 111.0, 0.85, 2),
        _report("b", 101.0, 106.0, 0.60, 1),
        _report("b", 101.0, 116.0, 0.90, 2),
    ]
    f = figures(
        _outcome(rows=rows),
        metric="accuracy",
        mode="max",
        target=0.8,
        concurrency=2,
        cores=2,
        price=1.0,
        spot_price=0.25,
    )
    assert f["wall_s"] == pytest.approx(20.0)
    assert f["first_result_s"] == pytest.approx(5.0)
    assert f["time_to_target_s"] == pytest.approx(11.0)  # trial a's 0.85 at t=111
    assert f["best"] == pytest.approx(0.90)
    assert f["trials_per_hour"] == pytest.approx(2 / 20 * 3600)
    # in-function: a 10 s + b 15 s over 2 slots x 20 s; busy window 101..116 = 15 s
    assert f["utilisation"] == pytest.approx(25 / 40)
    assert f["utilisation_busy"] == pytest.approx(25 / 30)
    # 20 s x 2 cores = 1/90 core-hour; per 1000 trials at 1.0/core-hour
    assert f["cost_per_1000"] == pytest.approx(20 / 3600 * 2 * 1.0 / 2 * 1000)
    assert f["cost_per_1000_spot"] == pytest.approx(f["cost_per_1000"] / 4)
    assert "recovery_s" not in f


def test_per_process_utilisation_leaves_out_the_idle_tail() -> None:
    # process 1 runs a (101-111) then c (112-120); process 2 runs b (101-116), then idles
    rows = [
        _report("a", 101.0, 111.0, 0.5, pid=1),
        _report("c", 112.0, 120.0, 0.6, pid=1),
        _report("b", 101.0, 116.0, 0.7, pid=2),
    ]
    f = figures(
        _outcome(rows=rows), metric="accuracy", mode="max", target=None, concurrency=2, cores=2
    )
    inside = 10 + 8 + 15
    assert f["utilisation_busy"] == pytest.approx(inside / (2 * 19))  # window 101-120
    assert f["utilisation_slots"] == pytest.approx(inside / (19 + 15))  # 1 s hand-off only


def test_training_utilisation_leaves_out_time_inside_the_frameworks_report() -> None:
    # a: 101-111, 2 s inside report before its last report; b: 101-116, 0.5 s, then a
    # second attempt of b (after a restart) 116-119 with none: its count starts again
    rows = [
        {**_report("a", 101.0, 105.0, 0.5), "bench_report_s": 0.0},
        {**_report("a", 101.0, 111.0, 0.6, 2), "bench_report_s": 2.0},
        {**_report("b", 101.0, 116.0, 0.7, pid=2), "bench_report_s": 0.5},
        {**_report("b", 116.0, 119.0, 0.8, 2, pid=2), "bench_report_s": 0.0},
    ]
    f = figures(
        _outcome(rows=rows), metric="accuracy", mode="max", target=None, concurrency=2, cores=2
    )
    inside = 10 + 15 + 3
    assert f["utilisation_busy"] == pytest.approx(inside / (2 * 18))
    assert f["utilisation_training"] == pytest.approx((inside - 2.5) / (2 * 18))
    assert f["report_s_per_report"] == pytest.approx(2.5 / 4)
    # rows from before the column existed count no report time
    old = [{k: v for k, v in r.items() if k != "bench_report_s"} for r in rows]
    g = figures(
        _outcome(rows=old), metric="accuracy", mode="max", target=None, concurrency=2, cores=2
    )
    assert g["utilisation_training"] == pytest.approx(g["utilisation_busy"])


def test_min_mode_and_unreached_target() -> None:
    rows = [_report("a", 101.0, 102.0, 0.5), _report("a", 101.0, 103.0, 0.3, 2)]
    f = figures(
        _outcome(rows=rows), metric="accuracy", mode="min", target=0.1, concurrency=1, cores=1
    )
    assert f["best"] == pytest.approx(0.3)
    assert f["time_to_target_s"] is None
    assert "cost_per_1000" not in f


def test_recovery_from_kill_to_next_attempt() -> None:
    rows = [
        _report("a", 101.0, 102.0, 0.5, 1),
        _report("a", 101.0, 103.0, 0.6, 2),
        _report("a", 104.5, 105.0, 0.7, 3),  # next attempt, restored from iteration 2
    ]
    entries = [
        {"trial": "a", "pid": 11, "entered": 101.0},
        {"trial": "a", "pid": 12, "entered": 104.5},
    ]
    kill = {"trial": "a", "pid": 11, "time": 103.5}
    f = figures(
        _outcome(rows=rows, entries=entries, kill=kill),
        metric="accuracy",
        mode="max",
        target=None,
        concurrency=1,
        cores=1,
    )
    assert f["recovery_s"] == pytest.approx(1.0)
    assert f["recovery_report_s"] == pytest.approx(1.5)


def test_error_row_keeps_the_message() -> None:
    f = figures(
        _outcome(error="child process exited with 1"),
        metric="accuracy",
        mode="max",
        target=0.5,
        concurrency=1,
        cores=1,
    )
    assert f["error"] == "child process exited with 1"
    assert "wall_s" not in f


@given(st.lists(st.floats(0, 1, allow_nan=False), min_size=1, max_size=40), st.floats(0, 1))
def test_compute_to_reach_is_first_index_of_best_so_far(accs: list[float], goal: float) -> None:
    rows = [_report("a", 0.0, float(i), a, i + 1) for i, a in enumerate(accs)]
    spent = compute_to_reach(list(reversed(rows)), "accuracy", "max", goal)  # order by time
    expected = next((i + 1 for i, a in enumerate(accs) if a >= goal), None)
    assert spent == expected
    curve = best_so_far(_outcome(rows=rows), "accuracy", "max")
    assert [b for _, b in curve] == sorted({b for _, b in curve})  # strictly improving
    assert curve[-1][1] == max(accs)
