"""The Spark engine's worker side: the body of a slot task, run inside a pyspark Python worker.

A slot task connects back to the driver (:mod:`tunefleet.executors.spark`), proves it is
one of the driver's slots with a random token, loads the broadcast trainable once and then
serves trial after trial through :class:`~tunefleet.worker.channel.TrialChannel`, the same
frame loop as a local worker process.
"""

from __future__ import annotations

import gc
import json
import os
import pickle
import socket
import traceback
from collections.abc import Iterable, Iterator
from typing import Any

from tunefleet.worker import wire
from tunefleet.worker.channel import TrialChannel
from tunefleet.worker.import_paths import add_import_paths
from tunefleet.worker.reaper import become_subreaper
from tunefleet.worker.trial import describe

# Driver → slot after the handshake: (GO, heartbeat interval or None).
_GO = 32
# Slot → driver once the trainable is loaded: (READY, load error or None). From then on
# the slot is free for a trial.
_READY = 33


def _handshake_reply(reader: wire.FrameReader) -> list[Any] | None:
    """The driver's first message(s) (blocking); None at end of stream."""
    while not reader.has_frame():
        try:
            if not reader.fill():
                return None
        except OSError:
            return None
    return reader.messages()


def _serve_slot(bcast: Any, spec: dict[str, Any]) -> None:
    """The body of a slot task: connect back, load the trainable, serve trials."""
    from pyspark import TaskContext

    ctx = TaskContext.get()
    spark_attempt = ctx.attemptNumber() if ctx is not None else 0
    host, port = spec["host"], spec["port"]
    try:
        sock = socket.create_connection((host, port), timeout=spec["connect_timeout"])
    except OSError as exc:
        raise RuntimeError(
            f"tunefleet: a Spark slot task could not connect back to the driver at "
            f"{host}:{port} ({exc}); executors must reach the driver there "
            "(SparkExecutor(driver_host=...))"
        ) from exc
    channel: TrialChannel | None = None
    try:
        sock.settimeout(None)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        fd = sock.fileno()
        who = f"{socket.gethostname()}:{os.getpid()}"
        hello = json.dumps([spec["slot"], spark_attempt, who]).encode()
        wire.write_frame(fd, spec["token"] + hello)
        reader = wire.FrameReader(fd)
        msgs = _handshake_reply(reader)
        if not msgs or msgs[0][0] != _GO:
            return  # refused (a retry, or a slot that was already given up)
        heartbeat_s = msgs[0][1]
        if ctx is not None:  # before the trainable's imports initialise CUDA
            gpus = ctx.resources().get("gpu")
            if gpus is not None:
                os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(gpus.addresses)
        become_subreaper()  # one trial at a time in this Python worker (reaper.py)
        channel = TrialChannel(fd, flush_s=spec["flush_s"], reap=True)
        channel.reader = reader  # it may already hold the first launch
        channel.inbox.extend(msgs[1:])
        load_error: tuple[str, str] | None = None
        try:
            add_import_paths(spec.get("import_paths", ()))  # modules beside the script
            channel.fn = pickle.loads(bcast.value)  # noqa: S301 - the driver's own trainable
        except BaseException as exc:  # the user's import errors and the like
            load_error = (
                f"the trainable could not be loaded in the Spark task: {describe(exc)}",
                traceback.format_exc(),
            )
        if heartbeat_s:
            channel.start_heartbeat(float(heartbeat_s))
        channel.send((_READY, None if load_error is None else load_error[0]))
        channel.serve(load_error)
    finally:
        if channel is not None:
            channel.close()
            channel.fn = None
        sock.close()
        gc.collect()  # a reused Python worker must not keep the trainable's data alive


def _slot_task(bcast: Any, items: Iterable[bytes]) -> Iterator[Any]:
    """The ``mapPartitions`` function of a slot's job."""
    # Read the partition to its end: pyspark reuses a Python worker only then.
    specs = list(items)
    for raw in specs:
        _serve_slot(bcast, pickle.loads(raw))  # noqa: S301 - from our own driver
    return iter(())
