"""What the XGBoost and LightGBM callbacks share: choose the metrics the user named from a
framework's evaluation log, and report them (with a checkpoint when one is due)."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from typing import Any

from tunefleet.checkpoint import Checkpoint
from tunefleet.errors import TuneTypeError


def metric_map(metrics: str | list[str] | dict[str, str] | None) -> dict[str, str] | None:
    """``metrics`` as ``{reported name: framework name}``; None reports every metric."""
    if metrics is None:
        return None
    if isinstance(metrics, str):
        return {metrics: metrics}
    if isinstance(metrics, dict):
        return dict(metrics)
    if isinstance(metrics, (list, tuple)):
        return {m: m for m in metrics}
    raise TuneTypeError(f"metrics: expected a name, list or dict, got {type(metrics).__name__}")


def pick(log: dict[str, float], wanted: dict[str, str] | None) -> dict[str, float]:
    """The reported metrics; a named metric missing from the log is an error naming it."""
    if wanted is None:
        return dict(log)
    out: dict[str, float] = {}
    for name, source in wanted.items():
        if source not in log:
            raise TuneTypeError(
                f"metrics: {source!r} is not in the evaluation log (has {sorted(log)})"
            )
        out[name] = log[source]
    return out


def report_with(metrics: dict[str, Any], save: Callable[[str], None] | None) -> None:
    """``tune.report(metrics)``, with ``save(directory)``'s files as the checkpoint."""
    from tunefleet.compat.legacy import report

    if save is None:
        report(metrics)
        return
    tmp = tempfile.mkdtemp(prefix="tunefleet-fw-ckpt-")
    try:
        save(tmp)
        report(metrics, checkpoint=Checkpoint(tmp))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


class ReportOptions:
    """The options both frameworks' callbacks take (Ray's names): which ``metrics`` to
    report, the checkpoint's ``filename``, checkpoint every ``frequency`` rounds (0: never
    during training) and at the end, and a function applied to the metrics first."""

    CHECKPOINT_NAME = "model"

    def __init__(
        self,
        metrics: str | list[str] | dict[str, str] | None = None,
        filename: str | None = None,
        frequency: int = 0,
        checkpoint_at_end: bool = True,
        results_postprocessing_fn: Callable[[dict[str, float]], dict[str, float]] | None = None,
    ) -> None:
        self._metrics = metric_map(metrics)
        self._filename = filename or self.CHECKPOINT_NAME
        self._frequency = int(frequency)
        self._checkpoint_at_end = checkpoint_at_end
        self._post = results_postprocessing_fn


@contextlib.contextmanager
def local_dir(checkpoint: Any) -> Iterator[str]:
    """A Checkpoint's (downloaded) directory, or a directory path as it is."""
    if hasattr(checkpoint, "as_directory"):
        with checkpoint.as_directory() as path:
            yield path
    else:
        yield os.fspath(checkpoint)
