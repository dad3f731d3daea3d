"""The Store interface: where an experiment's event log and spec live (DESIGN.md §4, §6).

Rules every store keeps, so that Results, the CLI, the dashboard and resume can rely on them:

* ``append`` is one transaction: a reader sees all of a call's records or none of them.
* ``seq`` is assigned by the store, 1, 2, 3, ... in append order, and never reused.
* ``read`` yields records with ``seq > since`` in ``seq`` order; it never blocks the writer.
* Specs and payloads are JSON; nothing is ever unpickled.
"""

from __future__ import annotations

import math
import os
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from tunefleet.errors import TuneError, TuneValueError
from tunefleet.storage.records import (
    EXPERIMENT_FINISHED,
    EXPERIMENT_STARTED,
    RESULT,
    TRIAL_COMPLETED,
    TRIAL_CREATED,
    TRIAL_FAILED,
    TRIAL_PAUSED,
    TRIAL_RESTARTED,
    TRIAL_STARTED,
    Record,
)

# Kinds that change a trial's lifecycle: few per trial, so a summary built from them alone
# costs O(trials), not O(results).
LIFECYCLE_KINDS = (
    EXPERIMENT_STARTED,
    TRIAL_CREATED,
    TRIAL_STARTED,
    TRIAL_PAUSED,
    TRIAL_RESTARTED,
    TRIAL_FAILED,
    TRIAL_COMPLETED,
    EXPERIMENT_FINISHED,
)


class SchemaVersionError(TuneError):
    """The store was written by a newer tunefleet; reading it could silently lose data."""


class UnknownExperimentError(TuneValueError):
    """No experiment of that name in the store (the message lists the ones that exist)."""


class DamagedStoreError(TuneError):
    """An experiment's file is empty, truncated, overwritten or holds a damaged record.

    Its message is one line naming the file and the command that salvages it (``tunefleet
    doctor``); nothing ever writes over a damaged file.
    """


@dataclass(slots=True)
class ExperimentSummary:
    """One line of ``tunefleet ls``: enough to choose an experiment without opening it."""

    name: str
    created: float
    # "created" | "running" | "crashed" | "completed" | "stopped" | "failed" | "interrupted"
    # | "damaged" | "unreadable"; "crashed": a run started, never finished, and no driver
    # holds the experiment's lock any more (resume continues it)
    status: str
    num_trials: int
    counts: dict[str, int] = field(default_factory=dict)  # TrialStatus value -> trials
    metric: str | None = None
    mode: str | None = None
    best: float | None = None  # best last-result value of `metric` (spec's metric/mode)
    best_trial_id: str | None = None
    path: str = ""
    num_runs: int = 0
    problem: str | None = None  # why a damaged or unreadable experiment could not be read


def validate_name(name: object) -> str:
    """Experiment names become directory names: reject anything that could escape the root."""
    if not isinstance(name, str) or not name.strip():
        raise TuneValueError(f"name: an experiment name must be a non-empty string, got {name!r}")
    bad = [s for s in ("/", "\\", os.sep, os.altsep or "/", "\0") if s in name]
    if bad or name.startswith(".") or name != name.strip():
        raise TuneValueError(
            f"name: {name!r} is not a valid experiment name (no path separators, no leading "
            "dot, no surrounding whitespace)"
        )
    return name


