"""Check a checkpoint before a launch restores from it, and fall back when it is bad.

A retry, a resume, an ASHA promotion or a PBT exploit restores a trial from a checkpoint
the store recorded with its content hash. A missing, partial or corrupt one is replaced by
the trial's newest earlier checkpoint that verifies (or none: the trial starts from
scratch), with one warning and a ``checkpoint_invalid`` record. The engine stays free of
I/O: the runner calls this between the engine's launch command and the executor.
"""

from __future__ import annotations

import warnings
from typing import Any

from tunefleet.engine import Engine
from tunefleet.protocol import CHECKPOINT, CHECKPOINT_DELETED, CHECKPOINT_INVALID, Launch
from tunefleet.trial import CHECKPOINT_HISTORY, Trial


class RestoreVerifier:
    """Verifies restores of one experiment (``store``, ``name``); ``options`` are the
    fsspec options of its checkpoint storage."""

    def __init__(self, store: Any, name: str, options: dict[str, Any] | None) -> None:
        self.store = store
        self.name = name
        self.options = options
        # Checkpoint histories of trials restored from the log, read once per trial.
        self._from_store: dict[str, list[tuple[str, int, str | None]]] = {}

    def verify(self, engine: Engine, launch: Launch, now: float) -> None:
        """Check the checkpoint a launch restores from; on a bad one, fall back to the
        trial's newest checkpoint that verifies (or to scratch), warn once, and record a
        ``checkpoint_invalid``. The engine stays free of I/O: this runs here."""
        from tunefleet.checkpoint_store import StorageUnavailableError, verify_checkpoint

        assert launch.checkpoint is not None
        trial = engine.trials[launch.trial_id]
        path = launch.checkpoint
        options = self.options
        history = self.history(trial)
        expected = trial.checkpoint_hash if trial.checkpoint == path else None
        if expected is None:
            expected = next((h for p, _, h in reversed(history) if p == path), None)
        if expected is None and trial.parent_trial_id is not None:
            donor = engine.trials.get(trial.parent_trial_id)
            if donor is not None:
                donor_history = self.history(donor)
                expected = next((h for p, _, h in reversed(donor_history) if p == path), None)
        try:
            reason = verify_checkpoint(path, expected, options)
        except StorageUnavailableError as exc:
            warnings.warn(
                f"trial {trial.trial_id}: {exc}; restoring from it unverified", stacklevel=5
            )
            return
        if reason is None:
            return
        fallback: tuple[str, int, str | None] | None = None
        for cand in reversed(history):
            if cand[0] == path:
                continue
            try:
                if verify_checkpoint(cand[0], cand[2], options) is None:
                    fallback = cand
                    break
            except StorageUnavailableError:
                continue
        engine.checkpoint_invalid(trial.trial_id, path, reason, fallback, now)
        if trial.trial_id in self._from_store:
            self._from_store[trial.trial_id] = [c for c in history if c[0] != path]
        if fallback is None:
            launch.checkpoint, launch.start_iteration, launch.start_time_total = None, 0, 0.0
            instead = "starting it from scratch (no earlier checkpoint verifies)"
        else:
            launch.checkpoint, launch.start_iteration = fallback[0], fallback[1]
            instead = f"restoring from {fallback[0]} (iteration {fallback[1]}) instead"
        warnings.warn(
            f"trial {trial.trial_id}: checkpoint {path} is {reason}; {instead}", stacklevel=5
        )

    def history(self, trial: Trial) -> list[tuple[str, int, str | None]]:
        """The trial's recent checkpoints, oldest first: the engine's memory, or for a
        trial restored from the log (resume), its checkpoint records, read once."""
        if trial.checkpoint_history or trial.checkpoint is None:
            return trial.checkpoint_history
        cached = self._from_store.get(trial.trial_id)
        if cached is not None:
            return cached
        kinds = (CHECKPOINT, CHECKPOINT_DELETED, CHECKPOINT_INVALID)
        out: list[tuple[str, int, str | None]] = []
        gone: set[str] = set()
        for rec in self.store.read(self.name, kinds=kinds, trial_id=trial.trial_id):
            if rec.kind == CHECKPOINT:
                d = rec.data
                out.append((d["path"], int(d.get("iteration") or 0), d.get("hash")))
            else:
                gone.add(rec.data.get("path", ""))
        out = [c for c in out if c[0] not in gone][-CHECKPOINT_HISTORY:]
        self._from_store[trial.trial_id] = out
        return out
