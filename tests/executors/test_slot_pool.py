"""The driver-side slot pool that local and Spark share: launches, control messages tied
to their attempt, and the decoding of a worker's frames into events."""

from __future__ import annotations

import pickle
from typing import Any

import pytest

from tunefleet.executors.slots import Slot, SlotPool
from tunefleet.protocol import Failed, Finished, Launch, Reported, Started
from tunefleet.worker import wire


class _Recorder(Slot):
    """A slot whose frames are kept, decoded, instead of sent."""

    __slots__ = ("sent",)

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[tuple[Any, ...]] = []

    def place(self) -> str:
        return "recorder"

    def write(self, frame: bytes) -> None:
        self.sent.append(pickle.loads(frame))  # noqa: S301 - our own frames


def _pool() -> tuple[SlotPool[_Recorder], _Recorder]:
    pool: SlotPool[_Recorder] = SlotPool("a test slot")
    slot = _Recorder()
    pool.idle.append(slot)
    return pool, slot


def test_launch_sends_the_run_frame_and_control_messages_name_its_attempt() -> None:
    pool, slot = _pool()
    started = pool.launch(Launch("t1", {"x": 1}, attempt=2, trial_dir="/d", checkpoint="/c"))
    assert isinstance(started, Started) and started.worker == "recorder"
    run = slot.sent[0]
    assert run[0] == wire.RUN
    launch = wire.launch_from_fields(run[2:])
    assert (launch.trial_id, launch.attempt, launch.checkpoint) == ("t1", 2, "/c")
    with pytest.raises(RuntimeError, match="no free slot"):
        pool.launch(Launch("t2", {}, attempt=1, trial_dir="/d"))
    pool.reply("t1", True)
    pool.stop("t1", pause=True)
    pool.stop("t1")  # a second stop is not sent
    assert slot.sent[1:] == [(wire.REPLY, run[1], True, False), (wire.STOP, run[1], True)]


def test_frames_become_events_and_the_slot_is_free_again() -> None:
    pool, slot = _pool()
    pool.launch(Launch("t1", {}, attempt=1, trial_dir="/d"))
    frames = [
        (wire.REPORT, '{"a": 1}', ("/ck/1", "sha256:ab")),
        (wire.REPORTS, ['{"a": 2}', None, '{"a": 3}', ("/ck/3", "sha256:cd")]),
        (wire.HEARTBEAT,),
        (wire.DONE, False),
    ]
    events: list[Any] = []
    rest = pool.take(slot, frames, events, reuse=True)
    assert rest == [(wire.HEARTBEAT,)]
    reports = [e for e in events if isinstance(e, Reported)]
    assert [(r.result["a"], r.checkpoint, r.checkpoint_hash) for r in reports] == [
        (1, "/ck/1", "sha256:ab"),
        (2, None, None),
        (3, "/ck/3", "sha256:cd"),
    ]
    assert isinstance(events[-1], Finished) and events[-1].stopped is False
    assert pool.running == {} and pool.idle == [slot]
    pool.launch(Launch("t2", {}, attempt=1, trial_dir="/d"))
    pool.stop("t2")
    events = []
    pool.take(slot, [(wire.REPORT, '{"a": 4}', None), (wire.FAIL, "boom", "tb")], events, False)
    assert len(events) == 1 and isinstance(events[0], Failed)  # reports after a stop dropped
    assert events[0].error == "boom" and pool.idle == []
