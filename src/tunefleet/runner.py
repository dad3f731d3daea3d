"""``run()``: Ray Tune's classic entry point, validated and handed to the run loop.

Why a module of its own, importing almost nothing: a local sweep's workers are fresh
interpreters, and the first trial waits for them. ``run()`` starts them first
(``start_early_workers``), and only then imports the engine, the store and the executor
(run_loop.py, ~0.1 s), so the two overlap instead of adding up.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

from tunefleet.errors import TuneTypeError
from tunefleet.executors.early import start_early_workers


def __getattr__(name: str) -> Any:
    # Runner, StorageFullError, FLUSH_INTERVAL_S ... lived here before run_loop.py
    import tunefleet.run_loop as run_loop

    try:
        return getattr(run_loop, name)
    except AttributeError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None


_IGNORED_RAY_ARGS = (
    "progress_reporter",
    "sync_config",
    "log_to_file",
    "reuse_actors",
    "trial_name_creator",
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
    constraints: list[str] | None = None,
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
    reproducible: bool = False,
    warm_start_from: list[str] | None = None,
    trust_storage: bool = False,
    log_mirror_interval_s: float | None = None,
    kill_grace_s: float = 5.0,
    **ray_args: Any,
) -> Any:
    """Run a hyperparameter search and return its :class:`~tunefleet.results.Results`.

    Takes Ray Tune's classic ``tune.run`` arguments plus ``engine`` ("local",
    "simulated", or an Executor) and ``seed``. Ray Tune arguments that have no meaning
    here (``progress_reporter``, ``sync_config``, ``reuse_actors`` …) are accepted and
    ignored with a warning, so scripts migrate by changing only their import line.

    ``reproducible=True`` (tunefleet, needs ``seed``): the same trial table (configs,
    stops, final results of deterministic trainables) at any ``max_concurrent_trials`` and
    on every engine: decisions are taken in trial order, not in order of arrival (see
    docs/architecture.md for what it supports and costs).

    ``checkpoint_storage`` (tunefleet): put trial directories, hence checkpoints, at a path
    or any fsspec URL (``"s3://bucket/prefix"``: ``<prefix>/<name>/trials/<trial_id>``),
    with ``checkpoint_storage_options`` passed to fsspec (``endpoint_url``, ``key``,
    ``secret``; credentials also come from the environment). The event log stays in
    ``storage_path``: SQLite needs a local filesystem, and the log is small.

    ``warm_start_from`` (tunefleet): names of earlier experiments in ``storage_path`` whose
    trials' (config, metric) pairs start a model-based searcher's model.

    ``trust_storage=True`` (tunefleet): resume even from a storage path that other users
    can write (a resume imports and unpickles what the store holds; storage/trust.py).

    ``log_mirror_interval_s`` (tunefleet): with checkpoints at a URL, seconds between
    snapshots of the experiment log uploaded beside them (default: on a resume the recorded
    value, else the environment variable ``TUNEFLEET_LOG_MIRROR_S``, else 30; log_mirror.py).

    ``kill_grace_s`` (tunefleet, default 5): when a trial ends (returns, fails, is stopped),
    the processes it started get SIGTERM, then this many seconds to exit before SIGKILL
    (0: SIGKILL at once; worker/reaper.py).
    """
    early = start_early_workers(
        run_or_experiment, engine, resources_per_trial, max_concurrent_trials, resume
    )
    try:
        from tunefleet.legacy_args import adapt, resume_options
        from tunefleet.run_loop import Runner
        from tunefleet.run_spec import build_spec

        dirname_creator = ray_args.pop("trial_dirname_creator", None)
        chdir = ray_args.pop("chdir_to_trial_dir", None)
        resume, resume_flags = resume_options(resume, ray_args.pop("resume_config", None))
        run_or_experiment, stop, verbose, callbacks = adapt(
            run_or_experiment, stop, verbose, callbacks, ray_args
        )
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
            checkpoint_freq = checkpoint_freq or getattr(
                checkpoint_config, "checkpoint_frequency", 0
            )
            checkpoint_at_end = checkpoint_at_end or bool(
                getattr(checkpoint_config, "checkpoint_at_end", False)
            )
            num_to_keep = getattr(checkpoint_config, "num_to_keep", None) or num_to_keep
            score_attr = (
                getattr(checkpoint_config, "checkpoint_score_attribute", None) or score_attr
            )
            score_order = getattr(checkpoint_config, "checkpoint_score_order", None) or score_order
        spec = build_spec(
            run_or_experiment,
            param="run_or_experiment",
            config=config,
            num_samples=num_samples,
            metric=metric,
            mode=mode,
            constraints=constraints,
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
            reproducible=reproducible,
            trust_storage=trust_storage,
            trial_dirname_creator=dirname_creator,
            chdir_to_trial_dir=chdir,
            **resume_flags,
            log_mirror_interval_s=log_mirror_interval_s,
            kill_grace_s=kill_grace_s,
        )
        return Runner(spec, warm_start_from=warm_start_from).run()
    finally:
        early.discard()
