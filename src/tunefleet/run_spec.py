"""Everything ``run()`` and ``Tuner.fit()`` were given, validated before any compute.

:func:`build_spec` checks every argument (each error names the parameter) and builds the
components; :func:`experiment_spec` turns a :class:`RunSpec` into the JSON the store keeps
for the experiment: every component as ``{class path, arguments}`` (scikit-learn's
``get_params`` rule, :mod:`tunefleet.components`), so that a resume rebuilds the same
experiment rather than a default one.

Why ~510 lines: one short check per argument of ``run()``, kept together so that every error
names its parameter the same way and the spec is built in one place.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import inspect
import numbers
import os
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tunefleet.errors import TuneTypeError, TuneValueError
from tunefleet.executors.base import Executor
from tunefleet.objectives import check_components, tell_constraints, validate_objectives
from tunefleet.protocol import Resources
from tunefleet.schedulers import Scheduler, create_scheduler
from tunefleet.search.base import Searcher
from tunefleet.stoppers import Stopper, make_stopper
from tunefleet.trainable import as_function, trainable_ref

DEFAULT_STORAGE_PATH = "./tunefleet_runs"
_RESUME_VALUES = (False, True, "AUTO", "LOCAL", "REMOTE", "MUST")


@dataclass
class RunSpec:
    """Validated arguments of one experiment."""

    trainable: Callable[..., Any]
    raw_trainable: Any
    config: dict[str, Any]
    num_samples: int
    metric: Any  # str, or a list of names for several objectives (tunefleet.objectives)
    mode: Any  # "min"/"max", or a list of them
    searcher: Searcher
    scheduler: Scheduler
    stopper: Stopper | None
    time_budget_s: float | None
    resources: Resources
    max_concurrent_trials: int | None
    name: str | None
    storage_path: str
    resume: bool | str
    max_failures: int
    fail_fast: bool | str
    verbose: int
    raise_on_failed_trial: bool
    executor: Executor
    seed: int | None
    callbacks: list[Any] = field(default_factory=list)
    # Outcome constraints ("latency <= 10", or a key whose value must be <= 0): an
    # infeasible trial is never best nor on the Pareto front (tunefleet.search.constraints)
    constraints: list[str] = field(default_factory=list)
    checkpoint_frequency: int = 0
    checkpoint_at_end: bool = False
    stop_repr: str | None = None
    keeper: Any = None  # CheckpointKeeper
    force_resume: bool = False
    # Where trial directories (checkpoints) go: None = under storage_path; else an absolute
    # path or an fsspec URL. The event log always stays in storage_path.
    checkpoint_storage: str | None = None
    checkpoint_storage_options: dict[str, Any] | None = None
    # What is recorded so that a resume rebuilds the same experiment: the engine as given
    # (a string, or the Executor object), the retention settings, and which arguments
    # were left at their defaults (a resume takes those from the recorded spec).
    engine_arg: Any = "local"
    retention: dict[str, Any] = field(default_factory=dict)
    defaulted: frozenset[str] = frozenset()
    # Tuner.restore's flags (Ray Tune's names): what happens to errored/unfinished trials.
    resume_errored: bool = False
    restart_errored: bool = False
    resume_unfinished: bool = True
    reproducible: bool = False  # decide in a canonical order (engine/canonical.py)
    # Resume from a storage path others can write (storage/trust.py).
    trust_storage: bool = False
    # Ray's trial_dirname_creator (a trial's folder name) and chdir_to_trial_dir (attempts
    # run in their trial's directory): tunefleet/trial_dirs.py
    trial_dirname_creator: Any = None
    chdir_to_trial_dir: bool = True
    # Seconds between snapshots of the log mirrored beside remote checkpoints (log_mirror.py).
    log_mirror_interval_s: float = 30.0
    # Seconds a trial's processes get between SIGTERM and SIGKILL at its end (worker/reaper.py).
    kill_grace_s: float = 5.0


# ------------------------------------------------------------------------------ validation
def _check_int(value: Any, param: str, minimum: int, allow: Sequence[int] = ()) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TuneTypeError(f"{param}: expected an integer, got {type(value).__name__} {value!r}")
    if value < minimum and value not in allow:
        extra = f" (or {', '.join(map(str, allow))})" if allow else ""
        raise TuneValueError(f"{param}: must be >= {minimum}{extra}, got {value}")
    return value


def parse_resources(resources: Any, param: str = "resources_per_trial") -> Resources:
    if resources is None:
        return Resources()
    if isinstance(resources, Resources):
        _check_workers(resources.workers, f"{param}['workers']")
        return resources
    if hasattr(resources, "required_resources"):  # PlacementGroupFactory-like
        resources = resources.required_resources
    if not isinstance(resources, Mapping):
        raise TuneTypeError(
            f"{param}: expected a dict such as {{'cpu': 2, 'gpu': 1}}, got "
            f"{type(resources).__name__}"
        )
    cpu, gpu, custom, workers = 1.0, 0.0, {}, 1
    for key, value in resources.items():
        if str(key).lower() in ("workers", "num_workers"):
            workers = _check_workers(value, f"{param}[{key!r}]")
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise TuneValueError(f"{param}[{key!r}]: must be a number >= 0, got {value!r}")
        k = str(key).lower()
        if k in ("cpu", "cpus", "num_cpus"):
            cpu = float(value)
        elif k in ("gpu", "gpus", "num_gpus"):
            gpu = float(value)
        elif k in ("memory", "extra_cpu", "extra_gpu", "object_store_memory"):
            continue
        else:
            custom[str(key)] = float(value)
    if cpu <= 0 and gpu <= 0 and not custom:
        raise TuneValueError(f"{param}: a trial must request some resource, got {dict(resources)}")
    return Resources(cpu=cpu, gpu=gpu, custom=custom, workers=workers)


def _check_workers(value: Any, param: str) -> int:
    """``workers``: processes of one data-parallel trial, a whole number >= 1."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise TuneValueError(
            f"{param}: the number of processes of a data-parallel trial must be an integer "
            f">= 1, got {value!r}"
        )
    return int(value)


