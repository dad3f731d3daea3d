"""Resume: rebuild an experiment from its log and its spec.

The log gives the trials (:func:`replay_for_resume`: lifecycle records, each unfinished
trial's last result and the newest component state); the spec gives the components, each
rebuilt from its recorded class and arguments (:func:`apply_recorded`). Every entry point
(``tune.resume``, ``Tuner.restore``, ``tunefleet resume``, ``run(resume=True)``) goes
through the same runner, which calls these.
"""

from __future__ import annotations

import warnings
from typing import Any

from tunefleet.errors import TuneValueError
from tunefleet.protocol import (
    CHECKPOINT_DELETED,
    CHECKPOINT_INVALID,
    KINDS,
    RESULT,
    STALE_RESULT,
    STATE,
    STATE_DELTA,
)
from tunefleet.run_spec import DEFAULT_STORAGE_PATH, RunSpec
from tunefleet.trial import Trial, TrialStatus

_RESUME_SKIP = (
    RESULT,
    STATE,
    STATE_DELTA,
    STALE_RESULT,
    CHECKPOINT_DELETED,
    CHECKPOINT_INVALID,
)


def replay_for_resume(store: Any, name: str) -> tuple[Any, dict[str, Any] | None]:
    """Rebuild trials without decoding every result: lifecycle records, then each
    unfinished trial's last result from the index, and the newest state (its snapshot
    and the deltas after it).

    Resume cost is O(trials + lifecycle records), not O(results) (issue 4's target: 10,000
    trials with 1,000,000 results in under 2 s)."""
    from tunefleet.storage.replay import replay
    from tunefleet.storage.state_log import read_state

    kinds = [k for k in KINDS if k not in _RESUME_SKIP]
    replayed = replay(store.read(name, kinds=kinds))
    unfinished = [t for t in replayed.trials.values() if t.status not in ("TERMINATED", "ERROR")]
    if unfinished:
        last = store.last_results(name)
        for snap in unfinished:
            rec = last.get(snap.trial_id)
            if rec is not None:
                snap.last_result = rec.data
    return replayed, read_state(store, name)


def trial_from_snapshot(snap: Any) -> Trial:
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
        dirname=getattr(snap, "dirname", None),
    )


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

    if storage_path is not None and "://" in str(storage_path):
        from tunefleet.log_mirror import localize

        options = kwargs.get("checkpoint_storage_options")
        storage_path, kwargs["checkpoint_storage"] = localize(
            str(storage_path), name, options, True
        )
    store = open_store(storage_path)
    if not store.experiment_exists(name):
        names = [e.name for e in store.list_experiments()]
        raise TuneValueError(
            f"name: no experiment {name!r} in {storage_path or DEFAULT_STORAGE_PATH!r} "
            f"(existing: {', '.join(names) or 'none'})"
        )
    # Before importing what the store names (storage/trust.py).
    store.check_trusted(name, trusted=kwargs.get("trust_storage") is True)
    spec = store.get_spec(name)
    if trainable is None:
        trainable = import_ref(spec.get("trainable", ""))
    if config is None:
        config = space_from_json(spec["space"])
    from tunefleet.runner import run

    # Everything not passed again (components, engine, resources, budgets, checkpoint
    # settings) is rebuilt from the recorded spec by the runner (apply_recorded).
    return run(
        trainable, config=config, name=name, storage_path=storage_path, resume=True, **kwargs
    )


def check_compatible(s: RunSpec, name: str, old: dict[str, Any]) -> bool:
    """Refuse to resume with a different search space or objective (unless forced): the
    finished trials would no longer belong to the same search. Returns whether the space
    changed (the searcher then starts a fresh stream)."""
    from tunefleet.space import space_fingerprint

    changed = []
    if old.get("space_fingerprint") not in (None, space_fingerprint(s.config)):
        changed.append(("config", "the search space"))
    if old.get("metric") != s.metric:
        changed.append(("metric", f"metric {old.get('metric')!r} → {s.metric!r}"))
    if old.get("mode") != s.mode:
        changed.append(("mode", f"mode {old.get('mode')!r} → {s.mode!r}"))
    if changed and not s.force_resume:
        param = changed[0][0]
        what = "; ".join(w for _, w in changed)
        raise TuneValueError(
            f"{param}: cannot resume experiment {name!r} with a different search or "
            f"objective ({what}). Pass force_resume=True (CLI: --force) to resume anyway, "
            "or choose a new name"
        )
    if changed:
        warnings.warn(
            f"resuming {name!r} with a changed search or objective (force_resume): "
            + "; ".join(w for _, w in changed)
            + ". The searcher starts a fresh stream over the new space",
            stacklevel=6,
        )
    return any(p == "config" for p, _ in changed)


