"""The run loop behind ``run()``, ``Tuner.fit()`` and ``resume()``: wire, drive, record.

Everything the user passed was validated before this module is used (runner.py and
run_spec.py; each error names the parameter). Then the loop: executor events → engine →
commands → executor, with the engine's records appended to the store in batches of at most
``FLUSH_INTERVAL_S``. The experiment's searcher/scheduler state is written in the same
transaction as the records it reflects, so a crash at any moment leaves a log that resumes
consistently.

Why ~510 lines: the Runner's phases (claim the name and lock, build the engine, the loop,
flushes, the finish) share one run's store, lock, writer and engine.
"""

from __future__ import annotations

import contextlib
import errno
import importlib
import os
import sqlite3
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from typing import Any

from tunefleet import signals
from tunefleet.callbacks import dispatch, trial_views
from tunefleet.dashboard import dashboard_hint
from tunefleet.engine import Engine, EngineConfig, HaltTrial, LaunchTrial, Reply
from tunefleet.errors import TuneError, TuneValueError
from tunefleet.executors.base import Executor
from tunefleet.log_mirror import start_mirror
from tunefleet.progress import Progress
from tunefleet.protocol import (
    EXPERIMENT_FINISHED,
    EXPERIMENT_STARTED,
    Record,
)
from tunefleet.restore import (
    apply_recorded,
    check_compatible,
    replay_for_resume,
    trial_from_snapshot,
)
from tunefleet.restore_verify import RestoreVerifier
from tunefleet.run_spec import RunSpec, experiment_spec
from tunefleet.signals import Terminated, sigterm_interrupts
from tunefleet.storage.lock import DriverLock
from tunefleet.storage.state_log import StateWriter
from tunefleet.trainable import trainable_name
from tunefleet.trial import Trial, TrialStatus

FLUSH_INTERVAL_S = 0.1  # DESIGN.md §6: at most the last 100 ms of results lost on kill -9
# A commit carries the components' state, whose cost grows with the sweep (an ASHA + BOHB
# state of 10,000 trials takes ~0.1 s to serialise and diff). Commits are spaced at least
# this many times that cost apart, so state writes take at most ~1/11 of the driver's time
# instead of all of it; the window a kill -9 can lose grows to match (0.1 s → ~1 s there).
STATE_COST_FACTOR = 10.0


class StorageFullError(TuneError):
    """The experiment log could not be written because its disk is full."""


def _is_disk_full(exc: BaseException) -> bool:
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return True
    return isinstance(exc, sqlite3.OperationalError) and "full" in str(exc).lower()


