"""MemoryStore: the Store contract without a disk, for tests and the simulator."""

from __future__ import annotations

import copy
import os
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from tunefleet.errors import TuneValueError
from tunefleet.storage.base import Store, validate_name
from tunefleet.storage.records import Record


class _Experiment:
    __slots__ = ("spec", "created", "log")

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.created = time.time()
        self.log: list[Record] = []  # log[i].seq == i + 1


class MemoryStore(Store):
    """Keeps logs in lists. Appended records are stored as given (do not mutate them after
    ``append``); ``read`` hands out fresh Record objects sharing the payload dicts.

    ``root`` is where artifacts go (trial directories); a temporary directory when None.
    """

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self._root = os.path.abspath(os.fspath(root)) if root is not None else None
        self._experiments: dict[str, _Experiment] = {}
        self._lock = threading.Lock()

    @property
    def root(self) -> str:
        if self._root is None:
            self._root = tempfile.mkdtemp(prefix="tunefleet-memory-")
        return self._root

    def _get(self, name: str) -> _Experiment:
        exp = self._experiments.get(name)
        if exp is None:
            raise self.unknown(name, "the in-memory store")
        return exp

    def create_experiment(self, name: str, spec: dict[str, Any], *, exist_ok: bool = False) -> None:
        validate_name(name)
        with self._lock:
            if name in self._experiments:
                if exist_ok:
                    return
                raise TuneValueError(f"name: experiment {name!r} already exists")
            self._experiments[name] = _Experiment(copy.deepcopy(spec))

    def experiment_exists(self, name: str) -> bool:
        return name in self._experiments

    def get_spec(self, name: str) -> dict[str, Any]:
        return copy.deepcopy(self._get(name).spec)

    def created_at(self, name: str) -> float:
        return self._get(name).created

    def append(self, name: str, records: Sequence[Record]) -> None:
        exp = self._get(name)
        with self._lock:
            log = exp.log
            seq = len(log)
            for rec in records:
                seq += 1
                rec.seq = seq
            log.extend(records)  # one atomic step: readers see the whole batch or none of it

    def read(
        self,
        name: str,
        since: int = 0,
        kinds: Iterable[str] | None = None,
        trial_id: str | None = None,
    ) -> Iterator[Record]:
        log = self._get(name).log
        end = len(log)  # a consistent prefix: appends after this call are not seen
        wanted = frozenset(kinds) if kinds is not None else None
        return self._iter(log, max(since, 0), end, wanted, trial_id)

    @staticmethod
    def _iter(
        log: list[Record],
        start: int,
        end: int,
        wanted: frozenset[str] | None,
        trial_id: str | None,
    ) -> Iterator[Record]:
        for i in range(start, end):
            r = log[i]
            if wanted is not None and r.kind not in wanted:
                continue
            if trial_id is not None and r.trial_id != trial_id:
                continue
            yield Record(r.kind, r.trial_id, r.data, r.ts, r.seq)

    def experiment_names(self) -> list[str]:
        return list(self._experiments)

    def experiment_dir(self, name: str) -> str:
        validate_name(name)
        return os.path.join(self.root, name)
