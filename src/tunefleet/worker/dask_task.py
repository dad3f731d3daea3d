"""The Dask engine's worker side: the plugin that carries the trainable to each worker, and
the task that runs one attempt and talks to the driver over its own TCP connection.

The frames below are this link's wire format (the driver's end is
:mod:`tunefleet.executors.dask`). Nothing that arrives on the socket is unpickled: messages
are a one-byte opcode and UTF-8/JSON text. The attempt itself runs through
:func:`tunefleet.worker.trial.run_attempt`, as on every engine.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import socket
import struct
import threading
import traceback
from collections.abc import Callable
from typing import Any

from tunefleet.errors import StopTrial
from tunefleet.protocol import Launch
from tunefleet.protocol import dumps as _dumps
from tunefleet.worker.import_paths import add_import_paths
from tunefleet.worker.session import Session
from tunefleet.worker.trial import describe, run_attempt

# Seconds a task waits to connect to the driver before its attempt fails.
_TASK_CONNECT_TIMEOUT_S = 30.0

_READ_SIZE = 1 << 16

# Frames: 4-byte little-endian length, then a one-byte opcode and its body.
_LEN = struct.Struct("<I")
# task -> driver
_HELLO = b"H"  # JSON {"key", "run", "worker", "pid"}
_REPORT = b"R"  # result JSON text
_REPORT_CK = b"C"  # 4-byte length + checkpoint path, 4-byte length + its content hash
#                    (empty: none), then the result JSON text; strings in UTF-8
_DONE = b"D"  # b"1" when it ended because it was asked to stop
_FAIL = b"F"  # JSON [error, traceback]
# driver -> task
_ACK = b"A"  # the connection is accepted: run the trial
_REPLY = b"Y"  # b"1" proceed, b"0" stop
_STOP = b"S"  # b"1" pause, b"0" stop


def _frame(body: bytes) -> bytes:
    return _LEN.pack(len(body)) + body


class _Frames:
    """Splits a byte stream into frame bodies; keeps a partial frame between reads."""

    __slots__ = ("buf",)

    def __init__(self) -> None:
        self.buf = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        buf = self.buf
        buf += data
        n = len(buf)
        out: list[bytes] = []
        pos = 0
        while n - pos >= 4:
            (size,) = _LEN.unpack_from(buf, pos)
            end = pos + 4 + size
            if end > n:
                break
            out.append(bytes(buf[pos + 4 : end]))
            pos = end
        if pos:
            del buf[:pos]
        return out


_PLUGIN_CLASS: type | None = None


def _plugin_class() -> type:
    """The worker plugin class, created on first use so that importing this module does
    not import distributed. Pickle finds it through the module's ``__getattr__``."""
    global _PLUGIN_CLASS
    if _PLUGIN_CLASS is None:
        from distributed.diagnostics.plugin import WorkerPlugin

        class TrainablePlugin(WorkerPlugin):
            """Carries the pickled trainable to each worker; unpickles it once there."""

            def __init__(self, payload: bytes, import_paths: list[str]) -> None:
                self.payload = payload
                self.import_paths = import_paths
                self.fn: Callable[..., Any] | None = None
                self.lock = threading.Lock()

            def __getstate__(self) -> dict[str, Any]:
                return {"payload": self.payload, "import_paths": self.import_paths}

            def __setstate__(self, state: dict[str, Any]) -> None:
                self.__init__(state["payload"], state["import_paths"])  # type: ignore[misc]

            def setup(self, worker: Any) -> None:
                # Unpickle (and run the user's imports) now, off the worker's event loop,
                # so that a trial (a relaunch after a crash above all) starts warm. A
                # failure here is raised again, with its traceback, by the first trial.
                threading.Thread(
                    target=self._warm, name="tunefleet-load-trainable", daemon=True
                ).start()

            def _warm(self) -> None:
                with contextlib.suppress(BaseException):
                    self.trainable()

            def teardown(self, worker: Any) -> None:
                self.fn = None

            def trainable(self) -> Callable[..., Any]:
                fn = self.fn
                if fn is None:
                    with self.lock:
                        if self.fn is None:
                            # Modules beside the driver's script, on a shared filesystem.
                            add_import_paths(self.import_paths)
                            self.fn = pickle.loads(self.payload)  # noqa: S301 - the driver's
                        fn = self.fn
                return fn

        TrainablePlugin.__module__ = __name__
        TrainablePlugin.__qualname__ = "TrainablePlugin"
        _PLUGIN_CLASS = TrainablePlugin
    return _PLUGIN_CLASS


