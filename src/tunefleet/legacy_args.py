"""Ray Tune 1.x-2.x ``tune.run`` arguments, turned into what tunefleet's ``run`` takes.

Kept out of the runner: this is translation, not running. Each Ray argument is acted on
(``loggers`` become logger callbacks, bool ``stop`` thresholds and bool ``verbose`` become
numbers, a registered trainable's name becomes the trainable) or, where it has no meaning
here, accepted with one warning per argument per interpreter, naming it and why.
"""

from __future__ import annotations

import warnings
from typing import Any

# Ray argument -> why tunefleet does without it
MEANINGLESS: dict[str, str] = {
    "progress_reporter": "tunefleet prints its own progress (verbose=)",
    "sync_config": "trial directories go straight to checkpoint_storage; nothing to sync",
    "log_to_file": "a trial's output goes to the driver's console",
    "export_formats": "checkpoints are stored as written",
    "restore": "use resume=True or Tuner.restore",
    "server_port": "there is no Tune server; the dashboard reads the store",
    "max_pending_trials": "the engine queues no more trials than it can start",
    "_remote": "the driver runs where the script runs",
    "trial_executor": "engines replace trial executors (engine=)",
    "queue_trials": "trials wait for capacity by themselves",
    "ray_auto_init": "no Ray to start (engine='ray' starts it)",
    "with_server": "there is no Tune server",
    "upload_dir": "use checkpoint_storage='s3://...'",
    "sync_to_cloud": "use checkpoint_storage='s3://...'",
    "sync_to_driver": "trial directories are on shared storage",
    "sync_on_checkpoint": "checkpoints are persisted when reported",
    "global_checkpoint_period": "the experiment log is committed continuously",
    "run_errored_only": "use resume=True",
    "resume_unfinished": "resume=True runs unfinished trials",
    "resume_errored": "resume=True with max_failures retries errored trials",
    "restart_errored": "resume=True with max_failures retries errored trials",
    "storage_filesystem": "use checkpoint_storage with checkpoint_storage_options",
    "checkpoint_keep_all_ranks": "rank 0 reports the checkpoint",
    "_entrypoint": "internal to Ray",
    "_remote_string_queue": "internal to Ray",
    "_experiment_checkpoint_dir": "internal to Ray",
}
_warned: set[str] = set()


def warn_once(name: str, why: str, stacklevel: int = 4) -> None:
    """Warn that a Ray argument is accepted and ignored, once per argument."""
    if name in _warned:
        return
    _warned.add(name)
    warnings.warn(f"{name}: accepted and ignored ({why})", stacklevel=stacklevel)


def adapt(
    run_or_experiment: Any,
    stop: Any,
    verbose: Any,
    callbacks: list[Any] | None,
    ray_args: dict[str, Any],
) -> tuple[Any, Any, Any, list[Any] | None]:
    """``(run_or_experiment, stop, verbose, callbacks)`` in tunefleet's terms; ``ray_args``
    loses every argument handled here."""
    if isinstance(run_or_experiment, str):
        from tunefleet.compat.registry import get_trainable

        run_or_experiment = get_trainable(run_or_experiment)
    stop = _numeric_stop(stop)
    if isinstance(verbose, bool):
        verbose = int(verbose)
    callbacks = with_namer(callbacks, ray_args.pop("trial_name_creator", None))
    loggers = ray_args.pop("loggers", None)
    if loggers:
        from tunefleet.integrations.loggers import as_callbacks

        callbacks = [*(callbacks or []), *as_callbacks(loggers)]
    for name in [k for k in ray_args if k in MEANINGLESS]:
        value = ray_args.pop(name)
        if value is not None and value is not False:
            warn_once(name, MEANINGLESS[name])
    return run_or_experiment, stop, verbose, callbacks


def with_namer(callbacks: list[Any] | None, creator: Any) -> list[Any] | None:
    """``trial_name_creator`` names the trials callbacks see (``str(trial)``)."""
    if creator is None:
        return callbacks
    from tunefleet.callbacks import TrialNamer
    from tunefleet.errors import TuneTypeError

    if not callable(creator):
        raise TuneTypeError(f"trial_name_creator: expected a function, got {creator!r:.60}")
    return [TrialNamer(creator), *(callbacks or [])]