def validate_slot(executor: Executor, resources: Resources) -> None:
    """Check that the engine can ever hold one trial's slot (all its workers together)."""
    if resources.workers == 1:
        executor.validate_resources(resources)
        return
    # First the amounts themselves (errors name them), then what the slot must hold.
    each = dataclasses.replace(resources, workers=1)
    executor.validate_resources(each)
    try:
        executor.validate_resources(resources.total())
    except TuneValueError as exc:
        raise TuneValueError(
            f"resources_per_trial['workers']: {resources.workers} worker processes of "
            f"{each.to_json()} each make one trial of {resources.total().to_json()}, more "
            f"than the {executor.name} engine can hold ({exc})"
        ) from None


def _check_objective(component: Any, param: str, metric: Any, mode: Any) -> None:
    """A component given its own metric or mode may not contradict the run's: it would
    rank trials by another objective than the one the results are judged by."""
    for attr, run_value in (("metric", metric), ("mode", mode)):
        own = getattr(component, attr, None)
        if isinstance(own, str | list) and run_value is not None and own != run_value:
            raise TuneValueError(
                f"{param}: {type(component).__name__} was given {attr}={own!r}, but the run "
                f"was given {attr}={run_value!r}; give the {attr} in one place (the run's "
                f"is passed on to the {param.replace('_alg', '')})"
            )


LARGE_CONSTANT_BYTES = 1 << 20


def _warn_large_constants(config: dict[str, Any]) -> None:
    """Every trial's config is recorded in the log: a large constant in it (a dataset, a
    long list) is stored once per trial. Say so once, naming the key and the way out."""
    import json

    from tunefleet.space import Domain, encode_value, format_path, is_grid_marker

    def walk(node: Any, path: tuple[Any, ...]) -> None:
        if isinstance(node, Domain) or is_grid_marker(node):
            return
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, (*path, k))
            return
        size = len(json.dumps(encode_value(node)))
        if size >= LARGE_CONSTANT_BYTES:
            warnings.warn(
                f"{format_path(path, 'config')}: a constant of {size / 1e6:.1f} MB is recorded "
                "with every trial's config; pass it with tunefleet.with_parameters(fn, "
                f"{path[-1] if path and isinstance(path[-1], str) else 'data'}=...) instead",
                stacklevel=4,
            )

    walk(config, ())


