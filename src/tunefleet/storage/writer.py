"""BatchedWriter: keeps store writes off the driver's hot path (DESIGN.md §6, §8).

``add`` is a list append (no clock read, no I/O); the driver calls ``maybe_flush`` from its
loop, which writes the batch in one transaction once its oldest record is ``max_delay`` old
or ``max_batch`` records are waiting. A ``kill -9`` therefore loses at most one batch window
of records that were never acted on durably.
"""

from __future__ import annotations

import time
from types import TracebackType

from tunefleet.storage.base import Store
from tunefleet.storage.records import Record


class BatchedWriter:
    """Buffers records for one experiment and appends them in batches.

    Age is measured on the records' own ``ts``, so ``now`` passed to ``maybe_flush`` must come
    from the same clock that stamped them (``time.time()`` by default; a simulator passes its
    virtual time).
    """

    __slots__ = ("store", "name", "max_delay", "max_batch", "_pending")

    def __init__(
        self, store: Store, name: str, max_delay: float = 0.1, max_batch: int = 5000
    ) -> None:
        self.store = store
        self.name = name
        self.max_delay = max_delay
        self.max_batch = max_batch
        self._pending: list[Record] = []

    def add(self, record: Record) -> None:
        """Queue one record; O(1), no I/O."""
        self._pending.append(record)

    def maybe_flush(self, now: float | None = None) -> bool:
        """Flush if the batch is full or its oldest record is due; True if it wrote."""
        pending = self._pending
        if not pending:
            return False
        if len(pending) < self.max_batch:
            if now is None:
                now = time.time()
            if now - pending[0].ts < self.max_delay:
                return False
        self.flush()
        return True

    def flush(self) -> None:
        """Write everything queued, in one transaction. On failure the records stay queued."""
        batch = self._pending
        if not batch:
            return
        self._pending = []
        try:
            self.store.append(self.name, batch)
        except BaseException:
            self._pending = batch + self._pending
            raise

    @property
    def pending(self) -> int:
        return len(self._pending)

    def __len__(self) -> int:
        return len(self._pending)

    def __enter__(self) -> BatchedWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.flush()
