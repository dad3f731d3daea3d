"""Local workers started before the driver's own imports.

Why: on the local engine (the default) every worker is a fresh interpreter, which takes
60–90 ms to boot, and the driver's first ``run()`` imports the engine, the store and the
executor (~0.1 s). Started one after the other, they were most of a short sweep's time.
``run()`` and ``Tuner.fit()`` call :func:`start_early_workers` before those imports, so
the workers boot meanwhile; :class:`~tunefleet.executors.local.LocalExecutor` then takes
them (``local_spawn.spawn_worker``) when it would have started exactly the same processes,
and whatever it did not take is ended when the call returns.

Only the plain case is started early: ``engine="local"`` with default resources, which is
what the executor's slots will then ask for. Anything else (an Executor object, GPUs, more
CPUs per trial, another engine) starts its workers the usual way, so nothing is guessed.
This module imports only the standard library until it starts a worker.
"""

from __future__ import annotations

import os
from typing import Any


class EarlyWorkers:
    """What ``start_early_workers`` started: ``discard()`` ends those no executor took."""

    def __init__(self, started: int) -> None:
        self.started = started

    def discard(self) -> None:
        if self.started:
            from tunefleet.executors.local_spawn import discard_early

            discard_early()


def start_early_workers(
    trainable: Any, engine: Any, resources: Any, max_concurrent: Any, resume: Any = False
) -> EarlyWorkers:
    """Start the local workers a ``run(trainable, engine=engine, resources_per_trial=
    resources, max_concurrent_trials=max_concurrent)`` will use, when that is certain: not
    on a resume, whose engine and resources may come from the recorded experiment."""
    if resume or os.environ.get("TUNEFLEET_EARLY_WORKERS", "1") == "0":
        return EarlyWorkers(0)
    if not (engine is None or (isinstance(engine, str) and engine.strip().lower() == "local")):
        return EarlyWorkers(0)
    if resources is not None or getattr(trainable, "_tunefleet_resources", None):
        return EarlyWorkers(0)  # with_resources(): the slots' shape comes from it
    slots = os.cpu_count() or 1  # LocalExecutor's default: one slot per CPU, 1 CPU a trial
    if max_concurrent is not None:
        if isinstance(max_concurrent, bool) or not isinstance(max_concurrent, int):
            return EarlyWorkers(0)  # run() refuses it, naming the parameter
        if max_concurrent > 0:
            slots = min(slots, max_concurrent)
    from tunefleet.executors.local_spawn import THREAD_VARS, start_early

    start_early([dict.fromkeys(THREAD_VARS, "1") for _ in range(slots)])
    return EarlyWorkers(slots)
