"""LocalExecutor beyond the conformance suite: lost workers, environments, GPUs, cleanup."""

from __future__ import annotations

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

from tunefleet.errors import TuneError, TuneValueError
from tunefleet.executors.base import Event, Failed, Finished, Launch, Reported, Resources
from tunefleet.executors.local import LocalExecutor
from tunefleet.testing.trainables import suite_trainable
from tunefleet.worker.session import report

pytestmark = pytest.mark.timeout(60)


def _launch(tmp_path: Path, tid: str, **config: Any) -> Launch:
    return Launch(tid, {"kind": "count", **config}, 0, str(tmp_path / tid))


def _wait(
    ex: LocalExecutor, pred: Any, timeout: float = 20.0, into: list[Event] | None = None
) -> list[Event]:
    events: list[Event] = [] if into is None else into
    deadline = time.monotonic() + timeout
    while not pred(events):
        assert time.monotonic() < deadline, f"timed out; events: {events}"
        events.extend(ex.poll(0.05))
    return events


def _ended(*ids: str) -> Any:
    return lambda evs: set(ids) <= {e.trial_id for e in evs if isinstance(e, (Finished, Failed))}


@pytest.fixture
def make(tmp_path: Path) -> Any:
    made: list[LocalExecutor] = []

    def factory(
        trainable: Any = suite_trainable,
        resources: Resources | None = None,
        max_concurrent: int | None = None,
        **kwargs: Any,
    ) -> LocalExecutor:
        kwargs.setdefault("num_cpus", 2)
        ex = LocalExecutor(**kwargs)
        made.append(ex)
        ex.start(trainable, resources or Resources(cpu=1), max_concurrent, str(tmp_path))
        return ex

    yield factory
    for ex in made:
        ex.close()


# ---------------------------------------------------------------------- lost workers
def test_sigkill_mid_trial_is_worker_lost_and_capacity_recovers(make: Any, tmp_path: Path) -> None:
    ex = make()
    assert ex.capacity() == 2
    ex.submit(_launch(tmp_path, "victim", kind="sleep", sleep=60))
    evs = _wait(ex, lambda evs: any(isinstance(e, Reported) for e in evs))
    pid = next(e for e in evs if isinstance(e, Reported)).result["pid"]
    assert pid in ex.worker_pids()
    os.kill(pid, signal.SIGKILL)
    evs = _wait(ex, _ended("victim"))
    failed = [e for e in evs if isinstance(e, Failed)]
    assert len(failed) == 1 and failed[0].worker_lost is True
    assert "SIGKILL" in failed[0].error and "victim" in failed[0].error
    assert ex.capacity() == 2 and ex.total_slots() == 2
    assert pid not in ex.worker_pids()
    for tid in ("next1", "next2"):
        ex.submit(_launch(tmp_path, tid, n=2))
    evs = _wait(ex, _ended("next1", "next2"))
    assert all(isinstance(e, Finished) for e in evs if isinstance(e, (Finished, Failed)))
    assert {e.result["pid"] for e in evs if isinstance(e, Reported)} <= set(ex.worker_pids())


def _exit_trainable(config: dict[str, Any]) -> None:
    report({"x": 1})
    if config.get("exit"):
        os._exit(3)


def test_os_exit_in_trial_is_worker_lost(make: Any, tmp_path: Path) -> None:
    ex = make(_exit_trainable, max_concurrent=1)
    ex.submit(Launch("a", {"exit": True}, 0, str(tmp_path / "a")))
    evs = _wait(ex, _ended("a"))
    assert [type(e).__name__ for e in evs] == ["Started", "Reported", "Failed"]
    assert evs[-1].worker_lost is True and "exited with code 3" in evs[-1].error  # type: ignore[union-attr]
    ex.submit(Launch("b", {}, 0, str(tmp_path / "b")))
    evs = _wait(ex, _ended("b"))
    assert isinstance(evs[-1], Finished)


class _BrokenOnLoad:
    """Pickles fine in the driver, fails to unpickle in the worker."""

    def __reduce__(self) -> Any:
        return (_refuse, ())

    def __call__(self, config: dict[str, Any]) -> None:
        pass


def _refuse() -> None:
    raise RuntimeError("cannot load me")


def test_trainable_that_cannot_be_loaded_is_an_error_before_any_trial(make: Any) -> None:
    before = _children()
    with pytest.raises(TuneError) as info:
        make(_BrokenOnLoad(), max_concurrent=1)
    text = str(info.value)
    assert "could not be loaded" in text and "cannot load me" in text
    assert "fresh Python interpreter" in text and "_refuse" in text  # why, and where
    assert not (_children() - before)


