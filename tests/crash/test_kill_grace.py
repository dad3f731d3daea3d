"""A trial's processes get SIGTERM and ``kill_grace_s`` seconds before SIGKILL (issue 17):
a child that traps SIGTERM flushes its file when its trial returns or is stopped; with
``kill_grace_s=0`` it is SIGKILLed at once and writes nothing; one that ignores SIGTERM is
still SIGKILLed after the grace. Also: how a shared worker process (Dask, Ray) tells whose
a process is (worker/reaper.py's SharedReaper), and the arguments checked before compute."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from crash_procs import kill_marked, with_marker

import tunefleet as tune
from tunefleet.errors import TuneTypeError, TuneValueError

pytestmark = [
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux /proc"),
    pytest.mark.timeout(120),
]

# Flushes on SIGTERM (or ignores it with argv[3] == "ignore"); says when it is ready.
CHILD = textwrap.dedent(
    """
    import signal, sys, time, pathlib
    out = pathlib.Path(sys.argv[1])
    def bye(*_):
        out.with_suffix(".flushed").write_text("flushed")
        sys.exit(0)
    signal.signal(signal.SIGTERM, signal.SIG_IGN if sys.argv[3] == "ignore" else bye)
    out.with_suffix(".ready").write_text("ready")
    time.sleep(600)
    """
)


@pytest.fixture
def marker() -> Iterator[str]:
    mark = f"tf-grace-{uuid.uuid4().hex}"
    yield mark
    kill_marked(mark)


def start_child(out: Path, marker: str, how: str = "flush") -> None:
    """The child in a session of its own; returns once its SIGTERM handler is in place."""
    subprocess.Popen([sys.executable, "-c", CHILD, str(out), marker, how], start_new_session=True)
    deadline = time.monotonic() + 30
    while not out.with_suffix(".ready").exists() and time.monotonic() < deadline:
        time.sleep(0.01)


def trainable(config: dict[str, Any]) -> None:
    start_child(Path(config["out"]), config["marker"], config.get("how", "flush"))
    for i in range(config["steps"]):
        time.sleep(0.01)
        tune.report({"i": i})


def sweep(tmp_path: Path, marker: str, **kw: Any) -> tuple[Path, Any]:
    out = tmp_path / "child"
    config = {"out": str(out), "marker": marker, "steps": kw.pop("steps", 3)}
    config.update(kw.pop("config", {}))
    results = tune.run(
        trainable, config=config, storage_path=str(tmp_path / "runs"), verbose=0, **kw
    )
    return out, results


def test_a_returning_trial_gives_its_children_the_grace(tmp_path: Path, marker: str) -> None:
    out, _ = sweep(tmp_path, marker)
    assert out.with_suffix(".flushed").read_text() == "flushed"
    assert with_marker(marker) == []


def test_a_stopped_trial_gives_its_children_the_grace(tmp_path: Path, marker: str) -> None:
    out, results = sweep(tmp_path, marker, steps=10_000, stop={"training_iteration": 3})
    assert results.trials[0].last_result["training_iteration"] == 3  # stopped, not finished
    assert out.with_suffix(".flushed").read_text() == "flushed"
    assert with_marker(marker) == []


def test_no_grace_is_sigkill_at_once(tmp_path: Path, marker: str) -> None:
    out, _ = sweep(tmp_path, marker, kill_grace_s=0)
    assert out.with_suffix(".ready").exists()
    assert not out.with_suffix(".flushed").exists()
    assert with_marker(marker) == []


def test_a_child_that_ignores_sigterm_is_killed_after_the_grace(
    tmp_path: Path, marker: str
) -> None:
    out, _ = sweep(tmp_path, marker, kill_grace_s=0.3, config={"how": "ignore"})
    assert out.with_suffix(".ready").exists() and not out.with_suffix(".flushed").exists()
    assert with_marker(marker) == []


@pytest.mark.parametrize(
    ("kw", "error"),
    [
        ({"kill_grace_s": -1}, TuneValueError),
        ({"kill_grace_s": float("inf")}, TuneValueError),
        ({"kill_grace_s": "5"}, TuneTypeError),
        ({"log_mirror_interval_s": 0}, TuneValueError),
        ({"log_mirror_interval_s": float("nan")}, TuneValueError),
        ({"log_mirror_interval_s": True}, TuneTypeError),
    ],
)
def test_bad_seconds_are_refused_before_compute(
    tmp_path: Path, kw: dict[str, Any], error: type[Exception]
) -> None:
    called = tmp_path / "called"

    def fn(config: dict[str, Any]) -> None:
        called.write_text("x")

    with pytest.raises(error, match=next(iter(kw))):
        tune.run(fn, storage_path=str(tmp_path / "runs"), verbose=0, **kw)
    assert not called.exists()


def test_a_bad_mirror_interval_in_the_environment_is_refused_before_compute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TUNEFLEET_LOG_MIRROR_S", "soon")
    with pytest.raises(TuneValueError, match="TUNEFLEET_LOG_MIRROR_S"):
        tune.run(lambda c: None, storage_path=str(tmp_path / "runs"), verbose=0)
    # The argument wins over the environment.
    tune.run(
        lambda c: None, storage_path=str(tmp_path / "runs"), verbose=0, log_mirror_interval_s=5
    )


def test_run_config_takes_both_settings(tmp_path: Path, marker: str) -> None:
    out = tmp_path / "child"
    tuner = tune.Tuner(
        trainable,
        param_space={"out": str(out), "marker": marker, "steps": 2},
        run_config=tune.RunConfig(
            storage_path=str(tmp_path / "runs"), kill_grace_s=0, log_mirror_interval_s=1
        ),
    )
    tuner.fit()
    assert out.with_suffix(".ready").exists() and not out.with_suffix(".flushed").exists()


# How a shared worker process tells whose a process is, run in a fresh interpreter (it
# makes itself a subreaper): A starts a, then B begins and both start ab, then A ends:
# a is A's alone and ends with it; ab may be B's and ends with B; e, started while no
# attempt ran (the engine's own), is never touched.
SHARED = textwrap.dedent(
    """
    import os, subprocess, sys, time
    from tunefleet.worker.reaper import shared_reaper

    def spawn(tag):
        return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)",
                                 sys.argv[1] + "-" + tag], start_new_session=True,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).pid

    def alive(pid):
        try:
            with open(f"/proc/{pid}/stat") as f:
                return f.read().rsplit(")", 1)[1].split()[0] != "Z"
        except FileNotFoundError:  # ended and reaped
            return False

    r = shared_reaper()
    assert r.enabled
    e = spawn("engine")
    time.sleep(0.05)
    a_tok = r.begin()
    a = spawn("a")
    time.sleep(0.05)
    b_tok = r.begin()
    ab = spawn("ab")
    r.end(a_tok, 1.0)
    print("after A:", alive(a), alive(ab), alive(e))
    r.end(b_tok, 1.0)
    print("after B:", alive(ab), alive(e))
    os.kill(e, 9)
    """
)


def test_a_shared_worker_ends_each_attempts_processes_only(marker: str) -> None:
    out = subprocess.run(
        [sys.executable, "-c", SHARED, marker], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["after A: False True True", "after B: False True"]
    assert with_marker(marker) == []


def test_a_resume_keeps_the_recorded_grace(tmp_path: Path) -> None:
    from tunefleet.restore import apply_recorded
    from tunefleet.run_spec import build_spec
    from tunefleet.storage import open_store

    tune.run(lambda c: None, name="g", storage_path=str(tmp_path), verbose=0, kill_grace_s=0.25)
    recorded = open_store(str(tmp_path)).get_spec("g")
    assert recorded["kill_grace_s"] == 0.25
    again = build_spec(lambda c: None, storage_path=str(tmp_path), resume=True, name="g")
    apply_recorded(again, "g", recorded)
    assert again.kill_grace_s == 0.25  # left at its default: the recorded one
    passed = build_spec(lambda c: None, storage_path=str(tmp_path), resume=True, kill_grace_s=2)
    apply_recorded(passed, "g", recorded)
    assert passed.kill_grace_s == 2  # passed again: that one


DRIVER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import tunefleet as tune
    sys.path.insert(0, sys.argv[3])
    from test_kill_grace import start_child

    def train(config):
        start_child(Path(sys.argv[2]), sys.argv[4])
        Path(sys.argv[2]).with_suffix(".started").write_text("x")
        for i in range(100_000):
            time.sleep(0.01)
            tune.report({"i": i})

    tune.run(train, storage_path=sys.argv[1], verbose=0, raise_on_failed_trial=False)
    """
)


def test_a_driver_stopped_by_sigterm_gives_the_grace(tmp_path: Path, marker: str) -> None:
    """SIGTERM to the driver stops the sweep; the running trial's child still flushes."""
    script = tmp_path / "driver.py"
    script.write_text(DRIVER)
    out = tmp_path / "child"
    here = str(Path(__file__).parent)
    driver = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path / "runs"), str(out), here, marker],
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not out.with_suffix(".started").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert out.with_suffix(".started").exists(), "the trial never started"
        driver.send_signal(signal.SIGTERM)
        driver.wait(60)
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait()
    assert out.with_suffix(".flushed").read_text() == "flushed"
    assert with_marker(marker) == []
