"""Ray's ``trial_dirname_creator`` and ``chdir_to_trial_dir`` on the local engine, and the
worker-side change of directory that every engine runs (``run_attempt``).

The same behaviour on Ray, Dask and Spark clusters: ``test_trial_dirs_engines.py``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest

from tunefleet import ExperimentAnalysis, train, tune
from tunefleet.errors import TuneTypeError, TuneValueError
from tunefleet.protocol import Launch
from tunefleet.worker.trial import run_attempt
from tunefleet.worker.working_dir import ORIG_DIR_ENV

pytestmark = pytest.mark.timeout(120)


def writes_here(config: dict[str, Any]) -> None:
    """Writes a file by a relative path and says where it runs and what the contexts say."""
    Path("mine.txt").write_text(str(config["x"]))
    tune.report(
        {
            "x": config["x"],
            "cwd": os.getcwd(),
            "tune_dir": tune.get_context().get_trial_dir(),
            "train_dir": train.get_context().get_trial_dir(),
            "orig": os.environ.get(ORIG_DIR_ENV),
            "pid": os.getpid(),
            "experiment": train.get_context().get_experiment_name(),
        }
    )


def test_trials_run_in_directories_named_by_the_creator(tmp_path: Path) -> None:
    seen: list[str] = []

    def dirname(trial: Any) -> str:
        seen.append(trial.trainable_name)
        return f"x{trial.config['x']}-{trial.trial_id}"

    results = tune.run(
        writes_here,
        config={"x": tune.grid_search([1, 2, 3])},
        storage_path=str(tmp_path),
        name="named",
        trial_dirname_creator=dirname,
        max_concurrent_trials=1,  # one worker runs all three: each attempt moves it again
        verbose=0,
    )
    trials_dir = tmp_path / "named" / "trials"
    assert sorted(os.listdir(trials_dir)) == sorted(
        f"x{t.config['x']}-{t.trial_id}" for t in results.trials
    )
    assert seen == ["writes_here"] * 3
    for t in results.trials:
        r = t.last_result
        expected = str(trials_dir / f"x{t.config['x']}-{t.trial_id}")
        assert t.path == r["cwd"] == r["tune_dir"] == r["train_dir"] == expected
        assert Path(expected, "mine.txt").read_text() == str(t.config["x"])
        assert r["orig"] and r["orig"] != expected and r["pid"] != os.getpid()
        assert r["experiment"] == "named"
    assert len({t.last_result["pid"] for t in results.trials}) == 1
    # read back from the store, without the function
    analysis = ExperimentAnalysis(str(tmp_path / "named"))
    assert {t.path for t in analysis.trials} == {t.path for t in results.trials}


def test_chdir_can_be_turned_off_as_in_each_ray_generation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the workers start here
    off = tune.run(
        writes_here,
        config={"x": 1},
        storage_path=str(tmp_path / "store"),
        chdir_to_trial_dir=False,  # Ray 2.1-2.6 tune.run
        verbose=0,
    )
    r = off.trials[0].last_result
    assert r["cwd"] == str(tmp_path) and r["tune_dir"] == off.trials[0].path
    assert (tmp_path / "mine.txt").read_text() == "1"
    (tmp_path / "mine.txt").unlink()

    grid = tune.Tuner(  # Ray 2.1-2.6 TuneConfig
        writes_here,
        param_space={"x": 2},
        tune_config=tune.TuneConfig(chdir_to_trial_dir=False),
        run_config=tune.RunConfig(storage_path=str(tmp_path / "store")),
    ).fit()
    assert grid[0].metrics["cwd"] == str(tmp_path)
    (tmp_path / "mine.txt").unlink()

    monkeypatch.setenv("RAY_CHDIR_TO_TRIAL_DIR", "0")  # Ray 2.7+
    env_off = tune.run(
        writes_here, config={"x": 3}, storage_path=str(tmp_path / "store"), verbose=0
    )
    assert env_off.trials[0].last_result["cwd"] == str(tmp_path)
    assert env_off.trials[0].last_result["orig"] is None  # nothing moved, nothing to name

    # The default (no argument, no variable) is Ray's: on, in the trial's own directory.
    monkeypatch.delenv("RAY_CHDIR_TO_TRIAL_DIR")
    on = tune.run(writes_here, config={"x": 4}, storage_path=str(tmp_path / "store"), verbose=0)
    t = on.trials[0]
    assert t.last_result["cwd"] == t.path and Path(t.path, "mine.txt").read_text() == "4"
    assert t.last_result["orig"] == str(tmp_path)


class _Channel:
    def __init__(self) -> None:
        self.results: list[dict[str, Any]] = []

    def send_result(self, session: Any, result: dict[str, Any], checkpoint: str | None) -> None:
        self.results.append(result)


def _in_dir(config: dict[str, Any]) -> None:
    assert "" not in sys.path  # "" would now mean the trial's directory
    tune.report({"cwd": os.getcwd(), "orig": os.environ.get(ORIG_DIR_ENV)})
    if config.get("fail"):
        raise RuntimeError("the user's error")


@pytest.mark.parametrize("fail", [False, True])
def test_the_worker_comes_back_after_each_attempt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fail: bool
) -> None:
    """Workers are reused: the directory, TUNE_ORIG_WORKING_DIR and sys.path come back
    after the attempt, whether it returned or raised."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.chdir(home)
    monkeypatch.delenv(ORIG_DIR_ENV, raising=False)
    monkeypatch.setattr(sys, "path", ["", *sys.path])
    path_before = list(sys.path)
    trial_dir = tmp_path / "trials" / "t0"
    launch = Launch("t0", {"fail": fail}, 1, str(trial_dir), working_dir=str(trial_dir))
    channel = _Channel()
    stopped, failure = run_attempt(_in_dir, launch, channel, lambda: False)
    assert channel.results[0]["cwd"] == str(trial_dir)  # created for the attempt
    assert channel.results[0]["orig"] == str(home)
    assert (failure is not None) == fail and not stopped
    assert os.getcwd() == str(home)
    assert ORIG_DIR_ENV not in os.environ
    assert sys.path == path_before