def build_spec(
    trainable: Any,
    *,
    param: str = "run_or_experiment",
    config: dict[str, Any] | None = None,
    num_samples: int = 1,
    metric: str | list[str] | None = None,
    mode: str | list[str] | None = None,
    constraints: list[str] | None = None,
    search_alg: Any = None,
    scheduler: Any = None,
    stop: Any = None,
    time_budget_s: float | None = None,
    resources_per_trial: Any = None,
    max_concurrent_trials: int | None = None,
    name: str | None = None,
    storage_path: str | None = None,
    resume: bool | str = False,
    max_failures: int = 0,
    fail_fast: bool | str = False,
    points_to_evaluate: list[dict[str, Any]] | None = None,
    verbose: int = 1,
    raise_on_failed_trial: bool = True,
    engine: Any = "local",
    seed: int | None = None,
    callbacks: list[Any] | None = None,
    checkpoint_frequency: int = 0,
    checkpoint_at_end: bool = False,
    num_to_keep: int | None = None,
    checkpoint_score_attribute: str | None = None,
    checkpoint_score_order: str = "max",
    force_resume: bool = False,
    checkpoint_storage: Any = None,
    checkpoint_storage_options: dict[str, Any] | None = None,
    resume_unfinished: bool = True,
    resume_errored: bool = False,
    restart_errored: bool = False,
    reproducible: bool = False,
    trust_storage: bool = False,
    trial_dirname_creator: Any = None,
    chdir_to_trial_dir: Any = None,
    log_mirror_interval_s: float | None = None,
    kill_grace_s: float = 5.0,
) -> RunSpec:
    """Validate every argument; raise naming the offending parameter. No compute yet."""
    defaulted = _left_at_default(dict(locals()))
    from tunefleet.checkpoint_manager import CheckpointKeeper
    from tunefleet.executors import create_executor
    from tunefleet.search import create_searcher, pair_with_scheduler
    from tunefleet.space import validate_space
    from tunefleet.storage import open_store

    fn = as_function(trainable, param)
    keeper = CheckpointKeeper(num_to_keep, checkpoint_score_attribute, checkpoint_score_order)
    config = {} if config is None else config
    if not isinstance(config, dict):
        raise TuneTypeError(f"config: expected a dict, got {type(config).__name__}")
    validate_space(config)
    _warn_large_constants(config)
    num_samples = _check_int(num_samples, "num_samples", 1, allow=(-1,))
    metric, mode = validate_objectives(metric, mode)
    if time_budget_s is not None:
        if isinstance(time_budget_s, _dt.timedelta):
            time_budget_s = time_budget_s.total_seconds()
        if (
            isinstance(time_budget_s, bool)
            or not isinstance(time_budget_s, (int, float))
            or not time_budget_s > 0
        ):
            raise TuneValueError(f"time_budget_s: must be a number > 0, got {time_budget_s!r}")
        time_budget_s = float(time_budget_s)
    stopper = make_stopper(stop)
    if num_samples == -1 and time_budget_s is None and stopper is None:
        raise TuneValueError("num_samples: -1 (run forever) needs time_budget_s or stop")
    if max_concurrent_trials is not None:
        max_concurrent_trials = _check_int(max_concurrent_trials, "max_concurrent_trials", 1)
    max_failures = _check_int(max_failures, "max_failures", 0, allow=(-1,))
    if fail_fast not in (True, False, "raise", "RAISE"):
        raise TuneValueError(f"fail_fast: must be True, False or 'raise', got {fail_fast!r}")
    if isinstance(fail_fast, str):
        fail_fast = "raise"
    if resume not in _RESUME_VALUES and not (
        isinstance(resume, str) and resume.upper() in ("AUTO", "LOCAL", "REMOTE", "MUST")
    ):
        raise TuneValueError(f"resume: must be True, False or 'AUTO', got {resume!r}")
    verbose = _check_int(verbose, "verbose", 0)
    if not isinstance(reproducible, bool):
        raise TuneTypeError(f"reproducible: expected True or False, got {reproducible!r}")
    if not isinstance(trust_storage, bool):
        raise TuneTypeError(f"trust_storage: expected True or False, got {trust_storage!r}")
    from tunefleet.trial_dirs import chdir_default

    if trial_dirname_creator is not None and not callable(trial_dirname_creator):
        raise TuneTypeError(
            f"trial_dirname_creator: expected a function, got {trial_dirname_creator!r:.60}"
        )
    chdir = chdir_default(chdir_to_trial_dir)
    kill_grace_s = _check_seconds(kill_grace_s, "kill_grace_s", zero=True)
    if log_mirror_interval_s is None:
        from tunefleet.log_mirror import interval_s

        log_mirror_interval_s = interval_s()  # $TUNEFLEET_LOG_MIRROR_S, or the default
    else:
        log_mirror_interval_s = _check_seconds(log_mirror_interval_s, "log_mirror_interval_s")
    if reproducible and seed is None and "seed" in defaulted and resume is False:
        raise TuneValueError(
            "reproducible: a reproducible sweep needs a seed (seed=0, or any integer)"
        )
    if points_to_evaluate is not None and (
        not isinstance(points_to_evaluate, list)
        or not all(isinstance(p, dict) for p in points_to_evaluate)
    ):
        raise TuneTypeError("points_to_evaluate: expected a list of config dicts")
    searcher = create_searcher(search_alg, points_to_evaluate=points_to_evaluate)
    sched = create_scheduler(scheduler)
    pair_with_scheduler(searcher, sched)
    _check_objective(searcher, "search_alg", metric, mode)
    _check_objective(sched, "scheduler", metric, mode)
    check_components(metric, searcher, sched)
    constraints = tell_constraints(constraints, searcher)
    if resources_per_trial is None:
        resources_per_trial = getattr(trainable, "_tunefleet_resources", None)
    resources = parse_resources(resources_per_trial)
    if resources.workers > 1:
        from tunefleet.worker.data_parallel import data_parallel

        # Every engine runs the launcher like any function; it starts the rank processes.
        fn = data_parallel(fn, resources)
    storage_path = os.fspath(storage_path) if storage_path is not None else DEFAULT_STORAGE_PATH
    if "://" in storage_path and not storage_path.startswith("file://"):
        # The log stays local and is mirrored beside the checkpoints (log_mirror.py).
        from tunefleet.log_mirror import localize

        if checkpoint_storage is not None:
            raise TuneValueError(
                "storage_path: a URL storage_path is where checkpoints go; do not pass "
                "checkpoint_storage as well"
            )
        storage_path, checkpoint_storage = localize(
            storage_path, name, checkpoint_storage_options, resume
        )
    open_store(storage_path).check_writable()
    executor = create_executor(engine)
    validate_slot(executor, resources)
    from tunefleet.checkpoint_store import validate_storage

    checkpoint_storage, checkpoint_storage_options = validate_storage(
        checkpoint_storage, checkpoint_storage_options, executor.name
    )
    if executor.ships_trainable:
        import cloudpickle

        try:
            cloudpickle.dumps(fn)
        except Exception as exc:  # noqa: BLE001 - any pickling failure is the user's to fix
            raise TuneTypeError(
                f"{param}: the trainable cannot be pickled to ship it to worker processes "
                f"({type(exc).__name__}: {exc}). Load large or unpicklable objects inside "
                "the function, or pass them with tunefleet.with_parameters"
            ) from exc
    if name is not None:
        from tunefleet.storage import validate_name

        validate_name(name)
    if callbacks is not None and not isinstance(callbacks, (list, tuple)):
        raise TuneTypeError("callbacks: expected a list of Callback objects")
    return RunSpec(
        trainable=fn,
        raw_trainable=trainable,
        config=config,
        num_samples=num_samples,
        metric=metric,
        mode=mode,
        constraints=constraints,
        searcher=searcher,
        scheduler=sched,
        stopper=stopper,
        time_budget_s=time_budget_s,
        resources=resources,
        max_concurrent_trials=max_concurrent_trials,
        name=name,
        storage_path=storage_path,
        resume=resume,
        max_failures=max_failures,
        fail_fast=fail_fast,
        verbose=verbose,
        raise_on_failed_trial=bool(raise_on_failed_trial),
        executor=executor,
        seed=seed,
        callbacks=list(callbacks or []),
        checkpoint_frequency=int(checkpoint_frequency or 0),
        checkpoint_at_end=bool(checkpoint_at_end),
        stop_repr=None if stop is None else repr(stop)[:500],
        keeper=keeper,
        force_resume=bool(force_resume),
        checkpoint_storage=checkpoint_storage,
        checkpoint_storage_options=checkpoint_storage_options,
        engine_arg=engine,
        retention={
            "num_to_keep": num_to_keep,
            "checkpoint_score_attribute": checkpoint_score_attribute,
            "checkpoint_score_order": checkpoint_score_order,
        },
        defaulted=defaulted,
        reproducible=reproducible,
        resume_unfinished=bool(resume_unfinished),
        resume_errored=bool(resume_errored),
        restart_errored=bool(restart_errored),
        trust_storage=trust_storage,
        trial_dirname_creator=trial_dirname_creator,
        chdir_to_trial_dir=chdir,
        log_mirror_interval_s=log_mirror_interval_s,
        kill_grace_s=kill_grace_s,
    )


