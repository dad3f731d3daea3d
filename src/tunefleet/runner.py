"""The facade behind ``run()`` and ``resume()``: validate, wire, drive, report.

Everything the user passed is validated before any worker starts (each error names the
parameter). Then the loop: executor events → engine → commands → executor, with the
engine's records appended to the store in batches of at most ``FLUSH_INTERVAL_S``. The
experiment's searcher/scheduler state is written in the same transaction as the records it
reflects, so a crash at any moment leaves a log that resumes consistently.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import errno
import numbers
import os
import sqlite3
import time
import uuid
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tunefleet.engine import Engine, EngineConfig, HaltTrial, LaunchTrial, Reply
from tunefleet.errors import TuneError, TuneTypeError, TuneValueError
from tunefleet.executors.base import Executor, Launch, Resources
from tunefleet.progress import Progress
from tunefleet.schedulers import Scheduler, create_scheduler
from tunefleet.search.base import Searcher
from tunefleet.stoppers import Stopper, make_stopper
from tunefleet.storage import records as rk
from tunefleet.storage.lock import DriverLock
from tunefleet.storage.records import Record
from tunefleet.trainable import as_function, trainable_name, trainable_ref
from tunefleet.trial import CHECKPOINT_HISTORY, Trial, TrialStatus

FLUSH_INTERVAL_S = 0.1  # DESIGN.md §6: at most the last 100 ms of results lost on kill -9
DEFAULT_STORAGE_PATH = "./tunefleet_runs"
_RESUME_VALUES = (False, True, "AUTO", "LOCAL", "REMOTE", "MUST")


@dataclass
class RunSpec:
    """Validated arguments of one experiment."""

    trainable: Callable[..., Any]
    raw_trainable: Any
    config: dict[str, Any]
    num_samples: int
    metric: str | None
    mode: str | None
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
    checkpoint_frequency: int = 0
    checkpoint_at_end: bool = False
    stop_repr: str | None = None
    keeper: Any = None  # CheckpointKeeper
    force_resume: bool = False
    # Where trial directories (checkpoints) go: None = under storage_path; else an absolute
    # path or an fsspec URL. The event log always stays in storage_path.
    checkpoint_storage: str | None = None
    checkpoint_storage_options: dict[str, Any] | None = None


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


def _validate_slot(executor: Executor, resources: Resources) -> None:
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


def build_spec(
    trainable: Any,
    *,
    param: str = "run_or_experiment",
    config: dict[str, Any] | None = None,
    num_samples: int = 1,
    metric: str | None = None,
    mode: str | None = None,
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
) -> RunSpec:
    """Validate every argument; raise naming the offending parameter. No compute yet."""
    from tunefleet.checkpoint_manager import CheckpointKeeper
    from tunefleet.executors import create_executor
    from tunefleet.search import create_searcher
    from tunefleet.space import validate_space
    from tunefleet.storage import open_store

    fn = as_function(trainable, param)
    keeper = CheckpointKeeper(num_to_keep, checkpoint_score_attribute, checkpoint_score_order)
    config = {} if config is None else config
    if not isinstance(config, dict):
        raise TuneTypeError(f"config: expected a dict, got {type(config).__name__}")
    validate_space(config)
    num_samples = _check_int(num_samples, "num_samples", 1, allow=(-1,))
    if mode is not None and mode not in ("min", "max"):
        raise TuneValueError(f"mode: must be 'min' or 'max', got {mode!r}")
    if metric is not None and not isinstance(metric, str):
        raise TuneTypeError(f"metric: expected a string, got {type(metric).__name__}")
    if metric is not None and mode is None:
        raise TuneValueError(f"mode: metric={metric!r} was given, so mode must be 'min' or 'max'")
    if mode is not None and metric is None:
        raise TuneValueError(f"metric: mode={mode!r} was given, so a metric name is needed")
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
    if points_to_evaluate is not None and (
        not isinstance(points_to_evaluate, list)
        or not all(isinstance(p, dict) for p in points_to_evaluate)
    ):
        raise TuneTypeError("points_to_evaluate: expected a list of config dicts")
    searcher = create_searcher(search_alg, points_to_evaluate=points_to_evaluate)
    sched = create_scheduler(scheduler)
    if resources_per_trial is None:
        resources_per_trial = getattr(trainable, "_tunefleet_resources", None)
    resources = parse_resources(resources_per_trial)
    if resources.workers > 1:
        from tunefleet.worker.data_parallel import data_parallel

        # Every engine runs the launcher like any function; it starts the rank processes.
        fn = data_parallel(fn, resources)
    storage_path = os.fspath(storage_path) if storage_path is not None else DEFAULT_STORAGE_PATH
    open_store(storage_path).check_writable()
    executor = create_executor(engine)
    _validate_slot(executor, resources)
    from tunefleet.checkpoint_store import validate_storage

    checkpoint_storage, checkpoint_storage_options = validate_storage(
        checkpoint_storage, checkpoint_storage_options, executor.name
    )
    if executor.name != "simulated":
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
    )


class StorageFullError(TuneError):
    """The experiment log could not be written because its disk is full."""


def _is_disk_full(exc: BaseException) -> bool:
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return True
    return isinstance(exc, sqlite3.OperationalError) and "full" in str(exc).lower()


# ------------------------------------------------------------------------------ running
class Runner:
    def __init__(self, spec: RunSpec) -> None:
        from tunefleet.storage import open_store

        self.spec = spec
        self.store = open_store(spec.storage_path)
        self.name = ""
        self.engine: Engine | None = None
        self._writer: Any = None
        self._lock: DriverLock | None = None
        self._disk_full = False
        self._space_changed = False
        self._store_history: dict[str, list[tuple[str, int, str | None]]] = {}

    # -- experiment creation / resume ----------------------------------------------------
    def _experiment_spec(self, total: int | None, prefix: str) -> dict[str, Any]:
        from tunefleet import __version__
        from tunefleet.space import space_fingerprint, space_to_json

        s = self.spec
        return {
            "name": self.name,
            "metric": s.metric,
            "mode": s.mode,
            "num_samples": s.num_samples,
            "total_trials": total,
            "space": space_to_json(s.config),
            "space_fingerprint": space_fingerprint(s.config),
            "searcher": type(s.searcher).__name__,
            "scheduler": type(s.scheduler).__name__,
            "stop": s.stop_repr,
            "time_budget_s": s.time_budget_s,
            "resources": s.resources.to_json(),
            "max_concurrent_trials": s.max_concurrent_trials,
            "max_failures": s.max_failures,
            "fail_fast": s.fail_fast,
            "engine": s.executor.name,
            "trainable": trainable_ref(s.raw_trainable),
            "seed": s.seed,
            "trial_id_prefix": prefix,
            "checkpoint_storage": s.checkpoint_storage,  # never its options (secrets)
            "created": time.time(),
            "tunefleet_version": __version__,
        }

    def _choose_name(self) -> tuple[str, bool]:
        """(name, resuming)."""
        s = self.spec
        resume = s.resume.upper() if isinstance(s.resume, str) else s.resume
        if s.name is None:
            if resume not in (False, "AUTO"):
                raise TuneValueError("name: resume=True needs the name of the experiment")
            stamp = _dt.datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
            base = f"{trainable_name(s.raw_trainable)}_{stamp}"
        else:
            base = s.name
        exists = self.store.experiment_exists(base)
        if resume in (True, "LOCAL", "REMOTE", "MUST"):
            if not exists:
                names = [e.name for e in self.store.list_experiments()]
                raise TuneValueError(
                    f"name: no experiment {base!r} to resume in {s.storage_path!r} "
                    f"(existing: {', '.join(names) or 'none'})"
                )
            return base, True
        if resume == "AUTO" and exists:
            return base, True
        if not exists:
            return base, False
        i = 2
        while self.store.experiment_exists(f"{base}_{i}"):
            i += 1
        new = f"{base}_{i}"
        warnings.warn(
            f"experiment {base!r} already exists in {s.storage_path!r}; this run is stored as "
            f"{new!r} (pass resume=True to continue {base!r} instead)",
            stacklevel=4,
        )
        return new, False

    def _check_compatible(self, old: dict[str, Any], total: int | None) -> None:
        """Refuse to resume with a different search space or objective (unless forced):
        the finished trials would no longer belong to the same search."""
        from tunefleet.space import space_fingerprint

        s = self.spec
        changed = []
        if old.get("space_fingerprint") not in (None, space_fingerprint(s.config)):
            changed.append(("config", "the search space"))
        if old.get("metric") != s.metric:
            changed.append(("metric", f"metric {old.get('metric')!r} → {s.metric!r}"))
        if old.get("mode") != s.mode:
            changed.append(("mode", f"mode {old.get('mode')!r} → {s.mode!r}"))
        if changed and s.force_resume:
            warnings.warn(
                f"resuming {self.name!r} with a changed search or objective (force_resume): "
                + "; ".join(w for _, w in changed)
                + ". The searcher starts a fresh stream over the new space",
                stacklevel=5,
            )
        self._space_changed = any(p == "config" for p, _ in changed)
        if changed and not s.force_resume:
            param = changed[0][0]
            what = "; ".join(w for _, w in changed)
            raise TuneValueError(
                f"{param}: cannot resume experiment {self.name!r} with a different search "
                f"or objective ({what}). Pass force_resume=True (CLI: --force) to resume "
                "anyway, or choose a new name"
            )

    def _setup(self) -> tuple[Engine, int]:
        s = self.spec
        self.name, resuming = self._choose_name()
        seed = s.seed
        s.searcher.setup(s.config, s.metric, s.mode, seed, max(s.num_samples, 1))
        s.scheduler.setup(s.metric, s.mode, seed)
        total = s.searcher.total_trials(s.num_samples) if s.num_samples > 0 else None
        if total is None and s.num_samples > 0:
            total = s.num_samples
        run_index = 0
        trials: list[Trial] = []
        state: dict[str, Any] | None = None
        elapsed = 0.0
        if resuming:
            self._lock = DriverLock(self.store.experiment_dir(self.name), self.name)
            self._lock.acquire()
            old = self.store.get_spec(self.name)
            prefix = old.get("trial_id_prefix") or self.name
            replayed, state = _replay_for_resume(self.store, self.name)
            trials = [_trial_from_snapshot(t) for t in replayed.trials.values()]
            run_index = replayed.num_runs
            elapsed = float((state or {}).get("engine", {}).get("elapsed", 0.0) or 0.0)
        else:
            prefix = uuid.uuid4().hex[:5]
            self._lock = DriverLock(self.store.experiment_dir(self.name), self.name)
            self._lock.acquire()
            self.store.create_experiment(self.name, self._experiment_spec(total, prefix))
        exp_dir = self.store.experiment_dir(self.name)
        trials_dir = os.path.join(exp_dir, "trials")
        if resuming:
            old_spec = self.store.get_spec(self.name)
            self._check_compatible(old_spec, total)
            if s.checkpoint_storage is None and old_spec.get("checkpoint_storage"):
                s.checkpoint_storage = old_spec["checkpoint_storage"]
        if s.checkpoint_storage is not None:
            from tunefleet.checkpoint_store import join, register_storage_options

            # Checkpoints may go to a URL; the SQLite log cannot (it needs a local
            # filesystem with working locks) and need not (it is small).
            trials_dir = join(s.checkpoint_storage, self.name, "trials")
            register_storage_options(s.checkpoint_storage, s.checkpoint_storage_options)
        cfg = EngineConfig(
            metric=s.metric,
            mode=s.mode,
            total_trials=total,
            max_failures=s.max_failures,
            fail_fast=s.fail_fast,
            time_budget_s=s.time_budget_s,
            resources=s.resources.total(),
            trial_id_prefix=prefix,
            trial_dir=_trial_dir_fn(trials_dir),
            checkpoint_frequency=s.checkpoint_frequency,
            checkpoint_at_end=s.checkpoint_at_end,
        )
        engine = Engine(cfg, s.searcher, s.scheduler, s.stopper)
        if resuming:
            if state and self._space_changed:
                state = {k: v for k, v in state.items() if k != "searcher"}
            engine.restore(trials, state, elapsed)
        return engine, run_index

    def run(self) -> Any:
        from tunefleet.results import Results
        from tunefleet.storage.writer import BatchedWriter

        s = self.spec
        try:
            engine, run_index = self._setup()
        except BaseException:
            if self._lock is not None:
                self._lock.release()
            raise
        self.engine = engine
        writer = BatchedWriter(self.store, self.name)
        self._writer = writer
        executor = s.executor
        exp_dir = self.store.experiment_dir(self.name)
        progress = Progress(
            self.name, s.metric, s.mode, engine.config.total_trials, verbose=s.verbose
        )
        status, reason = "completed", None
        raise_now: BaseException | None = None
        try:
            # Executors reserve what the whole trial needs (all data-parallel workers).
            executor.start(s.trainable, s.resources.total(), s.max_concurrent_trials, exp_dir)
            engine.start(executor.now())
            writer.add(Record(rk.EXPERIMENT_STARTED, None, {"run": run_index}, time.time()))
            for cb in s.callbacks:
                if hasattr(cb, "setup"):
                    cb.setup(stop=None, num_samples=s.num_samples)
            with progress:
                raise_now = self._loop(engine, executor, writer, progress)
            if engine.failed_fast:
                status, reason = "failed", engine.stop_reason
            elif engine.stopping:
                status, reason = "stopped", engine.stop_reason
        except KeyboardInterrupt:
            status, reason = "interrupted", "KeyboardInterrupt"
            raise
        except BaseException as exc:
            status, reason = "failed", f"{type(exc).__name__}: {exc}"
            raise
        finally:
            self._finish(engine, executor, writer, status, reason)
        trials = list(engine.trials.values())
        for cb in s.callbacks:
            if hasattr(cb, "on_experiment_end"):
                cb.on_experiment_end(trials=trials)
        location = os.path.abspath(exp_dir)
        if raise_now is not None:
            raise raise_now
        if s.metric is not None and not engine.metric_seen and engine.num_results > 0:
            raise TuneValueError(
                f"metric: {s.metric!r} was never reported by any trial ({engine.num_results} "
                f"results were; see tunefleet show {self.name} --storage-path "
                f"{s.storage_path}). Results are stored in {location}"
            )
        errored = [t for t in trials if t.status is TrialStatus.ERROR]
        if errored and s.raise_on_failed_trial:
            first = errored[0]
            raise TuneError(
                f"{len(errored)} of {len(trials)} trials failed "
                f"({', '.join(t.trial_id for t in errored[:10])}); the others' results are "
                f"stored in {location}. First error, in {first.trial_id}: {first.error}\n"
                f"{first.traceback or ''}"
            )
        return Results(self.store, self.name, metric=s.metric, mode=s.mode)

    def _loop(
        self, engine: Engine, executor: Executor, writer: Any, progress: Progress
    ) -> BaseException | None:
        s = self.spec
        callbacks = s.callbacks
        keeper = s.keeper if s.keeper is not None and s.keeper.active else None
        step = engine.step
        poll = executor.poll
        last_flush = time.monotonic()
        loops = 0
        self._apply(engine.step([], executor.now(), executor.capacity()), executor)
        while not engine.done:
            loops += 1
            events = poll(0.05)
            cmds = step(events, executor.now(), executor.capacity())
            if cmds:
                self._apply(cmds, executor)
            if engine.failed_fast and s.fail_fast == "raise":
                first = next(t for t in engine.trials.values() if t.status is TrialStatus.ERROR)
                return TuneError(
                    f"trial {first.trial_id} failed (fail_fast='raise'): "
                    f"{first.error}\n{first.traceback or ''}"
                )
            recs = engine.records
            if recs:
                engine.records = []
                if keeper is not None:
                    recs.extend(keeper.observe(recs, engine.checkpoints_in_use))
                for r in recs:
                    writer.add(r)
                progress.observe(recs)
                if callbacks:
                    self._dispatch(callbacks, recs, loops)
            if engine.warnings:
                for w in engine.warnings:
                    warnings.warn(w, stacklevel=3)
                engine.warnings = []
            mono = time.monotonic()
            if mono - last_flush >= FLUSH_INTERVAL_S:
                last_flush = mono
                self._flush(engine, writer, executor.now())
                if progress.verbose:
                    progress.update(engine.counts(), engine.num_results)
        return None

    def _apply(self, cmds: list[Any], executor: Executor) -> None:
        for c in cmds:
            t = type(c)
            if t is LaunchTrial:
                launch = c.launch
                if launch.checkpoint is not None and not launch.checkpoint.startswith("sim://"):
                    self._verify_restore(launch, executor)
                if self.spec.checkpoint_storage_options:
                    launch.storage_options = self.spec.checkpoint_storage_options
                executor.submit(launch)
            elif t is Reply:
                executor.reply(c.trial_id, c.proceed)
            elif t is HaltTrial:
                executor.stop(c.trial_id, c.pause)

    def _verify_restore(self, launch: Launch, executor: Executor) -> None:
        """Check the checkpoint a launch restores from; on a bad one, fall back to the
        trial's newest checkpoint that verifies (or to scratch), warn once, and record a
        ``checkpoint_invalid``. The engine stays free of I/O: this runs here."""
        from tunefleet.checkpoint_store import StorageUnavailableError, verify_checkpoint

        engine = self.engine
        assert engine is not None and launch.checkpoint is not None
        trial = engine.trials[launch.trial_id]
        path = launch.checkpoint
        options = self.spec.checkpoint_storage_options
        history = self._checkpoint_history(trial)
        expected = trial.checkpoint_hash if trial.checkpoint == path else None
        if expected is None:
            expected = next((h for p, _, h in reversed(history) if p == path), None)
        if expected is None and trial.parent_trial_id is not None:
            donor = engine.trials.get(trial.parent_trial_id)
            if donor is not None:
                donor_history = self._checkpoint_history(donor)
                expected = next((h for p, _, h in reversed(donor_history) if p == path), None)
        try:
            reason = verify_checkpoint(path, expected, options)
        except StorageUnavailableError as exc:
            warnings.warn(
                f"trial {trial.trial_id}: {exc}; restoring from it unverified", stacklevel=4
            )
            return
        if reason is None:
            return
        fallback: tuple[str, int, str | None] | None = None
        for cand in reversed(history):
            if cand[0] == path:
                continue
            try:
                if verify_checkpoint(cand[0], cand[2], options) is None:
                    fallback = cand
                    break
            except StorageUnavailableError:
                continue
        engine.checkpoint_invalid(trial.trial_id, path, reason, fallback, executor.now())
        if trial.trial_id in self._store_history:
            self._store_history[trial.trial_id] = [c for c in history if c[0] != path]
        if fallback is None:
            launch.checkpoint, launch.start_iteration, launch.start_time_total = None, 0, 0.0
            instead = "starting it from scratch (no earlier checkpoint verifies)"
        else:
            launch.checkpoint, launch.start_iteration = fallback[0], fallback[1]
            instead = f"restoring from {fallback[0]} (iteration {fallback[1]}) instead"
        warnings.warn(
            f"trial {trial.trial_id}: checkpoint {path} is {reason}; {instead}", stacklevel=4
        )

    def _checkpoint_history(self, trial: Trial) -> list[tuple[str, int, str | None]]:
        """The trial's recent checkpoints, oldest first: the engine's memory, or for a
        trial restored from the log (resume), its checkpoint records, read once."""
        if trial.checkpoint_history or trial.checkpoint is None:
            return trial.checkpoint_history
        cached = self._store_history.get(trial.trial_id)
        if cached is not None:
            return cached
        kinds = (rk.CHECKPOINT, rk.CHECKPOINT_DELETED, rk.CHECKPOINT_INVALID)
        out: list[tuple[str, int, str | None]] = []
        gone: set[str] = set()
        for rec in self.store.read(self.name, kinds=kinds, trial_id=trial.trial_id):
            if rec.kind == rk.CHECKPOINT:
                d = rec.data
                out.append((d["path"], int(d.get("iteration") or 0), d.get("hash")))
            else:
                gone.add(rec.data.get("path", ""))
        out = [c for c in out if c[0] not in gone][-CHECKPOINT_HISTORY:]
        self._store_history[trial.trial_id] = out
        return out

    def _flush(self, engine: Engine, writer: Any, now: float) -> None:
        if engine.state_dirty:
            state = engine.state_dict()
            state["engine"]["elapsed"] = engine.elapsed(now)
            writer.add(Record(rk.STATE, None, state, time.time()))
        try:
            writer.flush()
        except (sqlite3.OperationalError, OSError) as exc:
            if not _is_disk_full(exc):
                raise
            self._disk_full = True
            raise StorageFullError(
                f"storage_path: the disk holding {self.spec.storage_path!r} is full ({exc}). "
                f"The run stopped; everything committed before this point is intact. Free "
                f"some space, then continue with tunefleet.resume({self.name!r}) or "
                f"`tunefleet resume {self.name} --storage-path {self.spec.storage_path}`"
            ) from exc

    def _finish(
        self, engine: Engine, executor: Executor, writer: Any, status: str, reason: str | None
    ) -> None:
        try:
            now = executor.now()
        except Exception:  # noqa: BLE001
            now = time.time()
        try:
            executor.close()
        finally:
            try:
                if engine.records:
                    for r in engine.records:
                        writer.add(r)
                    engine.records = []
                engine.state_dirty = True
                if not self._disk_full:
                    self._flush(engine, writer, now)
                    writer.add(
                        Record(
                            rk.EXPERIMENT_FINISHED,
                            None,
                            {"status": status, "reason": reason},
                            time.time(),
                        )
                    )
                    writer.flush()
            except StorageFullError:
                pass  # already reported by the error that ended the run
            finally:
                if self._lock is not None:
                    self._lock.release()

    @staticmethod
    def _dispatch(callbacks: list[Any], recs: list[Record], iteration: int) -> None:
        # Callbacks see trial objects through the engine; resolved lazily per record.
        for r in recs:
            hook = _CALLBACK_HOOKS.get(r.kind)
            if hook is None:
                continue
            if r.kind == rk.TRIAL_COMPLETED and r.data.get("status") == "ERROR":
                hook = "on_trial_error"
            trial = _CallbackTrial(r.trial_id or "")
            for cb in callbacks:
                fn = getattr(cb, hook, None)
                if fn is None:
                    continue
                if hook == "on_trial_result":
                    fn(iteration=iteration, trials=[], trial=trial, result=r.data)
                else:
                    fn(iteration=iteration, trials=[], trial=trial)


_CALLBACK_HOOKS = {
    rk.RESULT: "on_trial_result",
    rk.TRIAL_STARTED: "on_trial_start",
    rk.TRIAL_COMPLETED: "on_trial_complete",
}


class _CallbackTrial:
    """What a callback gets as ``trial``: its id (Ray's Trial has far more; enough here)."""

    def __init__(self, trial_id: str) -> None:
        self.trial_id = trial_id

    def __str__(self) -> str:
        return self.trial_id

    __repr__ = __str__


_RESUME_SKIP = (
    rk.RESULT,
    rk.STATE,
    rk.STALE_RESULT,
    rk.CHECKPOINT_DELETED,
    rk.CHECKPOINT_INVALID,
)


def _trial_dir_fn(trials_dir: str) -> Callable[[str], str]:
    from tunefleet.checkpoint_store import join

    return lambda trial_id: join(trials_dir, trial_id)


def _replay_for_resume(store: Any, name: str) -> tuple[Any, dict[str, Any] | None]:
    """Rebuild trials without decoding every result: lifecycle records, then each
    unfinished trial's last result from the index, and only the newest state record.

    Resume cost is O(trials + lifecycle records), not O(results) (issue 4's target: 10,000
    trials with 1,000,000 results in under 2 s)."""
    from tunefleet.storage.replay import replay

    kinds = [k for k in rk.KINDS if k not in _RESUME_SKIP]
    replayed = replay(store.read(name, kinds=kinds))
    unfinished = [t for t in replayed.trials.values() if t.status not in ("TERMINATED", "ERROR")]
    if unfinished:
        last = store.last_results(name)
        for snap in unfinished:
            rec = last.get(snap.trial_id)
            if rec is not None:
                snap.last_result = rec.data
    state_rec = store.last_of_kind(name, rk.STATE)
    return replayed, (state_rec.data if state_rec is not None else None)


def _trial_from_snapshot(snap: Any) -> Trial:
    status = TrialStatus(snap.status)
    return Trial(
        trial_id=snap.trial_id,
        config=snap.config,
        index=snap.index,
        status=status,
        last_result=snap.last_result,
        checkpoint=snap.checkpoint,
        checkpoint_iteration=snap.checkpoint_iteration or 0,
        attempt=snap.attempt,
        num_failures=snap.num_failures,
        error=snap.error,
        traceback=snap.traceback,
        parent_trial_id=snap.parent_trial_id,
        created_at=snap.created or 0.0,
        started_at=snap.started,
        finished_at=snap.finished,
    )


# ------------------------------------------------------------------------------ public API
_IGNORED_RAY_ARGS = (
    "progress_reporter",
    "sync_config",
    "log_to_file",
    "reuse_actors",
    "trial_name_creator",
    "trial_dirname_creator",
    "chdir_to_trial_dir",
    "local_dir",
    "export_formats",
    "keep_checkpoints_num",
    "checkpoint_score_attr",
    "restore",
    "server_port",
    "loggers",
    "max_pending_trials",
    "_remote",
)


def run(
    run_or_experiment: Any,
    *,
    config: dict[str, Any] | None = None,
    num_samples: int = 1,
    metric: str | None = None,
    mode: str | None = None,
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
    checkpoint_freq: int = 0,
    checkpoint_at_end: bool = False,
    checkpoint_config: Any = None,
    force_resume: bool = False,
    checkpoint_storage: str | os.PathLike[str] | None = None,
    checkpoint_storage_options: dict[str, Any] | None = None,
    **ray_args: Any,
) -> Any:
    """Run a hyperparameter search and return its :class:`~tunefleet.results.Results`.

    Takes Ray Tune's classic ``tune.run`` arguments plus ``engine`` ("local",
    "simulated", or an Executor) and ``seed``. Ray Tune arguments that have no meaning
    here (``progress_reporter``, ``sync_config``, ``reuse_actors`` …) are accepted and
    ignored with a warning, so scripts migrate by changing only their import line.

    ``checkpoint_storage`` (tunefleet): put trial directories, hence checkpoints, at a path
    or any fsspec URL (``"s3://bucket/prefix"``: ``<prefix>/<name>/trials/<trial_id>``),
    with ``checkpoint_storage_options`` passed to fsspec (``endpoint_url``, ``key``,
    ``secret``; credentials also come from the environment). The event log stays in
    ``storage_path``: SQLite needs a local filesystem, and the log is small.
    """
    unknown = [k for k in ray_args if k not in _IGNORED_RAY_ARGS]
    if unknown:
        raise TuneTypeError(f"run() got unexpected keyword argument(s): {', '.join(unknown)}")
    used = ("reuse_actors", "keep_checkpoints_num", "checkpoint_score_attr", "local_dir")
    ignored = [k for k, v in ray_args.items() if v is not None and k not in used]
    if ignored:
        warnings.warn(
            f"run(): ignoring Ray Tune argument(s) {', '.join(ignored)} (not needed by tunefleet)",
            stacklevel=2,
        )
    if ray_args.get("local_dir") and storage_path is None:
        storage_path = ray_args["local_dir"]
    num_to_keep = ray_args.get("keep_checkpoints_num")
    score_attr = ray_args.get("checkpoint_score_attr")
    score_order = "max"
    if isinstance(score_attr, str) and score_attr.startswith("min-"):
        score_attr, score_order = score_attr[4:], "min"
    if checkpoint_config is not None:
        checkpoint_freq = checkpoint_freq or getattr(checkpoint_config, "checkpoint_frequency", 0)
        checkpoint_at_end = checkpoint_at_end or bool(
            getattr(checkpoint_config, "checkpoint_at_end", False)
        )
        num_to_keep = getattr(checkpoint_config, "num_to_keep", None) or num_to_keep
        score_attr = getattr(checkpoint_config, "checkpoint_score_attribute", None) or score_attr
        score_order = getattr(checkpoint_config, "checkpoint_score_order", None) or score_order
    spec = build_spec(
        run_or_experiment,
        param="run_or_experiment",
        config=config,
        num_samples=num_samples,
        metric=metric,
        mode=mode,
        search_alg=search_alg,
        scheduler=scheduler,
        stop=stop,
        time_budget_s=time_budget_s,
        resources_per_trial=resources_per_trial,
        max_concurrent_trials=max_concurrent_trials,
        name=name,
        storage_path=storage_path,
        resume=resume,
        max_failures=max_failures,
        fail_fast=fail_fast,
        points_to_evaluate=points_to_evaluate,
        verbose=verbose,
        raise_on_failed_trial=raise_on_failed_trial,
        engine=engine,
        seed=seed,
        callbacks=callbacks,
        checkpoint_frequency=checkpoint_freq,
        checkpoint_at_end=checkpoint_at_end,
        num_to_keep=num_to_keep,
        checkpoint_score_attribute=score_attr,
        checkpoint_score_order=score_order,
        force_resume=force_resume,
        checkpoint_storage=checkpoint_storage,
        checkpoint_storage_options=checkpoint_storage_options,
    )
    return Runner(spec).run()


def resume(
    name: str,
    trainable: Any = None,
    *,
    storage_path: str | None = None,
    config: dict[str, Any] | None = None,
    **kwargs: Any,
) -> Any:
    """Continue experiment ``name`` after a crash or an interruption.

    Completed trials are kept and never re-run; running ones restart from their last
    checkpoint. ``trainable`` defaults to the one recorded in the experiment's spec when
    it is importable (``module:function``). The search space is read back from the spec
    when ``config`` is not given (``sample_from`` functions need the original ``config``).
    """
    from tunefleet.space import space_from_json
    from tunefleet.storage import open_store

    store = open_store(storage_path)
    if not store.experiment_exists(name):
        names = [e.name for e in store.list_experiments()]
        raise TuneValueError(
            f"name: no experiment {name!r} in {storage_path or DEFAULT_STORAGE_PATH!r} "
            f"(existing: {', '.join(names) or 'none'})"
        )
    spec = store.get_spec(name)
    if trainable is None:
        trainable = _import_ref(spec.get("trainable", ""))
    if config is None:
        config = space_from_json(spec["space"])
    kwargs.setdefault("metric", spec.get("metric"))
    kwargs.setdefault("mode", spec.get("mode"))
    kwargs.setdefault("num_samples", spec.get("num_samples", 1))
    kwargs.setdefault("time_budget_s", spec.get("time_budget_s"))
    kwargs.setdefault("max_failures", spec.get("max_failures", 0))
    kwargs.setdefault("max_concurrent_trials", spec.get("max_concurrent_trials"))
    if "resources_per_trial" not in kwargs and spec.get("resources"):
        r = spec["resources"]
        kwargs["resources_per_trial"] = {"cpu": r["cpu"], "gpu": r["gpu"], **r.get("custom", {})}
        if r.get("workers", 1) != 1:
            kwargs["resources_per_trial"]["workers"] = r["workers"]
    if spec.get("seed") is not None:
        kwargs.setdefault("seed", spec["seed"])
    return run(
        trainable, config=config, name=name, storage_path=storage_path, resume=True, **kwargs
    )


def _import_ref(ref: str) -> Any:
    import importlib

    module, _, qual = ref.partition(":")
    if not module or not qual or module == "__main__":
        raise TuneValueError(
            f"trainable: the experiment's trainable ({ref or 'unknown'}) cannot be imported; "
            "pass it explicitly: tunefleet.resume(name, trainable)"
        )
    obj: Any = importlib.import_module(module)
    for part in qual.split("."):
        obj = getattr(obj, part)
    return obj