def adapt_tuner(tune_config: Any, run_config: Any) -> tuple[Any, list[Any] | None]:
    """The Tuner's side: ``(stop, callbacks)`` with bool stop thresholds as numbers and the
    ``trial_name_creator`` applied; each set field that changes nothing here warns once."""
    for cfg in (tune_config, run_config):
        for name, why in MEANINGLESS.items():
            value = getattr(cfg, name, None)
            if value is not None and value is not False:
                warn_once(name, why, stacklevel=5)
    callbacks = with_namer(run_config.callbacks, tune_config.trial_name_creator)
    return _numeric_stop(run_config.stop), callbacks


def _numeric_stop(stop: Any) -> Any:
    """Ray stops at ``result[key] >= threshold``; a True threshold means ``>= 1`` there."""
    if isinstance(stop, dict):
        return {k: int(v) if isinstance(v, bool) else v for k, v in stop.items()}
    return stop


# Ray 2.x's resume suffixes ("AUTO+ERRORED") and 1.x's "ERRORED_ONLY": which trials a
# resume runs again, as (resume_errored, restart_errored, resume_unfinished)
_RESUME_SUFFIXES = {
    "ERRORED": (True, False, True),
    "RESTART_ERRORED": (False, True, True),
    "ERRORED_ONLY": (True, False, False),
    "RESTART_ERRORED_ONLY": (False, True, False),
}
_RESUME_BASES = ("AUTO", "LOCAL", "REMOTE", "PROMPT", "MUST", "TRUE")


def resume_options(resume: Any, resume_config: Any = None) -> tuple[Any, dict[str, bool]]:
    """Ray's ``resume`` string (``"LOCAL"``, ``"AUTO+ERRORED"``, 1.x ``"ERRORED_ONLY"``) and
    ``resume_config=ResumeConfig(...)`` (Ray 2.10+) as tunefleet's ``resume`` and the flags
    of ``Tuner.restore`` (``resume_errored``, ``restart_errored``, ``resume_unfinished``)."""
    from tunefleet.errors import TuneValueError

    flags: dict[str, bool] = {}
    if isinstance(resume, str) and "+" in resume or resume == "ERRORED_ONLY":
        base, *suffixes = str(resume).upper().split("+")
        if base == "ERRORED_ONLY":  # Ray 1.x: rerun the errored trials from scratch
            base, suffixes = "LOCAL", ["RESTART_ERRORED_ONLY"]
        if base not in _RESUME_BASES or any(s not in _RESUME_SUFFIXES for s in suffixes):
            raise TuneValueError(
                f"resume: {resume!r} is not one of Ray's values (True, 'AUTO', 'LOCAL', "
                f"'REMOTE', 'PROMPT', with '+{'/+'.join(_RESUME_SUFFIXES)}')"
            )
        for s in suffixes:
            errored, restart, unfinished = _RESUME_SUFFIXES[s]
            flags["resume_errored"] = flags.get("resume_errored", False) or errored
            flags["restart_errored"] = flags.get("restart_errored", False) or restart
            flags["resume_unfinished"] = flags.get("resume_unfinished", True) and unfinished
        resume = True if base in ("LOCAL", "REMOTE", "PROMPT", "TRUE") else base
    elif resume == "PROMPT":
        resume = True
    if resume_config is not None:
        flags.update(resume_config_flags(resume_config))
        if resume is False:
            resume = "AUTO"  # Ray: a ResumeConfig resumes the experiment if there is one
    return resume, flags


def resume_config_flags(config: Any) -> dict[str, bool]:
    """``ResumeConfig(unfinished=, errored=, finished=)`` (each "resume", "restart" or
    "skip", or Ray's ``ResumeType``) as the ``Tuner.restore`` flags."""
    from tunefleet.errors import TuneValueError

    def kind(field: str, default: str) -> str:
        value = getattr(config, field, default)
        return str(getattr(value, "value", value)).lower()

    unfinished, errored, finished = (
        kind("unfinished", "resume"),
        kind("errored", "skip"),
        kind("finished", "skip"),
    )
    for field, value in (("unfinished", unfinished), ("errored", errored)):
        if value not in ("resume", "restart", "skip"):
            raise TuneValueError(
                f"resume_config.{field}: expected 'resume', 'restart' or 'skip', got {value!r}"
            )
    if unfinished == "restart":
        warn_once("resume_config.unfinished", "'restart' resumes unfinished trials instead")
    if finished != "skip":
        warn_once("resume_config.finished", "finished trials are never run again")
    return {
        "resume_unfinished": unfinished != "skip",
        "resume_errored": errored == "resume",
        "restart_errored": errored == "restart",
    }
