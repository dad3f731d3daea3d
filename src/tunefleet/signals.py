"""SIGTERM stops a sweep the way Ctrl-C does.

Batch systems (Slurm, Kubernetes, systemd) stop a job with SIGTERM and kill it a grace
period later. Python's default for SIGTERM ends the process at once: the trials' workers
were left to notice the driver's death, and the run was recorded as neither finished nor
interrupted. While a sweep runs, :func:`sigterm_interrupts` turns the first SIGTERM into
:class:`Terminated` (a ``KeyboardInterrupt``), so the runner stops the trials, commits the
log and records the run as interrupted, ready to resume; a second SIGTERM ends the process
at once, as the first would have without it. The previous handler is restored afterwards.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any


class Terminated(KeyboardInterrupt):
    """The sweep was stopped by SIGTERM (handled like Ctrl-C)."""


#: Set by the handler: an engine's C code (Ray's wait) may turn the exception raised in
#: the handler into a plain KeyboardInterrupt, so the runner asks this, not the type.
sigterm_received = False


@contextlib.contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """Within the block, the first SIGTERM raises :class:`Terminated` in the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may set handlers; Python delivers signals there
        return
    previous = signal.getsignal(signal.SIGTERM)

    def handler(signum: int, frame: Any) -> None:
        global sigterm_received
        sigterm_received = True
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second one ends the process now
        raise Terminated("SIGTERM")

    signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        with contextlib.suppress(ValueError, TypeError):
            signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)