class _LoadsOnce:
    """Loads while ``path`` does not exist; a worker started after that cannot load it."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> Any:
        return (_load_once, (self.path,))

    def __call__(self, config: dict[str, Any]) -> None:
        report({"pid": os.getpid()})


def _load_once(path: str) -> _LoadsOnce:
    if os.path.exists(path):
        raise RuntimeError("cannot load me any more")
    return _LoadsOnce(path)


def test_replacement_that_cannot_load_fails_its_trials_clearly(make: Any, tmp_path: Path) -> None:
    marker = tmp_path / "no-more-loads"
    ex = make(_LoadsOnce(str(marker)), max_concurrent=1)
    marker.touch()
    victim = ex.worker_pids()[0]
    os.kill(victim, signal.SIGKILL)  # its replacement will not load
    _wait(ex, lambda _: victim not in ex.worker_pids())
    for tid in ("a", "b"):
        ex.submit(Launch(tid, {}, 0, str(tmp_path / tid)))
        failed = _wait(ex, _ended(tid))[-1]
        assert isinstance(failed, Failed) and not failed.worker_lost
        assert "could not be loaded" in failed.error and "any more" in failed.error


# ---------------------------------------------------------------------- environment
def test_thread_variables_match_cpus_per_trial(make: Any, tmp_path: Path) -> None:
    ex = make(resources=Resources(cpu=2), num_cpus=4)
    assert ex.total_slots() == 2
    ex.submit(_launch(tmp_path, "e", kind="env"))
    evs = _wait(ex, _ended("e"))
    result = next(e for e in evs if isinstance(e, Reported)).result
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        assert result[var] == "2"


def test_fractional_gpus_pack_two_workers_per_device(
    make: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    ex = make(resources=Resources(cpu=1, gpu=0.5), num_cpus=4, num_gpus=2)
    assert ex.total_slots() == 4
    ids = [f"g{i}" for i in range(4)]
    for tid in ids:  # sync reports keep all four trials on their workers at once
        ex.submit(Launch(tid, {"kind": "env"}, 0, str(tmp_path / tid), sync_reports=True))
    evs = _wait(ex, lambda evs: sum(isinstance(e, Reported) for e in evs) == 4)
    results = [e.result for e in evs if isinstance(e, Reported)]
    assert sorted(r["CUDA_VISIBLE_DEVICES"] for r in results) == ["0", "0", "1", "1"]
    assert len({r["pid"] for r in results}) == 4
    for tid in ids:
        ex.reply(tid, True)
    _wait(ex, _ended(*ids))


@pytest.mark.parametrize(("gpu", "expected"), [(1, ["0", "1"]), (2, ["0,1"])])
def test_whole_gpus_per_trial(
    make: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, gpu: int, expected: list[str]
) -> None:
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    ex = make(resources=Resources(cpu=1, gpu=gpu), num_cpus=4, num_gpus=2)
    assert ex.total_slots() == len(expected)
    assert sorted(w.env["CUDA_VISIBLE_DEVICES"] for w in ex._workers) == expected


def test_gpu_ids_come_from_cuda_visible_devices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5,-1,7")
    assert LocalExecutor().gpu_ids() == ["3", "5"]
    assert LocalExecutor(num_gpus=1).gpu_ids() == ["3"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert LocalExecutor().gpu_ids() == []


@pytest.mark.parametrize(
    "resources",
    [
        Resources(cpu=3),
        Resources(cpu=0),
        Resources(cpu=-1),
        Resources(cpu=1, gpu=-0.5),
        Resources(cpu=1, gpu=3),
        Resources(cpu=1, gpu=1.5),
        Resources(cpu=1, custom={"tpu": 1}),
    ],
)
def test_validate_resources_names_the_parameter(resources: Resources) -> None:
    ex = LocalExecutor(num_cpus=2, num_gpus=2)
    with pytest.raises(TuneValueError, match="resources_per_trial"):
        ex.validate_resources(resources)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"num_cpus": 0}, "num_cpus"),
        ({"num_gpus": -1}, "num_gpus"),
        ({"start_method": "teleport"}, "start_method"),
        ({"env": {"A": 1}}, "env"),
    ],
)
def test_constructor_validation(kwargs: dict[str, Any], name: str) -> None:
    with pytest.raises(TuneValueError, match=name):
        LocalExecutor(**kwargs)


def test_max_concurrent_limits_workers(make: Any) -> None:
    ex = make(max_concurrent=1, num_cpus=8)
    assert ex.total_slots() == 1


def test_submit_without_capacity_raises(make: Any, tmp_path: Path) -> None:
    ex = make(max_concurrent=1)
    ex.submit(_launch(tmp_path, "a", kind="sleep", sleep=5))
    with pytest.raises(RuntimeError, match="capacity"):
        ex.submit(_launch(tmp_path, "b"))


# ---------------------------------------------------------------------- shipping
class CountingTrainable:
    """Appends a line to a file each time it is unpickled."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __getstate__(self) -> dict[str, str]:
        return {"path": self.path}

    def __setstate__(self, state: dict[str, str]) -> None:
        self.path = state["path"]
        with open(self.path, "a") as f:
            f.write(f"{os.getpid()}\n")

    def __call__(self, config: dict[str, Any]) -> None:
        report({"pid": os.getpid(), "value": config.get("value", 0) * 2})


