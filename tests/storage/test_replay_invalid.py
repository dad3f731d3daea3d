"""A ``checkpoint_invalid`` record is replayed: the trial's checkpoint is its fallback, so a
resume right after a fallback restores from there and does not meet (and warn about) the
bad checkpoint again (issue 17 pt 6)."""

from __future__ import annotations

from tunefleet.restore import trial_from_snapshot
from tunefleet.storage import Record, replay
from tunefleet.storage import records as rk


def ckpt(path: str, it: int) -> Record:
    return Record(rk.CHECKPOINT, "t0", {"path": path, "iteration": it, "hash": "h" + path}, 1.0)


def invalid(path: str, fallback: str | None, it: int) -> Record:
    data = {"path": path, "reason": "partial", "fallback": fallback, "iteration": it}
    return Record(rk.CHECKPOINT_INVALID, "t0", data, 2.0)


def start(attempt: int) -> Record:
    return Record(rk.TRIAL_STARTED, "t0", {"attempt": attempt}, 2.0)


def test_a_fallback_is_where_a_resume_restarts() -> None:
    base = [
        Record(rk.TRIAL_CREATED, "t0", {"config": {"x": 1}, "index": 0}, 0.0),
        start(1),
        ckpt("a", 1),
        ckpt("b", 2),
    ]
    snap = replay([*base, invalid("b", "a", 1), start(2)]).trials["t0"]
    trial = trial_from_snapshot(snap)
    assert (trial.checkpoint, trial.checkpoint_iteration) == ("a", 1)
    snap = replay([*base, invalid("b", None, 0), start(2)]).trials["t0"]
    assert (snap.checkpoint, snap.checkpoint_iteration) == (None, 0)
    # A later checkpoint of the resumed attempt wins; an old invalid record changes nothing.
    snap = replay([*base, invalid("b", "a", 1), start(2), ckpt("c", 2)]).trials["t0"]
    assert (snap.checkpoint, snap.checkpoint_iteration) == ("c", 2)
    snap = replay([*base, invalid("z", None, 0)]).trials["t0"]
    assert (snap.checkpoint, snap.checkpoint_iteration) == ("b", 2)
