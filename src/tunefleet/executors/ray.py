"""The Ray engine: trials run in reusable Ray actors, one actor per slot.

``engine="ray"`` starts a private local Ray (``ray.init`` with its own temporary directory and
no dashboard) and shuts it down in :meth:`RayExecutor.close`; ``engine="ray://host:10001"``
(Ray Client) or ``RayExecutor(address="host:6379")`` connects to a cluster that already runs.
When the caller has already called ``ray.init``, that Ray is used and left running.

Shipping the trainable
----------------------
The trainable is ``ray.put`` once. Every actor gets the reference (inside a list, so Ray
does not resolve it before the constructor runs) and deserialises it once in its
constructor, where a failure is caught and reported as the error of each trial it is given
(as the local engine does). Objects bound with ``tunefleet.with_parameters`` ride inside the
trainable, so they are in the object store once per node and unpickled once per actor,
never once per trial; numpy arrays among them are read zero-copy from shared memory.
Actors run in worker processes that the raylet starts from Ray's own entry point, never
from the driver's script, so a script without an ``if __name__ == "__main__":`` guard, or a
notebook, needs nothing more: what the trainable uses of it travels inside the payload.

The channel
-----------
An actor (a threaded actor, ``max_concurrency=4``) runs each trial in its own persistent
thread. What the trial produces — reports (already encoded as JSON text, so the driver only
parses them), then the trial's outcome — is appended to an outbox in order. The driver keeps
exactly one ``poll`` call outstanding per actor: a long poll that returns at once when the
outbox has something, and otherwise after ``poll_wait_s``. The driver's :meth:`poll` is one
``ray.wait`` over those calls; a reply carries everything the actor produced since the
previous one, so reports that arrive faster than a round trip are batched by themselves and
the cost per report falls as the rate rises. ``stop`` and ``pause`` go the other way as
``control`` calls (fire and forget); the trial thread sees them at its next report and
unwinds through :class:`~tunefleet.errors.StopTrial`. When a reply ends with a synchronous
report, the trial is blocked until the engine answers, so the driver holds back that actor's
next poll and sends the answer as an argument of it: one actor call per round trip instead
of two (a held actor gets a plain poll again after ``hold_s`` if no answer came).

Because an idle actor also has a poll outstanding, the driver learns of an actor's death
(its process killed, its node lost) whether or not it was running a trial.

Failures
--------
A poll that raises a Ray error (``RayActorError``: ``ActorDiedError``, or
``ActorUnavailableError`` when the connection to the actor broke) means the actor is lost:
its trial gets ``Failed(worker_lost=True)``, the actor is killed for good (so a merely
unreachable one cannot carry on in the background) and a replacement with the same
resources is created at once. The replacement counts towards :meth:`capacity` once Ray has
placed it and it has loaded the trainable, i.e. when resources allow. The engine relaunches
the trial from its last checkpoint, counted against ``max_failures``.

Why ~580 lines: one class is the driver's side of the engine (Ray's start or attach, actors,
the one outstanding poll per actor, control calls, failures), which all act on the same
actors; the actor itself is worker/ray_actor.py.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import socket
import tempfile
import time
import warnings
from json import loads as _loads
from typing import Any

from tunefleet.errors import TuneError, TuneValueError
from tunefleet.executors.base import Executor, Start, addressee
from tunefleet.protocol import (
    Event,
    Failed,
    Finished,
    Launch,
    Reported,
    Resources,
    Started,
    WaitRule,
)
from tunefleet.worker.ray_actor import _DONE, _FAIL, _READY, _REPORT, _TrialActor

_EPS = 1e-9
# Options that the executor sets itself and actor_options may not override.
_OWN_OPTIONS = ("num_cpus", "num_gpus", "resources", "max_concurrency", "max_restarts")


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise ImportError(
            "the Ray engine needs Ray, which is not installed: pip install tunefleet[ray]"
        ) from exc
    return ray


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _short_tempdir() -> str:
    """A private directory for a local Ray; kept short because Ray puts unix sockets in it
    (whose paths are limited to about 107 bytes)."""
    base = tempfile.gettempdir()
    if len(base) > 40 and os.path.isdir("/tmp"):  # noqa: S108 - only as a shorter base
        base = "/tmp"  # noqa: S108
    return tempfile.mkdtemp(prefix="tfray-", dir=base)


# ============================================================================ driver side
class _Actor:
    """Driver-side handle of one trial actor."""

    __slots__ = (
        "slot",
        "handle",
        "ref",
        "ready",
        "name",
        "node_id",
        "pid",
        "seq",
        "trial_id",
        "attempt",
        "stopping",
        "waits",
        "last_waits",
        "held",
    )

    def __init__(self, slot: int, handle: Any) -> None:
        self.slot = slot
        self.handle = handle
        self.ref: Any = None  # the outstanding poll call
        self.ready = False  # placed and the trainable loaded
        self.name = f"ray-{slot}"
        self.node_id = ""
        self.pid = 0
        self.seq = -1
        self.trial_id = ""  # empty while idle
        self.attempt = 0
        self.stopping = False
        # Which reports of the running attempt wait for the engine's answer, and whether
        # the last one received does (the same rule the trial's session applies).
        self.waits = WaitRule(False)
        self.last_waits = False
        self.held = 0.0  # > 0: no poll outstanding since then, to carry the next answer


class RayExecutor(Executor):
    """Runs trials in reusable Ray actors.

    Parameters
    ----------
    address:
        A running cluster: ``"host:6379"`` (its GCS), ``"ray://host:10001"`` (Ray Client) or
        ``"auto"``. ``None``: use the Ray this process already initialised, else the cluster
        in ``RAY_ADDRESS``, else start a private local Ray (shut down again by ``close()``).
    num_cpus, num_gpus:
        Size of the local Ray that is started (default: what Ray detects). Not allowed with
        ``address``; ignored, with a warning, when Ray was already initialised.
    ray_init_kwargs:
        More arguments for ``ray.init`` (``runtime_env``, ``log_to_driver``, ...).
    actor_options:
        More options for the trial actors (``runtime_env``, ``scheduling_strategy``, ...),
        except the resources, which come from ``resources_per_trial``.

    A trial's resources become the actor's: ``cpu`` → ``num_cpus``, ``gpu`` → ``num_gpus``
    (Ray sets ``CUDA_VISIBLE_DEVICES``), custom ones → ``resources``. There is one actor per
    slot: as many as the cluster's nodes can hold at once (capped by ``max_concurrent``).
    ``Started`` is emitted when a launch is handed to an idle actor. After ``stop()`` (or
    ``reply(id, False)``) no more ``Reported`` events of that attempt come out and its
    ``Finished`` has ``stopped=True``. Not thread-safe: one engine thread drives it.
    """

    name = "ray"
    #: Longest an actor's poll call waits for something to return (it returns at once when
    #: a trial reports or ends).
    poll_wait_s = 10.0
    #: How long ``start()`` waits for the actors to be placed and to load the trainable.
    start_timeout_s = 120.0
    #: Longest an actor whose trial waits for an answer goes without a poll outstanding.
    hold_s = 0.5

    def __init__(
        self,
        address: str | None = None,
        num_cpus: float | None = None,
        num_gpus: float | None = None,
        ray_init_kwargs: dict[str, Any] | None = None,
        actor_options: dict[str, Any] | None = None,
    ) -> None:
        if address is not None and (not isinstance(address, str) or not address.strip()):
            raise TuneValueError(f"address must be a non-empty string or None, got {address!r}")
        for label, value in (("num_cpus", num_cpus), ("num_gpus", num_gpus)):
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0
            ):
                raise TuneValueError(f"{label} must be a number >= 0 or None, got {value!r}")
        if address is not None and (num_cpus is not None or num_gpus is not None):
            raise TuneValueError(
                "num_cpus/num_gpus size a local Ray; with address (an existing cluster) "
                "leave them out"
            )
        if ray_init_kwargs is not None and not isinstance(ray_init_kwargs, dict):
            raise TuneValueError("ray_init_kwargs must be a dict of ray.init arguments")
        if actor_options is not None:
            if not isinstance(actor_options, dict):
                raise TuneValueError("actor_options must be a dict of actor options")
            taken = sorted(set(actor_options) & set(_OWN_OPTIONS))
            if taken:
                raise TuneValueError(
                    f"actor_options: {taken} are set by tunefleet (resources come from "
                    "resources_per_trial)"
                )
        self.address = address.strip() if address is not None else None
        self.num_cpus = num_cpus
        self.num_gpus = num_gpus
        self.ray_init_kwargs = dict(ray_init_kwargs or {})
        self.actor_options = dict(actor_options or {})
        self._ray: Any = None
        self._owned = False  # we called ray.init, so close() calls ray.shutdown
        self._temp_dir: str | None = None
        self._cls: Any = None
        self._payload: Any = None
        self._options: dict[str, Any] = {}
        self._actors: list[_Actor] = []
        self._idle: list[_Actor] = []
        self._running: dict[str, _Actor] = {}
        self._inflight: dict[Any, _Actor] = {}
        self._held: list[_Actor] = []
        self._pending: list[Event] = []
        self._seq = 0
        self._idle_deaths = 0
        self._started = False
        self._closed = False
        self._kill_grace_s = 0.0  # the longest kill_grace_s of a launch (close() waits it)
        self.experiment_dir = ""
        #: Poll replies received and reports they carried (for measurements and tests).
        self.poll_replies = 0
        self.reports_received = 0

    # ------------------------------------------------------------------ connection
    def _connect(self) -> Any:
        if self._ray is not None:
            return self._ray
        if self._closed:
            raise RuntimeError("RayExecutor was closed")
        ray = _import_ray()
        if ray.is_initialized():
            if self.num_cpus is not None or self.num_gpus is not None:
                warnings.warn(
                    "RayExecutor: Ray is already initialised; num_cpus/num_gpus are ignored",
                    stacklevel=3,
                )
            self._ray = ray
            return ray
        kwargs = dict(self.ray_init_kwargs)
        address = self.address or os.environ.get("RAY_ADDRESS") or None
        if address is not None:
            # The cluster's own RAY_AUTH_MODE applies (with an explicit address, Ray does not
            # switch token authentication on by itself).
            ray.init(address=address, **kwargs)
        else:
            # A private Ray for this process: without this, a token file in ~/.ray turns
            # token authentication on. The user's explicit choice (variable already set) wins.
            os.environ.setdefault("RAY_AUTH_MODE", "disabled")
            if self.num_cpus is not None:
                kwargs.setdefault("num_cpus", self.num_cpus)
            if self.num_gpus is not None:
                kwargs.setdefault("num_gpus", self.num_gpus)
            kwargs.setdefault("include_dashboard", False)
            # Defaults are fixed ports that collide with any other Ray on the machine.
            kwargs.setdefault("dashboard_port", _free_port())
            kwargs.setdefault("_metrics_export_port", _free_port())
            if "_temp_dir" not in kwargs:
                self._temp_dir = _short_tempdir()
                kwargs["_temp_dir"] = self._temp_dir
            ray.init(**kwargs)
        self._owned = True
        self._ray = ray
        return ray

    def _nodes(self) -> list[dict[str, float]]:
        """Total resources of each live node."""
        ray = self._connect()
        try:
            return [dict(n["Resources"]) for n in ray.nodes() if n.get("Alive")]
        except Exception:  # e.g. an older Ray Client: one pool of everything
            return [dict(ray.cluster_resources())]

    @staticmethod
    def _request(resources: Resources) -> dict[str, float]:
        req = {"CPU": resources.cpu, "GPU": resources.gpu, **resources.custom}
        return {k: float(v) for k, v in req.items() if v > 0}

    @staticmethod
    def _fits(node: dict[str, float], req: dict[str, float]) -> int:
        """How many trials needing ``req`` a node with ``node`` can hold at once."""
        n = math.inf
        for key, amount in req.items():
            n = min(n, math.floor(node.get(key, 0.0) / amount + _EPS))
        return int(n) if n != math.inf else 0

    def validate_resources(self, resources: Resources) -> None:
        if not resources.cpu >= 0:
            raise TuneValueError(f"resources_per_trial: cpu must be >= 0, got {resources.cpu!r}")
        if not resources.gpu >= 0:
            raise TuneValueError(f"resources_per_trial: gpu must be >= 0, got {resources.gpu!r}")
        if resources.gpu > 1 and abs(resources.gpu - round(resources.gpu)) > _EPS:
            raise TuneValueError(
                f"resources_per_trial: gpu={resources.gpu:g}; above 1 it must be a whole number"
            )
        req = self._request(resources)
        if not req:
            raise TuneValueError("resources_per_trial: a trial must request some resource")
        nodes = self._nodes()
        if not any(self._fits(n, req) for n in nodes):
            have = [
                {k: v for k, v in n.items() if not k.startswith("node:") and "memory" not in k}
                for n in nodes
            ]
            raise TuneValueError(
                f"resources_per_trial: no node of the Ray cluster has {req} (its nodes have {have})"
            )

    def _slots(self, resources: Resources, max_concurrent: int | None) -> int:
        req = self._request(resources)
        n = sum(self._fits(node, req) for node in self._nodes())
        if max_concurrent is not None:
            n = min(n, max_concurrent)
        return max(1, n)

    # ------------------------------------------------------------------ lifecycle
    def open(self, start: Start) -> None:
        trainable, resources, max_concurrent, experiment_dir = start
        ray = self._connect()
        self.validate_resources(resources)
        self.experiment_dir = experiment_dir
        n = self._slots(resources, max_concurrent)
        try:
            self._payload = ray.put(trainable)  # once; every actor gets the reference
        except Exception as exc:
            raise TuneValueError(
                f"trainable: Ray could not serialise it into its object store ({exc!r})"
            ) from exc
        self._cls = ray.remote(_TrialActor)
        self._options = {
            **self.actor_options,
            "num_cpus": resources.cpu,
            "num_gpus": resources.gpu,
            "max_concurrency": 4,  # poll, control, run: never blocked by the trial
            "max_restarts": 0,
        }
        if resources.custom:
            self._options["resources"] = dict(resources.custom)
        self._started = True
        for slot in range(n):
            self._actors.append(self._spawn(slot))
        deadline = time.monotonic() + self.start_timeout_s
        while any(not a.ready for a in self._actors) and time.monotonic() < deadline:
            self._pending.extend(self._wait(0.1))
        if not self._idle:
            self.close()
            raise TuneError(
                f"no Ray actor with {self._request(resources)} could be started within "
                f"{self.start_timeout_s:g} s: the cluster's resources are taken or the "
                "actors cannot be placed (see the Ray logs)"
            )

    def _spawn(self, slot: int) -> _Actor:
        handle = self._cls.options(**self._options).remote([self._payload])
        a = _Actor(slot, handle)
        self._ask(a)
        return a

    def _ask(self, a: _Actor, control: tuple[int, bool, bool, bool] | None = None) -> None:
        a.held = 0.0
        ref = a.handle.poll.remote(self.poll_wait_s, control)
        a.ref = ref
        self._inflight[ref] = a

    def capacity(self) -> int:
        return len(self._idle)

    def total_slots(self) -> int:
        return len(self._actors)

    def actor_pids(self) -> list[int]:
        """Process ids of the actors that are up (for tests and diagnostics)."""
        return [a.pid for a in self._actors if a.ready]

    def submit(self, launch: Launch) -> None:
        self.check_submit(launch, self._running)
        tid = launch.trial_id
        if not self._idle:
            raise RuntimeError("no free actor: check capacity() before submit()")
        args = launch.run_fields()
        self._kill_grace_s = max(self._kill_grace_s, launch.kill_grace_s)  # for close()
        a = self._idle[-1]
        self._seq += 1
        try:
            a.handle.run.remote(self._seq, args)
        except Exception as exc:  # the config could not be serialised
            raise TuneValueError(
                f"config of trial {tid} cannot be sent to a Ray actor: {exc!r}"
            ) from exc
        self._idle.pop()
        a.seq = self._seq
        a.trial_id = tid
        a.attempt = launch.attempt
        a.stopping = False
        a.waits = WaitRule(launch.sync_reports, launch.start_iteration, launch.start_time_total)
        a.last_waits = False
        self._running[tid] = a
        self._pending.append(Started(tid, launch.attempt, a.name, time.time()))

    def reply(self, trial_id: str, proceed: bool) -> None:
        self._control(trial_id, False, bool(proceed), False)

    def stop(self, trial_id: str, pause: bool = False) -> None:
        self._control(trial_id, True, False, bool(pause))

    def _control(self, trial_id: str, is_stop: bool, proceed: bool, pause: bool) -> None:
        a = addressee(self._running, trial_id, ending=is_stop or not proceed)
        if a is None:
            return
        control = (a.seq, is_stop, proceed, pause)
        if a.held:  # it waits for this answer and has no poll outstanding: send both at once
            self._ask(a, control)
        else:
            a.handle.control.remote(*control)

    # ------------------------------------------------------------------ events
    def poll(self, timeout: float) -> list[Event]:
        events = self._pending
        self._pending = []
        if not self._started or self._closed:
            return events
        events.extend(self._wait(0.0 if events else max(0.0, timeout)))
        return events

    def _wait(self, timeout: float) -> list[Event]:
        events: list[Event] = []
        if self._held:
            self._release_held(time.monotonic())
            timeout = min(timeout, self.hold_s)
        refs = list(self._inflight)
        if not refs:
            time.sleep(timeout)
            return events
        ray = self._ray
        ready, _ = ray.wait(refs, num_returns=1, timeout=timeout)
        if ready and len(refs) > 1:
            ready, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
        for ref in ready:
            a = self._inflight.pop(ref)
            try:
                items = ray.get(ref)
            except Exception as exc:  # RayActorError and the like: the actor is gone
                self._lost(a, exc, events)
                continue
            self.poll_replies += 1
            self._take(a, items, events)
            if self._closed:
                continue
            last = items[-1] if items else None
            if (
                a.last_waits
                and last is not None
                and last[1] == _REPORT
                and last[0] == a.seq
                and a.trial_id
                and not a.stopping
            ):
                # The trial now waits for the engine's answer, which the next poll carries.
                a.held = time.monotonic()
                self._held.append(a)
            else:
                self._ask(a)
        return events

    def _release_held(self, now: float) -> None:
        """Actors whose answer was not sent within ``hold_s`` get a plain poll again, so
        that their death is still noticed."""
        keep = []
        for a in self._held:
            if not a.held or a.ref in self._inflight:
                continue
            if now - a.held >= self.hold_s:
                self._ask(a)
            else:
                keep.append(a)
        self._held = keep

    def _take(self, a: _Actor, items: list[tuple[Any, ...]], events: list[Event]) -> None:
        for seq, op, x, y, z in items:
            if op == _REPORT:
                if seq == a.seq and a.trial_id and not a.stopping:
                    self.reports_received += 1
                    result = _loads(x)
                    a.last_waits = a.waits.waits(result)
                    events.append(Reported(a.trial_id, a.attempt, result, y, x, z))
            elif op in (_DONE, _FAIL):
                if seq != a.seq or not a.trial_id:
                    continue
                if op == _DONE:
                    events.append(
                        Finished(a.trial_id, a.attempt, time.time(), bool(x) or a.stopping)
                    )
                else:
                    events.append(Failed(a.trial_id, a.attempt, x, y, time.time(), False))
                self._running.pop(a.trial_id, None)
                a.trial_id = ""
                a.stopping = False
                self._idle.append(a)
                self._idle_deaths = 0
            elif op == _READY and not a.ready:
                a.ready = True
                a.pid, a.node_id, ip = x
                a.name = f"ray-{a.slot}@{ip}:{a.pid}"
                self._idle.append(a)

    def _lost(self, a: _Actor, exc: BaseException, events: list[Event]) -> None:
        """An actor is gone (or unreachable): fail its trial as lost and replace it."""
        a.held = 0.0
        with contextlib.suppress(Exception):  # make sure it cannot carry on unseen
            self._ray.kill(a.handle, no_restart=True)
        with contextlib.suppress(ValueError):
            self._idle.remove(a)
        if a.trial_id:
            tid = a.trial_id
            self._running.pop(tid, None)
            where = f" on node {a.node_id}" if a.node_id else ""
            msg = (
                f"WorkerLost: Ray actor {a.name}{where} was lost while running trial {tid}: "
                f"{type(exc).__name__}: {exc}"
            )
            events.append(Failed(tid, a.attempt, msg, msg, time.time(), True))
            a.trial_id = ""
        else:
            self._idle_deaths += 1
        if self._closed:
            return
        if self._idle_deaths > 2 * len(self._actors) + 2:
            raise TuneError(
                f"Ray actors keep dying before running a trial (last: {type(exc).__name__}: "
                f"{exc}); check that tunefleet and the trainable's modules can be imported on "
                "every node"
            )
        self._actors[self._actors.index(a)] = self._spawn(a.slot)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        ray = self._ray
        if ray is not None and self._started:
            # A busy actor ends its trial's processes first (SIGTERM, grace, SIGKILL):
            # once it is killed they would be orphans out of reach (worker/reaper.py).
            reaping = []
            for a in self._actors:
                if a.trial_id:
                    with contextlib.suppress(Exception):
                        reaping.append(a.handle.reap.remote())
            if reaping:
                with contextlib.suppress(Exception):
                    ray.wait(reaping, num_returns=len(reaping), timeout=self._kill_grace_s + 5)
            for a in self._actors:
                with contextlib.suppress(Exception):
                    ray.kill(a.handle, no_restart=True)
        self._actors.clear()
        self._idle.clear()
        self._running.clear()
        self._inflight.clear()
        self._held.clear()
        self._pending = []
        self._payload = None
        if ray is not None and self._owned:
            with contextlib.suppress(Exception):
                ray.shutdown()
        if self._temp_dir is not None:
            shutil.rmtree(self._temp_dir, ignore_errors=True)
            self._temp_dir = None