class Store(ABC):
    """Durable home of experiments: a spec and an append-only event log per experiment."""

    @abstractmethod
    def create_experiment(self, name: str, spec: dict[str, Any], *, exist_ok: bool = False) -> None:
        """Create ``name`` with ``spec``; with ``exist_ok`` an existing experiment (and its
        original spec) is kept, which is what resume needs."""

    @abstractmethod
    def experiment_exists(self, name: str) -> bool: ...

    @abstractmethod
    def get_spec(self, name: str) -> dict[str, Any]: ...

    @abstractmethod
    def append(self, name: str, records: Sequence[Record]) -> None:
        """Append in one transaction; sets each record's ``seq``."""

    @abstractmethod
    def read(
        self,
        name: str,
        since: int = 0,
        kinds: Iterable[str] | None = None,
        trial_id: str | None = None,
    ) -> Iterator[Record]:
        """Records with ``seq > since`` in order, optionally of some kinds or one trial."""

    @abstractmethod
    def experiment_names(self) -> list[str]:
        """Names of the experiments in this store (cheap: no log is read)."""

    @abstractmethod
    def experiment_dir(self, name: str) -> str:
        """Directory for the experiment's artifacts (trial directories, checkpoints)."""

    @abstractmethod
    def created_at(self, name: str) -> float: ...

    def close(self) -> None:
        """Release connections; the store may be used again afterwards (reopens lazily)."""
        return None

    def check_writable(self) -> None:
        """Raise TuneValueError naming ``storage_path`` if experiments cannot be written."""
        return None

    def driver_alive(self, name: str) -> bool | None:
        """Whether a driver holds the experiment's lock now (None: this store cannot tell)."""
        return None

    def check_trusted(self, name: str, trusted: bool = False) -> None:
        """Before a resume runs what the store recorded: raise if others could have written it.

        A no-op for stores that live in this process; see :mod:`tunefleet.storage.trust`.
        """
        return None

    # -- derived, overridable for speed -------------------------------------------------

    def trial_dir(self, name: str, trial_id: str) -> str:
        return os.path.join(self.experiment_dir(name), "trials", trial_id)

    def last_results(self, name: str) -> dict[str, Record]:
        """The last ``result`` record of each trial (a store may answer from an index)."""
        out: dict[str, Record] = {}
        for rec in self.read(name, kinds=(RESULT,)):
            if rec.trial_id is not None:
                out[rec.trial_id] = rec
        return out

    def last_of_kind(self, name: str, kind: str) -> Record | None:
        """The newest record of ``kind`` (a store may answer from an index)."""
        last = None
        for rec in self.read(name, kinds=(kind,)):
            last = rec
        return last

    def summary(self, name: str) -> ExperimentSummary:
        """Status, counts and best value, built from lifecycle records + last results; a
        trial whose last result breaks the run's ``constraints`` is never the best (as in
        ``Results.get_best_trial``)."""
        from tunefleet.search.constraints import infeasible
        from tunefleet.storage.replay import replay

        spec = self.get_spec(name)
        records = list(self.read(name, kinds=LIFECYCLE_KINDS))
        records.extend(self.last_results(name).values())
        records.sort(key=lambda r: r.seq)
        exp = replay(records)
        status = exp.status
        if status == "running" and self.driver_alive(name) is False:
            status = "crashed"
        metric = spec.get("metric") if isinstance(spec.get("metric"), str) else None
        mode = spec.get("mode") if spec.get("mode") in ("min", "max") else None
        best: float | None = None
        best_id: str | None = None
        constraints = spec.get("constraints") or None  # the run's: Results' rule for best
        if metric is not None and mode is not None:
            for snap in exp.trials_in_order():
                if constraints is not None and infeasible(snap.last_result, constraints):
                    continue
                value = _finite(snap.last_result, metric)
                if value is None:
                    continue
                if best is None or (value > best if mode == "max" else value < best):
                    best, best_id = value, snap.trial_id
        return ExperimentSummary(
            name=name,
            created=self.created_at(name),
            status=status,
            num_trials=len(exp.trials),
            counts=exp.counts(),
            metric=metric,
            mode=mode,
            best=best,
            best_trial_id=best_id,
            path=self.experiment_dir(name),
            num_runs=exp.num_runs,
        )

    def list_experiments(self) -> list[ExperimentSummary]:
        """Every experiment, oldest first; an unreadable one is listed, not fatal."""
        out = []
        for name in self.experiment_names():
            try:
                out.append(self.summary(name))
            except Exception as e:  # a corrupt or future-version file must not break `ls`
                out.append(
                    ExperimentSummary(
                        name=name,
                        created=0.0,
                        status="damaged" if isinstance(e, DamagedStoreError) else "unreadable",
                        num_trials=0,
                        path=self.experiment_dir(name),
                        problem=str(e),
                    )
                )
        out.sort(key=lambda s: (s.created, s.name))
        return out

    def unknown(self, name: str, where: str) -> UnknownExperimentError:
        """The error for a missing experiment, listing what exists so the user can pick."""
        names = self.experiment_names()
        listing = ", ".join(names) if names else "none"
        return UnknownExperimentError(
            f"name: no experiment {name!r} in {where} (existing experiments: {listing})"
        )

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _finite(result: dict[str, Any] | None, metric: str) -> float | None:
    if not result:
        return None
    v = result.get(metric)
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        return None
    return float(v)