def test_trainable_is_unpickled_once_per_worker(make: Any, tmp_path: Path) -> None:
    log = tmp_path / "unpickled.txt"
    ex = make(CountingTrainable(str(log)))
    ids = [f"t{i}" for i in range(12)]
    todo = list(ids)
    events: list[Event] = []
    while todo or not _ended(*ids)(events):
        while todo and ex.capacity():
            tid = todo.pop(0)
            ex.submit(Launch(tid, {"value": int(tid[1:])}, 0, str(tmp_path / tid)))
        events.extend(ex.poll(0.05))
    results = sorted(e.result["value"] for e in events if isinstance(e, Reported))
    assert results == [2 * i for i in range(12)]
    lines = log.read_text().split()
    assert sorted(map(int, lines)) == sorted(ex.worker_pids())
    # a replacement worker gets the trainable once as well
    os.kill(ex.worker_pids()[0], signal.SIGKILL)
    _wait(ex, lambda _: len(log.read_text().split()) == 3)
    assert ex.capacity() == 2


def _lambda_trainable(config: dict[str, Any]) -> None:
    report({"y": config["f"](3)})


def test_config_values_that_need_cloudpickle(make: Any, tmp_path: Path) -> None:
    ex = make(_lambda_trainable)
    ex.submit(Launch("l", {"f": lambda x: x * 7}, 0, str(tmp_path / "l")))
    evs = _wait(ex, _ended("l"))
    assert next(e for e in evs if isinstance(e, Reported)).result["y"] == 21


def _print_trainable(config: dict[str, Any]) -> None:
    print("hello from the worker", config["i"])
    print("to stderr", file=sys.stderr)
    report({"ok": 1})


