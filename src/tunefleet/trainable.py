"""Trainables: the class API (Ray Tune's ``Trainable``), ``with_parameters`` and
``with_resources``, and the validation that runs before any compute is spent.

Executors only ever run a plain function ``fn(config)``; :func:`as_function` turns a
``Trainable`` subclass into one, so every engine supports both APIs for free.
"""

from __future__ import annotations

import inspect
import os
import shutil
import tempfile
from collections.abc import Callable
from typing import Any

from tunefleet.checkpoint import Checkpoint
from tunefleet.errors import StopTrial, TuneTypeError
from tunefleet.worker import session as _session
from tunefleet.worker.generator import is_generator_function


class Trainable:
    """Class API: override ``setup``, ``step`` and, to support pausing/PBT, the checkpoint
    methods. ``step`` returns a dict of metrics; include ``"done": True`` to finish.

    ``reset_config`` returning True lets a worker reuse the object for the next trial
    instead of constructing a new one (Ray Tune's ``reuse_actors``).
    """

    def __init__(self, config: dict[str, Any] | None = None, **kwargs: Any) -> None:
        self.config = config or {}
        self._iteration = 0
        self.setup(self.config, **kwargs)

    # -- to override -----------------------------------------------------------------
    def setup(self, config: dict[str, Any], **kwargs: Any) -> None:
        """Build the model, load data (runs once per trial, or once per worker with reuse)."""

    def step(self) -> dict[str, Any]:
        raise NotImplementedError(f"{type(self).__name__}.step() must be implemented")

    def save_checkpoint(self, checkpoint_dir: str) -> dict[str, Any] | None:
        """Write state into ``checkpoint_dir`` (or return a small dict to be pickled there)."""
        return None

    def load_checkpoint(self, checkpoint: dict[str, Any] | str) -> None:
        """Restore from a directory path (or the dict returned by save_checkpoint)."""

    def reset_config(self, new_config: dict[str, Any]) -> bool:
        """Adopt a new config in place; return True if supported."""
        return False

    def cleanup(self) -> None:
        """Release resources when the trial ends."""

    # -- read-only helpers (Ray Tune names) --------------------------------------------
    @property
    def iteration(self) -> int:
        return self._iteration

    @property
    def training_iteration(self) -> int:
        return self._iteration

    @property
    def trial_id(self) -> str:
        s = _session.current_session()
        return s.trial_id if s else ""

    @property
    def logdir(self) -> str:
        s = _session.current_session()
        return s.get_trial_dir() if s else ""

    @property
    def trial_name(self) -> str:
        return self.trial_id  # a trial's name is its id here

    @property
    def trial_resources(self) -> Any:
        """The trial's request as a ``PlacementGroupFactory`` (one bundle per process);
        None outside a trial, as in Ray."""
        s = _session.current_session()
        return s.get_trial_resources() if s else None

    @classmethod
    def default_resource_request(cls, config: dict[str, Any]) -> Any:
        return None


def _overrides(cls: type, name: str) -> bool:
    return getattr(cls, name) is not getattr(Trainable, name)


def is_trainable_class(obj: Any) -> bool:
    return inspect.isclass(obj) and (
        issubclass(obj, Trainable) or (hasattr(obj, "step") and hasattr(obj, "setup"))
    )


class _ClassRunner:
    """Runs a Trainable subclass as a function trainable inside a worker.

    Keeps the last instance so that, when the class supports ``reset_config``, the next
    trial on the same worker reuses it (the expensive setup is paid once per worker).
    """

    def __init__(self, cls: type, kwargs: dict[str, Any] | None = None) -> None:
        self.cls = cls
        self.kwargs = kwargs or {}
        self._cached: Any = None
        self.__name__ = cls.__name__
        self.__qualname__ = getattr(cls, "__qualname__", cls.__name__)
        self.__module__ = cls.__module__

    def __getstate__(self) -> dict[str, Any]:
        return {"cls": self.cls, "kwargs": self.kwargs}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["cls"], state["kwargs"])  # type: ignore[misc]

    def _instance(self, config: dict[str, Any]) -> Any:
        obj = self._cached
        self._cached = None
        if obj is not None and _overrides(self.cls, "reset_config"):
            obj._iteration = 0
            if obj.reset_config(config):
                obj.config = config
                return obj
        if obj is not None:
            obj.cleanup()
        return self.cls(config, **self.kwargs)

    def __call__(self, config: dict[str, Any]) -> None:
        sess = _session.current_session()
        obj = self._instance(config)
        freq = sess.checkpoint_frequency if sess else 0
        at_end = sess.checkpoint_at_end if sess else False
        # A scheduler that pauses or exploits needs a checkpoint at the paused result.
        saves = sess is not None and _overrides(self.cls, "save_checkpoint")
        restore = sess.get_checkpoint() if sess else None
        if restore is not None:
            # A checkpoint at a URL (s3://...) is downloaded to a local directory first.
            with restore.as_directory() as local:
                obj.load_checkpoint(_load_arg(local))
        obj._iteration = sess.iteration if sess else 0
        finished_normally = False
        try:
            while True:
                result = obj.step()
                if not isinstance(result, dict):
                    raise TypeError(
                        f"{self.cls.__name__}.step() must return a dict of metrics, "
                        f"got {type(result).__name__}"
                    )
                obj._iteration += 1
                done = bool(result.pop("done", False))
                always = saves and sess is not None and sess.next_report_may_wait()
                want_ckpt = always or (freq > 0 and obj._iteration % freq == 0) or (done and at_end)
                ckpt_dir = _save(obj) if want_ckpt else None
                try:
                    _session.report(result, checkpoint=Checkpoint(ckpt_dir) if ckpt_dir else None)
                finally:
                    if ckpt_dir:
                        shutil.rmtree(ckpt_dir, ignore_errors=True)
                if done:
                    break
            finished_normally = True
        except StopTrial:
            finished_normally = True
            raise
        finally:
            if finished_normally:
                self._cached = obj
            else:
                obj.cleanup()


