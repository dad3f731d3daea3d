"""A virtual-clock engine: hours of tuning replayed in seconds, deterministically.

A trial's step costs what it reports as ``time_this_iter_s`` (default 1.0) on a virtual
clock instead of the real time it takes (Syne Tune's simulator backend idea). Events come
out in virtual-time order, ties broken by the order in which they were scheduled, so a run
is fully determined by the engine's calls: what scheduler property tests need.

Two ways to run a trial:

* a plain function ``fn(config)`` that calls ``report()``: it runs in its own thread, but
  only one thread (the driver's or one trial's) ever runs at a time; control is handed over
  explicitly with locks used as binary semaphores. A trial blocked in ``report()`` resumes when the executor
  processes its result.
* a generator function that ``yield``\\ s each result (a metrics dict, or ``(metrics,
  checkpoint)``): no threads at all, the fast path for 100,000s of trials.

A trial is run eagerly up to its next report as soon as its previous one is handed out (or,
with ``sync_reports``, when the driver replies), like a real worker that keeps computing;
the report is then released when the clock reaches its timestamp.
"""

from __future__ import annotations

import contextlib
import heapq
import inspect
import threading
from collections.abc import Callable, Generator
from typing import Any

from tunefleet.errors import StopTrial, TuneValueError
from tunefleet.executors.base import Executor, Start
from tunefleet.protocol import Event, Failed, Finished, Launch, Reported, Resources, Started
from tunefleet.worker.generator import is_generator_function, report_yielded, split_item
from tunefleet.worker.session import Session, set_session
from tunefleet.worker.trial import describe, session_for, user_traceback

# Heap entry kinds.
_STARTED = 0
_REPORT = 1
_DONE = 2
_STOPPED = 3
_FAIL = 4

# What the driver tells a trial thread when it hands control back.
_GO = 0
_STOP = 1

#: At most this many events per poll(), so that zero-cost steps cannot loop for ever.
MAX_EVENTS_PER_POLL = 4096


class _SimTrial:
    """One running attempt; also the :class:`Channel` of its session."""

    __slots__ = (
        "trial_id",
        "attempt",
        "session",
        "config",
        "gen",
        "thread",
        "sem",
        "driver",
        "command",
        "pause",
        "result",
        "checkpoint",
        "outcome",
        "token",
        "waiting",
        "stopping",
        "code_done",
        "last_time",
        "yielding",
        "busy_until",
    )

    def __init__(self, launch: Launch, driver: Any, now: float) -> None:
        self.trial_id = launch.trial_id
        self.attempt = launch.attempt
        self.config = launch.config
        self.session = session_for(launch, self, virtual_start=now - launch.start_time_total)
        self.gen: Generator[Any, Any, Any] | None = None
        self.thread: threading.Thread | None = None
        self.sem: Any = None  # a lock used as a binary semaphore (C-level, fast)
        self.driver = driver
        self.command = _GO
        self.pause = False
        self.result: dict[str, Any] | None = None
        self.checkpoint: str | None = None
        # (kind, error, traceback) once the code has ended; kind is _DONE/_STOPPED/_FAIL
        self.outcome: tuple[int, str, str] | None = None
        self.token = 0  # bumped to cancel the trial's scheduled report
        self.waiting = False  # sync report handed out, waiting for reply()
        self.stopping = False
        self.code_done = False
        self.last_time = now
        self.yielding = False
        self.busy_until = 0.0  # a halted trial still computes its step under way until then

    # ------------------------------------------------------------------ channel
    def send_result(self, session: Session, result: dict[str, Any], checkpoint: str | None) -> None:
        if self.gen is not None:
            if not self.yielding:
                raise TypeError(
                    "report() was called inside a generator trainable: yield the metrics "
                    "(or (metrics, checkpoint)) instead"
                )
            self.result = result
            self.checkpoint = checkpoint
            return
        # Thread path: hand the result to the driver and sleep until it resumes us.
        self.result = result
        self.checkpoint = checkpoint
        self.driver.release()
        assert self.sem is not None
        self.sem.acquire()
        if self.command == _STOP:
            raise StopTrial(self.pause)

    # ------------------------------------------------------------------ thread path
    def thread_main(self, fn: Callable[..., Any]) -> None:
        assert self.sem is not None
        self.sem.acquire()
        if self.command == _STOP:
            self.outcome = (_STOPPED, "", "")
            self.driver.release()
            return
        set_session(self.session)
        try:
            ret = fn(self.config)
            if inspect.isgenerator(ret):  # a wrapper that returned a generator
                report_yielded(ret, self.session)
        except StopTrial:
            self.outcome = (_STOPPED, "", "")
        except BaseException as exc:
            self.outcome = (_FAIL, describe(exc), user_traceback(exc))
        else:
            self.outcome = (_STOPPED if self.stopping else _DONE, "", "")
        finally:
            set_session(None)
        self.driver.release()


