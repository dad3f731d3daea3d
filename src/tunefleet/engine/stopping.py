"""What the engine needs to know about a stopper before the first report.

Dict criteria (``stop={"training_iteration": 10}``) and iteration limits travel with the
launch and are checked by the worker itself, so a trial stops at exactly the result that
meets them while its reports stay asynchronous. Any other per-result stopper (a function,
a stateful ``Stopper``) must see a result before the trial goes on, so it makes every
report wait, as in Ray Tune. A stopper that only ends the whole experiment
(``stop_all()``) never looks at single results and makes no report wait.
"""

from __future__ import annotations

from tunefleet.stoppers import CombinedStopper, DictStopper, MaximumIterationStopper, Stopper


def _parts(stopper: Stopper) -> list[Stopper]:
    return list(stopper.stoppers) if isinstance(stopper, CombinedStopper) else [stopper]


def _as_dict(stopper: Stopper) -> dict[str, float] | None:
    if isinstance(stopper, DictStopper):
        return dict(stopper.criteria)
    if isinstance(stopper, MaximumIterationStopper):
        return {"training_iteration": stopper.max_iter}
    return None


def _judges_results(stopper: Stopper) -> bool:
    """Does it decide on single results? (A subclass that overrides only ``stop_all``
    inherits the base ``__call__``, which never stops a trial.)"""
    return type(stopper).__call__ is not Stopper.__call__


def dict_criteria(stopper: Stopper | None) -> dict[str, float] | None:
    """Stop criteria a worker can check on its own, when every per-result part is one."""
    if stopper is None:
        return None
    merged: dict[str, float] = {}
    found = False
    for part in _parts(stopper):
        d = _as_dict(part)
        if d is None:
            if _judges_results(part):
                return None
            continue
        found = True
        for k, v in d.items():
            merged[k] = min(v, merged.get(k, v))
    return merged if found else None


def stopper_needs_results(stopper: Stopper | None) -> bool:
    """True when some part of the stopper must judge each result before the trial goes on
    (neither worker-checkable criteria nor a ``stop_all``-only stopper)."""
    if stopper is None:
        return False
    return any(_as_dict(p) is None and _judges_results(p) for p in _parts(stopper))


def stop_keys(stopper: Stopper | None) -> tuple[str, ...]:
    """The result keys that the stopper's dict criteria compare (``stop={"acc": 0.9}``)."""
    if stopper is None:
        return ()
    keys: list[str] = []
    for part in _parts(stopper):
        if isinstance(part, DictStopper):
            keys.extend(k for k in part.criteria if k not in keys)
    return tuple(keys)
