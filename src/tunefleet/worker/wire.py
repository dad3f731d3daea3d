"""Message framing between the local driver and its worker processes.

Both ends talk over one stream per worker: a ``socket.socketpair()`` for a local worker
(its end passed to the worker process with ``pass_fds``), a TCP connection for a Spark slot
task. We do not use ``multiprocessing.Connection``: its ``poll`` builds a selector on every
call and ``recv_bytes`` costs two reads per message. Our own framing (4-byte little-endian length, then a pickle) lets the driver pull
every pending message of a worker with one ``os.read`` and decode them in a loop, which keeps
the driver's cost per report at a few microseconds plus unpickling.

Messages are flat tuples whose first item is an opcode:

driver → worker: ``(RUN, seq, trial_id, attempt, config, trial_dir, checkpoint,
start_iteration, start_time_total, sync, checkpoint_frequency, checkpoint_at_end,
stop_criteria, storage_options, kill_grace_s, working_dir, resources)``
(``Launch.run_fields()``; ``resources`` as ``Resources.to_json()``),
``(REPLY, seq, proceed, pause)``,
``(STOP, seq, pause)``, ``(EXIT,)``.

driver → local worker, once, first: ``(BOOT, argv, payload, heartbeat_s)`` (the driver's
``sys.argv``, the pickled trainable or the path of a file holding it, the lease renewal
interval or None); the local worker answers ``(READY, error)`` once the trainable is loaded,
``error`` None or ``(message, traceback)``. Spark's slot tasks use neither.

worker → driver: ``(REPORT, result, checkpoint)``, ``(REPORTS, [result, checkpoint, ...])``
(a burst of asynchronous reports, flat), ``(DONE, stopped)``, ``(FAIL, error, traceback)``,
``(HEARTBEAT,)`` (renews the lease of the running trial when nothing else was sent lately;
see :mod:`tunefleet.executors.local`). ``checkpoint`` is None, a path, or ``(path,
content_hash)``. A worker runs one trial at a time and its messages
arrive in order, so they need no trial id; ``seq`` lets a worker ignore control messages
that were meant for an earlier trial.
"""

from __future__ import annotations

import os
import pickle
import struct
from collections.abc import Callable
from typing import Any

from tunefleet.protocol import Launch, Resources

RUN = 0
REPLY = 1
STOP = 2
EXIT = 3
REPORT = 4
DONE = 5
FAIL = 6
REPORTS = 7
HEARTBEAT = 8
BOOT = 9
READY = 10

_HEADER = struct.Struct("<I")
_unpack_header = _HEADER.unpack_from
_pack_header = _HEADER.pack
_PROTO = pickle.HIGHEST_PROTOCOL
READ_SIZE = 1 << 16


def encode(msg: tuple[Any, ...]) -> bytes:
    """Pickle a message; fall back to cloudpickle for configs holding lambdas and the like."""
    try:
        return pickle.dumps(msg, _PROTO)
    except (pickle.PicklingError, TypeError, AttributeError):
        import cloudpickle

        return cloudpickle.dumps(msg, _PROTO)


def encode_by_value(msg: tuple[Any, ...]) -> bytes:
    """Like :func:`encode`, but what the driver's ``__main__`` defines travels by value.

    A worker is a fresh interpreter whose ``__main__`` is not the user's script, so a
    config holding a class or function of the script (``tune.choice([MyNet, OtherNet])``)
    cannot be found there by name; cloudpickle ships it by value. Plain pickle stays the
    fast path: only a frame that names ``__main__`` is pickled again."""
    data = encode(msg)
    if b"__main__" not in data:
        return data
    import cloudpickle

    return cloudpickle.dumps(msg, _PROTO)


def read_frame(fd: int) -> bytes | None:
    """Exactly one frame's payload (blocking), reading nothing past it; None at end of
    stream. For the first message of a stream, before a :class:`FrameReader` takes over."""
    header = _read_exactly(fd, _HEADER.size)
    if header is None:
        return None
    return _read_exactly(fd, _unpack_header(header)[0])