def _check_seconds(value: Any, param: str, zero: bool = False) -> float:
    """A finite number of seconds, > 0 (``zero``: >= 0); a timedelta is converted."""
    if isinstance(value, _dt.timedelta):
        value = value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TuneTypeError(f"{param}: expected a number of seconds, got {value!r}")
    value = float(value)
    if not (value >= 0 if zero else value > 0) or value == float("inf"):
        bound = ">= 0" if zero else "> 0"
        raise TuneValueError(f"{param}: must be a finite number of seconds {bound}, got {value!r}")
    return value


def _left_at_default(given: dict[str, Any]) -> frozenset[str]:
    """Names of build_spec's arguments equal to their defaults: on resume these come from
    the experiment's recorded spec (an argument passed again wins)."""
    out = set()
    for name, p in inspect.signature(build_spec).parameters.items():
        if name in given and p.default is not inspect.Parameter.empty:
            value = given[name]
            if value is p.default or (type(value) is type(p.default) and value == p.default):
                out.add(name)
    return frozenset(out)


def _component(obj: Any, param: str) -> dict[str, Any]:
    """``{class, params}``; for one that cannot be rebuilt, ``{class, error}`` (a resume
    then refuses it unless it is passed again, and the error says so)."""
    from tunefleet.components import class_path, describe

    try:
        return describe(obj, param)
    except TuneValueError as exc:
        return {"class": class_path(type(obj)), "error": str(exc)}


