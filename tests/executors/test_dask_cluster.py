"""tunefleet's own Dask cluster: each Nanny in a fresh process (``tunefleet.worker.dask_nanny``).

What the fresh process must not cost: a clear error when a worker cannot start (before any
trial), and no Nanny or worker left behind when the driver is SIGKILLed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytest.importorskip("distributed")

import tunefleet as tune  # noqa: E402
from tunefleet.errors import TuneError  # noqa: E402
from tunefleet.executors.dask import DaskExecutor  # noqa: E402

pytestmark = pytest.mark.timeout(90)


def test_a_worker_that_cannot_start_says_why_before_any_trial(tmp_path: Path) -> None:
    ran = tmp_path / "ran"

    def trainable(config: dict[str, float]) -> None:
        ran.write_text("a trial ran")
        tune.report(score=1.0)

    executor = DaskExecutor(n_workers=1, cluster_kwargs={"no_such_worker_option": 1})
    with pytest.raises(TuneError) as info:
        tune.run(trainable, config={}, engine=executor, storage_path=str(tmp_path), verbose=0)
    first_line = str(info.value).splitlines()[0]
    assert "Dask worker 0 did not start" in first_line, first_line
    assert "unexpected keyword argument 'no_such_worker_option'" in first_line, first_line
    assert "cluster_kwargs" in first_line, first_line
    assert not ran.exists()


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


_DRIVER = textwrap.dedent(
    """
    import os, sys, time
    import tunefleet as tune

    def f(config):
        with open(config["pids"], "a") as out:   # the worker and its Nanny
            out.write(f"{os.getpid()} {os.getppid()}\\n")
        for i in range(600):
            time.sleep(0.1)
            tune.report(score=i)

    tune.run(f, config={"pids": sys.argv[1]}, num_samples=2, engine="dask", verbose=0,
             storage_path=sys.argv[2])
    """
)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_killed_driver_leaves_no_nanny_or_worker(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    driver = subprocess.Popen(
        [sys.executable, "-c", _DRIVER, str(pids), str(tmp_path / "runs")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            lines = pids.read_text().split("\n") if pids.exists() else []
            if len([line for line in lines if line]) >= 2:
                break
            time.sleep(0.05)
        else:
            pytest.fail("the two trials never started")
        procs = {int(p) for line in pids.read_text().split("\n") if line for p in line.split()}
        assert len(procs) == 4 and driver.pid not in procs  # two workers, two Nannies
        assert all(_alive(p) for p in procs)
    finally:
        driver.send_signal(signal.SIGKILL)
        driver.wait()
    killed = time.monotonic()
    while any(_alive(p) for p in procs) and time.monotonic() - killed < 5:
        time.sleep(0.05)
    left = [p for p in procs if _alive(p)]
    for pid in left:  # do not leave them to the next test
        os.kill(pid, signal.SIGKILL)
    print(f"\nDriver SIGKILL -> Nannies and workers gone after {time.monotonic() - killed:.2f} s")
    assert not left, f"still running 5 s after the driver's death: {left}"
