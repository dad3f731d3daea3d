"""Exceptions raised by tunefleet.

Every user-facing validation error is a ``ValueError`` or ``TypeError`` subclass whose
message names the offending parameter, so that ``pytest.raises(..., match="num_samples")``
style checks (and users reading a traceback) find the culprit at once.
"""

from __future__ import annotations


class TuneError(RuntimeError):
    """A sweep could not complete as asked (e.g. a trial failed and raise_on_failed_trial)."""


class TuneValueError(ValueError):
    """Bad input, detected before any compute is spent. The message names the parameter."""


class TuneTypeError(TypeError):
    """An argument of the wrong type (e.g. a trainable that is not callable)."""


class ReportOutsideTrialError(RuntimeError):
    """``report()`` or ``get_checkpoint()`` was called outside of a running trial."""


class StopTrial(BaseException):  # noqa: N818 - control flow, not an error
    """Raised inside ``report()`` to unwind a trial the scheduler stopped or paused.

    A BaseException so that a user's ``except Exception`` does not swallow it.
    """

    def __init__(self, pause: bool = False) -> None:
        super().__init__("pause" if pause else "stop")
        self.pause = pause