def test_worker_output_reaches_the_terminal(
    make: Any, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    ex = make(_print_trainable)
    ex.submit(Launch("p", {"i": 42}, 0, str(tmp_path / "p")))
    _wait(ex, _ended("p"))
    out, err = capfd.readouterr()
    assert "hello from the worker 42" in out
    assert "to stderr" in err


@pytest.mark.parametrize("method", ["fork", "forkserver", "spawn"])
def test_start_method_is_accepted_and_workers_are_fresh_interpreters(
    make: Any, tmp_path: Path, method: str
) -> None:
    with pytest.warns(DeprecationWarning, match="start_method"):
        ex = make(resources=Resources(cpu=2), start_method=method)
    for pid in ex.worker_pids():
        cmdline = " ".join(psutil.Process(pid).cmdline())
        assert "tunefleet.worker.process" in cmdline and "multiprocessing" not in cmdline
        assert psutil.Process(pid).ppid() == os.getpid()
    ex.submit(_launch(tmp_path, "env", kind="env"))
    ex_evs = _wait(ex, _ended("env"))
    result = next(e for e in ex_evs if isinstance(e, Reported)).result
    assert result["OMP_NUM_THREADS"] == "2"
    ex.submit(_launch(tmp_path, "s", kind="endless", sleep=0.01))
    _wait(ex, lambda evs: any(isinstance(e, Reported) for e in evs))
    ex.stop("s")
    evs = _wait(ex, _ended("s"))
    assert isinstance(evs[-1], Finished) and evs[-1].stopped


def _sum_of_bound_array(config: dict[str, Any], data: Any = None) -> None:
    import tunefleet

    tunefleet.report({"total": float(data.sum()), "n": int(data.size)})


def test_large_trainable_reaches_workers_through_a_file(make: Any, tmp_path: Path) -> None:
    import numpy as np

    import tunefleet

    data = np.arange(2_000_000, dtype=np.float64)  # 16 MB: far above the pipe buffer
    ex = make(tunefleet.with_parameters(_sum_of_bound_array, data=data))
    files = list(tmp_path.glob(".trainable-*.pkl"))
    assert len(files) == 1 and files[0].stat().st_size > 16_000_000
    ex.submit(Launch("big", {}, 1, str(tmp_path / "big")))
    evs = _wait(ex, _ended("big"))
    result = next(e for e in evs if isinstance(e, Reported)).result
    assert (result["n"], result["total"]) == (data.size, float(data.sum()))
    ex.close()
    assert not list(tmp_path.glob(".trainable-*.pkl"))


def test_many_reports_are_all_delivered_in_order(make: Any, tmp_path: Path) -> None:
    ex = make()
    for tid in ("a", "b"):
        ex.submit(_launch(tmp_path, tid, n=5000))
    evs = _wait(ex, _ended("a", "b"))
    for tid in ("a", "b"):
        its = [
            e.result["training_iteration"]
            for e in evs
            if isinstance(e, Reported) and e.trial_id == tid
        ]
        assert its == list(range(1, 5001))


def test_300_trivial_trials_are_fast(make: Any, tmp_path: Path) -> None:
    ex = make()
    n, submitted, ended = 300, 0, 0
    t0 = time.perf_counter()
    while ended < n:
        while submitted < n and ex.capacity():
            ex.submit(_launch(tmp_path, f"q{submitted}", n=1))
            submitted += 1
        ended += sum(isinstance(e, (Finished, Failed)) for e in ex.poll(1.0))
    assert time.perf_counter() - t0 < 10.0  # typically ~30 ms; generous for busy CI


# ---------------------------------------------------------------------- cleanup
def _children() -> set[int]:
    return {p.pid for p in psutil.Process().children(recursive=True)}


def test_close_leaves_no_processes_even_with_busy_workers(make: Any, tmp_path: Path) -> None:
    before = _children()
    ex = make()
    pids = set(ex.worker_pids())
    assert pids <= _children()
    ex.submit(_launch(tmp_path, "busy", kind="sleep", sleep=60))  # never reports again
    ex.submit(_launch(tmp_path, "chatty", kind="endless", sleep=0.0, max_iter=10**9))
    time.sleep(0.3)  # let "chatty" fill its socket: the driver is not polling
    t0 = time.perf_counter()
    ex.close()
    ex.close()
    assert time.perf_counter() - t0 < 5.0
    assert not (_children() - before)
    assert not any(psutil.pid_exists(p) and psutil.Process(p).status() != "zombie" for p in pids)
    assert ex.capacity() == 0


DRIVER = textwrap.dedent(
    """
    import sys, threading, time
    from tunefleet.executors.local import LocalExecutor
    from tunefleet.executors.base import Launch, Resources
    from tunefleet.testing.trainables import suite_trainable

    if sys.argv[1] == "threaded":
        threading.Thread(target=time.sleep, args=(60,), daemon=True).start()
    ex = LocalExecutor(num_cpus=2)
    ex.start(suite_trainable, Resources(cpu=1), 2, sys.argv[2])
    ex.submit(Launch("a", {"kind": "sleep", "sleep": 60}, 0, sys.argv[2] + "/a"))
    ex.submit(Launch("b", {"kind": "endless", "sleep": 0.0, "max_iter": 10**9}, 0,
                     sys.argv[2] + "/b"))
    print(*ex.worker_pids(), flush=True)
    time.sleep(60)
    """
)


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.mark.parametrize("method", ["plain", "threaded"])
def test_killed_driver_leaves_no_orphans(tmp_path: Path, method: str) -> None:
    script = tmp_path / "driver.py"
    script.write_text(DRIVER)
    proc = subprocess.Popen(
        [sys.executable, str(script), method, str(tmp_path / "exp")],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        pids = [int(p) for p in proc.stdout.readline().split()]
        assert len(pids) == 2
        time.sleep(0.5)  # worker "b" is now blocked writing to a full socket
        assert not any(_gone(p) for p in pids)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        deadline = time.monotonic() + 10
        while not all(_gone(p) for p in pids):
            assert time.monotonic() < deadline, "workers outlived their driver"
            time.sleep(0.05)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