#: RunSpec attributes taken from the recorded spec when the argument was left at its
#: default: build_spec argument -> (spec key, RunSpec attribute).
_RECORDED_SETTINGS = {
    "metric": ("metric", "metric"),
    "mode": ("mode", "mode"),
    "constraints": ("constraints", "constraints"),
    "num_samples": ("num_samples", "num_samples"),
    "time_budget_s": ("time_budget_s", "time_budget_s"),
    "max_concurrent_trials": ("max_concurrent_trials", "max_concurrent_trials"),
    "max_failures": ("max_failures", "max_failures"),
    "fail_fast": ("fail_fast", "fail_fast"),
    "seed": ("seed", "seed"),
    "reproducible": ("reproducible", "reproducible"),
    "kill_grace_s": ("kill_grace_s", "kill_grace_s"),
    "log_mirror_interval_s": ("log_mirror_interval_s", "log_mirror_interval_s"),
}


def apply_recorded(s: RunSpec, name: str, old: dict[str, Any]) -> set[str]:
    """Make ``s`` the recorded experiment: every argument the caller left at its default
    is taken from the spec, every component rebuilt from its class and arguments. A
    component that was recorded as not rebuildable (a lambda, a class in ``__main__``) and
    is not passed again is refused, naming it; never replaced by a default. Returns the
    components ("searcher", "scheduler") passed again as a different class, whose recorded
    state must not be loaded into them."""
    from tunefleet.components import class_path, rebuild

    d = s.defaulted
    if "config" in d and old.get("space") is not None:
        from tunefleet.space import space_from_json

        s.config = space_from_json(old["space"])
    for arg, (key, attr) in _RECORDED_SETTINGS.items():
        if arg in d and key in old:
            setattr(s, attr, old[key])
    if "resources_per_trial" in d and old.get("resources"):
        from tunefleet.protocol import Resources

        s.resources = Resources.from_json(old["resources"])
        if s.resources.workers > 1:
            from tunefleet.worker.data_parallel import DataParallelTrainable, data_parallel

            if not isinstance(s.trainable, DataParallelTrainable):
                s.trainable = data_parallel(s.trainable, s.resources)
    ck = old.get("checkpoint") or {}
    if "checkpoint_frequency" in d and "frequency" in ck:
        s.checkpoint_frequency = int(ck["frequency"] or 0)
    if "checkpoint_at_end" in d and "at_end" in ck:
        s.checkpoint_at_end = bool(ck["at_end"])
    retention = ("num_to_keep", "checkpoint_score_attribute", "checkpoint_score_order")
    if all(k in d for k in retention) and any(k in ck for k in retention):
        from tunefleet.checkpoint_manager import CheckpointKeeper

        s.retention = {k: ck.get(k, s.retention.get(k)) for k in retention}
        r = s.retention
        s.keeper = CheckpointKeeper(
            r["num_to_keep"], r["checkpoint_score_attribute"], r["checkpoint_score_order"] or "max"
        )
    comps = old.get("components")
    if comps is None:
        warnings.warn(
            f"experiment {name!r} was recorded by tunefleet {old.get('tunefleet_version')}, "
            "which did not record its searcher, scheduler and stopper: pass them again "
            "(search_alg=, scheduler=, stop=) or they are the defaults",
            stacklevel=5,
        )
        return set()
    how = (
        f"pass it again: tunefleet.resume({name!r}, {{param}}=...), "
        "Tuner.restore(path, trainable, ...) with it in TuneConfig/RunConfig, or "
        "run(..., resume=True, {param}=...)"
    )

    def rebuilt(desc: dict[str, Any] | None, param: str) -> Any:
        if desc is None:
            return None
        if "error" in desc:
            raise TuneValueError(
                f"{param}: the experiment's {desc.get('class')} cannot be rebuilt "
                f"({desc['error']}); " + how.format(param=param)
            )
        return rebuild(desc, param)

    replaced: set[str] = set()
    if "search_alg" in d and "points_to_evaluate" in d:
        s.searcher = rebuilt(comps.get("searcher"), "search_alg")
    elif comps.get("searcher") and class_path(type(s.searcher)) != comps["searcher"]["class"]:
        _warn_replaced("search_alg", comps["searcher"]["class"], s.searcher, name)
        replaced.add("searcher")
    if "scheduler" in d:
        s.scheduler = rebuilt(comps.get("scheduler"), "scheduler")
    elif comps.get("scheduler") and class_path(type(s.scheduler)) != comps["scheduler"]["class"]:
        _warn_replaced("scheduler", comps["scheduler"]["class"], s.scheduler, name)
        replaced.add("scheduler")
    if "stop" in d:
        s.stopper = rebuilt(comps.get("stopper"), "stop")
    if "engine" in d and comps.get("engine"):
        from tunefleet.executors import create_executor

        engine = comps["engine"]
        arg = engine["uri"] if "uri" in engine else rebuilt(engine, "engine")
        if arg != s.engine_arg:
            s.executor = create_executor(arg)
            s.engine_arg = arg
    if "resources_per_trial" in d or "engine" in d:
        from tunefleet.run_spec import validate_slot

        validate_slot(s.executor, s.resources)
    return replaced


def _warn_replaced(param: str, recorded: str, given: Any, name: str) -> None:
    warnings.warn(
        f"{param}: resuming {name!r} with {type(given).__name__} instead of its recorded "
        f"{recorded}; the saved state of the recorded one is not loaded into it",
        stacklevel=6,
    )


def import_ref(ref: str) -> Any:
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
