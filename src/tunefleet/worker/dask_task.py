"""The Dask engine's worker side: the plugin that carries the trainable to each worker, and
the task that runs one attempt over its own TCP connection back to the driver.

The task greets the driver with one JSON frame that names its attempt and carries the
executor's random key (the driver unpickles nothing before that key is checked); from then
on the connection speaks :mod:`tunefleet.worker.wire` and the task is a
:class:`~tunefleet.worker.channel.TrialChannel` serving the one ``RUN`` the driver sends,
as a local worker process or a Spark slot does. The driver's end is
:mod:`tunefleet.executors.dask`.

A Dask worker may run several tasks at once, in threads of one process that is Dask's, not
ours: the task makes that process a subreaper and ends, when its attempt ends, the processes
the attempt started, however they detached, and only those
(:class:`tunefleet.worker.reaper.SharedReaper`).
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import socket
import threading
import traceback
from collections.abc import Callable
from typing import Any

from tunefleet.worker import wire
from tunefleet.worker.channel import TrialChannel
from tunefleet.worker.import_paths import add_import_paths
from tunefleet.worker.reaper import shared_reaper
from tunefleet.worker.trial import describe

# Seconds a task waits to connect to the driver before its attempt fails.
_TASK_CONNECT_TIMEOUT_S = 30.0

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


def _load(plugin: Any) -> tuple[Callable[..., Any] | None, tuple[str, str] | None]:
    """The trainable, or why it could not be loaded (every trial then fails with it)."""
    try:
        return plugin.trainable(), None
    except BaseException as exc:  # the user's import errors and the like
        error = f"the trainable could not be loaded in the Dask worker: {describe(exc)}"
        return None, (error, traceback.format_exc())


def _run_trial(plugin_name: str, driver: tuple[str, int], key: str, run_id: str) -> str:
    """The Dask task of one attempt: connect to the driver, serve the launch it sends."""
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
        hello = {"key": key, "run": run_id, "worker": worker.address, "pid": os.getpid()}
        wire.write_frame(sock.fileno(), json.dumps(hello).encode())
        fn, load_error = _load(plugin)
        channel = TrialChannel(sock.fileno(), fn, reap=shared_reaper())
        # One RUN, then the driver closes the connection (or never sends one: an attempt
        # it already gave up on); either way serve() returns at the end of the stream.
        channel.serve(load_error)
        channel.fn = None
    return "done"
