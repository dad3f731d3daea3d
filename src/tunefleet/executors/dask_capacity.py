"""How many trials a Dask cluster holds, and where its scheduler is.

Each trial asks Dask for ``{"CPU": cpu, "GPU": gpu, **custom}`` (entries of zero left out).
``"CPU"`` is asked for only when workers declare a ``CPU`` resource, as the executor's own
cluster does (``CPU = threads_per_worker``); otherwise a trial takes one worker thread, and a
worker holds ``nthreads // cpu`` trials (Dask cannot enforce more than one thread per task:
start workers with ``--resources "CPU=N"`` for multi-CPU trials). Capacity is the number of
trials the running workers fit at once, capped by ``max_concurrent``. Plain functions over
the scheduler's worker list, so that these rules are tested without a cluster; the executor
is :mod:`tunefleet.executors.dask`.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Any

from tunefleet.protocol import Resources

__all__ = [
    "WorkerInfo",
    "cluster_slots",
    "dask_resources",
    "fetch_workers",
    "host_port",
    "listen_host",
    "planned_workers",
    "scheduler_address",
    "worker_slots",
]

_EPS = 1e-9


def dask_resources(resources: Resources, cpu_resource: bool) -> dict[str, float]:
    """What one trial asks Dask for: ``CPU`` (when workers declare it), ``GPU``, custom."""
    request: dict[str, float] = {}
    if cpu_resource and resources.cpu > 0:
        request["CPU"] = float(resources.cpu)
    if resources.gpu > 0:
        request["GPU"] = float(resources.gpu)
    for name, amount in resources.custom.items():
        if amount > 0:
            request[name] = float(amount)
    return request


def worker_slots(
    nthreads: int, worker_resources: dict[str, float], resources: Resources, cpu_resource: bool
) -> int:
    """How many trials one worker runs at once: a task takes a thread, and the worker's
    declared resources must cover every trial's request."""
    n = int(nthreads) if cpu_resource else int(nthreads // max(1.0, float(resources.cpu)))
    for name, need in dask_resources(resources, cpu_resource).items():
        n = min(n, int(float(worker_resources.get(name, 0.0)) / need + _EPS))
    return max(0, n)


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    """A worker as the capacity count sees it."""

    address: str
    nthreads: int
    resources: dict[str, float]


def cluster_slots(workers: list[WorkerInfo], resources: Resources) -> tuple[int, bool]:
    """Trials the workers hold at once, and whether they declare a ``CPU`` resource."""
    cpu_resource = any("CPU" in w.resources for w in workers)
    total = sum(worker_slots(w.nthreads, w.resources, resources, cpu_resource) for w in workers)
    return total, cpu_resource


def scheduler_address(address: str) -> str:
    """``tcp://host:port`` from what a user may pass (``host:port``, ``dask://...``)."""
    address = address.strip()
    scheme, sep, rest = address.partition("://")
    if not sep:
        return f"tcp://{address}"
    if scheme.lower() == "dask":
        return f"tcp://{rest}"
    return address


def host_port(address: str) -> tuple[str, int]:
    """The host and port of a scheduler address."""
    rest = address.partition("://")[2] or address
    host, _, port = rest.rpartition(":")
    return host.strip("[]"), int(port or 0)


def fetch_workers(client: Any) -> list[WorkerInfo]:
    """The running workers the scheduler of ``client`` knows."""
    info = client.scheduler_info(n_workers=-1)
    out = []
    for address, w in info.get("workers", {}).items():
        if w.get("status", "running") != "running":
            continue
        res = {str(k): float(v) for k, v in (w.get("resources") or {}).items()}
        out.append(WorkerInfo(address, int(w.get("nthreads", 1)), res))
    return out


def planned_workers(
    n_workers: int,
    threads_per_worker: int,
    resources: dict[str, float],
    cluster_kwargs: dict[str, Any],
) -> list[WorkerInfo]:
    """The workers of the local cluster the executor will start (before it starts it)."""
    res = cluster_kwargs.get("resources")
    if res is None:
        res = {"CPU": float(threads_per_worker), **resources}
    n = int(cluster_kwargs.get("n_workers", n_workers))
    t = int(cluster_kwargs.get("threads_per_worker", threads_per_worker))
    return [WorkerInfo(f"planned-{i}", t, res) for i in range(n)]


def listen_host(scheduler: str) -> str:
    """The address of this machine that workers of the scheduler at ``scheduler`` reach."""
    if scheduler.startswith("inproc://"):
        return "127.0.0.1"
    host, port = host_port(scheduler)
    if host in ("localhost", "") or host.startswith("127.") or host == "::1":
        return "127.0.0.1"
    try:  # the interface the kernel would use to reach the scheduler (no packet sent)
        family, _, _, _, sockaddr = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.connect(sockaddr)
            return str(probe.getsockname()[0])
    except OSError:
        return socket.gethostbyname(socket.gethostname())
