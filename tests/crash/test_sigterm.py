"""SIGTERM stops a sweep like Ctrl-C on every engine: trials stopped, the log committed, the
run recorded as interrupted, nothing left running, and the sweep resumes; a second SIGTERM
ends the driver at once. Real signals to real driver processes (scripts without a main
guard, as users write them)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tunefleet.storage import open_store
from tunefleet.storage import records as rk

DRIVER = textwrap.dedent(
    """
    import json, os, sys, tempfile, time
    from pathlib import Path
    import tunefleet as tune

    marks = Path(sys.argv[3])

    def train(config):
        ckpt = tune.get_checkpoint()
        step = 0 if ckpt is None else json.loads(Path(ckpt.path, "s.json").read_text())["s"]
        (marks / f"pid-{os.getpid()}").write_text(str(step))
        while step < 40:
            time.sleep(0.05)
            step += 1
            d = tempfile.mkdtemp()
            Path(d, "s.json").write_text(json.dumps({"s": step}))
            tune.report({"score": step * config["x"]}, checkpoint=tune.Checkpoint.from_directory(d))
            if step == 3:
                (marks / f"reported-{tune.get_trial_id()}").write_text("")

    tune.run(train, config={"x": tune.grid_search([1.0, 2.0])}, metric="score", mode="max",
             engine=sys.argv[1], name="sig", storage_path=sys.argv[2], verbose=0,
             resources_per_trial={"cpu": 0.5}, max_concurrent_trials=2,
             resume=sys.argv[4] == "resume")
    """
)


def _start(tmp_path: Path, engine: str, what: str) -> subprocess.Popen[str]:
    script = tmp_path / "driver.py"
    script.write_text(DRIVER)
    (tmp_path / "marks").mkdir(exist_ok=True)
    return subprocess.Popen(
        [
            sys.executable,
            str(script),
            engine,
            str(tmp_path / "runs"),
            str(tmp_path / "marks"),
            what,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is gone for our purpose
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


@pytest.mark.parametrize("engine", ["local", "dask", "ray", "spark"])
def test_sigterm_interrupts_cleanly_and_the_sweep_resumes(tmp_path: Path, engine: str) -> None:
    marks = tmp_path / "marks"
    driver = _start(tmp_path, engine, "run")
    deadline = time.monotonic() + 120
    while len(list(marks.glob("reported-*"))) < 2:
        assert driver.poll() is None, driver.communicate()
        assert time.monotonic() < deadline, "the trials never reported"
        time.sleep(0.05)
    driver.send_signal(signal.SIGTERM)
    out, err = driver.communicate(timeout=60)
    assert driver.returncode != 0
    # Ray's wait may re-raise the handler's Terminated as a plain KeyboardInterrupt
    assert "Terminated: SIGTERM" in err or "KeyboardInterrupt" in err, err[-2000:]

    store = open_store(str(tmp_path / "runs"))
    ends = list(store.read("sig", kinds=(rk.EXPERIMENT_FINISHED,)))
    assert [e.data["status"] for e in ends] == ["interrupted"], ends
    assert ends[0].data["reason"] == "SIGTERM"
    pids = [int(p.name.split("-")[1]) for p in marks.glob("pid-*")]
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [p for p in pids if _alive(p)], "a trial process outlived the driver"

    if engine != "local":
        return  # resume is tested on every engine elsewhere; here: that SIGTERM left it resumable
    for p in marks.glob("pid-*"):
        p.unlink()
    resumed = _start(tmp_path, engine, "resume")
    out, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err[-2000:]
    steps = [int(p.read_text()) for p in marks.glob("pid-*")]
    assert steps and all(s >= 3 for s in steps), steps  # continued from their checkpoints
    ends = [e.data["status"] for e in store.read("sig", kinds=(rk.EXPERIMENT_FINISHED,))]
    assert ends == ["interrupted", "completed"], ends


def test_a_second_sigterm_ends_the_process_at_once(tmp_path: Path) -> None:
    code = textwrap.dedent(
        """
        import os, signal, time
        from tunefleet.signals import Terminated, sigterm_interrupts
        with sigterm_interrupts():
            try:
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(5)
            except Terminated:
                print("first: interrupted", flush=True)
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
            print("second: survived", flush=True)
        """
    )
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert proc.stdout.strip() == "first: interrupted"
    assert proc.returncode == -signal.SIGTERM
    assert time.monotonic() - t0 < 4


def test_the_previous_handler_is_restored() -> None:
    from tunefleet.signals import sigterm_interrupts

    def mine(signum: int, frame: object) -> None:
        pass

    old = signal.signal(signal.SIGTERM, mine)
    try:
        with sigterm_interrupts():
            assert signal.getsignal(signal.SIGTERM) is not mine
        assert signal.getsignal(signal.SIGTERM) is mine
    finally:
        signal.signal(signal.SIGTERM, old)
