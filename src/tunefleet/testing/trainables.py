"""Trainables used by the conformance suites.

They live at module level in an importable package so that every engine can ship them to
its workers by reference (processes, Ray actors, Dask and Spark workers). One entry point,
:func:`suite_trainable`, dispatches on ``config["kind"]``, because an executor is started
with a single trainable.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Any

from tunefleet.checkpoint import Checkpoint
from tunefleet.worker.session import (
    get_checkpoint,
    get_context,
    get_trial_dir,
    get_trial_id,
    report,
)


def count_trainable(config: dict[str, Any]) -> None:
    """``n`` reports of ``score = step * mult``; also who ran it (pid, trial id and dir)."""
    sleep = float(config.get("sleep", 0.0))
    for step in range(int(config.get("n", 3))):
        report(
            {
                "score": step * config.get("mult", 1),
                "step": step,
                "pid": os.getpid(),
                "seen_trial_id": get_trial_id(),
                "seen_trial_dir": get_trial_dir(),
            }
        )
        if sleep:
            time.sleep(sleep)


def failing_trainable(config: dict[str, Any]) -> None:
    """Reports ``n_before`` times, then raises ``ValueError("boom")``."""
    for step in range(int(config.get("n_before", 1))):
        report({"step": step, "pid": os.getpid()})
    raise ValueError("boom")


def endless_trainable(config: dict[str, Any]) -> None:
    """Reports until stopped (or ``max_iter``), sleeping ``sleep`` seconds between reports."""
    sleep = float(config.get("sleep", 0.005))
    for step in range(int(config.get("max_iter", 100_000))):
        report({"step": step, "pid": os.getpid()})
        if sleep:
            time.sleep(sleep)


def checkpoint_trainable(config: dict[str, Any]) -> None:
    """Saves ``{"step": i}`` as a checkpoint with every report; resumes from one if given."""
    start = 0
    restored_step = -1
    ckpt = get_checkpoint()
    if ckpt is not None:
        with open(os.path.join(ckpt.path, "state.json")) as f:
            restored_step = int(json.load(f)["step"])
        start = restored_step + 1
    for step in range(start, start + int(config.get("n", 3))):
        tmp = tempfile.mkdtemp(prefix="tunefleet-suite-")
        try:
            with open(os.path.join(tmp, "state.json"), "w") as f:
                json.dump({"step": step, "trial_id": get_trial_id()}, f)
            os.makedirs(os.path.join(tmp, "sub"))
            with open(os.path.join(tmp, "sub", "weights.bin"), "wb") as f:
                f.write(bytes(range(256)) * 4)
            report(
                {"step": step, "restored_step": restored_step},
                checkpoint=Checkpoint.from_directory(tmp),
            )
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def env_trainable(config: dict[str, Any]) -> None:
    """Reports the worker's pid and its thread/GPU environment variables."""
    names = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "CUDA_VISIBLE_DEVICES")
    report({"pid": os.getpid(), **{k: os.environ.get(k) for k in names}})


def sleep_trainable(config: dict[str, Any]) -> None:
    """Reports its pid, sleeps ``sleep`` seconds, reports again (a target for kill tests)."""
    report({"step": 0, "pid": os.getpid()})
    time.sleep(float(config.get("sleep", 30.0)))
    report({"step": 1, "pid": os.getpid()})


def context_trainable(config: dict[str, Any]) -> None:
    """Reports what the session was given by the launch."""
    ctx = get_context()
    report(
        {
            "attempt": ctx.attempt,
            "sync": ctx.sync,
            "checkpoint_frequency": ctx.checkpoint_frequency,
            "checkpoint_at_end": ctx.checkpoint_at_end,
            "config_value": ctx.config.get("value"),
        }
    )


def yielding_trainable(config: dict[str, Any]) -> Iterator[Any]:
    """A generator trainable: each yielded item is a report; the last one has a checkpoint."""
    n = int(config.get("n", 3))
    for step in range(n):
        if step < n - 1:
            yield {"step": step, "score": float(step)}
        else:
            d = tempfile.mkdtemp(prefix="tunefleet-suite-")
            with open(os.path.join(d, "state.json"), "w") as f:
                json.dump({"step": step}, f)
            try:
                yield {"step": step, "score": float(step)}, Checkpoint(d)
            finally:
                shutil.rmtree(d, ignore_errors=True)  # reported means copied already


KINDS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "count": count_trainable,
    "fail": failing_trainable,
    "endless": endless_trainable,
    "checkpoint": checkpoint_trainable,
    "env": env_trainable,
    "sleep": sleep_trainable,
    "context": context_trainable,
    "yield": yielding_trainable,
}


def suite_trainable(config: dict[str, Any]) -> Any:
    """Run the trainable named by ``config["kind"]`` (default ``"count"``); for a generator
    kind this returns the generator, which executors then drive."""
    return KINDS[config.get("kind", "count")](config)
