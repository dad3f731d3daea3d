"""Analysis of a finished (or running) experiment, rebuilt from its event log alone.

``Results`` is tunefleet's own object and Ray's classic ``ExperimentAnalysis`` surface;
``ResultGrid`` / ``Result`` are the Tuner API's. All of them read the store only, so they
work from another process on an experiment whose driver is long gone (DESIGN.md §5.8).

Construction is one replay of the log that keeps each trial's last result only; the full
history is read on first need (scopes other than "last", ``trial_dataframes``,
``metrics_dataframe``, checkpoint metrics). pandas is imported only by the dataframe methods.

Why ~680 lines: it carries three public surfaces that scripts use by name (``Results``,
Ray's ``ExperimentAnalysis`` and the Tuner API's ``ResultGrid``/``Result``) over one replay;
splitting them is issue material for the dashboard work, which reads the same replay.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tunefleet.checkpoint import Checkpoint
from tunefleet.errors import TuneError, TuneValueError
from tunefleet.plots.methods import PlotMethods
from tunefleet.storage import Store, open_store, replay
from tunefleet.storage.records import CHECKPOINT, CHECKPOINT_DELETED, RESULT
from tunefleet.storage.replay import ERROR, TERMINATED, ReplayedExperiment, TrialSnapshot

if TYPE_CHECKING:
    import pandas as pd

SCOPES = ("last", "avg", "last-5-avg", "last-10-avg", "all")
_MODES = ("min", "max")


class TrialError(TuneError):
    """A trial's final error; ``str()`` carries the message and the worker's traceback."""

    def __init__(self, trial_id: str, error: str | None, traceback: str | None) -> None:
        text = f"Trial {trial_id} failed: {error or 'unknown error'}"
        if traceback:
            text += "\n" + traceback
        super().__init__(text)
        self.trial_id = trial_id
        self.error = error
        self.traceback = traceback


@dataclass(slots=True)
class TrialResult:
    """One trial as the analysis sees it (Ray's ``Trial`` in ``ExperimentAnalysis``)."""

    trial_id: str
    config: dict[str, Any]
    last_result: dict[str, Any]
    status: str
    checkpoint: Checkpoint | None
    error: str | None
    traceback: str | None
    path: str
    index: int = 0
    num_results: int = 0
    num_failures: int = 0
    parent_trial_id: str | None = None
    # {metric: {"min", "max", "avg", "last", "last-5-avg", "last-10-avg"}}; filled by
    # Results.fetch_trial_dataframes / trial_dataframes, which read the full history anyway.
    metric_analysis: dict[str, dict[str, float]] | None = None
    trainable_name: str = ""  # Ray's Trial.trainable_name: the function's or class's name

    @property
    def logdir(self) -> str:
        return self.path

    @property
    def local_path(self) -> str:
        return self.path

    @property
    def iteration(self) -> int:
        it = self.last_result.get("training_iteration", self.num_results)
        return int(it) if _number(it) is not None else self.num_results


@dataclass(slots=True)
class _History:
    results: dict[str, list[dict[str, Any]]]
    # per trial: (path, iteration, number of results seen before the checkpoint record)
    checkpoints: dict[str, list[tuple[str, int, int]]]


def _number(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    return float(v)


def _better(a: float, b: float, mode: str) -> bool:
    return a > b if mode == "max" else a < b


def check_mode(mode: object) -> str:
    if mode not in _MODES:
        raise TuneValueError(f"mode: must be 'min' or 'max', got {mode!r}")
    return str(mode)


def check_scope(scope: object) -> str:
    if scope not in SCOPES:
        raise TuneValueError(f"scope: must be one of {', '.join(SCOPES)}; got {scope!r}")
    return str(scope)


def flatten(d: dict[str, Any], prefix: str = "", sep: str = "/") -> dict[str, Any]:
    """Nested dicts → one level with ``a/b`` keys, as Ray's dataframes name them."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            out.update(flatten(v, key + sep, sep))
        else:
            out[key] = v
    return out


def _scope_value(values: list[float], scope: str, mode: str, finite_only: bool) -> float | None:
    """A trial's score from its metric values (in report order) under ``scope``."""
    if not values:
        return None
    if scope == "last":
        return values[-1]
    if scope == "all":
        ok = [v for v in values if (math.isfinite(v) if finite_only else not math.isnan(v))]
        if not ok:
            return None
        return max(ok) if mode == "max" else min(ok)
    window = values if scope == "avg" else values[-(5 if scope == "last-5-avg" else 10) :]
    return math.fsum(window) / len(window)


def _analysis(values: list[float]) -> dict[str, float]:
    return {
        "max": max(values),
        "min": min(values),
        "avg": math.fsum(values) / len(values),
        "last": values[-1],
        "last-5-avg": math.fsum(values[-5:]) / len(values[-5:]),
        "last-10-avg": math.fsum(values[-10:]) / len(values[-10:]),
    }


class Results(PlotMethods):
    """Everything about one experiment: best trial/config/checkpoint, dataframes, errors;
    ``plot_*()`` draw it (:mod:`tunefleet.plots`).

    ``metric`` and ``mode`` default to the experiment spec's ``"metric"`` and ``"mode"``.
    NaN and ±inf scores never win: they are skipped when ``filter_nan_and_inf`` (default)
    and NaN is always skipped.
    """

    def __init__(
        self, store: Store, name: str, metric: str | None = None, mode: str | None = None
    ) -> None:
        if isinstance(metric, list) or isinstance(mode, list):
            metric = mode = None  # several objectives: the spec records them (pareto_front)
        if mode is not None:
            check_mode(mode)
        self._store = store
        self.name = name
        self.spec: dict[str, Any] = store.get_spec(name)
        spec_metric = self.spec.get("metric")
        spec_mode = self.spec.get("mode")
        self.default_metric: str | None = metric or (
            spec_metric if isinstance(spec_metric, str) else None
        )
        self.default_mode: str | None = mode or (spec_mode if spec_mode in _MODES else None)
        self._loaded: tuple[ReplayedExperiment, list[TrialResult], dict[str, TrialResult]] | None
        self._loaded = None
        self._history: _History | None = None

    # The log is read on first use, not when run() returns: a sweep of a million results
    # should not pay for reading them back unless someone asks.
    def _load(self) -> tuple[ReplayedExperiment, list[TrialResult], dict[str, TrialResult]]:
        if self._loaded is None:
            exp = replay(self._store.read(self.name))
            trials = [self._trial(s) for s in exp.trials_in_order()]
            self._loaded = (exp, trials, {t.trial_id: t for t in trials})
        return self._loaded

    @property
    def _exp(self) -> ReplayedExperiment:
        return self._load()[0]

    @property
    def _trials(self) -> list[TrialResult]:
        return self._load()[1]

    @property
    def _by_id(self) -> dict[str, TrialResult]:
        return self._load()[2]

    @classmethod
    def load(
        cls,
        name_or_path: str | os.PathLike[str],
        storage_path: str | os.PathLike[str] | None = None,
        metric: str | None = None,
        mode: str | None = None,
    ) -> Results:
        """Open an experiment by name (in ``storage_path``) or by its directory's path."""
        name, store = _locate(name_or_path, storage_path)
        return cls(store, name, metric=metric, mode=mode)

    def _resolve_path(self, path: str | None) -> str | None:
        """Checkpoint paths may be stored relative to the experiment dir (movable runs)."""
        if not path or "://" in path or os.path.isabs(path):
            return path
        return os.path.join(self.experiment_path, path)

    def _trial(self, s: TrialSnapshot) -> TrialResult:
        ckpt = self._resolve_path(s.checkpoint)
        return TrialResult(
            trial_id=s.trial_id,
            config=s.config,
            last_result=s.last_result or {},
            status=s.status,
            checkpoint=Checkpoint(ckpt) if ckpt else None,
            error=s.error,
            traceback=s.traceback,
            path=self._store.trial_dir(self.name, s.dirname or s.trial_id),
            index=s.index,
            num_results=s.num_results,
            num_failures=s.num_failures,
            parent_trial_id=s.parent_trial_id,
            trainable_name=str(self.spec.get("trainable", ""))
            .rpartition(":")[2]
            .rpartition(".")[2],
        )

    # -- metric / mode ----------------------------------------------------------------------

    def _metric_mode(self, metric: str | None, mode: str | None) -> tuple[str, str]:
        metric = metric if metric is not None else self.default_metric
        mode = mode if mode is not None else self.default_mode
        if metric is None and isinstance(self.spec.get("metric"), list):
            raise TuneValueError(
                f"metric: experiment {self.name!r} has several objectives "
                f"{self.spec['metric']!r}, so no one trial is best; use pareto_front(), or "
                "pass metric=... and mode=... to rank by one of them"
            )
        if not isinstance(metric, str) or not metric:
            raise TuneValueError(
                f"metric: no metric given and experiment {self.name!r} was not run with one; "
                "pass metric=... and mode=..."
            )
        if mode is None:
            raise TuneValueError(
                f"mode: no mode given and experiment {self.name!r} was not run with one; "
                "pass mode='min' or mode='max'"
            )
        return metric, check_mode(mode)

    # -- history (read on first need) ---------------------------------------------------------

    def _load_history(self) -> _History:
        if self._history is not None:
            return self._history
        results: dict[str, list[dict[str, Any]]] = {t.trial_id: [] for t in self._trials}
        checkpoints: dict[str, list[tuple[str, int, int]]] = {}
        deleted: set[str] = set()
        for rec in self._store.read(self.name, kinds=(RESULT, CHECKPOINT, CHECKPOINT_DELETED)):
            tid = rec.trial_id or ""
            if rec.kind == RESULT:
                results.setdefault(tid, []).append(rec.data)
            elif rec.kind == CHECKPOINT_DELETED:
                deleted.add(str(rec.data.get("path")))
            elif rec.data.get("path"):
                seen = len(results.get(tid, ()))
                it = int(rec.data.get("iteration") or 0)
                checkpoints.setdefault(tid, []).append((rec.data["path"], it, seen))
        for tid, kept in checkpoints.items():
            checkpoints[tid] = [c for c in kept if c[0] not in deleted]
        self._history = _History(results, checkpoints)
        return self._history

    @staticmethod
    def _metric_analysis(rows: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
        series: dict[str, list[float]] = {}
        for r in rows:
            for k, v in r.items():
                x = _number(v)
                if x is not None:
                    series.setdefault(k, []).append(x)
        return {k: _analysis(vs) for k, vs in series.items()}

    def _values(self, trial_id: str, metric: str) -> list[float]:
        rows = self._load_history().results.get(trial_id, [])
        return [x for r in rows if (x := _number(r.get(metric))) is not None]

    def _score(
        self, t: TrialResult, metric: str, mode: str, scope: str, finite_only: bool
    ) -> float | None:
        if scope == "last" and metric in t.last_result:
            score = _number(t.last_result[metric])
        elif scope == "last" and t.num_results == 0:
            return None
        else:
            score = _scope_value(self._values(t.trial_id, metric), scope, mode, finite_only)
        if score is None or math.isnan(score) or (finite_only and math.isinf(score)):
            return None
        return score

    # -- best -------------------------------------------------------------------------------

    def pareto_front(
        self, metric: Any = None, mode: Any = None, constraints: list[str] | None = None
    ) -> list[TrialResult]:
        """The non-dominated feasible trials by their last results (see
        :mod:`tunefleet.results_pareto`); metric/mode lists default to the experiment's,
        ``constraints`` to the searcher's (``[]``: none)."""
        from tunefleet.results_pareto import front_ids, objectives_of, searcher_constraints

        metrics, modes = objectives_of(self.spec, metric, mode, self.name)
        if constraints is None:  # the searcher's own, so the front honours what it did
            constraints = searcher_constraints(self.spec)
        ids = front_ids(
            {t.trial_id: t.last_result for t in self._trials}, metrics, modes, constraints
        )
        return [self._by_id[i] for i in ids]

    def get_best_trial(
        self,
        metric: str | None = None,
        mode: str | None = None,
        scope: str = "last",
        filter_nan_and_inf: bool = True,
    ) -> TrialResult | None:
        """The best trial by ``scope`` (Ray's semantics); None if no trial has a score.
        A trial whose last result breaks the run's ``constraints`` is never the best."""
        metric, mode = self._metric_mode(metric, mode)
        check_scope(scope)
        best: TrialResult | None = None
        best_score = 0.0
        from tunefleet.search.constraints import infeasible

        keys = self.spec.get("constraints") or None
        for t in self._trials:
            if keys and infeasible(t.last_result, keys):
                continue
            score = self._score(t, metric, mode, scope, filter_nan_and_inf)
            if score is not None and (best is None or _better(score, best_score, mode)):
                best, best_score = t, score
        return best

    def get_best_config(
        self,
        metric: str | None = None,
        mode: str | None = None,
        scope: str = "last",
        filter_nan_and_inf: bool = True,
    ) -> dict[str, Any] | None:
        best = self.get_best_trial(metric, mode, scope, filter_nan_and_inf)
        return best.config if best is not None else None

    def get_best_result(
        self,
        metric: str | None = None,
        mode: str | None = None,
        scope: str = "last",
        filter_nan_and_inf: bool = True,
    ) -> dict[str, Any] | None:
        """The best trial's last result (Ray's ``best_result``)."""
        best = self.get_best_trial(metric, mode, scope, filter_nan_and_inf)
        return best.last_result if best is not None else None

    def trial_checkpoints(
        self, trial: TrialResult | str
    ) -> list[tuple[Checkpoint, dict[str, Any]]]:
        """Every checkpoint the trial recorded, oldest first, with the result it came with."""
        tid = trial if isinstance(trial, str) else trial.trial_id
        hist = self._load_history()
        rows = hist.results.get(tid, [])
        by_iter = {r.get("training_iteration"): r for r in rows}
        out = []
        for path, it, seen in hist.checkpoints.get(tid, []):
            metrics = by_iter.get(it) or (rows[seen - 1] if seen else {})
            out.append((Checkpoint(self._resolve_path(path) or path), metrics))
        return out

    def get_best_checkpoint(
        self, trial: TrialResult | str, metric: str | None = None, mode: str | None = None
    ) -> Checkpoint | None:
        """The trial's checkpoint whose result scored best (NaN/inf never win)."""
        metric, mode = self._metric_mode(metric, mode)
        best: Checkpoint | None = None
        best_score = 0.0
        for ckpt, metrics in self.trial_checkpoints(trial):
            score = _number(metrics.get(metric))
            if score is None or not math.isfinite(score):
                continue
            if best is None or _better(score, best_score, mode):
                best, best_score = ckpt, score
        return best

    def get_last_checkpoint(self, trial: TrialResult | str | None = None) -> Checkpoint | None:
        """The latest checkpoint of ``trial`` (default: the best trial)."""
        t = self.best_trial if trial is None else self._get(trial)
        return t.checkpoint if t is not None else None

    def _get(self, trial: TrialResult | str) -> TrialResult:
        tid = trial if isinstance(trial, str) else trial.trial_id
        try:
            return self._by_id[tid]
        except KeyError:
            raise TuneValueError(f"trial: no trial {tid!r} in experiment {self.name!r}") from None

    @property
    def best_trial(self) -> TrialResult | None:
        return self.get_best_trial()

    @property
    def best_config(self) -> dict[str, Any] | None:
        return self.get_best_config()

    @property
    def best_result(self) -> dict[str, Any] | None:
        return self.get_best_result()

    @property
    def best_checkpoint(self) -> Checkpoint | None:
        best = self.best_trial
        return self.get_best_checkpoint(best) if best is not None else None

    @property
    def best_logdir(self) -> str | None:
        best = self.best_trial
        return best.path if best is not None else None

    @property
    def best_dataframe(self) -> pd.DataFrame | None:
        best = self.best_trial
        return self.trial_dataframes[best.trial_id] if best is not None else None

    # -- tables -----------------------------------------------------------------------------

    def _row(self, t: TrialResult, result: dict[str, Any]) -> dict[str, Any]:
        row: dict[str, Any] = {"trial_id": t.trial_id, "status": t.status}
        row.update(flatten(result))
        row["trial_id"] = t.trial_id
        row.update(flatten(t.config, "config/"))
        row["error"] = t.error
        row["path"] = t.path
        return row

    def _best_row(self, t: TrialResult, metric: str, mode: str) -> dict[str, Any]:
        best: dict[str, Any] | None = None
        best_score = 0.0
        for r in self._load_history().results.get(t.trial_id, []):
            score = _number(r.get(metric))
            if score is None or math.isnan(score):
                continue
            if best is None or _better(score, best_score, mode):
                best, best_score = r, score
        return best if best is not None else t.last_result

    def dataframe(self, metric: str | None = None, mode: str | None = None) -> pd.DataFrame:
        """One row per trial: its last result or, with ``metric``/``mode``, its best one;
        plus ``config/<key>`` columns, ``trial_id``, ``status``, ``error`` and ``path``."""
        import pandas as pd

        if metric is None and mode is None:
            rows = [self._row(t, t.last_result) for t in self._trials]
        else:
            metric, mode = self._metric_mode(metric, mode)
            rows = [self._row(t, self._best_row(t, metric, mode)) for t in self._trials]
        if not rows:
            return pd.DataFrame(columns=["trial_id", "status", "error", "path"])
        if isinstance(self.spec.get("metric"), list):  # several objectives: mark the front
            front = {t.trial_id for t in self.pareto_front()}
            for row in rows:
                row["pareto"] = row["trial_id"] in front
        return pd.DataFrame(rows)

    @property
    def results_df(self) -> pd.DataFrame:
        return self.dataframe().set_index("trial_id")

    def all_results_dataframe(self) -> pd.DataFrame:
        """Every result of every trial, with ``trial_id`` and ``config/`` columns."""
        import pandas as pd

        hist = self._load_history()
        rows = [self._row(t, r) for t in self._trials for r in hist.results.get(t.trial_id, [])]
        if not rows:
            return pd.DataFrame(columns=["trial_id", "status", "error", "path"])
        if isinstance(self.spec.get("metric"), list):  # several objectives: mark the front
            front = {t.trial_id for t in self.pareto_front()}
            for row in rows:
                row["pareto"] = row["trial_id"] in front
        return pd.DataFrame(rows)

    def fetch_trial_dataframes(self) -> dict[str, pd.DataFrame]:
        import pandas as pd

        hist = self._load_history()
        out = {}
        for t in self._trials:
            rows = hist.results.get(t.trial_id, [])
            if t.metric_analysis is None:  # the full history is in hand: summarise it too
                t.metric_analysis = self._metric_analysis(rows)
            out[t.trial_id] = pd.DataFrame([flatten(r) for r in rows])
        return out

    @property
    def trial_dataframes(self) -> dict[str, pd.DataFrame]:
        return self.fetch_trial_dataframes()

    def trial_results(self, trial: TrialResult | str) -> list[dict[str, Any]]:
        """All results of one trial, in report order."""
        return list(self._load_history().results.get(self._get(trial).trial_id, []))

    # -- plain views ------------------------------------------------------------------------

    @property
    def trials(self) -> list[TrialResult]:
        return list(self._trials)

    @property
    def results(self) -> dict[str, dict[str, Any]]:
        return {t.trial_id: t.last_result for t in self._trials}

    def get_all_configs(self) -> dict[str, dict[str, Any]]:
        return {t.trial_id: t.config for t in self._trials}

    @property
    def experiment_path(self) -> str:
        return self._store.experiment_dir(self.name)

    @property
    def status(self) -> str:
        """The experiment's status: created | running | crashed | completed | stopped |
        failed | interrupted; "crashed": it never finished and no driver holds it now."""
        status = self._exp.status
        if status == "running" and self._store.driver_alive(self.name) is False:
            return "crashed"
        return status

    @property
    def counts(self) -> dict[str, int]:
        return self._exp.counts()

    @property
    def num_runs(self) -> int:
        return self._exp.num_runs

    @property
    def errors(self) -> list[TrialError]:
        return [
            TrialError(t.trial_id, t.error, t.traceback) for t in self._trials if t.status == ERROR
        ]

    @property
    def num_errors(self) -> int:
        return sum(1 for t in self._trials if t.status == ERROR)

    @property
    def num_terminated(self) -> int:
        return sum(1 for t in self._trials if t.status == TERMINATED)

    def __len__(self) -> int:
        return len(self._trials)

    def __repr__(self) -> str:
        return f"Results({self.name!r}, trials={len(self)}, status={self.status!r})"


class ExperimentAnalysis(Results):
    """Ray's classic constructor: ``ExperimentAnalysis(path_to_experiment)``."""

    def __init__(
        self,
        experiment_checkpoint_path: str | os.PathLike[str],
        *,
        default_metric: str | None = None,
        default_mode: str | None = None,
        storage_path: str | os.PathLike[str] | None = None,
    ) -> None:
        name, store = _locate(experiment_checkpoint_path, storage_path)
        super().__init__(store, name, metric=default_metric, mode=default_mode)


def _locate(
    name_or_path: str | os.PathLike[str], storage_path: str | os.PathLike[str] | None
) -> tuple[str, Store]:
    from tunefleet.storage.sqlite import DB_FILE

    raw = os.fspath(name_or_path)
    if storage_path is None and os.path.isfile(os.path.join(raw, DB_FILE)):
        full = os.path.abspath(raw)
        return os.path.basename(full), open_store(os.path.dirname(full))
    return raw, open_store(storage_path)


class Result:
    """One trial of a Tuner run (Ray's ``ray.tune.Result``)."""

    __slots__ = ("_analysis", "_trial")  # a view: metrics_dataframe etc. read lazily

    def __init__(self, analysis: Results, trial: TrialResult) -> None:
        self._analysis = analysis
        self._trial = trial

    @property
    def trial_id(self) -> str:
        return self._trial.trial_id

    @property
    def status(self) -> str:
        return self._trial.status

    @property
    def config(self) -> dict[str, Any]:
        return self._trial.config

    @property
    def metrics(self) -> dict[str, Any]:
        return self._trial.last_result

    @property
    def checkpoint(self) -> Checkpoint | None:
        return self._trial.checkpoint

    @property
    def path(self) -> str:
        return self._trial.path

    @property
    def error(self) -> TrialError | None:
        t = self._trial
        if t.status != ERROR:
            return None
        return TrialError(t.trial_id, t.error, t.traceback)

    @property
    def metrics_dataframe(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame([flatten(r) for r in self._analysis.trial_results(self._trial)])

    @property
    def best_checkpoints(self) -> list[tuple[Checkpoint, dict[str, Any]]]:
        return self._analysis.trial_checkpoints(self._trial)

    def get_best_checkpoint(self, metric: str, mode: str) -> Checkpoint | None:
        return self._analysis.get_best_checkpoint(self._trial, metric, mode)

    def __repr__(self) -> str:
        return (
            f"Result(trial_id={self.trial_id!r}, status={self.status!r}, "
            f"metrics={self.metrics!r}, path={self.path!r})"
        )


class ResultGrid:
    """The Tuner API's view of an experiment: a list of Result, one per trial."""

    def __init__(self, results: Results) -> None:
        self._analysis = results
        self._items = [Result(results, t) for t in results.trials]
        self._by_id = {r.trial_id: r for r in self._items}

    @property
    def analysis(self) -> Results:
        return self._analysis

    def get_best_result(
        self,
        metric: str | None = None,
        mode: str | None = None,
        scope: str = "last",
        filter_nan_and_inf: bool = True,
    ) -> Result:
        """The best trial's Result; TuneError (a RuntimeError, as in Ray) if none scored."""
        best = self._analysis.get_best_trial(metric, mode, scope, filter_nan_and_inf)
        if best is None:
            m, _ = self._analysis._metric_mode(metric, mode)
            raise TuneError(
                f"No best trial found for metric {m!r}: no trial reported a "
                f"{'finite ' if filter_nan_and_inf else ''}value for it"
            )
        return self._by_id[best.trial_id]

    def pareto_front(
        self, metric: Any = None, mode: Any = None, constraints: list[str] | None = None
    ) -> list[Result]:
        """The Results of the non-dominated feasible trials (``Results.pareto_front``)."""
        front = self._analysis.pareto_front(metric, mode, constraints)
        return [self._by_id[t.trial_id] for t in front]

    def get_dataframe(
        self, filter_metric: str | None = None, filter_mode: str | None = None
    ) -> pd.DataFrame:
        """One row per trial: last result, or the best one by ``filter_metric``/``filter_mode``."""
        if filter_metric is None and filter_mode is None:
            return self._analysis.dataframe()
        return self._analysis.dataframe(filter_metric, filter_mode)

    @property
    def errors(self) -> list[TrialError]:
        return self._analysis.errors

    @property
    def num_errors(self) -> int:
        return self._analysis.num_errors

    @property
    def num_terminated(self) -> int:
        return self._analysis.num_terminated

    @property
    def experiment_path(self) -> str:
        return self._analysis.experiment_path

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, i: int) -> Result:
        return self._items[i]

    def __iter__(self) -> Iterator[Result]:
        return iter(self._items)

    def __repr__(self) -> str:
        return f"ResultGrid<{len(self)} results, {self.num_errors} errors>"