def _read_exactly(fd: int, n: int) -> bytes | None:
    parts: list[bytes] = []
    while n:
        data = os.read(fd, n)
        if not data:
            return None
        parts.append(data)
        n -= len(data)
    return b"".join(parts)


def write_frame(fd: int, payload: bytes) -> None:
    """Write one frame; blocks until all of it is written (raises OSError if the peer is gone)."""
    header = _pack_header(len(payload))
    if len(payload) < 4096:
        data = memoryview(header + payload)
        written = os.write(fd, data)
        while written < len(data):
            written += os.write(fd, data[written:])
        return
    # Large frames: no concatenation copy; writev may stop part way, so finish by hand.
    written = os.writev(fd, [header, payload])
    total = len(header) + len(payload)
    if written < total:
        rest = memoryview(header + payload)[written:]
        while len(rest):
            rest = rest[os.write(fd, rest) :]


def send(fd: int, msg: tuple[Any, ...]) -> None:
    write_frame(fd, encode(msg))


def write_frames(fd: int, payloads: list[bytes]) -> None:
    """Several frames with one write (a batch of reports and the trial's outcome)."""
    if len(payloads) == 1:
        write_frame(fd, payloads[0])
        return
    parts: list[bytes] = []
    for p in payloads:
        parts.append(_pack_header(len(p)))
        parts.append(p)
    data = memoryview(b"".join(parts))
    written = os.write(fd, data)
    while written < len(data):
        written += os.write(fd, data[written:])


class FrameReader:
    """Splits a byte stream into decoded messages; keeps a partial frame between reads."""

    __slots__ = ("fd", "buf")

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buf = b""

    def fill(self) -> bool:
        """Read what is available (blocks if nothing is). False at end of stream."""
        data = os.read(self.fd, READ_SIZE)
        if not data:
            return False
        self.buf = self.buf + data if self.buf else data
        return True

    def messages(self, loads: Callable[[Any], Any] = pickle.loads) -> list[Any]:
        """Decode and remove every complete frame in the buffer."""
        buf = self.buf
        n = len(buf)
        if n < 4:
            return []
        out: list[Any] = []
        pos = 0
        view = memoryview(buf)
        while n - pos >= 4:
            (size,) = _unpack_header(buf, pos)
            end = pos + 4 + size
            if end > n:
                break
            out.append(loads(view[pos + 4 : end]))
            pos = end
        self.buf = buf[pos:] if pos < n else b""
        return out

    def has_frame(self) -> bool:
        buf = self.buf
        return len(buf) >= 4 and len(buf) - 4 >= _unpack_header(buf, 0)[0]


def launch_from_fields(fields: tuple[Any, ...]) -> Launch:
    """The :class:`Launch` that ``Launch.run_fields()`` flattened (RUN frames, Ray calls)."""
    return Launch(
        trial_id=fields[0],
        attempt=fields[1],
        config=fields[2],
        trial_dir=fields[3],
        checkpoint=fields[4],
        start_iteration=fields[5],
        start_time_total=fields[6],
        sync_reports=fields[7],
        checkpoint_frequency=fields[8],
        checkpoint_at_end=fields[9],
        stop_criteria=fields[10],
        storage_options=fields[11] if len(fields) > 11 else None,
        kill_grace_s=fields[12] if len(fields) > 12 else 5.0,
        working_dir=fields[13] if len(fields) > 13 else None,
        resources=Resources.from_json(fields[14]) if len(fields) > 14 else Resources(),
    )


def encode_run(seq: int, launch: Any, where: str) -> bytes:
    """The RUN frame that starts ``launch`` (a :class:`~tunefleet.protocol.Launch`);
    a config that cannot be encoded is the user's error, named for the trial."""
    from tunefleet.errors import TuneValueError

    try:
        return encode_by_value((RUN, seq, *launch.run_fields()))
    except Exception as exc:
        raise TuneValueError(
            f"config of trial {launch.trial_id} cannot be sent to {where}: {exc!r}"
        ) from exc
