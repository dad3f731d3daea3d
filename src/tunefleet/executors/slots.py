"""The driver side of the trial link, for executors whose workers serve trials one at a time
over the frames of :mod:`tunefleet.worker.wire` (local worker processes, Spark slot tasks,
Dask tasks).

A slot is one such worker. The pool knows which slot runs which trial, which slots are
idle, the launch sequence number that ties a control message to its attempt, and when each
running slot's lease was last renewed; it sends launches, replies and stop requests, and
turns a slot's frames into events. The executors keep only what differs: how a slot's bytes
travel (a socketpair to a child process, a TCP connection to a Spark task), how slots are
started and replaced, and what a lost slot means.
"""

from __future__ import annotations

import contextlib
import math
import select
import socket
import time
from collections.abc import Iterable
from typing import Any, Generic, TypeVar

from tunefleet.errors import TuneValueError
from tunefleet.executors.base import addressee
from tunefleet.protocol import Event, Failed, Finished, Launch, Reported, Started
from tunefleet.protocol import loads as _loads
from tunefleet.worker import wire


class Slot:
    """One worker as the pool sees it; engines subclass it with their transport."""

    __slots__ = ("seq", "trial_id", "attempt", "stopping", "renewed")

    def __init__(self) -> None:
        self.seq = 0  # of the attempt it runs (control messages name it)
        self.trial_id = ""  # empty while idle
        self.attempt = 0
        self.stopping = False  # the engine has decided: its later reports are dropped
        self.renewed = 0.0  # monotonic time of the last lease renewal seen

    def place(self) -> str:
        """Where it runs, as its ``Started`` event names it."""
        raise NotImplementedError

    def write(self, frame: bytes) -> None:
        """Send one encoded frame; a dead worker shows up elsewhere, never as an error here."""
        raise NotImplementedError


def check_lease_ttl(lease_ttl: float | None) -> None:
    """Refuse a lease TTL that is not a positive number of seconds (None: no leases)."""
    if lease_ttl is not None and (
        isinstance(lease_ttl, bool)
        or not isinstance(lease_ttl, (int, float))
        or not 0 < lease_ttl < math.inf
    ):
        raise TuneValueError(
            f"lease_ttl must be a positive number of seconds or None, got {lease_ttl!r}"
        )