def __getattr__(name: str) -> Any:
    if name == "TrainablePlugin":
        return _plugin_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class _TaskLink:
    """The task's end of the connection; the :class:`Channel` of the trial's session."""

    __slots__ = ("sock", "frames", "stop", "pause")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.frames = _Frames()
        self.stop = False
        self.pause = False

    def _driver_gone(self) -> None:
        self.stop = True
        self.pause = False

    def _send(self, body: bytes) -> None:
        try:
            self.sock.sendall(_frame(body))
        except OSError:
            self._driver_gone()

    def _control(self, body: bytes) -> None:
        if body[:1] == _STOP:
            self.stop = True
            self.pause = body[1:2] == b"1"

    def _drain(self) -> None:
        """Apply the stop requests that are waiting, without blocking (one syscall)."""
        while True:
            try:
                data = self.sock.recv(_READ_SIZE, socket.MSG_DONTWAIT)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:
                self._driver_gone()
                return
            for body in self.frames.feed(data):
                self._control(body)

    def _next(self) -> bytes | None:
        """The next message from the driver, blocking; None when the driver is gone."""
        while True:
            try:
                data = self.sock.recv(_READ_SIZE)
            except OSError:
                data = b""
            if not data:
                self._driver_gone()
                return None
            got = self.frames.feed(data)
            if got:
                for body in got[1:]:  # only stop requests can follow; keep their effect
                    self._control(body)
                return got[0]

    def handshake(self, hello: bytes) -> bool:
        self._send(hello)
        if self.stop:
            return False
        return self._next() == _ACK

    def send_result(self, session: Session, result: dict[str, Any], checkpoint: str | None) -> None:
        self._drain()
        if self.stop:
            raise StopTrial(self.pause)
        text = _dumps(result).encode()
        if checkpoint is None:
            self._send(_REPORT + text)
        else:
            path = checkpoint.encode()
            digest = (session.checkpoint_hash or "").encode()
            self._send(
                _REPORT_CK + _LEN.pack(len(path)) + path + _LEN.pack(len(digest)) + digest + text
            )
        if self.stop:  # the driver went away while we wrote
            raise StopTrial(False)
        if session.sync:
            while not self.stop:
                body = self._next()
                if body is None:
                    break
                if body[:1] == _REPLY:
                    if body[1:2] == b"1":
                        return
                    self.stop = True
                    break
                self._control(body)
            raise StopTrial(self.pause)

    def run(self, plugin: Any, launch: Launch) -> str:
        try:
            fn = plugin.trainable()
        except BaseException as exc:
            error = f"the trainable could not be loaded in the Dask worker: {describe(exc)}"
            self._send(_FAIL + json.dumps([error, traceback.format_exc()]).encode())
            return "failed"
        stopped, failure = run_attempt(fn, launch, self, lambda: self.stop)
        if failure is None:
            outcome = _DONE + (b"1" if stopped else b"0")
        else:
            outcome = _FAIL + json.dumps(list(failure)).encode()
        self._send(outcome)
        return "done"


def _run_trial(
    plugin_name: str, driver: tuple[str, int], key: str, run_id: str, launch: Launch
) -> str:
    """The Dask task of one attempt: connect to the driver, run the trainable, report."""
    from distributed import get_worker

    worker = get_worker()
    plugin = worker.plugins.get(plugin_name)
    if plugin is None:
        raise RuntimeError(
            f"tunefleet: the trainable {plugin_name} is not installed on Dask worker "
            f"{worker.address} (was the executor closed?)"
        )
    try:
        sock = socket.create_connection(driver, timeout=_TASK_CONNECT_TIMEOUT_S)
    except OSError as exc:
        raise RuntimeError(
            f"tunefleet: Dask worker {worker.address} cannot reach the driver at "
            f"{driver[0]}:{driver[1]} ({exc}); pass DaskExecutor(listen_host=...) an address "
            "of the driver's machine that the workers can reach"
        ) from exc
    with sock:
        sock.settimeout(None)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        link = _TaskLink(sock)
        hello = {"key": key, "run": run_id, "worker": worker.address, "pid": os.getpid()}
        if not link.handshake(_HELLO + json.dumps(hello).encode()):
            return "refused"  # an attempt the driver already gave up on
        return link.run(plugin, launch)
