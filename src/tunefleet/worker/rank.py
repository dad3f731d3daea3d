"""One process of a data-parallel trial.

Started by the trial's launcher (:mod:`tunefleet.worker.data_parallel`) as
``python -m tunefleet.worker.rank RANK FD PAYLOAD PARENT_PID``: a fresh interpreter, not a
``multiprocessing`` child, because Dask workers are daemonic and may not have those. It
reads the trial (the user's function, config, restore path) from the PAYLOAD file, installs
a :class:`RankSession` so that ``tunefleet.report()``, ``get_checkpoint()`` and
``get_context().get_world_rank()`` work inside the function, runs it, and exits.

Rank 0 forwards each report (metrics and the checkpoint directory's path) to the launcher
over the socket FD and waits for the answer, so the launcher has persisted the checkpoint
before the user's code may delete its directory, and a synchronous report waits for the
driver's decision as it would in one process. Other ranks' reports are dropped (rank 0's
metrics count, as in Ray Train). An exception is sent to the launcher with its traceback
before the process exits with code 1.

A rank dies with its launcher: ``PR_SET_PDEATHSIG`` on Linux, and a thread that watches
the parent pid everywhere (also covering a launcher that died before the prctl call).
"""

from __future__ import annotations

import contextlib
import inspect
import os
import pickle
import signal
import sys
import threading
import time
import traceback
from multiprocessing.connection import Connection
from typing import Any, NoReturn

from tunefleet.checkpoint import Checkpoint
from tunefleet.protocol import Resources
from tunefleet.worker.session import _PLAIN, Session, _plain, set_session

#: Seconds between two checks that the launcher is still our parent.
PARENT_CHECK_INTERVAL_S = 0.5
_PR_SET_PDEATHSIG = 1

# Messages rank -> launcher (pickled tuples over the socket):
#   ("report", metrics, checkpoint_path | None)      rank 0 only; answered by ("ok", iteration)
#   ("error", unix_time, description, traceback)     then the process exits with code 1
REPORT = "report"
ERROR = "error"
OK = "ok"


class _NoChannel:
    """Ranks never use the session's channel: :meth:`RankSession.report` replaces it."""

    def send_result(self, session: Session, result: dict[str, Any], checkpoint: str | None) -> None:
        raise RuntimeError("a rank session sends its reports itself")


class RankSession(Session):
    """The session of one rank: the trial's identity, plus its place in the world."""

    __slots__ = ("conn",)

    def __init__(
        self, world_rank: int, world_size: int, conn: Connection, trial: dict[str, Any]
    ) -> None:
        super().__init__(
            trial["trial_id"],
            trial["attempt"],
            trial["trial_dir"],
            _NoChannel(),
            config=trial["config"],
            restore_from=trial["restore_from"],
            start_iteration=trial["start_iteration"],
            start_time_total=trial["start_time_total"],
        )
        self.storage_options = trial.get("storage_options")
        if trial.get("resources") is not None:  # the whole trial's request
            self.trial_resources = Resources.from_json(trial["resources"])
        self.world_rank = world_rank
        self.world_size = world_size
        self.local_rank = world_rank  # every rank of a trial runs on the slot's host
        self.conn = conn

    def report(self, metrics: dict[str, Any], checkpoint: Checkpoint | str | None = None) -> None:
        if self.world_rank != 0:
            self.iteration += 1  # kept in step for get_context().iteration; nothing is sent
            return
        result = {k: (v if type(v) in _PLAIN else _plain(v)) for k, v in metrics.items()}
        path = None
        if checkpoint is not None:
            path = checkpoint.path if isinstance(checkpoint, Checkpoint) else os.fspath(checkpoint)
        try:
            self.conn.send((REPORT, result, path))
            answer = self.conn.recv()
        except (EOFError, OSError):
            _exit(1)  # the launcher is gone: nobody is left to report to
        self.iteration = int(answer[1])


def _exit(code: int) -> NoReturn:
    """Leave without atexit handlers or joining threads (gloo's, the user's)."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


def _follow_parent(parent: int) -> None:
    """Die with the launcher, even when it is killed with SIGKILL."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):  # best effort; the watchdog below still runs
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    if os.getppid() != parent:  # it died before the prctl call
        _exit(1)

    def watch() -> None:
        while True:
            time.sleep(PARENT_CHECK_INTERVAL_S)
            if os.getppid() != parent:
                _exit(1)

    threading.Thread(target=watch, name="tunefleet-rank-watchdog", daemon=True).start()


def _limit_torch_threads(threads: int) -> None:
    """torch sized its pool from OMP_NUM_THREADS at import; make sure it kept to it."""
    torch = sys.modules.get("torch")
    if torch is not None:
        with contextlib.suppress(Exception):
            torch.set_num_threads(threads)


def _format(exc: BaseException) -> str:
    tb = exc.__traceback__
    if tb is not None and tb.tb_next is not None:  # start in the user's code
        tb = tb.tb_next
    try:
        return "".join(traceback.format_exception(type(exc), exc, tb))
    except Exception:
        return traceback.format_exc()


def _describe(exc: BaseException) -> str:
    try:
        return repr(exc)
    except Exception:
        return f"<{type(exc).__name__} (repr failed)>"


def _destroy_process_group() -> None:
    if "torch.distributed" not in sys.modules:
        return  # the function never used torch.distributed
    with contextlib.suppress(Exception):
        from tunefleet.distributed import destroy_process_group

        destroy_process_group()


def run(rank: int, conn: Connection, payload_path: str) -> int:
    """Run the trial's function as ``rank``; return the exit code."""
    try:
        with open(payload_path, "rb") as f:
            trial = pickle.load(f)  # noqa: S301 - written by our launcher for this process
        for entry in trial["sys_path"]:  # the launcher's, so the function's module imports
            if entry not in sys.path:
                sys.path.append(entry)
        fn = pickle.loads(trial["fn"])  # noqa: S301 - the user's own trainable
        trial["config"] = pickle.loads(trial["config"])  # noqa: S301 - as sent to the launcher
        _limit_torch_threads(trial["threads"])
        session = RankSession(rank, trial["world_size"], conn, trial)
        set_session(session)
        ret = fn(trial["config"])
        if inspect.isgenerator(ret):  # a generator trainable: each item is a report
            from tunefleet.worker.generator import report_yielded

            report_yielded(ret, session)
    except BaseException as exc:  # the user's error, SystemExit included: the trial fails
        with contextlib.suppress(Exception):
            conn.send((ERROR, time.time(), _describe(exc), _format(exc)))
        _destroy_process_group()
        return 1
    finally:
        set_session(None)
    _destroy_process_group()
    return 0


def main(argv: list[str] | None = None) -> NoReturn:
    args = sys.argv[1:] if argv is None else argv
    rank, fd, payload_path, parent = int(args[0]), int(args[1]), args[2], int(args[3])
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's to handle
    _follow_parent(parent)
    conn = Connection(fd)
    code = run(rank, conn, payload_path)
    with contextlib.suppress(OSError):
        conn.close()
    _exit(code)


if __name__ == "__main__":
    main()
