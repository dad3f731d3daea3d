"""The Dask cluster that ``engine="dask"`` starts: a LocalCluster whose Nannies are fresh
processes, so that any script runs, with or without an ``if __name__ == "__main__":`` guard.

Why not a plain :class:`distributed.LocalCluster`: its Nannies live in the driver and start
their workers with :mod:`multiprocessing`'s ``spawn``, which runs the driver's main script
again in every worker. A script without the guard then starts the sweep again in each
worker, and the cluster fails with ``RuntimeError: Nanny failed to start``. The ``fork``
method avoids that, but forks a driver that already runs Dask's event loop thread (and the
user's threads), which is unsafe, and would copy the driver's memory into every worker.

So the cluster is still a ``LocalCluster`` (its scheduler in the driver, every
``cluster_kwargs`` as before), but its ``worker_class`` is :func:`nanny_process_class`: a
Dask ``ProcessInterface`` that starts each Nanny in a fresh Python process running
:func:`tunefleet.worker.dask_nanny.main` from a one-line ``-c`` program: spawn re-imports
neither that program nor the user's script in the worker. The Nanny gets the driver's
``sys.path`` and Dask configuration; it runs in a session of its own and closes when the
driver closes its stdin or dies. A Nanny still restarts a killed worker, as before. Not on
Windows (no process groups or pipes to pass), where Dask's own Nanny is kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from typing import Any

from tunefleet.errors import TuneError

__all__ = [
    "NANNY_MODULE",
    "connect_scheduler",
    "local_cluster",
    "nanny_command",
    "nanny_process_class",
    "start_local_cluster",
]

#: The module whose ``main()`` each Nanny process runs.
NANNY_MODULE = "tunefleet.worker.dask_nanny"
# Seconds a Nanny process gets to start its worker and join the scheduler.
START_TIMEOUT_S = 120.0
# Seconds a Nanny process gets to close its worker once its stdin is closed.
CLOSE_GRACE_S = 15.0

_CLASS: type | None = None


def nanny_process_class() -> type:
    """The ``worker_class`` of tunefleet's cluster, created on first use so that importing
    this module does not import distributed."""
    global _CLASS
    if _CLASS is None:
        _CLASS = _make_class()
    return _CLASS


def _make_class() -> type:
    import cloudpickle
    import dask
    from distributed.core import Status
    from distributed.deploy.spec import ProcessInterface

    from tunefleet.worker.dask_nanny import LENGTH

    class NannyProcess(ProcessInterface):
        """One Nanny (and so one worker) in a process of its own."""

        def __init__(self, scheduler: str, **options: Any) -> None:
            self.scheduler = scheduler
            self.options = options
            self.name = options.get("name")
            self.process: asyncio.subprocess.Process | None = None
            super().__init__()

        async def start(self) -> None:
            spec = cloudpickle.dumps(
                {
                    "scheduler": self.scheduler,
                    "options": self.options,
                    "config": dask.config.config,
                    "sys_path": list(sys.path),
                }
            )
            read_end, write_end = os.pipe()
            try:
                self.process = await asyncio.create_subprocess_exec(
                    *nanny_command(write_end),
                    stdin=asyncio.subprocess.PIPE,
                    pass_fds=(write_end,),
                    start_new_session=True,
                )
            except BaseException:
                os.close(read_end)
                raise
            finally:
                os.close(write_end)
            assert self.process.stdin is not None
            self.process.stdin.write(LENGTH.pack(len(spec)) + spec)
            await self.process.stdin.drain()
            status = await _read_status(read_end, START_TIMEOUT_S)
            if "address" not in status:
                await self._kill()
                self.status = Status.failed  # the cluster's close expects it
                raise TuneError(
                    f"tunefleet: Dask worker {self.name!r} did not start: "
                    f"{status.get('error') or 'its process exited before it said why'} "
                    f"(in {sys.executable}, running {NANNY_MODULE}, a Dask Nanny; check "
                    "DaskExecutor's cluster_kwargs and the Dask configuration)"
                    + (f"\n{status['traceback']}" if status.get("traceback") else "")
                )
            self.address = status["address"]
            await super().start()

        async def _kill(self) -> None:
            proc = self.process
            if proc is None:
                return
            # The Nanny leads its own process group: this reaches its worker and whatever
            # a trial started there.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError):
                await proc.wait()

        async def close(self) -> None:
            proc = self.process
            if proc is not None:
                if proc.stdin is not None:
                    proc.stdin.close()  # the Nanny closes its worker and exits
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(proc.wait(), CLOSE_GRACE_S)
                await self._kill()
            await super().close()

    NannyProcess.__module__ = __name__
    NannyProcess.__qualname__ = "NannyProcess"
    return NannyProcess


async def _read_status(fd: int, timeout: float) -> dict[str, Any]:
    """The Nanny process's one status line, or an error when it said nothing in time."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(fd, "rb", 0)
    )
    try:
        line = await asyncio.wait_for(reader.readline(), timeout)
    except TimeoutError:
        return {"error": f"it did not start within {timeout:g} s"}
    finally:
        transport.close()
    try:
        status = json.loads(line) if line else {}
    except ValueError:
        status = {}
    return status if isinstance(status, dict) else {}