# ------------------------------------------------------------------------------ running
class Runner:
    def __init__(self, spec: RunSpec, warm_start_from: list[str] | None = None) -> None:
        from tunefleet.search.warm_start import check_warm_start
        from tunefleet.storage import open_store

        self.spec = spec
        self.store = open_store(spec.storage_path)
        self._warm_start_from = check_warm_start(
            self.store, warm_start_from, spec.searcher, spec.storage_path
        )
        self.name = ""
        self.engine: Engine | None = None
        self._writer: Any = None
        self._lock: DriverLock | None = None
        self._disk_full = False
        self._verifier: RestoreVerifier | None = None
        self._state_writer = StateWriter()
        self._flush_interval = FLUSH_INTERVAL_S

    # -- experiment creation / resume ----------------------------------------------------
    def _choose_name(self) -> tuple[str, bool]:
        """(name, resuming)."""
        s = self.spec
        resume = s.resume.upper() if isinstance(s.resume, str) else s.resume
        if s.name is None:
            if resume not in (False, "AUTO"):
                raise TuneValueError("name: resume=True needs the name of the experiment")
            stamp = time.strftime("%Y-%m-%d_%H-%M-%S")
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

    def _claim(self) -> tuple[bool, dict[str, Any], set[str]]:
        """Name the experiment, take its lock and, on resume, apply what it recorded:
        (resuming, the recorded spec, state keys to drop). Cheap, so an error here comes
        before any worker starts."""
        s = self.spec
        self.name, resuming = self._choose_name()
        base, n = self.name, 1
        while True:
            self._lock = DriverLock(self.store.experiment_dir(self.name), self.name)
            try:
                self._lock.acquire()
                break
            except TuneValueError:
                # An automatic name (trainable + second) that another driver started with
                # in the same second: take the next free one, as for a finished namesake.
                if s.name is not None or resuming or n >= 100:
                    raise
                n += 1
                while self.store.experiment_exists(f"{base}_{n}"):
                    n += 1
                self.name = f"{base}_{n}"
        old: dict[str, Any] = {}
        drop: set[str] = set()
        if resuming:
            # The recorded experiment, not a default one: components and settings the
            # caller did not pass again are rebuilt from the spec before anything starts.
            # Before importing what it names (trust.py).
            self.store.check_trusted(self.name, trusted=s.trust_storage)
            old = self.store.get_spec(self.name)
            drop = apply_recorded(s, self.name, old)
            if check_compatible(s, self.name, old):
                drop.add("searcher")
            if s.checkpoint_storage is None and old.get("checkpoint_storage"):
                s.checkpoint_storage = old["checkpoint_storage"]
        return resuming, old, drop

    def _build(self, resuming: bool, old: dict[str, Any], drop: set[str]) -> tuple[Engine, int]:
        """Set the searcher and scheduler up, record a new experiment, build the engine and
        on resume restore it: (engine, index of this run)."""
        s = self.spec
        seed = s.seed
        s.searcher.setup(s.config, s.metric, s.mode, seed, max(s.num_samples, 1))
        if not resuming:  # on resume the searcher's state already holds them
            from tunefleet.search.warm_start import warm_start

            warm_start(self.store, self._warm_start_from, s.searcher)
        s.scheduler.setup(s.metric, s.mode, seed)
        total = s.searcher.total_trials(s.num_samples) if s.num_samples > 0 else None
        if total is None and s.num_samples > 0:
            total = s.num_samples
        run_index = 0
        trials: list[Trial] = []
        state: dict[str, Any] | None = None
        elapsed = 0.0
        if resuming:
            prefix = old.get("trial_id_prefix") or self.name
            replayed, state = replay_for_resume(self.store, self.name)
            trials = [trial_from_snapshot(t) for t in replayed.trials.values()]
            run_index = replayed.num_runs
            elapsed = float((state or {}).get("engine", {}).get("elapsed", 0.0) or 0.0)
        else:
            prefix = os.urandom(3).hex()[:5]  # as uuid4().hex[:5], without importing uuid
            spec = experiment_spec(s, self.name, total, prefix)
            self.store.create_experiment(self.name, spec)
        exp_dir = self.store.experiment_dir(self.name)
        trials_dir = os.path.join(exp_dir, "trials")
        from tunefleet.trial_dirs import dirname_function, working_dir_function

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
            trial_dirname=dirname_function(
                s.trial_dirname_creator, trainable_name(s.raw_trainable), s.callbacks
            ),
            working_dir=working_dir_function(trials_dir, os.path.join(exp_dir, "trials"))
            if s.chdir_to_trial_dir
            else None,
            checkpoint_frequency=s.checkpoint_frequency,
            checkpoint_at_end=s.checkpoint_at_end,
            reproducible=s.reproducible,
        )
        engine = Engine(cfg, s.searcher, s.scheduler, s.stopper)
        if resuming:
            if state and drop:
                state = {k: v for k, v in state.items() if k not in drop}
            engine.restore(
                trials,
                state,
                elapsed,
                errored="restart"
                if s.restart_errored
                else "resume"
                if s.resume_errored
                else "keep",
                unfinished=s.resume_unfinished,
                now=time.time(),
            )
        return engine, run_index

    def run(self) -> Any:
        from tunefleet.results import Results
        from tunefleet.storage.writer import BatchedWriter

        s = self.spec
        executor = s.executor
        started = False
        try:
            resuming, old, drop = self._claim()
            executor = s.executor  # a resume may have rebuilt the recorded engine
            # Workers boot (a fresh interpreter each on the local engine) while this
            # process imports numpy, when the searcher's setup needs it next.
            with _importing_meanwhile(*(("numpy",) if s.searcher.uses_numpy else ())):
                # Executors reserve what the whole trial needs (all data-parallel workers).
                executor.start(
                    s.trainable,
                    s.resources.total(),
                    s.max_concurrent_trials,
                    self.store.experiment_dir(self.name),
                )
            started = True
            engine, run_index = self._build(resuming, old, drop)
        except BaseException:
            try:
                if started:
                    executor.close()
            finally:
                if self._lock is not None:
                    self._lock.release()
            raise
        self.engine = engine
        self._verifier = RestoreVerifier(self.store, self.name, s.checkpoint_storage_options)
        writer = BatchedWriter(self.store, self.name)
        self._writer = writer
        mirror = start_mirror(  # the log beside remote checkpoints (log_mirror.py)
            getattr(self.store, "db_path", lambda n: None)(self.name),
            self.name,
            s.checkpoint_storage,
            s.checkpoint_storage_options,
            s.log_mirror_interval_s,
        )
        exp_dir = self.store.experiment_dir(self.name)
        progress = Progress(
            self.name,
            s.metric,
            s.mode,
            engine.config.total_trials,
            verbose=s.verbose,
            hint=dashboard_hint(self.store),
        )
        status, reason = "completed", None
        raise_now: BaseException | None = None
        try:
            engine.start(executor.now())
            writer.add(Record(EXPERIMENT_STARTED, None, {"run": run_index}, time.time()))
            for cb in s.callbacks:
                if hasattr(cb, "setup"):
                    cb.setup(stop=None, num_samples=s.num_samples)
            with progress, sigterm_interrupts():
                raise_now = self._loop(engine, executor, writer, progress)
            if engine.failed_fast:
                status, reason = "failed", engine.stop_reason
            elif engine.stopping:
                status, reason = "stopped", engine.stop_reason
        except KeyboardInterrupt as exc:
            by_term = isinstance(exc, Terminated) or signals.sigterm_received
            status, reason = "interrupted", "SIGTERM" if by_term else "SIGINT"
            raise
        except BaseException as exc:
            status, reason = "failed", f"{type(exc).__name__}: {exc}"
            raise
        finally:
            try:
                self._finish(engine, executor, writer, status, reason)
            finally:
                if mirror is not None:
                    mirror.close()
        trials = list(engine.trials.values())
        ending = [cb for cb in s.callbacks if hasattr(cb, "on_experiment_end")]
        if ending:
            views = trial_views(s.callbacks, engine.trials, *self._callback_context())
            for cb in ending:
                cb.on_experiment_end(trials=views)
        location = os.path.abspath(exp_dir)
        if raise_now is not None:
            raise raise_now
        if s.metric is not None and not engine.metric_seen and engine.num_results > 0:
            raise TuneValueError(
                f"metric: {s.metric!r} was never reported by any trial ({engine.num_results} "
                f"results were; see tunefleet show {self.name} --storage-path "
                f"{s.storage_path}). Results are stored in {location}"
            )
        unseen = sorted(engine.metric_watch.stop_unseen)
        if unseen and engine.num_results > 0:
            raise TuneValueError(
                f"stop: no result carried {', '.join(map(repr, unseen))}, so that criterion "
                f"never stopped a trial ({engine.num_results} results were reported; check "
                f"the key's spelling against report()). Results are stored in {location}"
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

    def _callback_context(self) -> tuple[str, str]:
        """Where trials' folders are and the trainable's name: what callbacks' views show."""
        trials_dir = os.path.join(self.store.experiment_dir(self.name), "trials")
        return trials_dir, trainable_name(self.spec.raw_trainable)

    def _loop(
        self, engine: Engine, executor: Executor, writer: Any, progress: Progress
    ) -> BaseException | None:
        s = self.spec
        callbacks = s.callbacks
        cb_context = self._callback_context()
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
                    dispatch(callbacks, recs, loops, engine.trials, *cb_context)
            if engine.warnings:
                for w in engine.warnings:
                    warnings.warn(w, stacklevel=3)
                engine.warnings = []
            mono = time.monotonic()
            if mono - last_flush >= self._flush_interval:
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
                    assert self.engine is not None and self._verifier is not None
                    self._verifier.verify(self.engine, launch, executor.now())
                if self.spec.checkpoint_storage_options:
                    launch.storage_options = self.spec.checkpoint_storage_options
                launch.kill_grace_s = self.spec.kill_grace_s
                executor.submit(launch)
            elif t is Reply:
                executor.reply(c.trial_id, c.proceed)
            elif t is HaltTrial:
                executor.stop(c.trial_id, c.pause)

    def _flush(self, engine: Engine, writer: Any, now: float) -> None:
        if engine.state_dirty:
            t0 = time.perf_counter()
            state = engine.state_dict()
            state["engine"]["elapsed"] = engine.elapsed(now)
            writer.add(self._state_writer.record(state, time.time()))
            cost = time.perf_counter() - t0
            self._flush_interval = max(FLUSH_INTERVAL_S, STATE_COST_FACTOR * cost)
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

    def _tidy_checkpoints(self) -> None:
        """Delete checkpoint folders no record refers to (see remove_unrecorded)."""
        from tunefleet.checkpoint_manager import remove_unrecorded
        from tunefleet.protocol import CHECKPOINT

        if self.spec.checkpoint_storage is not None:
            return  # at a URL: left to the storage's own lifecycle rules
        recorded = {
            str(r.data.get("path", "")) for r in self.store.read(self.name, kinds=(CHECKPOINT,))
        }
        trials_dir = os.path.join(self.store.experiment_dir(self.name), "trials")
        remove_unrecorded(trials_dir, recorded)

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
                            EXPERIMENT_FINISHED,
                            None,
                            {"status": status, "reason": reason},
                            time.time(),
                        )
                    )
                    writer.flush()
                    self._tidy_checkpoints()
            except StorageFullError:
                pass  # already reported by the error that ended the run
            finally:
                if self._lock is not None:
                    self._lock.release()


@contextlib.contextmanager
def _importing_meanwhile(*modules: str) -> Iterator[None]:
    """Import ``modules`` in a thread while the body runs (the body waits on other
    processes, so the import costs no wall time). A failed import is left for the code
    that needs the module to raise, where its error means something."""

    def load() -> None:
        for name in modules:
            with contextlib.suppress(Exception):
                importlib.import_module(name)

    missing = [m for m in modules if m not in sys.modules]
    thread = threading.Thread(target=load, name="tunefleet-import", daemon=True)
    if missing:
        thread.start()
    try:
        yield
    finally:
        if missing:
            thread.join()


def _trial_dir_fn(trials_dir: str) -> Callable[[str], str]:
    from tunefleet.checkpoint_store import join

    return lambda trial_id: join(trials_dir, trial_id)
