"""Ray Tune 1.x's function API: ``fn(config, checkpoint_dir=None)``,
``with tune.checkpoint_dir(step=...) as d:``, ``tune.report(**metrics, done=True)`` and a
trainable that *returns* its final metrics.

In Ray 1.x a checkpoint written inside ``tune.checkpoint_dir`` belongs to the next
``tune.report``; here the directory waits in this thread until that report carries it.
``done=True`` ends the trial after its report, as Ray does. A returned dict is recorded as
the trial's last result (Ray's behaviour; silently dropping it left ``get_best_trial``
without a result).
"""

from __future__ import annotations

import contextlib
import inspect
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from tunefleet.checkpoint import Checkpoint
from tunefleet.errors import StopTrial
from tunefleet.worker import session as _session

_local = threading.local()


@contextlib.contextmanager
def checkpoint_dir(step: int | None = None) -> Iterator[str]:
    """A fresh directory to write a checkpoint into; the next ``report`` carries it."""
    _session._require()
    path = tempfile.mkdtemp(prefix=f"tunefleet-ckpt-{step if step is not None else ''}-")
    yield path
    old = getattr(_local, "pending", None)
    if old is not None:  # two checkpoints before one report: the newer one wins
        shutil.rmtree(old, ignore_errors=True)
    _local.pending = path


def report(metrics: dict[str, Any] | None = None, *, checkpoint: Any = None, **kwargs: Any) -> None:
    """Report metrics for the current trial: ``report({"loss": l}, checkpoint=c)``,
    ``report(loss=l)`` or Ray 1.x's ``report(loss=l, done=True)`` (the trial then ends)."""
    done = bool(kwargs.pop("done", False))
    if isinstance(metrics, dict) and "done" in metrics:
        metrics = dict(metrics)
        done = bool(metrics.pop("done")) or done
    pending = getattr(_local, "pending", None)
    if checkpoint is None and pending is not None:
        checkpoint = Checkpoint(pending)
    try:
        _session.report(metrics, checkpoint=checkpoint, **kwargs)
    finally:
        if pending is not None and checkpoint is not None and os.fspath(checkpoint) == pending:
            _local.pending = None
            shutil.rmtree(pending, ignore_errors=True)
    if done:
        raise StopTrial(False)


def is_session_enabled() -> bool:
    return _session.current_session() is not None


def get_trial_name() -> str:
    return _session.get_trial_id()


@dataclass
class ResumeConfig:
    """Ray's ``Tuner.restore(..., resume_config=)``: which trials to run again."""

    unfinished: str = "resume"
    errored: str = "skip"
    finished: str = "skip"


def takes_checkpoint_dir(fn: Any) -> bool:
    """True for Ray 1.x's ``fn(config, checkpoint_dir=None)`` signature."""
    try:
        return "checkpoint_dir" in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


class FunctionRunner:
    """Runs a plain function trainable with Ray's conventions around the call: the
    ``checkpoint_dir`` argument (the restored checkpoint's local directory, else None) and
    a returned metrics dict reported as the last result."""

    def __init__(self, fn: Any) -> None:
        self.fn = fn
        self.legacy_dir = takes_checkpoint_dir(fn)
        self.__name__ = getattr(fn, "__name__", type(fn).__name__)
        self.__qualname__ = getattr(fn, "__qualname__", self.__name__)
        self.__module__ = getattr(fn, "__module__", __name__)
        self.__wrapped__ = fn
        self._tunefleet_resources = getattr(fn, "_tunefleet_resources", None)

    def __getstate__(self) -> dict[str, Any]:
        return {"fn": self.fn}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["fn"])  # type: ignore[misc]

    def __call__(self, config: dict[str, Any]) -> Any:
        _local.pending = None
        if self.legacy_dir:
            restore = _session.get_checkpoint() if _session.current_session() else None
            if restore is not None:
                with restore.as_directory() as local:
                    ret = self.fn(config, checkpoint_dir=local)
            else:
                ret = self.fn(config, checkpoint_dir=None)
        else:
            ret = self.fn(config)
        if isinstance(ret, dict) and _session.current_session() is not None:
            report(ret)
            return None
        pending = getattr(_local, "pending", None)
        if pending is not None:  # no report carried it: nothing to attach it to
            _local.pending = None
            shutil.rmtree(pending, ignore_errors=True)
        return ret