def nanny_command(status_fd: int) -> list[str]:
    """The command of a Nanny process: this Python, with tunefleet importable from where the
    driver imported it (also when the script put it on ``sys.path`` itself)."""
    import tunefleet

    root = os.path.dirname(os.path.dirname(os.path.abspath(tunefleet.__file__)))
    code = f"import sys; sys.path.insert(0, {root!r}); from {NANNY_MODULE} import main; main()"
    return [sys.executable, "-c", code, str(status_fd)]


def local_cluster(
    n_workers: int,
    threads_per_worker: int,
    resources: dict[str, float],
    cluster_kwargs: dict[str, Any],
) -> Any:
    """Start tunefleet's :class:`distributed.LocalCluster`: worker processes on 127.0.0.1,
    no dashboard, ``CPU = threads_per_worker`` declared, each Nanny in a fresh process
    (unless ``cluster_kwargs`` names its own ``worker_class`` or asks for threads)."""
    import dask
    import distributed

    kwargs: dict[str, Any] = {
        "n_workers": n_workers,
        "threads_per_worker": threads_per_worker,
        "processes": True,
        "host": "127.0.0.1",
        "dashboard_address": None,
        # The scheduler's HTTP routes (health, metrics) on a free loopback port, rather
        # than 8787 (taken by a second cluster, with a warning).
        "scheduler_kwargs": {"dashboard_address": "127.0.0.1:0"},
        "resources": {"CPU": float(threads_per_worker), **resources},
    }
    extra = dict(cluster_kwargs)
    kwargs["scheduler_kwargs"].update(extra.pop("scheduler_kwargs", None) or {})
    kwargs.update(extra)
    fresh = os.name == "posix" and bool(sys.executable)
    if fresh and kwargs.get("processes") and kwargs.get("worker_class") is None:
        kwargs["worker_class"] = nanny_process_class()
    # We retry a lost trial from its latest checkpoint; Dask must not re-run it.
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        return distributed.LocalCluster(**kwargs)


def start_local_cluster(
    n_workers: int,
    threads_per_worker: int,
    resources: dict[str, float],
    cluster_kwargs: dict[str, Any],
    timeout: float,
) -> tuple[Any, Any]:
    """:func:`local_cluster` and a Client of it, once its workers have joined."""
    import distributed

    cluster = local_cluster(n_workers, threads_per_worker, resources, cluster_kwargs)
    try:
        client = distributed.Client(cluster, timeout=timeout)
        n = int(cluster_kwargs.get("n_workers", n_workers))
        client.wait_for_workers(n, timeout=timeout)
    except BaseException:
        cluster.close()
        raise
    return cluster, client


def connect_scheduler(address: str, timeout: float) -> Any:
    """A Client of the running scheduler at ``address``, once a worker has joined it."""
    import distributed

    try:
        client = distributed.Client(address, timeout=timeout)
    except OSError as exc:
        raise TuneError(f"cannot connect to the Dask scheduler at {address}: {exc}") from exc
    try:
        client.wait_for_workers(1, timeout=timeout)
    except Exception as exc:
        with contextlib.suppress(Exception):
            client.close()
        raise TuneError(
            f"no Dask worker joined the scheduler at {address} within {timeout:g} s"
        ) from exc
    return client
