"""Checkpoint retention: keep the best ``num_to_keep`` checkpoints of each trial.

Ray Tune's ``CheckpointConfig(num_to_keep, checkpoint_score_attribute,
checkpoint_score_order)``. A trial's latest checkpoint is always kept as well, because
retries, resumes after a crash and PBT exploits restart from it. Ranking is by the score
attribute of the result reported with the checkpoint (NaN or missing ranks worst), or by
recency when no attribute is given. Deletions are recorded in the log
(``checkpoint_deleted``), so Results never offers a checkpoint that is gone.

Driver-side and O(k) per checkpoint for k kept checkpoints of that trial.
"""

from __future__ import annotations

import math
import os
import shutil
from collections.abc import Callable
from typing import Any

from tunefleet.errors import TuneValueError
from tunefleet.storage import records as rk
from tunefleet.storage.records import Record


class CheckpointKeeper:
    def __init__(
        self,
        num_to_keep: int | None = None,
        score_attribute: str | None = None,
        score_order: str = "max",
    ) -> None:
        if num_to_keep is not None and (isinstance(num_to_keep, bool) or num_to_keep < 1):
            raise TuneValueError(f"num_to_keep: must be >= 1 or None, got {num_to_keep!r}")
        if score_order not in ("min", "max"):
            raise TuneValueError(
                f"checkpoint_score_order: must be 'min' or 'max', got {score_order!r}"
            )
        self.num_to_keep = num_to_keep
        self.score_attribute = score_attribute
        self.sign = 1.0 if score_order == "max" else -1.0
        self._last_result: dict[str, dict[str, Any]] = {}
        self._kept: dict[str, list[tuple[float, int, str]]] = {}  # (rank key, iteration, path)
        self._deferred: list[tuple[str, str]] = []  # pruned but still in use by a trial
        self._in_use: Callable[[], set[str]] | None = None
        self._busy: set[str] | None = None

    @property
    def active(self) -> bool:
        return self.num_to_keep is not None

    def _rank(self, result: dict[str, Any] | None, iteration: int) -> float:
        if self.score_attribute is None:
            return float(iteration)  # newer is better
        value = (result or {}).get(self.score_attribute)
        try:
            v = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return -math.inf
        return self.sign * v if math.isfinite(v) else -math.inf

    def observe(
        self, records: list[Record], in_use: Callable[[], set[str]] | None = None
    ) -> list[Record]:
        """Look at freshly emitted records; delete what falls out; return deletion records.

        ``in_use()`` names checkpoints another trial may still restore from (a PBT
        recipient's donor checkpoint, a queued retry): those are deleted later, once no
        trial needs them."""
        if self.num_to_keep is None:
            return []
        self._in_use = in_use
        self._busy = None  # computed at most once per call
        out: list[Record] = []
        if self._deferred and records:
            out.extend(self._retry_deferred(records[-1].ts))
        for r in records:
            tid = r.trial_id or ""
            if r.kind == rk.RESULT:
                self._last_result[tid] = r.data
            elif r.kind == rk.CHECKPOINT:
                it = int(r.data.get("iteration") or 0)
                kept = self._kept.setdefault(tid, [])
                kept.append((self._rank(self._last_result.get(tid), it), it, r.data["path"]))
                out.extend(self._prune(tid, r.ts))
            elif r.kind == rk.TRIAL_COMPLETED:
                self._last_result.pop(tid, None)
        return out

    def _prune(self, tid: str, ts: float) -> list[Record]:
        kept = self._kept[tid]
        n = self.num_to_keep or 0
        if len(kept) <= n:
            return []
        latest = kept[-1]
        # The best n (newest first among equals), and the latest regardless.
        ranked = sorted(kept, key=lambda c: (c[0], c[1]), reverse=True)
        survivors = set(ranked[:n]) | {latest}
        out = []
        for c in kept:
            if c not in survivors and c[2] != latest[2]:
                if c[2] in self._busy_paths():
                    self._deferred.append((tid, c[2]))
                    continue
                _remove(c[2])
                out.append(Record(rk.CHECKPOINT_DELETED, tid, {"path": c[2]}, ts))
        self._kept[tid] = [c for c in kept if c in survivors]
        return out

    def _busy_paths(self) -> set[str]:
        if self._busy is None:
            self._busy = self._in_use() if self._in_use is not None else set()
        return self._busy

    def _retry_deferred(self, ts: float) -> list[Record]:
        out, still = [], []
        for tid, path in self._deferred:
            if path in self._busy_paths():
                still.append((tid, path))
                continue
            _remove(path)
            out.append(Record(rk.CHECKPOINT_DELETED, tid, {"path": path}, ts))
        self._deferred = still
        return out


def _remove(path: str) -> None:
    if "://" in path:
        # Manifest first (a half-deleted checkpoint is partial, never "complete"), with
        # retries, and the storage options run() registered for the URL.
        from tunefleet.checkpoint_store import remove_checkpoint

        remove_checkpoint(path)
        return
    if os.path.isdir(path):
        shutil.rmtree(path, ignore_errors=True)


def remove_unrecorded(trials_dir: str, recorded: set[str]) -> int:
    """Delete the checkpoint folders under ``trials_dir`` that the log never recorded, and
    unfinished copies (``.tmp_checkpoint_*``); return how many.

    A worker writes a checkpoint before its report reaches the driver; a report dropped
    because its trial was already being stopped, or lost with a killed driver or worker,
    leaves a folder nothing can restore from (resume and Results use recorded checkpoints
    only). Called once the executor is closed, so no worker is writing. Local paths only.
    """
    if not os.path.isdir(trials_dir):
        return 0
    # (trial folder, checkpoint folder) of each recorded path: the same under another
    # working directory or a moved storage path, where whole paths would differ
    keep = {tuple(os.path.normpath(p).split(os.sep)[-2:]) for p in recorded}
    removed = 0
    with os.scandir(trials_dir) as trials:
        for trial in trials:
            if not trial.is_dir(follow_symlinks=False):
                continue
            with os.scandir(trial.path) as entries:
                for entry in entries:
                    name = entry.name
                    if not entry.is_dir(follow_symlinks=False) or not (
                        name.startswith("checkpoint_") or name.startswith(".tmp_checkpoint_")
                    ):
                        continue
                    if (trial.name, name) not in keep:
                        shutil.rmtree(entry.path, ignore_errors=True)
                        removed += 1
    return removed
