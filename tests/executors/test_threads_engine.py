"""``engine="threads"``: trials as threads of the driver, through ``tune.run`` as a user
meets it (the executor's contract itself is in test_executor_conformance.py)."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

import tunefleet as tune
from tunefleet.errors import TuneValueError
from tunefleet.executors import ThreadExecutor, create_executor
from tunefleet.executors.base import Start
from tunefleet.protocol import Launch, Resources
from tunefleet.schedulers import ASHAScheduler

pytestmark = pytest.mark.timeout(60)


def _where(config: dict) -> None:
    tune.report(
        score=config["x"],
        pid=os.getpid(),
        thread=threading.current_thread().name,
        cwd=os.getcwd(),
        dir_exists=os.path.isdir(tune.get_context().get_trial_dir()),
    )


def test_trials_run_in_the_drivers_threads_and_every_result_is_stored(tmp_path: Path) -> None:
    analysis = tune.run(
        _where,
        config={"x": tune.grid_search([0.1, 0.5, 0.9, 0.3])},
        engine="threads",
        max_concurrent_trials=2,
        storage_path=str(tmp_path),
        name="threads",
        metric="score",
        mode="max",
        verbose=0,
    )
    df = analysis.results_df
    assert len(df) == 4 and set(df["status"]) == {"TERMINATED"}
    assert set(df["pid"]) == {os.getpid()}
    assert set(df["thread"]) <= {"tunefleet-thread-0", "tunefleet-thread-1"}
    # chdir_to_trial_dir is not applied (one working directory per process); the trial's
    # directory exists all the same
    assert set(df["cwd"]) == {os.getcwd()}
    assert df["dir_exists"].all()
    assert analysis.best_config == {"x": 0.9}
    # the same results from the store, in a fresh reader
    again = tune.ExperimentAnalysis(str(tmp_path / "threads"))
    assert sorted(again.results_df["score"]) == [0.1, 0.3, 0.5, 0.9]


def test_a_trial_dir_is_made_when_the_trial_asks_for_it_or_checkpoints(tmp_path: Path) -> None:
    def f(config: dict) -> None:
        if config["how"] == "asks":
            with open(os.path.join(tune.get_trial_dir(), "note.txt"), "w") as fh:
                fh.write("x")
        if config["how"] == "checkpoints":
            src = tmp_path / f"src-{tune.get_context().get_trial_id()}"
            src.mkdir()
            (src / "w.txt").write_text("1")
            tune.report({"score": 1}, checkpoint=tune.Checkpoint.from_directory(str(src)))
            return
        tune.report(score=1)

    analysis = tune.run(
        f,
        config={"how": tune.grid_search(["nothing", "asks", "checkpoints"])},
        engine="threads",
        storage_path=str(tmp_path / "store"),
        name="dirs",
        verbose=0,
    )
    made = {t.config["how"]: os.path.isdir(t.path) for t in analysis.trials}
    assert made == {"nothing": False, "asks": True, "checkpoints": True}
    asks = next(t for t in analysis.trials if t.config["how"] == "asks")
    assert os.path.isfile(os.path.join(asks.path, "note.txt"))


def test_max_concurrent_trials_caps_the_threads(tmp_path: Path) -> None:
    lock = threading.Lock()
    seen = {"now": 0, "peak": 0}

    def busy(config: dict) -> None:
        with lock:
            seen["now"] += 1
            seen["peak"] = max(seen["peak"], seen["now"])
        time.sleep(0.02)
        with lock:
            seen["now"] -= 1
        tune.report(score=config["x"])

    tune.run(
        busy,
        config={"x": tune.uniform(0, 1)},
        num_samples=12,
        engine=ThreadExecutor(num_threads=8),
        max_concurrent_trials=3,
        storage_path=str(tmp_path),
        verbose=0,
    )
    assert seen["peak"] == 3


def test_a_failing_trial_keeps_the_others_results(tmp_path: Path) -> None:
    def sometimes(config: dict) -> None:
        if config["x"] == 2:
            raise ValueError("two is not allowed")
        tune.report(score=config["x"])

    analysis = tune.run(
        sometimes,
        config={"x": tune.grid_search([1, 2, 3])},
        engine="threads",
        storage_path=str(tmp_path),
        verbose=0,
        raise_on_failed_trial=False,
    )
    df = analysis.results_df.set_index("config/x")
    assert df.loc[2, "status"] == "ERROR"
    assert "two is not allowed" in str(df.loc[2, "error"])
    assert df.loc[1, "score"] == 1 and df.loc[3, "score"] == 3


def test_asha_stops_threads_at_their_rungs(tmp_path: Path) -> None:
    """Decision points wait for the driver on this engine too: a trial stopped at a rung
    reports nothing past it, however fast its iterations are."""

    def curve(config: dict) -> None:
        for i in range(1, 28):
            tune.report(score=config["q"] * i)

    analysis = tune.run(
        curve,
        config={"q": tune.grid_search([0.1 * k for k in range(9, 0, -1)])},
        engine="threads",
        max_concurrent_trials=2,
        scheduler=ASHAScheduler(max_t=27, grace_period=1, reduction_factor=3),
        metric="score",
        mode="max",
        storage_path=str(tmp_path),
        verbose=0,
    )
    iters = sorted(int(v) for v in analysis.results_df["training_iteration"])
    assert iters[-1] == 27
    assert set(iters) <= {1, 3, 9, 27}
    assert iters.count(1) >= 3  # the bottom of the first rung stopped there


def test_gpu_and_custom_requests_are_refused_before_anything_runs(tmp_path: Path) -> None:
    ran = []

    def f(config: dict) -> None:
        ran.append(1)
        tune.report(score=1)

    for resources, word in (({"cpu": 1, "gpu": 1}, "gpu"), ({"cpu": 1, "tpu": 1}, "tpu")):
        with pytest.raises(TuneValueError, match=f"resources_per_trial: {word}.*engine='local'"):
            tune.run(
                f,
                config={},
                engine="threads",
                resources_per_trial=resources,
                storage_path=str(tmp_path),
                verbose=0,
            )
    with pytest.raises(TuneValueError, match="cpu=4 but the threads engine has 2"):
        tune.run(
            f,
            config={},
            engine=ThreadExecutor(num_threads=2),
            resources_per_trial={"cpu": 4},
            storage_path=str(tmp_path),
            verbose=0,
        )
    assert ran == []


@pytest.mark.parametrize("bad", [0, -1, True, "2"])
def test_num_threads_must_be_a_positive_number(bad: object) -> None:
    with pytest.raises(TuneValueError, match="num_threads"):
        ThreadExecutor(num_threads=bad)  # type: ignore[arg-type]


def test_the_trainable_need_not_pickle(tmp_path: Path) -> None:
    """Nothing leaves the process, so a closure over an unpicklable object is fine here
    (the process engines refuse it, naming the trainable)."""
    held = threading.Lock()  # locks do not pickle

    def f(config: dict) -> None:
        with held:
            tune.report(score=config["x"])

    analysis = tune.run(
        f,
        config={"x": tune.grid_search([1, 2])},
        engine="threads",
        storage_path=str(tmp_path),
        verbose=0,
    )
    assert sorted(analysis.results_df["score"]) == [1, 2]


def test_close_leaves_a_trial_that_never_reports_and_says_so(tmp_path: Path) -> None:
    release = threading.Event()

    def silent(config: dict) -> None:
        release.wait(10)

    ex = create_executor("threads", num_threads=1)
    assert isinstance(ex, ThreadExecutor)
    ex.close_grace_s = 0.2
    ex.start(silent, Resources(), None, str(tmp_path))
    ex.submit(Launch("t1", {}, 1, str(tmp_path / "t1")))
    ex.poll(1.0)  # Started
    with pytest.warns(RuntimeWarning, match="1 trial thread"):
        ex.close()
    assert ex.capacity() == 0
    release.set()


@pytest.mark.parametrize("given", ["name", "object"])
def test_resume_rebuilds_the_threads_engine(tmp_path: Path, given: str) -> None:
    """A resume that does not name the engine runs on the recorded one, whether it was
    given by name or as an object (rebuilt from its constructor arguments)."""

    def f(config: dict) -> None:
        tune.report(score=config["x"])

    engine: object = "threads" if given == "name" else ThreadExecutor(num_threads=3)
    tune.run(
        f,
        config={"x": tune.uniform(0, 1)},
        num_samples=3,
        engine=engine,
        storage_path=str(tmp_path),
        name="resumable",
        verbose=0,
    )
    analysis = tune.run(
        f,
        config={"x": tune.uniform(0, 1)},
        num_samples=5,
        storage_path=str(tmp_path),
        name="resumable",
        resume=True,
        verbose=0,
    )
    assert len(analysis.results_df) == 5
    placed = {row["worker"] for row in _placements(tmp_path / "resumable")}
    assert placed and all(w.startswith("thread-") for w in placed)


def _placements(experiment: Path) -> list[dict]:
    from tunefleet.storage import open_store

    store = open_store(str(experiment.parent))
    return [r.data for r in store.read(experiment.name, kinds=["trial_placed"])]


def test_executor_level_start_refuses_what_cannot_run() -> None:
    ex = ThreadExecutor(num_threads=1)
    with pytest.raises(TuneValueError, match="gpu"):
        ex.open(Start(lambda c: None, Resources(gpu=1), None, "/tmp"))
