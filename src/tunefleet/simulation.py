"""Drive the engine on the simulated executor in memory: no store, no progress display.

Used by scheduler property tests and by ``benchmarks/simulate.py``: hours of ASHA or PBT on
synthetic learning curves finish in seconds, deterministically for a given seed. The
runner's validation still applies (searcher and scheduler names, metric/mode).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tunefleet.engine import Engine, EngineConfig, HaltTrial, LaunchTrial, Reply
from tunefleet.executors.simulated import SimulatedExecutor
from tunefleet.protocol import Record
from tunefleet.schedulers import Scheduler, create_scheduler
from tunefleet.stoppers import make_stopper
from tunefleet.trial import Trial


@dataclass
class SimulationResult:
    engine: Engine
    trials: dict[str, Trial]
    records: list[Record]
    wall_s: float
    virtual_s: float
    decisions: int  # results the scheduler decided on
    events: int
    snapshots: list[dict[str, Any]] = field(default_factory=list)

    def best(self, metric: str, mode: str) -> Trial:
        sign = 1.0 if mode == "max" else -1.0
        done = [t for t in self.trials.values() if t.last_result and metric in t.last_result]
        return max(done, key=lambda t: sign * float(t.last_result[metric]))  # type: ignore[index]


def simulate(
    trainable: Callable[..., Any],
    *,
    config: dict[str, Any],
    num_samples: int,
    metric: str,
    mode: str,
    scheduler: Any = None,
    search_alg: Any = None,
    num_workers: int = 4,
    seed: int | None = 0,
    stop: Any = None,
    time_budget_s: float | None = None,
    keep_records: bool = True,
    max_failures: int = 0,
    on_event: Callable[[Engine, int], Scheduler | None] | None = None,
    reproducible: bool = False,
) -> SimulationResult:
    """Run a whole experiment on a :class:`SimulatedExecutor` and return what happened.

    ``on_event(engine, n)`` is called after every event; returning a Scheduler swaps it in
    (tests use this to check that state_dict/load_state_dict round-trips mid-run).
    """
    from tunefleet.search import create_searcher, pair_with_scheduler

    searcher = create_searcher(search_alg)
    sched = create_scheduler(scheduler)
    pair_with_scheduler(searcher, sched)
    searcher.setup(config, metric, mode, seed, num_samples)
    sched.setup(metric, mode, seed)
    total = searcher.total_trials(num_samples) or num_samples
    cfg = EngineConfig(
        metric=metric,
        mode=mode,
        total_trials=total,
        max_failures=max_failures,
        time_budget_s=time_budget_s,
        trial_id_prefix="sim",
        trial_dir=lambda tid: f"/nonexistent/sim/{tid}",
        reproducible=reproducible,
    )
    engine = Engine(cfg, searcher, sched, make_stopper(stop))
    executor = SimulatedExecutor(num_workers=num_workers)
    executor.start(trainable, cfg.resources, None, "/nonexistent/sim")
    records: list[Record] = []
    t0 = time.perf_counter()
    engine.start(executor.now())
    n_events = 0

    def apply(cmds: list[Any]) -> None:
        for c in cmds:
            if type(c) is LaunchTrial:
                executor.submit(c.launch)
            elif type(c) is Reply:
                executor.reply(c.trial_id, c.proceed)
            elif type(c) is HaltTrial:
                executor.stop(c.trial_id, c.pause)

    try:
        apply(engine.step([], executor.now(), executor.capacity()))
        while not engine.done:
            events = executor.poll(0.0)
            now = executor.now()
            if on_event is None:
                apply(engine.step(events, now, executor.capacity()))
                n_events += len(events)
            else:
                # One event per step, so that the hook sees the engine between events.
                for i, ev in enumerate(events):
                    last = i == len(events) - 1
                    apply(engine.step([ev], now, executor.capacity() if last else 0))
                    n_events += 1
                    swapped = on_event(engine, n_events)
                    if swapped is not None:
                        engine.scheduler = swapped
                if not events:
                    apply(engine.step([], now, executor.capacity()))
            if engine.records:
                if keep_records:
                    records.extend(engine.records)
                engine.records = []
            engine.warnings.clear()
        if keep_records:
            records.extend(engine.records)
        engine.records = []
    finally:
        executor.close()
    return SimulationResult(
        engine=engine,
        trials=engine.trials,
        records=records,
        wall_s=time.perf_counter() - t0,
        virtual_s=executor.now(),
        decisions=engine.num_results,
        events=n_events,
    )


def roundtrip_state(scheduler: Scheduler, fresh: Scheduler, trials: dict[str, Trial]) -> Scheduler:
    """Copy ``scheduler``'s state into ``fresh`` through JSON, as resume does."""
    state = json.loads(json.dumps(scheduler.state_dict()))
    fresh.setup(scheduler.metric, scheduler.mode, scheduler.seed)
    for trial in sorted(trials.values(), key=lambda t: t.index):
        fresh.on_trial_added(trial)
    fresh.load_state_dict(state)
    return fresh