def test_the_directory_names_are_checked(tmp_path: Path) -> None:
    names = iter(range(100))

    def run(creator: Any, **kw: Any) -> Any:
        return tune.run(
            writes_here,
            config={"x": tune.grid_search([1, 2])},
            storage_path=str(tmp_path),
            trial_dirname_creator=creator,
            verbose=0,
            engine="simulated",  # the names are checked in the driver: no worker needed
            name=f"e{next(names)}",
            **kw,
        )

    with pytest.raises(TuneTypeError, match="trial_dirname_creator: expected a function"):
        run("trials")
    with pytest.raises(TuneTypeError, match="trial_dirname_creator returned 7 .*a str"):
        run(lambda t: 7)
    for bad in ("a/b", "..", "", "x" * 300):
        with pytest.raises(TuneValueError, match="trial_dirname_creator returned"):
            run(lambda t, bad=bad: bad)
    with pytest.raises(TuneValueError, match="trial_dirname_creator returned 'same' .*already"):
        run(lambda t: "same")
    with pytest.raises(TuneTypeError, match="chdir_to_trial_dir: expected True or False"):
        run(None, chdir_to_trial_dir="yes")


def _fails_once(config: dict[str, Any]) -> None:
    with open("attempts.txt", "a") as f:  # in the trial's directory
        f.write("x\n")
    if Path("attempts.txt").read_text().count("x") == 1:
        raise RuntimeError("first attempt fails")
    tune.report({"attempts": Path("attempts.txt").read_text().count("x")})


def test_a_restored_trial_keeps_its_directory(tmp_path: Path) -> None:
    """The name is recorded with the trial: a restore without the function finds it."""
    first = tune.Tuner(
        _fails_once,
        tune_config=tune.TuneConfig(trial_dirname_creator=lambda t: f"kept-{t.trial_id}"),
        run_config=tune.RunConfig(storage_path=str(tmp_path), name="again"),
    ).fit()
    assert first.num_errors == 1
    path = first[0].path
    assert os.path.basename(path).startswith("kept-")
    again = tune.Tuner.restore(str(tmp_path / "again"), _fails_once, resume_errored=True).fit()
    assert again.num_errors == 0
    assert again[0].path == path and again[0].metrics["attempts"] == 2


def test_callbacks_see_the_named_directory(tmp_path: Path) -> None:
    from tunefleet.tune.logger import CSVLoggerCallback

    results = tune.run(
        writes_here,
        config={"x": 5},
        storage_path=str(tmp_path),
        trial_dirname_creator=lambda t: f"csv_{t.trial_id}",
        callbacks=[CSVLoggerCallback()],
        verbose=0,
    )
    path = Path(results.trials[0].path)
    assert path.name.startswith("csv_")
    assert {"progress.csv", "mine.txt"} <= set(os.listdir(path))


def test_attempts_sharing_a_process_run_in_its_own_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Dask worker with several threads runs several attempts in one process, which has
    one working directory: while they overlap, all of them run in the process's own."""
    import threading

    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.chdir(home)
    first_in, second_done = threading.Event(), threading.Event()
    seen: dict[str, list[str]] = {"a": [], "b": []}

    def trainable(config: dict[str, Any]) -> None:
        seen[config["k"]].append(os.getcwd())
        if config["k"] == "a":
            first_in.set()
            assert second_done.wait(30)
            seen["a"].append(os.getcwd())

    def attempt(k: str) -> None:
        d = str(tmp_path / "trials" / k)
        run_attempt(trainable, Launch(k, {"k": k}, 1, d, working_dir=d), _Channel(), lambda: False)

    a = threading.Thread(target=attempt, args=("a",))
    a.start()
    assert first_in.wait(30)
    with pytest.warns(UserWarning, match="several trials at once"):
        attempt("b")
    second_done.set()
    a.join(30)
    assert seen["a"] == [str(tmp_path / "trials" / "a"), str(home)]
    assert seen["b"] == [str(home)]
    assert os.getcwd() == str(home)
    # alone again: the next attempt has its own directory
    attempt("c")
    assert os.getcwd() == str(home) and (tmp_path / "trials" / "c").is_dir()
