"""No descriptor of the driver reaches a local worker or what its trial starts.

Why it matters: ``driver.lock`` is an ``flock``, held for as long as *any* process holds a
descriptor of it. A worker that inherited it passed it on to whatever its trial forked, and
such a process outliving a killed driver made ``tunefleet resume`` refuse the experiment
("being written by another driver") for its whole life. The same holds for the SQLite
store's files and the other workers' sockets (a worker holding another's socket keeps the
driver from seeing that worker's end of stream).

The descriptors are read from ``/proc/<pid>/fd`` (Linux only).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

import tunefleet
from tunefleet.executors.base import Event, Launch, Reported, Resources
from tunefleet.executors.local import LocalExecutor
from tunefleet.storage import open_store
from tunefleet.storage.lock import DriverLock

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="reads /proc/<pid>/fd"),
]


def _targets(pid: int) -> dict[int, str]:
    """What each descriptor above stdio of ``pid`` points at (``readlink``)."""
    out = {}
    for name in os.listdir(f"/proc/{pid}/fd"):
        fd = int(name)
        if fd > 2:
            with contextlib.suppress(OSError):  # closed meanwhile
                out[fd] = os.readlink(f"/proc/{pid}/fd/{name}")
    return out


def _unique(targets: dict[int, str]) -> set[str]:
    """Targets that name one object: files, and sockets/pipes by inode (not anon inodes)."""
    return {t for t in targets.values() if t.startswith(("/", "socket:[", "pipe:["))}


def _spawning_trainable(config: dict[str, Any]) -> None:
    """Starts a child with subprocess (in its own session, even with close_fds=False) and
    one with a bare fork (as data loaders do), reports their pids, then waits."""
    child = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(120)"],
        start_new_session=True,
        close_fds=False,  # the worst case: it inherits everything that is inheritable
    )
    forked = os.fork()
    if forked == 0:
        os.setsid()
        time.sleep(120)
        os._exit(0)
    tunefleet.report({"child": child.pid, "forked": forked, "worker": os.getpid()})
    time.sleep(120)


def test_workers_and_their_trials_children_hold_nothing_of_the_driver(tmp_path: Path) -> None:
    exp = tmp_path / "exp"
    lock = DriverLock(str(exp), "exp")
    lock.acquire()
    store = open_store(str(tmp_path / "store"))
    store.create_experiment("exp", {})
    loose = os.open(tmp_path / "inheritable.txt", os.O_CREAT | os.O_RDWR)
    os.set_inheritable(loose, True)  # even a descriptor marked inheritable stays here
    ex = LocalExecutor(num_cpus=2)
    children: list[int] = []
    try:
        ex.start(_spawning_trainable, Resources(cpu=1), 2, str(exp))
        ex.submit(Launch("t", {}, 0, str(exp / "t")))
        events: list[Event] = []
        deadline = time.monotonic() + 30
        while not any(isinstance(e, Reported) for e in events):
            assert time.monotonic() < deadline, events
            events.extend(ex.poll(0.05))
        result = next(e for e in events if isinstance(e, Reported)).result
        children = [result["child"], result["forked"]]
        mine = _targets(os.getpid())
        files = {t for t in mine.values() if t.startswith("/")}
        assert str(exp / "driver.lock") in files and str(tmp_path / "inheritable.txt") in files
        assert any(t.endswith(".db") for t in files)  # the store is open here
        driver = _unique(mine)
        for pid in [*ex.worker_pids(), *children]:
            theirs = _targets(pid)
            shared = _unique(theirs) & driver
            assert not shared, (pid, shared)
            assert not any(t.endswith(("driver.lock", ".db", ".txt")) for t in theirs.values())
        for pid in ex.worker_pids():  # its own socket and nothing else of the kind
            sockets = [t for t in _targets(pid).values() if t.startswith("socket:[")]
            assert len(sockets) == 1, sockets
        popen_child_sockets = [t for t in _targets(children[0]).values() if "socket" in t]
        assert not popen_child_sockets  # not even its worker's socket
    finally:
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        ex.close()
        os.close(loose)
        lock.release()


TRIAL = textwrap.dedent(
    """
    import os, subprocess, sys, time
    from pathlib import Path
    import tunefleet as tune

    def train(config):
        pids = Path(config["pids"])
        if pids.exists():  # the resumed attempt
            tune.report(score=1.0)
            return
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"],
                                 start_new_session=True)
        forked = os.fork()
        if forked == 0:  # a child that is not exec'd keeps what the worker holds
            os.setsid()
            time.sleep(120)
            os._exit(0)
        pids.write_text(f"{os.getpid()} {child.pid} {forked}")
        tune.report(score=0.0)
        time.sleep(120)
    """
)

DRIVER = textwrap.dedent(
    """
    import sys
    import tunefleet as tune
    import fdtrial

    tune.run(fdtrial.train, config={"pids": sys.argv[1]}, name="exp", storage_path=sys.argv[2],
             num_samples=1, verbose=0)
    """
)

RESUME = textwrap.dedent(
    """
    import sys
    import tunefleet
    import fdtrial

    r = tunefleet.resume("exp", fdtrial.train, config={"pids": sys.argv[1]},
                         storage_path=sys.argv[2], verbose=0)
    print("RESUMED", r.trials[0].status)
    """
)


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_resume_after_driver_kill_ends_a_trials_children(tmp_path: Path) -> None:
    (tmp_path / "fdtrial.py").write_text(TRIAL)
    (tmp_path / "driver.py").write_text(DRIVER)
    (tmp_path / "resume.py").write_text(RESUME)
    pids_file, storage = tmp_path / "pids", tmp_path / "store"
    driver = subprocess.Popen(
        [sys.executable, "driver.py", str(pids_file), str(storage)], cwd=tmp_path
    )
    worker = child = forked = 0
    try:
        deadline = time.monotonic() + 60
        while not pids_file.exists() or len(pids_file.read_text().split()) < 3:
            assert driver.poll() is None, "the driver ended early"
            assert time.monotonic() < deadline, "the trial never started its children"
            time.sleep(0.05)
        worker, child, forked = map(int, pids_file.read_text().split())
        for pid in (worker, child, forked):
            held = _targets(pid).values()
            assert not any(t.endswith(("driver.lock", "experiment.db")) for t in held), pid
        driver.send_signal(signal.SIGKILL)
        driver.wait(10)
        deadline = time.monotonic() + 10
        while _alive(worker):  # it notices its driver is gone
            assert time.monotonic() < deadline, "the worker outlived its driver"
            time.sleep(0.05)
        # The worker is its trial's subreaper: the children, even in a session of their
        # own, end with it (worker/reaper.py; issue 17).
        assert not _alive(child) and not _alive(forked)
        out = subprocess.run(
            [sys.executable, "resume.py", str(pids_file), str(storage)],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=90,
            check=False,
        )
        assert out.returncode == 0, out.stderr[-3000:]
        assert "RESUMED TERMINATED" in out.stdout
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait()
        for pid in (child, forked):
            if pid:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
