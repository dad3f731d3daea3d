"""Turn a framework-neutral workload into a tunefleet, Ray Tune or Optuna objective.

Every adapter adds the same three bookkeeping values to each report, which is what the
harness measures from: ``bench_entered`` (wall time the trial's function was entered by
this attempt), ``bench_time`` (wall time of the report), ``bench_pid`` (the process that
trains, so that ``--inject-failure`` can kill it on any engine) and ``bench_report_s``
(seconds this attempt spent so far inside the framework's own ``report`` calls: time in
the function that is the framework's, not the user's training, since a report may wait
for the driver).
"""

from __future__ import annotations

import os
import pickle
import shutil
import tempfile
import time
from collections.abc import Callable
from typing import Any

from tunefleet.bench.workload import Dataset, Workload

STATE_FILE = "state.pkl"


class _BaseSession:
    """Shared report bookkeeping; subclasses deliver the result to their framework."""

    def __init__(self, threads: int, checkpoint: bool, trial_id: str | None = None) -> None:
        from tunefleet.bench.systems import announce

        if trial_id is not None:
            announce(trial_id)
        self._threads = threads
        self._checkpoint = checkpoint
        self._entered = time.time()
        self._pid = os.getpid()
        self._in_report = 0.0

    def _deliver(self, send: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Call the framework's report, adding its duration to ``bench_report_s``."""
        started = time.perf_counter()
        try:
            return send(*args, **kwargs)
        finally:
            self._in_report += time.perf_counter() - started

    @property
    def threads(self) -> int:
        return self._threads

    def _metrics(self, metrics: dict[str, float]) -> dict[str, Any]:
        out: dict[str, Any] = dict(metrics)
        out["bench_entered"] = self._entered
        out["bench_time"] = time.time()
        out["bench_pid"] = self._pid
        out["bench_report_s"] = self._in_report
        return out

    @staticmethod
    def _state_dir(state: Any) -> str:
        d = tempfile.mkdtemp(prefix="tunefleet-bench-")
        with open(os.path.join(d, STATE_FILE), "wb") as f:
            pickle.dump(state, f, protocol=pickle.HIGHEST_PROTOCOL)
        return d

    @staticmethod
    def _load_state(path: str) -> Any:
        with open(os.path.join(path, STATE_FILE), "rb") as f:
            return pickle.load(f)


class TunefleetSession(_BaseSession):
    """Reports through ``tunefleet.report``; the state becomes a directory checkpoint."""

    def report(self, metrics: dict[str, float], state: Any | None = None) -> None:
        import tunefleet

        if state is None or not self._checkpoint:
            self._deliver(tunefleet.report, self._metrics(metrics))
            return
        d = self._state_dir(state)
        try:
            checkpoint = tunefleet.Checkpoint.from_directory(d)
            self._deliver(tunefleet.report, self._metrics(metrics), checkpoint=checkpoint)
        finally:
            shutil.rmtree(d, ignore_errors=True)

    def restore(self) -> Any | None:
        import tunefleet

        ckpt = tunefleet.get_checkpoint()
        return None if ckpt is None else self._load_state(ckpt.local_path())


class RayTuneSession(_BaseSession):
    """Reports through ``ray.tune.report`` with a ``ray.tune.Checkpoint``."""

    def report(self, metrics: dict[str, float], state: Any | None = None) -> None:
        from ray import tune

        if state is None or not self._checkpoint:
            self._deliver(tune.report, self._metrics(metrics))
            return
        d = self._state_dir(state)
        try:
            checkpoint = tune.Checkpoint.from_directory(d)
            self._deliver(tune.report, self._metrics(metrics), checkpoint=checkpoint)
        finally:
            shutil.rmtree(d, ignore_errors=True)

    def restore(self) -> Any | None:
        from ray import tune

        ckpt = tune.get_checkpoint()
        if ckpt is None:
            return None
        with ckpt.as_directory() as d:
            return self._load_state(d)


class OptunaSession(_BaseSession):
    """Reports intermediate values to an Optuna trial and prunes when its pruner says so."""

    def __init__(self, trial: Any, metric: str, threads: int, log: list[dict[str, Any]]) -> None:
        super().__init__(threads, checkpoint=False, trial_id=None)
        self._trial = trial
        self._metric = metric
        self._step = 0
        self.log = log
        self.last: float | None = None

    def report(self, metrics: dict[str, float], state: Any | None = None) -> None:
        import optuna

        self._step += 1
        row = self._metrics(metrics)
        row["training_iteration"] = self._step
        row["trial_id"] = str(self._trial.number)
        self.log.append(row)
        self.last = float(metrics[self._metric])
        self._deliver(self._trial.report, self.last, self._step)
        if self._deliver(self._trial.should_prune):
            raise optuna.TrialPruned()

    def restore(self) -> Any | None:
        return None


def tunefleet_trainable(
    workload: Workload, threads: int, checkpoint: bool
) -> Callable[[dict[str, Any], Dataset], None]:
    """A function trainable taking ``data`` (bind it with ``tunefleet.with_parameters``)."""

    def bench_trial(config: dict[str, Any], data: Dataset) -> None:
        import tunefleet

        session = TunefleetSession(threads, checkpoint, tunefleet.get_trial_id())
        workload.train(config, data, session)

    bench_trial.__name__ = f"bench_{workload.name.replace('-', '_')}"
    return bench_trial


def raytune_trainable(
    workload: Workload, threads: int, checkpoint: bool
) -> Callable[[dict[str, Any], Dataset], None]:
    """The same for ``ray.tune.with_parameters``."""

    def bench_trial(config: dict[str, Any], data: Dataset) -> None:
        from ray import tune

        session = RayTuneSession(threads, checkpoint, tune.get_context().get_trial_id())
        workload.train(config, data, session)

    bench_trial.__name__ = f"bench_{workload.name.replace('-', '_')}"
    return bench_trial


def optuna_distributions(space: dict[str, Any]) -> dict[str, Any]:
    """Map a tunefleet search space (one level, Ray's domains) to Optuna distributions.

    Constants are returned as themselves; a nested dict or a domain Optuna cannot express
    raises ValueError naming the key.
    """
    import optuna.distributions as od

    from tunefleet.space import domains as sd

    out: dict[str, Any] = {}
    for key, dom in space.items():
        if isinstance(dom, sd.Categorical):
            out[key] = od.CategoricalDistribution(list(dom.categories))
        elif isinstance(dom, sd.Integer):
            step = int(dom.q or 1)
            high = dom.upper if dom.upper_inclusive else dom.upper - 1  # Ray: upper exclusive
            low, high = -(-dom.lower // step) * step, (high // step) * step
            out[key] = od.IntDistribution(low, high, log=dom.log and step == 1, step=step)
        elif isinstance(dom, sd.Float):
            fstep = float(dom.q) if dom.q else None
            out[key] = od.FloatDistribution(
                float(dom.lower), float(dom.upper), log=dom.log and fstep is None, step=fstep
            )
        elif isinstance(dom, sd.Domain):
            raise ValueError(f"config[{key!r}]: {type(dom).__name__} has no Optuna equivalent")
        elif isinstance(dom, dict):
            raise ValueError(f"config[{key!r}]: nested spaces are not supported for Optuna")
        else:
            out[key] = dom
    return out


def grid_values(space: dict[str, Any]) -> dict[str, list[Any]]:
    """The value lists of a space made of ``grid_search`` entries (and constants)."""
    from tunefleet.space import domains as sd

    return {k: list(v.categories) if isinstance(v, sd.Grid) else [v] for k, v in space.items()}


def optuna_suggest(trial: Any, dists: dict[str, Any]) -> dict[str, Any]:
    """Ask an Optuna trial for one config, through its public ``suggest_*`` calls."""
    import optuna.distributions as od

    config: dict[str, Any] = {}
    for key, d in dists.items():
        if isinstance(d, list):
            config[key] = trial.suggest_categorical(key, d)
        elif isinstance(d, od.FloatDistribution):
            config[key] = trial.suggest_float(key, d.low, d.high, log=d.log, step=d.step)
        elif isinstance(d, od.IntDistribution):
            config[key] = trial.suggest_int(key, d.low, d.high, log=d.log, step=d.step)
        elif isinstance(d, od.CategoricalDistribution):
            config[key] = trial.suggest_categorical(key, list(d.choices))
        else:
            config[key] = d
    return config