def _save(obj: Any) -> str | None:
    d = tempfile.mkdtemp(prefix="tunefleet-step-")
    out = obj.save_checkpoint(d)
    if isinstance(out, dict):
        Checkpoint.from_dict(out).to_directory(d)
    elif isinstance(out, str) and os.path.abspath(out) != os.path.abspath(d):
        shutil.copytree(out, d, dirs_exist_ok=True)
    return d


def _load_arg(path: str) -> Any:
    if os.path.exists(os.path.join(path, "data.pkl")) and len(os.listdir(path)) == 1:
        return Checkpoint(path).to_dict()
    return path


# ------------------------------------------------------------------------------ wrappers
class _WithParameters:
    """``fn(config, **params)`` with the large objects attached once.

    The objects travel inside this wrapper, which executors ship once per worker (and the
    cluster engines put once per node into their object stores), never once per trial.
    """

    def __init__(self, trainable: Any, params: dict[str, Any]) -> None:
        self.trainable = trainable
        self.params = params
        self.__name__ = getattr(trainable, "__name__", type(trainable).__name__)
        self.__qualname__ = getattr(trainable, "__qualname__", self.__name__)
        self.__module__ = getattr(trainable, "__module__", __name__)
        self.__wrapped__ = trainable
        self._tunefleet_resources = getattr(trainable, "_tunefleet_resources", None)

    def __call__(self, config: dict[str, Any]) -> Any:
        return self.trainable(config, **self.params)


def with_parameters(trainable: Any, **kwargs: Any) -> Any:
    """Bind large objects (datasets, models) to a trainable; shipped once per worker."""
    if is_trainable_class(trainable):
        return _ClassRunner(trainable, kwargs)
    if not callable(trainable):
        raise TuneTypeError(
            f"with_parameters: trainable must be a function or Trainable class, "
            f"got {type(trainable).__name__}"
        )
    return _WithParameters(trainable, kwargs)


def with_resources(trainable: Any, resources: dict[str, float] | Callable[..., Any]) -> Any:
    """Attach a per-trial resource request (``{"cpu": 2, "gpu": 1}``) to a trainable."""
    if callable(resources) and not isinstance(resources, dict):
        resources = resources({})
    if hasattr(resources, "required_resources"):
        resources = resources.required_resources  # a PlacementGroupFactory-like object
    if is_trainable_class(trainable):
        trainable = _ClassRunner(trainable)
    elif not callable(trainable):
        raise TuneTypeError(
            f"with_resources: trainable must be a function or Trainable class, "
            f"got {type(trainable).__name__}"
        )
    try:
        trainable._tunefleet_resources = dict(resources)  # type: ignore[arg-type]
    except (AttributeError, TypeError):
        wrapped = _WithParameters(trainable, {})
        wrapped._tunefleet_resources = dict(resources)  # type: ignore[arg-type]
        return wrapped
    return trainable


def as_function(trainable: Any, param: str = "trainable") -> Callable[[dict[str, Any]], Any]:
    """Validate a user trainable and return the plain ``fn(config)`` executors run.

    Raises TuneTypeError naming ``param`` for a non-callable or a function whose signature
    cannot take a single ``config`` argument.
    """
    if isinstance(trainable, _ClassRunner):
        return trainable
    if is_trainable_class(trainable):
        return _ClassRunner(trainable)
    if not callable(trainable):
        raise TuneTypeError(
            f"{param}: expected a function taking a config dict or a tunefleet.Trainable "
            f"subclass, got {type(trainable).__name__} ({trainable!r:.60})"
        )
    target = trainable.trainable if isinstance(trainable, _WithParameters) else trainable
    try:
        sig = inspect.signature(target)
    except (TypeError, ValueError):
        return trainable
    try:
        if isinstance(trainable, _WithParameters):
            sig.bind({}, **trainable.params)
        else:
            sig.bind({})
    except TypeError as exc:
        name = getattr(target, "__name__", repr(target))
        raise TuneTypeError(
            f"{param}: {name}{sig} cannot be called as {name}(config): {exc}. A trainable "
            "takes exactly one positional argument, the config dict (bind other arguments "
            "with tunefleet.with_parameters)"
        ) from None
    if is_generator_function(target):
        return trainable
    from tunefleet.compat.legacy import FunctionRunner

    # Ray's conventions around the call: fn(config, checkpoint_dir=None), returned dicts
    return FunctionRunner(trainable)


def trainable_name(trainable: Any) -> str:
    name = getattr(trainable, "__name__", None) or type(trainable).__name__
    return str(name).strip("<>").replace(" ", "_") or "trainable"


def trainable_ref(trainable: Any) -> str:
    """``module:qualname`` when importable, else a description (stored in the spec)."""
    target = getattr(trainable, "cls", None) or getattr(trainable, "__wrapped__", trainable)
    mod = getattr(target, "__module__", None)
    qual = getattr(target, "__qualname__", None)
    if mod and qual and "<" not in qual:
        return f"{mod}:{qual}"
    return repr(target)