class SimulatedExecutor(Executor):
    """Runs trials on a virtual clock with ``num_workers`` simulated slots.

    ``poll()`` never sleeps: it jumps the clock to the next event. Stopping a trial ends it
    at the current virtual time (its next report raises ``StopTrial``).
    """

    name = "simulated"
    ships_trainable = False  # its trials run in the driver's own threads

    def __init__(self, num_workers: int = 4, start_time: float = 0.0) -> None:
        if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 1:
            raise TuneValueError(f"num_workers must be a positive integer, got {num_workers!r}")
        if isinstance(start_time, bool) or not isinstance(start_time, (int, float)):
            raise TuneValueError(f"start_time must be a number, got {start_time!r}")
        self.num_workers = num_workers
        self.start_time = float(start_time)
        self._now = float(start_time)
        self._heap: list[tuple[float, int, int, _SimTrial, int, Any, Any]] = []
        self._seq = 0
        self._trials: dict[str, _SimTrial] = {}
        self._driver = threading.Lock()  # held except while a trial thread hands back
        self._driver.acquire()
        self._fn: Callable[..., Any] | None = None
        self._gen_fn = False
        self._slots = num_workers
        self._closed = False
        self.experiment_dir = ""

    def now(self) -> float:
        return self._now

    def validate_resources(self, resources: Resources) -> None:
        if not resources.cpu > 0:
            raise TuneValueError(f"resources_per_trial: cpu must be > 0, got {resources.cpu!r}")
        if not resources.gpu >= 0:
            raise TuneValueError(f"resources_per_trial: gpu must be >= 0, got {resources.gpu!r}")

    def open(self, start: Start) -> None:
        trainable, resources, max_concurrent, experiment_dir = start
        self.validate_resources(resources)
        self._fn = trainable
        self._started = True
        self._gen_fn = is_generator_function(trainable)
        self._slots = min(self.num_workers, max_concurrent or self.num_workers)
        self.experiment_dir = experiment_dir

    def capacity(self) -> int:
        if self._fn is None or self._closed:
            return 0
        return self._slots - len(self._trials)

    def total_slots(self) -> int:
        return self._slots

    # ------------------------------------------------------------------ scheduling
    def _push(self, t: float, kind: int, trial: _SimTrial, a: Any = None, b: Any = None) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (t, self._seq, kind, trial, trial.token, a, b))

    def submit(self, launch: Launch) -> None:
        fn = self._fn
        if fn is None or self._closed:
            raise RuntimeError("SimulatedExecutor.submit() needs start() first and no close()")
        if launch.trial_id in self._trials:
            raise RuntimeError(f"trial {launch.trial_id} is already running")
        if len(self._trials) >= self._slots:
            raise RuntimeError("no free slot: check capacity() before submit()")
        now = self._now
        trial = _SimTrial(launch, self._driver, now)
        self._trials[launch.trial_id] = trial
        self._push(now, _STARTED, trial)
        if self._gen_fn:
            set_session(trial.session)
            try:
                trial.gen = fn(launch.config)
            except BaseException as exc:
                trial.code_done = True
                self._push(now, _FAIL, trial, describe(exc), user_traceback(exc))
                return
            finally:
                set_session(None)
        else:
            trial.sem = threading.Lock()
            trial.sem.acquire()
            trial.thread = threading.Thread(
                target=trial.thread_main,
                args=(fn,),
                name=f"tunefleet-sim-{launch.trial_id}",
                daemon=True,
            )
            trial.thread.start()
        self._advance(trial, _GO)

    def _advance(self, trial: _SimTrial, command: int) -> None:
        """Run the trial's code until its next report or its end; schedule what it gave."""
        trial.result = None
        if trial.gen is not None:
            self._advance_gen(trial, command)
        else:
            self._resume_thread(trial, command)
        if trial.result is not None and trial.outcome is None:
            t = trial.result["timestamp"]
            if t < self._now:  # never schedule into the past
                t = self._now
            trial.last_time = t
            ck: Any = trial.checkpoint
            if ck is not None and trial.session.checkpoint_hash is not None:
                ck = (ck, trial.session.checkpoint_hash)  # a real checkpoint, not a marker
            self._push(t, _REPORT, trial, trial.result, ck)
            return
        trial.code_done = True
        kind, error, tb = trial.outcome or (_DONE, "", "")
        if kind == _DONE and trial.stopping:
            kind = _STOPPED
        if kind == _DONE:  # ends when its last step does
            t = max(self._now, trial.session.virtual_start + trial.session.time_total)
        else:  # stopped or failed now, after the step under way
            t = max(self._now, trial.busy_until)
        self._push(t, kind, trial, error, tb)

    def _resume_thread(self, trial: _SimTrial, command: int) -> None:
        sem = trial.sem
        assert sem is not None
        trial.command = command
        sem.release()
        self._driver.acquire()
        while command == _STOP and trial.outcome is None:  # it swallowed StopTrial
            trial.result = None
            sem.release()
            self._driver.acquire()

    def _advance_gen(self, trial: _SimTrial, command: int) -> None:
        gen = trial.gen
        assert gen is not None
        set_session(trial.session)
        try:
            if command == _STOP:
                try:
                    gen.throw(StopTrial(trial.pause))
                except (StopTrial, StopIteration):
                    trial.outcome = (_STOPPED, "", "")
                    return
                gen.close()  # it swallowed the stop and yielded again
                trial.outcome = (_STOPPED, "", "")
                return
            while True:
                item = next(gen)
                if item is None:
                    continue
                try:
                    metrics, ckpt = split_item(item)
                except TypeError as exc:
                    gen.throw(exc)  # raised at the user's yield, so the traceback shows it
                    raise
                trial.yielding = True
                try:
                    trial.session.report(metrics, ckpt)
                finally:
                    trial.yielding = False
                return
        except StopIteration:
            trial.outcome = (_DONE, "", "")
        except StopTrial:
            trial.outcome = (_STOPPED, "", "")
        except BaseException as exc:
            trial.outcome = (_FAIL, describe(exc), user_traceback(exc))
        finally:
            set_session(None)

    def _end_now(self, trial: _SimTrial, pause: bool) -> None:
        """Unwind a trial that is suspended in a report, and schedule its end at ``now``."""
        trial.stopping = True
        trial.pause = pause
        # A report not yet handed out is a step still being computed: the trial learns of
        # the halt only when it reaches that report, so its slot is busy until then and
        # the clock charges the step (its result is not sent, as in a real worker).
        if not trial.waiting:
            trial.busy_until = trial.last_time
        trial.token += 1  # cancels its scheduled report
        trial.waiting = False
        self._advance(trial, _STOP)

    # ------------------------------------------------------------------ engine calls
    def poll(self, timeout: float) -> list[Event]:
        heap = self._heap
        out: list[Event] = []
        t_now: float | None = None
        pop = heapq.heappop
        trials = self._trials
        while heap:
            entry = heap[0]
            t, _, kind, trial, token, a, b = entry
            if token != trial.token:
                pop(heap)
                continue
            if t_now is None:
                t_now = t
                if t > self._now:
                    self._now = t
            elif t != t_now or len(out) >= MAX_EVENTS_PER_POLL:
                break
            pop(heap)
            if kind == _REPORT:
                if b.__class__ is tuple:
                    out.append(Reported(trial.trial_id, trial.attempt, a, b[0], None, b[1]))
                else:
                    out.append(Reported(trial.trial_id, trial.attempt, a, b))
                if trial.session.sync:  # this report is a decision point: it waits
                    trial.waiting = True
                else:
                    self._advance(trial, _GO)
            elif kind == _STARTED:
                out.append(Started(trial.trial_id, trial.attempt, "simulated", t))
            elif kind == _FAIL:
                trials.pop(trial.trial_id, None)
                out.append(Failed(trial.trial_id, trial.attempt, a, b, t, False))
            else:
                trials.pop(trial.trial_id, None)
                out.append(Finished(trial.trial_id, trial.attempt, t, kind == _STOPPED))
        return out

    def reply(self, trial_id: str, proceed: bool) -> None:
        trial = self._trials.get(trial_id)
        if trial is None or not trial.waiting:
            return
        trial.waiting = False
        if not proceed:
            self._end_now(trial, False)
            return
        lag = self._now - trial.last_time
        if lag > 0:  # the time spent waiting for the answer is idle, not training
            trial.session.virtual_start += lag
        self._advance(trial, _GO)

    def stop(self, trial_id: str, pause: bool = False) -> None:
        trial = self._trials.get(trial_id)
        if trial is None or trial.stopping or trial.code_done:
            return  # unknown, already stopping, or its end is already scheduled
        self._end_now(trial, pause)

    def close(self) -> None:
        """End every trial: threads blocked in report() unwind through StopTrial."""
        if self._closed:
            return
        self._closed = True
        for trial in list(self._trials.values()):
            if trial.code_done:
                continue
            trial.stopping = True
            if trial.gen is not None:
                with contextlib.suppress(Exception):  # closing: the user's cleanup failed
                    trial.gen.close()
            elif trial.sem is not None:
                self._resume_thread(trial, _STOP)
            trial.code_done = True
        for trial in self._trials.values():
            if trial.thread is not None:
                trial.thread.join(1.0)
        self._trials.clear()
        self._heap.clear()
