"""A Dask Nanny run as a fresh process, so that no worker re-runs the user's script.

Why this exists: ``distributed.LocalCluster`` keeps its Nannies inside the driver, and each
Nanny starts its worker with :mod:`multiprocessing` (``spawn``). A spawned child runs the
parent's main script again, as ``__mp_main__``, before anything else. A script without an
``if __name__ == "__main__":`` guard (most scripts, and README's examples) therefore started
the whole sweep again inside every worker, and the cluster died with ``RuntimeError: Nanny
failed to start``.

tunefleet's own cluster (:mod:`tunefleet.executors.dask_cluster`) starts every Nanny in a
fresh process instead: ``python -c "...; from tunefleet.worker.dask_nanny import main;
main()" STATUS_FD``. The main module of that process is a ``-c`` program, which spawn does
not re-import, so the worker the Nanny spawns never runs the user's script (and
``python -m tunefleet.worker.dask_nanny`` works too: this module imports only the standard
library at its top). The user's script is not needed in the worker: the trainable arrives
cloudpickled, through a worker plugin.

The driver talks to this process through two pipes:

* stdin: 8 bytes of length, then a cloudpickled dict ``{"scheduler", "options", "config",
  "sys_path"}`` (the Nanny's arguments, the driver's Dask configuration and ``sys.path``).
  Then stdin stays open; end of file (the driver closes the cluster, or died) closes the
  Nanny, and with it its worker.
* ``STATUS_FD``: one line of JSON, ``{"address": ...}`` once the Nanny and its worker run,
  or ``{"error": ..., "traceback": ...}``: the innermost exception of what stopped them
  (Dask wraps it in "Nanny failed to start"), and the whole traceback.

It runs in a session of its own (the driver starts it so): a Ctrl-C in the terminal reaches
the driver only, which then closes the cluster in order. When the Nanny has closed, this
process kills its own process group and exits without the interpreter's shutdown, which
waited seconds for Dask's idle threads: after the driver is SIGKILLed, the Nanny and its
worker are gone within half a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import pickle
import signal
import struct
import sys
import traceback
from typing import Any, BinaryIO

__all__ = ["LENGTH", "main"]

#: The length prefix of the spec on stdin.
LENGTH = struct.Struct(">Q")
# Seconds the Nanny gets to close its worker once the driver let go, before a hard exit.
_CLOSE_GRACE_S = 10.0


def _read_spec(stream: BinaryIO) -> dict[str, Any]:
    head = stream.read(LENGTH.size)
    if len(head) != LENGTH.size:
        raise EOFError("the driver closed stdin before it sent the Nanny's spec")
    (size,) = LENGTH.unpack(head)
    body = stream.read(size)
    if len(body) != size:
        raise EOFError("the driver closed stdin in the middle of the Nanny's spec")
    spec: dict[str, Any] = pickle.loads(body)  # noqa: S301 - sent by our own parent
    return spec


class _Status:
    """The status pipe: written once, then closed (its number may be reused after)."""

    def __init__(self, fd: int) -> None:
        self.fd: int | None = fd

    def tell(self, message: dict[str, Any]) -> None:
        fd, self.fd = self.fd, None
        if fd is None:
            return
        with contextlib.suppress(OSError):
            os.write(fd, json.dumps(message).encode() + b"\n")
        with contextlib.suppress(OSError):
            os.close(fd)


async def _serve(spec: dict[str, Any], status: _Status) -> None:
    from distributed import Nanny

    level = spec["options"].get("silence_logs")
    if level:  # as quiet as the driver's LocalCluster, closing included
        logging.getLogger("distributed").setLevel(level)
    nanny = Nanny(spec["scheduler"], **spec["options"])
    await nanny  # connects to the scheduler and starts the worker process
    status.tell({"address": str(nanny.address)})

    loop = asyncio.get_running_loop()
    released = loop.create_future()
    stdin = sys.stdin.fileno()

    def on_stdin() -> None:
        try:
            data = os.read(stdin, 4096)
        except OSError:
            data = b""
        if not data and not released.done():
            loop.remove_reader(stdin)
            released.set_result(None)

    loop.add_reader(stdin, on_stdin)
    finished = asyncio.ensure_future(nanny.finished())
    await asyncio.wait([finished, released], return_when=asyncio.FIRST_COMPLETED)
    if not finished.done():
        with contextlib.suppress(Exception):
            await asyncio.wait_for(nanny.close(), _CLOSE_GRACE_S)


def _root_cause(exc: BaseException) -> str:
    """The innermost exception of the chain ("Nanny failed to start" says nothing)."""
    seen = {id(exc)}
    while True:
        inner = exc.__cause__ or exc.__context__
        if inner is None or id(inner) in seen:
            break
        seen.add(id(inner))
        exc = inner
    return "".join(traceback.format_exception_only(exc)).strip()


def _end_group() -> None:
    """Kill what is left in this process's group (a trial's children, Dask's resource
    tracker), this process included, when it leads the group (the driver starts it so)."""
    if os.getpgrp() == os.getpid():
        os.killpg(os.getpid(), signal.SIGKILL)


def main() -> int:
    """Run one Nanny for the driver that started this process; see the module docstring."""
    status = _Status(int(sys.argv[1]))
    code = 0
    try:
        spec = _read_spec(sys.stdin.buffer)
        # What the user's script could import, the worker can import (as spawn would give it).
        sys.path[:] = [p for p in spec["sys_path"] if isinstance(p, str)]
        import dask

        dask.config.update(dask.config.config, spec["config"], priority="new")
        asyncio.run(_serve(spec, status))
    except BaseException as exc:
        status.tell(
            {"error": _root_cause(exc), "traceback": "".join(traceback.format_exception(exc))}
        )
        code = 1
    # No interpreter shutdown: it waits seconds for Dask's idle threads and daemon children,
    # which the group kill ends at once.
    with contextlib.suppress(Exception):
        sys.stdout.flush()
        sys.stderr.flush()
    with contextlib.suppress(OSError):
        _end_group()
    os._exit(code)


if __name__ == "__main__":
    main()
