"""Ray Tune's current API: ``Tuner(trainable, param_space=..., tune_config=..., run_config=...)``.

A thin translation onto :func:`tunefleet.runner.run`, so both APIs share one code path and
one set of validations. ``fit()`` returns a :class:`~tunefleet.results.ResultGrid`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from tunefleet.errors import TuneValueError
from tunefleet.legacy_args import adapt_tuner


@dataclass
class FailureConfig:
    """How many times a failed trial is retried (-1: forever) and whether one failure ends
    the experiment (``fail_fast=True``) or raises at once (``"raise"``)."""

    max_failures: int = 0
    fail_fast: bool | str = False


@dataclass
class CheckpointConfig:
    """Checkpoint policy (``num_to_keep`` and score-based retention arrive with the
    checkpoint-management work; they are stored and validated now)."""

    num_to_keep: int | None = None
    checkpoint_score_attribute: str | None = None
    checkpoint_score_order: str = "max"
    checkpoint_frequency: int = 0
    checkpoint_at_end: bool | None = None

    def __post_init__(self) -> None:
        if self.num_to_keep is not None and self.num_to_keep < 1:
            raise TuneValueError(f"num_to_keep: must be >= 1 or None, got {self.num_to_keep}")
        if self.checkpoint_score_order not in ("min", "max"):
            raise TuneValueError(
                f"checkpoint_score_order: must be 'min' or 'max', got "
                f"{self.checkpoint_score_order!r}"
            )
        if self.checkpoint_frequency < 0:
            raise TuneValueError(
                f"checkpoint_frequency: must be >= 0, got {self.checkpoint_frequency}"
            )


@dataclass
class TuneConfig:
    metric: str | list[str] | None = None  # a list: several objectives (tunefleet.objectives)
    mode: str | list[str] | None = None
    constraints: list[str] | None = None  # outcome constraints ("latency <= 10")
    search_alg: Any = None
    scheduler: Any = None
    num_samples: int = 1
    max_concurrent_trials: int | None = None
    time_budget_s: float | None = None
    reuse_actors: bool | None = None
    trial_name_creator: Any = None
    trial_dirname_creator: Any = None
    chdir_to_trial_dir: Any = None
    seed: int | None = None  # tunefleet: seeds searcher and scheduler
    reproducible: bool = False  # tunefleet: the same trial table at any concurrency


@dataclass
class RunConfig:
    name: str | None = None
    storage_path: str | None = None
    stop: Any = None
    callbacks: list[Any] | None = None
    failure_config: FailureConfig | None = None
    checkpoint_config: CheckpointConfig | None = None
    verbose: int | None = None
    progress_reporter: Any = None
    log_to_file: Any = None
    sync_config: Any = None
    storage_filesystem: Any = None
    engine: Any = "local"  # tunefleet: "local", "simulated" or an Executor
    extra: dict[str, Any] = field(default_factory=dict)
    # tunefleet: trial directories (checkpoints) at a path or fsspec URL ("s3://b/prefix");
    # the options go to fsspec. The event log stays in storage_path (see run()).
    checkpoint_storage: str | None = None
    checkpoint_storage_options: dict[str, Any] | None = None
    # tunefleet: resume from a storage path that other users can write (storage/trust.py).
    trust_storage: bool = False
    # tunefleet: seconds between snapshots of the log mirrored beside remote checkpoints
    # (None: $TUNEFLEET_LOG_MIRROR_S, else 30; log_mirror.py).
    log_mirror_interval_s: float | None = None
    # tunefleet: seconds a trial's processes get between SIGTERM and SIGKILL when it ends.
    kill_grace_s: float = 5.0


class Tuner:
    """Configure a search; ``fit()`` runs it. ``Tuner.restore(path, trainable)`` resumes."""

    def __init__(
        self,
        trainable: Any = None,
        *,
        param_space: dict[str, Any] | None = None,
        tune_config: TuneConfig | None = None,
        run_config: RunConfig | None = None,
        _resume: bool | str = False,
    ) -> None:
        self.trainable = trainable
        self.param_space = param_space
        self.tune_config = tune_config or TuneConfig()
        self.run_config = run_config or RunConfig()
        self._resume = _resume
        self._restore_flags: dict[str, bool] = {}

    def fit(self) -> Any:
        from tunefleet.executors.early import start_early_workers

        tc, rc = self.tune_config, self.run_config
        # the workers boot while the engine, store and executor are imported (early.py)
        early = start_early_workers(
            self.trainable, rc.engine, None, tc.max_concurrent_trials, self._resume
        )
        try:
            return self._fit()
        finally:
            early.discard()

    def _fit(self) -> Any:
        from tunefleet.results import ResultGrid
        from tunefleet.run_loop import Runner
        from tunefleet.run_spec import build_spec

        tc, rc = self.tune_config, self.run_config
        stop, callbacks = adapt_tuner(tc, rc)  # bool stops, trial names; others warn once
        fc = rc.failure_config or FailureConfig()
        cc = rc.checkpoint_config or CheckpointConfig()
        flags = self._restore_flags
        spec = build_spec(
            self.trainable,
            param="trainable",
            config=self.param_space,
            num_samples=tc.num_samples,
            metric=tc.metric,
            mode=tc.mode,
            constraints=tc.constraints,
            search_alg=tc.search_alg,
            scheduler=tc.scheduler,
            stop=stop,
            time_budget_s=tc.time_budget_s,
            max_concurrent_trials=tc.max_concurrent_trials,
            name=rc.name,
            storage_path=rc.storage_path,
            resume=self._resume,
            max_failures=fc.max_failures,
            fail_fast=fc.fail_fast,
            verbose=1 if rc.verbose is None else int(rc.verbose),
            # The Tuner API reports errors through ResultGrid.errors instead of raising.
            raise_on_failed_trial=False,
            engine=rc.engine,
            seed=tc.seed,
            reproducible=tc.reproducible,
            callbacks=callbacks,
            checkpoint_frequency=cc.checkpoint_frequency,
            checkpoint_at_end=bool(cc.checkpoint_at_end),
            num_to_keep=cc.num_to_keep,
            checkpoint_score_attribute=cc.checkpoint_score_attribute,
            checkpoint_score_order=cc.checkpoint_score_order,
            checkpoint_storage=rc.checkpoint_storage,
            checkpoint_storage_options=rc.checkpoint_storage_options,
            resume_unfinished=flags.get("resume_unfinished", True),
            resume_errored=flags.get("resume_errored", False),
            restart_errored=flags.get("restart_errored", False),
            trust_storage=rc.trust_storage,
            trial_dirname_creator=tc.trial_dirname_creator,
            chdir_to_trial_dir=tc.chdir_to_trial_dir,
            log_mirror_interval_s=rc.log_mirror_interval_s,
            kill_grace_s=rc.kill_grace_s,
        )
        return ResultGrid(Runner(spec).run())

    def get_results(self) -> Any:
        from tunefleet.results import ResultGrid, Results
        from tunefleet.storage import open_store

        name = self.run_config.name
        if name is None:
            raise TuneValueError("name: get_results() needs RunConfig(name=...)")
        store = open_store(self.run_config.storage_path)
        return ResultGrid(Results(store, name))

    @classmethod
    def restore(
        cls,
        path: str,
        trainable: Any = None,
        *,
        param_space: dict[str, Any] | None = None,
        resume_unfinished: bool = True,
        resume_errored: bool = False,
        restart_errored: bool = False,
        trust_storage: bool = False,
        checkpoint_storage_options: dict[str, Any] | None = None,
        **ray_kwargs: Any,
    ) -> Tuner:
        """Resume the experiment stored at ``path`` (``storage_path/name``) with the
        components and settings it was started with (rebuilt from its spec).

        Ray Tune's flags: ``resume_unfinished=False`` ends running and paused trials as they
        stand; ``resume_errored`` continues errored trials from their last checkpoint,
        ``restart_errored`` from scratch. ``trust_storage=True``: restore even from a path
        that other users can write (see :mod:`tunefleet.storage.trust`). A URL path
        (``s3://bucket/prefix/NAME``) resumes from the log mirrored there (log_mirror.py)."""
        from tunefleet.space import space_from_json
        from tunefleet.storage import open_store

        path = os.fspath(path).rstrip("/")
        storage_path, name = os.path.split(path)
        url = None
        if "://" in storage_path:
            from tunefleet.log_mirror import localize

            storage_path, url = localize(storage_path, name, checkpoint_storage_options, True)
        store = open_store(storage_path or ".")
        if not store.experiment_exists(name):
            raise TuneValueError(f"path: no tunefleet experiment at {path!r}")
        store.check_trusted(name, trusted=trust_storage is True)  # before importing
        spec = store.get_spec(name)
        if trainable is None:
            from tunefleet.restore import import_ref

            trainable = import_ref(spec.get("trainable", ""))
        # Only what locates the experiment: every component and setting the caller does
        # not give again is rebuilt from the experiment's spec by the runner.
        tuner = cls(
            trainable,
            param_space=param_space if param_space is not None else space_from_json(spec["space"]),
            run_config=RunConfig(
                name=name,
                storage_path=storage_path or ".",
                trust_storage=trust_storage,
                checkpoint_storage=url,
                checkpoint_storage_options=checkpoint_storage_options if url else None,
            ),
            _resume=True,
        )
        tuner._restore_flags = {
            "resume_unfinished": bool(resume_unfinished),
            "resume_errored": bool(resume_errored),
            "restart_errored": bool(restart_errored),
        }
        # Ray 2.10+'s ResumeConfig (`_resume_config=`) says the same as the flags
        resume_config = ray_kwargs.get("_resume_config", ray_kwargs.get("resume_config"))
        if resume_config is not None:
            from tunefleet.legacy_args import resume_config_flags

            tuner._restore_flags = resume_config_flags(resume_config)
        return tuner

    @classmethod
    def can_restore(cls, path: str) -> bool:
        from tunefleet.storage import open_store

        storage_path, name = os.path.split(os.fspath(path).rstrip("/"))
        try:
            return bool(open_store(storage_path or ".").experiment_exists(name))
        except Exception:  # noqa: BLE001
            return False
