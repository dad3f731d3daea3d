"""What a running trial sees: ``report()``, ``get_checkpoint()`` and friends.

The session lives in the worker (process, thread or remote task). It adds Ray Tune's
automatic fields to every result, persists checkpoints atomically, and hands the result to
a :class:`Channel` that carries it to the driver. The channel raises
:class:`~tunefleet.errors.StopTrial` when the driver has asked the trial to stop or pause.
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
import time
from typing import Any, Protocol

from tunefleet.checkpoint import Checkpoint, persist_checkpoint
from tunefleet.errors import ReportOutsideTrialError, StopTrial
from tunefleet.protocol import DecisionPoints, Resources, WaitRule

_PLAIN = (float, int, str, bool, type(None))


class Channel(Protocol):
    def send_result(self, session: Session, result: dict[str, Any], checkpoint: str | None) -> None:
        """Deliver one result; raise StopTrial if the driver asked the trial to stop.

        ``session.checkpoint_hash`` is the content hash of ``checkpoint`` (None for
        simulated markers); channels send it along."""


class Session:
    """Per-attempt state of a running trial."""

    __slots__ = (
        "trial_id",
        "attempt",
        "trial_dir",
        "restore_from",
        "iteration",
        "time_total",
        "last_time",
        "channel",
        "sync",
        "virtual",
        "virtual_start",
        "checkpoint_frequency",
        "checkpoint_at_end",
        "stop_criteria",
        "config",
        "checkpoint_hash",
        "storage_options",
        "wait_rule",
        "world_rank",
        "world_size",
        "local_rank",
        "trial_resources",
        "dir_made",
    )

    def __init__(
        self,
        trial_id: str,
        attempt: int,
        trial_dir: str,
        channel: Channel,
        config: dict[str, Any] | None = None,
        restore_from: str | None = None,
        start_iteration: int = 0,
        start_time_total: float = 0.0,
        sync: bool | DecisionPoints = False,
        virtual_start: float | None = None,
    ) -> None:
        self.trial_id = trial_id
        self.attempt = attempt
        self.trial_dir = trial_dir
        self.channel = channel
        self.config = config or {}
        self.restore_from = restore_from
        self.iteration = start_iteration
        self.time_total = start_time_total
        # ``sync`` is True (every report waits for the driver), False, or the scheduler's
        # decision points; ``self.sync`` then tells the channel whether *this* report waits.
        self.sync = sync is True
        self.wait_rule = (
            WaitRule(sync, start_iteration, start_time_total)
            if isinstance(sync, DecisionPoints)
            else None
        )
        # In the simulator a step costs what it reports as time_this_iter_s (default 1 s)
        # on a virtual clock, instead of what it takes.
        self.virtual = virtual_start is not None
        self.virtual_start = virtual_start or 0.0
        self.last_time = time.time()
        self.checkpoint_frequency = 0
        self.checkpoint_at_end = False
        self.stop_criteria: dict[str, float] | None = None
        self.checkpoint_hash: str | None = None  # of the checkpoint being sent
        self.storage_options: dict[str, Any] | None = None  # fsspec options (URL trial_dir)
        # Its place among the processes of a data-parallel trial (tunefleet.worker.rank sets
        # them); a trial that is not data-parallel is a world of one process.
        self.world_rank = 0
        self.world_size = 1
        self.local_rank = 0
        # The whole trial's request (all its processes), for get_trial_resources().
        self.trial_resources: Resources | None = None
        # False: the trial's (local) directory is made on the first get_trial_dir().
        self.dir_made = True

    def report(self, metrics: dict[str, Any], checkpoint: Checkpoint | str | None = None) -> None:
        self.iteration += 1
        result = {k: (v if type(v) in _PLAIN else _plain(v)) for k, v in metrics.items()}
        if self.virtual:
            step = result.get("time_this_iter_s")
            dt = float(step) if isinstance(step, (int, float)) and math.isfinite(step) else 1.0
            self.time_total += dt
            now = self.virtual_start + self.time_total
        else:
            now = time.time()
            dt = now - self.last_time
            self.last_time = now
            self.time_total += dt
        result["training_iteration"] = self.iteration
        result["time_total_s"] = self.time_total
        result["time_this_iter_s"] = dt
        result["trial_id"] = self.trial_id
        result["timestamp"] = now
        result["done"] = False
        path = None
        digest = None
        if checkpoint is not None:
            if self.virtual and (
                checkpoint is True or not isinstance(checkpoint, (str, Checkpoint))
            ):
                # Simulated trials checkpoint nothing real: a marker records that the trial
                # can be resumed from this iteration (it reads get_context().iteration).
                path = f"sim://{self.trial_id}/checkpoint_{self.iteration:06d}"
            else:
                source = checkpoint if isinstance(checkpoint, Checkpoint) else os.fspath(checkpoint)
                path, digest = persist_checkpoint(
                    source, self.trial_dir, self.iteration, self.storage_options
                )
        self.checkpoint_hash = digest
        rule = self.wait_rule
        if rule is not None:
            self.sync = rule.waits(result)
        self.channel.send_result(self, result, path)
        criteria = self.stop_criteria
        if criteria:
            for key, threshold in criteria.items():
                value = result.get(key)
                if value is not None and value >= threshold:
                    raise StopTrial(pause=False)

    def next_report_may_wait(self) -> bool:
        """Could the next report be a decision point? (The class API checkpoints before
        such a report, so that a pause there resumes from exactly that point.)"""
        rule = self.wait_rule
        if rule is None:
            return self.sync
        points = rule.points
        assert points is not None
        if points.attr != "training_iteration":
            return True  # the next value is not known in advance
        return self.iteration + 1 >= rule.next

    def get_checkpoint(self) -> Checkpoint | None:
        """The checkpoint to restore from. At a URL it is downloaded lazily, on first use
        (``as_directory()``, ``to_dict()``, ``os.fspath``)."""
        if not self.restore_from:
            return None
        return Checkpoint(self.restore_from, self.storage_options)

    # Ray Train's context names, so one function runs with and without data parallelism.
    def get_world_rank(self) -> int:
        return self.world_rank

    def get_world_size(self) -> int:
        return self.world_size

    def get_local_rank(self) -> int:
        return self.local_rank

    def get_local_world_size(self) -> int:
        return self.world_size  # every process of a trial runs on its slot's host

    def get_node_rank(self) -> int:
        return 0

    # Ray Tune's TuneContext names (train.get_context().get_trial_id() in Ray 2.7+ scripts).
    def get_trial_id(self) -> str:
        return self.trial_id

    get_trial_name = get_trial_id  # a trial's name is its id here

    def get_trial_dir(self) -> str:
        """The trial's directory (a path or URL), made first if it is local and not yet
        there (see ``run_attempt(eager_dir=...)``)."""
        if not self.dir_made:
            self.dir_made = True
            if "://" not in self.trial_dir:
                with contextlib.suppress(OSError):  # as in_working_dir: best effort
                    os.makedirs(self.trial_dir, exist_ok=True)
        return self.trial_dir

    def get_experiment_name(self) -> str:
        """The experiment's name: a trial's directory is ``<storage>/<name>/trials/<folder>``
        (a path or a URL)."""
        return os.path.basename(os.path.dirname(os.path.dirname(self.trial_dir.rstrip("/"))))

    def get_trial_resources(self) -> Any:
        """Ray's ``get_trial_resources()``: the trial's request as a
        ``PlacementGroupFactory``, one bundle per process (``{"CPU": c, "GPU": g, custom}``;
        a data-parallel trial has one per rank). It does not change while the trial runs."""
        from tunefleet.compat.placement import PlacementGroupFactory

        total = self.trial_resources
        if total is None:  # a session built by hand, outside any executor
            from tunefleet.errors import TuneError

            raise TuneError(
                "get_trial_resources(): this session was not started by a tunefleet "
                "executor, so it has no resource request"
            )
        n = max(1, self.world_size)
        bundle = {"CPU": total.cpu / n}
        if total.gpu:
            bundle["GPU"] = total.gpu / n
        bundle.update({k: v / n for k, v in total.custom.items()})
        return PlacementGroupFactory([dict(bundle) for _ in range(n)])


def _plain(value: Any) -> Any:
    """Make a metric JSON- and pickle-friendly (numpy scalars → Python numbers)."""
    item = getattr(value, "item", None)
    if item is not None:
        try:
            v = item()
            if type(v) in _PLAIN:
                return v
        except (TypeError, ValueError):
            pass
    if isinstance(value, (list, tuple)):
        return [_plain(v) if type(v) not in _PLAIN else v for v in value]
    if isinstance(value, dict):
        return {str(k): (_plain(v) if type(v) not in _PLAIN else v) for k, v in value.items()}
    return str(value)


_local = threading.local()


def set_session(session: Session | None) -> None:
    _local.session = session


def current_session() -> Session | None:
    return getattr(_local, "session", None)


def _require() -> Session:
    s = getattr(_local, "session", None)
    if s is None:
        raise ReportOutsideTrialError(
            "report() was called outside of a trial: call it from inside the trainable "
            "passed to tunefleet.run() / Tuner, not at module level or in the driver"
        )
    return s


def report(metrics: dict[str, Any] | None = None, *, checkpoint: Any = None, **kwargs: Any) -> None:
    """Report metrics (and optionally a checkpoint) for the current trial.

    Both Ray Tune spellings work: ``report(score=1.0)`` and
    ``report({"score": 1.0}, checkpoint=Checkpoint.from_directory(d))``.
    """
    s = _require()
    if metrics is None:
        metrics = kwargs
    elif kwargs:
        if not isinstance(metrics, dict):
            raise TypeError(f"report(metrics=...) must be a dict, got {type(metrics).__name__}")
        metrics = {**metrics, **kwargs}
    elif not isinstance(metrics, dict):
        raise TypeError(f"report(metrics=...) must be a dict, got {type(metrics).__name__}")
    s.report(metrics, checkpoint)


def get_checkpoint() -> Checkpoint | None:
    """The checkpoint this attempt should restore from (None on a fresh start)."""
    return _require().get_checkpoint()


def get_trial_id() -> str:
    return _require().trial_id


def get_trial_dir() -> str:
    return _require().get_trial_dir()


def get_context() -> Session:
    """Ray Tune's ``get_context()``: the session, with trial_id, trial_dir, attempt."""
    return _require()
