"""A large experiment's start-up load, done in a process of its own.

Folding a 10⁵-trial experiment's lifecycle records takes seconds of Python (tens under
load): in the dashboard's own interpreter that work competes with the requests for the
GIL, and a request waits for it. So when asked (``TUNEFLEET_DASHBOARD_LOADER=process``;
off by default: on a 2-core machine it did not pay, docs/benchmarks.md dashboard run E)
and the log is long, :class:`LiveExperiment` starts
``python -m tunefleet.dashboard.loader`` (at a lower CPU priority: ``nice`` 5), which
runs the same start-up load (:meth:`LiveExperiment._load_base`) and sends what each step
changed, as pickled frames on its stdout; the dashboard installs each frame under the
model's lock (a dict update: milliseconds), so the page fills in while it loads, and
answers stay quick. At the end it sends the text filter's FTS5 table whole
(``sqlite3.Connection.serialize``) rather than have the dashboard index 10⁵ configs, and
exits; the dashboard folds whatever the log holds past that point itself.

The frames are pickles between two processes of the same installation, read only from
the child this module started: nothing else can write to that pipe.
"""

from __future__ import annotations

import json
import os
import pickle
import select
import struct
import subprocess
import sys
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tunefleet.dashboard.live import LiveExperiment

_HEADER = struct.Struct("!Q")
DICT_CHUNK = 10_000  # per-trial numbers per frame (the summaries' first step)


def _send(out: IO[bytes], frame: dict[str, Any]) -> None:
    body = pickle.dumps(frame, protocol=pickle.HIGHEST_PROTOCOL)
    out.write(_HEADER.pack(len(body)) + body)
    out.flush()


def _read(stream: IO[bytes], n: int) -> bytes | None:
    """Exactly ``n`` bytes of an unbuffered pipe (reads may be short), None at its end."""
    parts, left = [], n
    while left:
        part = stream.read(left)
        if not part:
            return None
        parts.append(part)
        left -= len(part)
    return b"".join(parts) if len(parts) != 1 else parts[0]


def _receive(stream: IO[bytes]) -> dict[str, Any] | None:
    """One frame, or None at the end of the stream."""
    head = _read(stream, _HEADER.size)
    if head is None:
        return None
    (n,) = _HEADER.unpack(head)
    body = _read(stream, n)
    if body is None:
        return None
    frame: dict[str, Any] = pickle.loads(body)  # noqa: S301 - our own child (module doc)
    return frame


def run_child(db_path: str, metrics: list[str], modes: list[str], out: IO[bytes]) -> None:
    """The child's side: the start-up load, one frame per step."""
    from tunefleet.dashboard.live import PER_TRIAL_FIELDS, TOTAL_FIELDS, LiveExperiment

    live = LiveExperiment(db_path, metrics, modes)
    live.track_changes()
    steps = live._load_base()
    if next(steps, StopIteration) is StopIteration:  # no summaries: the dashboard folds
        _send(out, {"kind": "none"})
        return
    keys = list(live.counts)
    for i in range(0, len(keys), DICT_CHUNK):
        part = keys[i : i + DICT_CHUNK]
        frame: dict[str, Any] = {"kind": "numbers"}
        for name in PER_TRIAL_FIELDS:
            values = getattr(live, name)
            frame[name] = {k: values[k] for k in part if k in values}
        _send(out, frame)
    _send(out, {"kind": "totals", **{name: getattr(live, name) for name in TOTAL_FIELDS}})
    for _ in steps:
        _send(out, {"kind": "step", **live.take_changes()})
    live.text.flush()
    conn = live.text.conn
    fts = None
    if conn is not None and hasattr(conn, "serialize"):
        conn.commit()  # its inserts ran in an implicit transaction
        fts = conn.serialize()
    _send(out, {"kind": "step", **live.take_changes()})
    _send(out, {"kind": "end", "seq": live.last_seq, "fts": fts})


def load_elsewhere(live: LiveExperiment, wait_s: float = 0.05) -> Iterator[None]:
    """The dashboard's side, a generator as :meth:`LiveExperiment._load_base`: each
    ``next`` installs one frame, or waits up to ``wait_s`` for one. Raises if the child
    fails."""
    args = [json.dumps(live.metrics), json.dumps(live.modes)]
    cmd = [sys.executable, "-m", "tunefleet.dashboard.loader", live.db_path, *args]
    # unbuffered: select() then sees every byte not read yet
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, bufsize=0)
    live.loader = proc
    live.text.deferred = True  # scanned until the loader's index comes, at the end
    stream = proc.stdout
    assert stream is not None
    try:
        while True:
            if not select.select([stream], [], [], wait_s)[0]:
                yield
                continue
            frame = _receive(stream)
            if frame is None:
                proc.wait()
                raise RuntimeError(
                    f"the dashboard's loader process failed (exit {proc.returncode})"
                )
            if frame["kind"] == "none":
                return
            with live.lock:
                live.install(frame)
            if frame["kind"] == "end":
                return
            yield
    finally:
        stream.close()
        if proc.poll() is None:
            proc.terminate()
        proc.wait()
        live.loader = None


def main(argv: list[str]) -> None:
    if hasattr(os, "nice"):
        os.nice(5)  # the dashboard's requests first, but a busy machine still loads it
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything printed goes to stderr, not into the frames
    db_path, metrics, modes = argv[0], json.loads(argv[1]), json.loads(argv[2])
    try:
        run_child(db_path, metrics, modes, out)
        out.close()
    except BrokenPipeError:  # the dashboard went away
        pass


if __name__ == "__main__":
    main(sys.argv[1:])
