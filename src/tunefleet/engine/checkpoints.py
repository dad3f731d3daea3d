"""The engine's memory of checkpoints: content hashes carried across a PBT exploit, and
the correction of a launch whose checkpoint failed verification. No I/O here: the runner
verifies (tunefleet.restore_verify) and tells the engine what it found."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tunefleet.protocol import CHECKPOINT_INVALID, TRIAL_STARTED, Record
from tunefleet.trial import Trial

if TYPE_CHECKING:
    from tunefleet.engine.core import Engine


def hash_of(donor: Trial | None, trial: Trial) -> str | None:
    """The content hash of ``trial.checkpoint``, taken from the donor it was copied from."""
    if donor is None or trial.checkpoint is None:
        return None
    if donor.checkpoint == trial.checkpoint:
        return donor.checkpoint_hash
    for path, _, digest in reversed(donor.checkpoint_history):
        if path == trial.checkpoint:
            return digest
    return None


def checkpoint_invalid(
    engine: Engine,
    trial_id: str,
    path: str,
    reason: str,
    fallback: tuple[str, int, str | None] | None,
    now: float,
) -> None:
    """The runner found ``path`` missing, partial or corrupt before restoring
    ``trial_id`` from it: forget it, continue from ``fallback`` (path, iteration, hash;
    None: from scratch), and record a ``checkpoint_invalid``. Called between the launch
    and the drain of its records: the pending ``trial_started`` is corrected to name the
    checkpoint actually restored, and the new record goes right before it."""
    trial = engine.trials[trial_id]
    trial.checkpoint_history = [h for h in trial.checkpoint_history if h[0] != path]
    if fallback is None:
        trial.checkpoint, trial.checkpoint_iteration, trial.checkpoint_hash = None, 0, None
    else:
        trial.checkpoint, trial.checkpoint_iteration, trial.checkpoint_hash = fallback
    data = {
        "path": path,
        "reason": reason,
        "fallback": trial.checkpoint,
        "iteration": trial.checkpoint_iteration,
    }
    record = Record(CHECKPOINT_INVALID, trial_id, data, now)
    recs = engine.records
    for i in range(len(recs) - 1, -1, -1):
        r = recs[i]
        if r.kind == TRIAL_STARTED and r.trial_id == trial_id:
            r.data["checkpoint"] = trial.checkpoint
            recs.insert(i, record)
            return
    recs.append(record)