def open_listener(host: str) -> tuple[socket.socket, socket.socket, socket.socket]:
    """A non-blocking listener on ``host`` (a free port) for workers that connect back, and
    a non-blocking socket pair whose write end other threads use to wake the driver's poll.
    Returns (listener, wake read end, wake write end)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    try:
        listener.bind((host, 0))
        listener.listen(256)
    except OSError:
        listener.close()
        raise
    listener.setblocking(False)
    wake_r, wake_w = socket.socketpair()
    wake_r.setblocking(False)
    wake_w.setblocking(False)
    return listener, wake_r, wake_w


def accept_all(listener: socket.socket, send_timeout_s: float) -> list[socket.socket]:
    """The connections waiting on ``listener``. The driver reads one only when its poll
    says there is data (a socket with a timeout is non-blocking to ``os.read``); a write
    may wait ``send_timeout_s``."""
    out: list[socket.socket] = []
    while True:
        try:
            sock, _ = listener.accept()
        except OSError:  # nothing more to accept (BlockingIOError) or a dropped one
            return out
        sock.settimeout(send_timeout_s)
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        out.append(sock)


def readable(fd: int) -> bool:
    """Whether ``fd`` has data (or its end) waiting, without reading it."""
    p = select.poll()
    p.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
    return bool(p.poll(0))


def send_frame(sock: socket.socket | None, frame: bytes) -> None:
    """One frame on a slot's socket object (never a bare descriptor: a dropped connection's
    number may already belong to another). A failure shows up as the connection's end when
    the driver next reads it, so it is not raised here."""
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.sendall(len(frame).to_bytes(4, "little") + frame)


S = TypeVar("S", bound=Slot)


class SlotPool(Generic[S]):
    """Running and idle slots, launches, control messages and the frames' events.

    ``where`` names the kind of worker in errors ("a worker process", "a Spark task")."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.running: dict[str, S] = {}
        self.idle: list[S] = []
        self.seq = 0

    def launch(self, launch: Launch) -> Started:
        """Start ``launch`` on an idle slot (the engine checked ``capacity()``); its lease
        starts now."""
        tid = launch.trial_id
        if tid in self.running:
            raise RuntimeError(f"trial {tid} is already running")
        if not self.idle:
            raise RuntimeError("no free slot: check capacity() before submit()")
        frame = wire.encode_run(self.seq + 1, launch, self.where)
        self.seq += 1
        slot = self.idle.pop()
        slot.seq = self.seq
        slot.trial_id = tid
        slot.attempt = launch.attempt
        slot.stopping = False
        slot.renewed = time.monotonic()
        self.running[tid] = slot
        slot.write(frame)
        return Started(tid, launch.attempt, slot.place(), time.time())

    def reply(self, trial_id: str, proceed: bool) -> None:
        slot = addressee(self.running, trial_id, ending=not proceed)
        if slot is not None:
            slot.write(wire.encode((wire.REPLY, slot.seq, bool(proceed), False)))

    def stop(self, trial_id: str, pause: bool = False) -> None:
        slot = addressee(self.running, trial_id, ending=True)
        if slot is not None:
            slot.write(wire.encode((wire.STOP, slot.seq, bool(pause))))

    def release(self, slot: S, reuse: bool = True) -> None:
        """``slot``'s attempt ended; it takes the next launch when ``reuse``."""
        self.running.pop(slot.trial_id, None)
        slot.trial_id = ""
        slot.stopping = False
        if reuse:
            self.idle.append(slot)

    def overdue(self, cutoff: float) -> list[S]:
        """Running slots whose lease was last renewed before ``cutoff`` (monotonic)."""
        return [s for s in self.running.values() if s.renewed < cutoff]

    def take(
        self, slot: S, messages: Iterable[tuple[Any, ...]], events: list[Event], reuse: bool
    ) -> list[tuple[Any, ...]]:
        """Turn ``slot``'s REPORT(S)/DONE/FAIL frames into events (releasing the slot at
        an attempt's end); return the other messages (READY, HEARTBEAT...) in order."""
        rest: list[tuple[Any, ...]] = []
        for msg in messages:
            op = msg[0]
            tid = slot.trial_id
            if op == wire.REPORT or op == wire.REPORTS:
                if tid and not slot.stopping:
                    add_reports(tid, slot.attempt, msg, events)
            elif op == wire.DONE:
                if tid:
                    stopped = bool(msg[1]) or slot.stopping
                    events.append(Finished(tid, slot.attempt, time.time(), stopped))
                    self.release(slot, reuse)
            elif op == wire.FAIL:
                if tid:
                    events.append(Failed(tid, slot.attempt, msg[1], msg[2], time.time(), False))
                    self.release(slot, reuse)
            else:
                rest.append(msg)
        return rest


class PoolControl:
    """``reply()`` and ``stop()`` of an executor whose running trials are all slots of its
    ``_pool`` (put it before :class:`~tunefleet.executors.base.Executor` in the bases)."""

    _pool: SlotPool[Any]

    def reply(self, trial_id: str, proceed: bool) -> None:
        self._pool.reply(trial_id, proceed)

    def stop(self, trial_id: str, pause: bool = False) -> None:
        self._pool.stop(trial_id, pause)


def add_reports(trial_id: str, attempt: int, msg: tuple[Any, ...], events: list[Event]) -> None:
    """The ``Reported`` events of a REPORT or REPORTS frame; a checkpoint travels as None, a
    path, or (path, content hash)."""
    if msg[0] == wire.REPORT:
        items: Any = (msg[1], msg[2])
    else:
        items = msg[1]
    for i in range(0, len(items), 2):
        text = items[i]
        ck = items[i + 1]
        if ck.__class__ is tuple:
            r = Reported(trial_id, attempt, _loads(text), ck[0], text, ck[1])
        else:
            r = Reported(trial_id, attempt, _loads(text), ck, text)
        events.append(r)