def experiment_spec(s: RunSpec, name: str, total: int | None, prefix: str) -> dict[str, Any]:
    """The JSON the store keeps for an experiment: what it is (space, objective), every
    component as ``{class path, arguments}``, and every run setting."""
    from tunefleet import __version__
    from tunefleet.space import space_fingerprint, space_to_json

    engine: dict[str, Any]
    if isinstance(s.engine_arg, str):
        engine = {"uri": s.engine_arg}
    else:
        engine = _component(s.engine_arg, "engine")
    return {
        "name": name,
        "metric": s.metric,
        "mode": s.mode,
        "constraints": s.constraints,
        "num_samples": s.num_samples,
        "total_trials": total,
        "space": space_to_json(s.config),
        "space_fingerprint": space_fingerprint(s.config),
        "searcher": type(s.searcher).__name__,  # for display; "components" rebuilds
        "scheduler": type(s.scheduler).__name__,
        "components": {
            "searcher": _component(s.searcher, "search_alg"),
            "scheduler": _component(s.scheduler, "scheduler"),
            "stopper": None if s.stopper is None else _component(s.stopper, "stop"),
            "engine": engine,
        },
        "stop": s.stop_repr,
        "time_budget_s": s.time_budget_s,
        "resources": s.resources.to_json(),
        "max_concurrent_trials": s.max_concurrent_trials,
        "max_failures": s.max_failures,
        "fail_fast": s.fail_fast,
        "checkpoint": {
            "frequency": s.checkpoint_frequency,
            "at_end": s.checkpoint_at_end,
            **s.retention,
        },
        "engine": s.executor.name,
        "trainable": trainable_ref(s.raw_trainable),
        "seed": s.seed,
        "reproducible": s.reproducible,
        "kill_grace_s": s.kill_grace_s,
        "log_mirror_interval_s": s.log_mirror_interval_s,
        "trial_id_prefix": prefix,
        "checkpoint_storage": s.checkpoint_storage,  # never its options (secrets)
        "created": time.time(),
        "tunefleet_version": __version__,
    }
