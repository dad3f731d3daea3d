"""One attempt of a trial, on any engine: the session built from its launch, and the run.

Every engine's worker side (the local and Spark :class:`~tunefleet.worker.channel.TrialChannel`,
the Ray actor, the Dask task) and the simulator call :func:`session_for` and
:func:`run_attempt`, so a trial sees the same session and ends the same way everywhere;
the engines differ only in how the outcome travels back to the driver.
"""

from __future__ import annotations

import contextlib
import inspect
import sys
import traceback
from collections.abc import Callable
from typing import Any

from tunefleet.errors import StopTrial
from tunefleet.protocol import Launch
from tunefleet.worker.generator import report_yielded
from tunefleet.worker.session import Channel, Session, set_session
from tunefleet.worker.working_dir import in_working_dir

# How an attempt ended: (stopped, None) when the trainable returned or was stopped
# (stopped: the driver asked it to stop or pause), or (False, (error, traceback)).
Ended = tuple[bool, tuple[str, str] | None]


def session_for(launch: Launch, channel: Channel, virtual_start: float | None = None) -> Session:
    """The session of ``launch``'s attempt: the one place a :class:`Session` is built."""
    session = Session(
        launch.trial_id,
        launch.attempt,
        launch.trial_dir,
        channel,
        config=launch.config,
        restore_from=launch.checkpoint,
        start_iteration=launch.start_iteration,
        start_time_total=launch.start_time_total,
        sync=launch.sync_reports,
        virtual_start=virtual_start,
    )
    session.checkpoint_frequency = launch.checkpoint_frequency
    session.checkpoint_at_end = launch.checkpoint_at_end
    session.stop_criteria = launch.stop_criteria
    session.storage_options = launch.storage_options
    session.trial_resources = launch.resources
    return session


def run_attempt(
    fn: Callable[[dict[str, Any]], Any],
    launch: Launch,
    channel: Channel,
    stop_requested: Callable[[], bool],
    eager_dir: bool = True,
) -> Ended:
    """Run ``fn`` for ``launch`` in this thread with its session set; never raises.

    ``stop_requested`` tells, once the trainable has returned, whether the driver had
    asked it to stop (a trial that returns after a stop request counts as stopped).
    ``eager_dir`` False: the trial's directory is made when the trial first asks for it
    (``get_trial_dir()``) or saves a checkpoint, not before it starts: an engine whose
    attempts never run in it (the threads engine) saves a ``mkdir`` per trial that writes
    nothing, a third of a trivial trial's cost."""
    session = session_for(launch, channel)
    session.dir_made = eager_dir
    set_session(session)
    ended: Ended
    try:
        # chdir_to_trial_dir (launch.working_dir): undone when the attempt ends, since
        # the worker goes on to other trials
        with in_working_dir(launch.working_dir, launch.trial_dir if eager_dir else None):
            ret = fn(launch.config)
            if inspect.isgenerator(ret):  # a generator trainable: each item is a report
                report_yielded(ret, session)
    except StopTrial:
        ended = (True, None)
    except BaseException as exc:  # the user's error, SystemExit included: report it
        ended = (False, (describe(exc), user_traceback(exc)))
    else:
        ended = (stop_requested(), None)
    finally:
        set_session(None)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # the user may have closed them
            stream.flush()
    return ended


def describe(exc: BaseException) -> str:
    """``repr(exc)``, or a placeholder when the user's ``__repr__`` fails."""
    try:
        return repr(exc)
    except Exception:
        return f"<{type(exc).__name__} (repr failed)>"


def user_traceback(exc: BaseException) -> str:
    """The traceback without our own frame, so that it starts in the user's code."""
    tb = exc.__traceback__
    if tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    try:
        return "".join(traceback.format_exception(type(exc), exc, tb))
    except Exception:
        return traceback.format_exc()
