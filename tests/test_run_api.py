"""End-to-end runs of the public API on the real local engine (and the simulator)."""

from __future__ import annotations

import math
import os
import pickle
import warnings
from pathlib import Path
from typing import Any

import pytest

import tunefleet as tf
from tunefleet import tune
from tunefleet.errors import ReportOutsideTrialError, TuneError, TuneTypeError, TuneValueError
from tunefleet.schedulers import ASHAScheduler
from tunefleet.search import RandomSearch

pytestmark = pytest.mark.timeout(120)


def quadratic(config: dict[str, Any]) -> None:
    for i in range(3):
        tune.report(score=-((config["lr"] - 0.01) ** 2) + i * 1e-6, batch=config["batch"])


def test_five_line_sweep_ray_style(tmp_path: Path) -> None:
    results = tune.run(
        quadratic,
        config={"lr": tune.loguniform(1e-5, 1e-2), "batch": tune.choice([16, 32, 64])},
        num_samples=20,
        storage_path=str(tmp_path),
        verbose=0,
    )
    df = results.dataframe()
    assert len(df) == 20
    assert set(df["config/batch"]) <= {16, 32, 64}
    assert (df["training_iteration"] == 3).all()
    best = results.get_best_trial("score", "max", "last")
    assert best.last_result["score"] == pytest.approx(df["score"].max())
    assert results.get_best_config("score", "max")["lr"] == best.config["lr"]
    for field in (
        "training_iteration",
        "time_total_s",
        "time_this_iter_s",
        "trial_id",
        "timestamp",
        "done",
    ):
        assert field in best.last_result
    assert best.last_result["done"] is True


def test_best_result_and_results_df(tmp_path: Path) -> None:
    results = tf.run(
        quadratic,
        config={"lr": tf.uniform(0.0, 0.02), "batch": 8},
        num_samples=8,
        metric="score",
        mode="max",
        storage_path=str(tmp_path),
        verbose=0,
        seed=1,
    )
    scores = [t.last_result["score"] for t in results.trials]
    assert results.best_result["score"] == max(scores)
    assert results.best_config == results.get_best_trial().config
    assert len(results.results_df) == 8


class CountingLoads:
    """Appends a line to a file every time it is unpickled (i.e. shipped to a worker)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.payload = list(range(100_000))

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path, "payload": self.payload}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        with open(self.path, "a") as f:
            f.write(f"{os.getpid()}\n")


def uses_data(config: dict[str, Any], data: CountingLoads) -> None:
    tune.report(n=len(data.payload) + config["i"])


def test_with_parameters_ships_once_per_worker(tmp_path: Path) -> None:
    log = tmp_path / "loads.txt"
    results = tune.run(
        tune.with_parameters(uses_data, data=CountingLoads(str(log))),
        config={"i": tune.randint(0, 10)},
        num_samples=12,
        storage_path=str(tmp_path / "runs"),
        verbose=0,
    )
    assert len(results.trials) == 12
    loads = log.read_text().split()
    assert 1 <= len(loads) <= os.cpu_count()  # once per worker, never once per trial
    assert len(set(loads)) == len(loads)


def tuner_fn(config: dict[str, Any]) -> None:
    start = 0
    ckpt = tune.get_checkpoint()
    if ckpt is not None:
        start = int(Path(ckpt.path, "step").read_text())
    for step in range(start, 4):
        d = Path(tune.get_trial_dir()) / "scratch"
        d.mkdir(parents=True, exist_ok=True)
        (d / "step").write_text(str(step + 1))
        tune.report(
            {"loss": (config["x"] - 2) ** 2 + 1 / (step + 1)},
            checkpoint=tune.Checkpoint.from_directory(d),
        )


def test_tuner_api_result_grid(tmp_path: Path) -> None:
    tuner = tune.Tuner(
        tuner_fn,
        param_space={"x": tune.grid_search([0, 1, 2, 3])},
        tune_config=tune.TuneConfig(metric="loss", mode="min", num_samples=1),
        run_config=tune.RunConfig(name="grid", storage_path=str(tmp_path), verbose=0),
    )
    grid = tuner.fit()
    assert len(grid) == 4 and grid.num_errors == 0 and not grid.errors
    best = grid.get_best_result()
    assert best.config == {"x": 2}
    assert best.metrics["loss"] == pytest.approx(0.25)
    assert best.checkpoint is not None
    assert Path(best.checkpoint.path, "step").read_text() == "4"
    assert Path(best.path).is_dir()
    assert list(best.metrics_dataframe["training_iteration"]) == [1, 2, 3, 4]
    df = grid.get_dataframe()
    assert sorted(df["config/x"]) == [0, 1, 2, 3]
    assert {r.config["x"] for r in grid} == {0, 1, 2, 3}
    assert grid[0].config["x"] in {0, 1, 2, 3}


class Counter(tune.Trainable):
    def setup(self, config: dict[str, Any]) -> None:
        self.value = 0
        self.rate = config["rate"]

    def step(self) -> dict[str, Any]:
        self.value += self.rate
        return {"value": self.value, "done": self.iteration + 1 >= 5}

    def save_checkpoint(self, checkpoint_dir: str) -> dict[str, Any]:
        return {"value": self.value}

    def load_checkpoint(self, checkpoint: Any) -> None:
        self.value = checkpoint["value"]


def test_trainable_class_api(tmp_path: Path) -> None:
    results = tune.run(
        Counter,
        config={"rate": tune.grid_search([1, 2])},
        storage_path=str(tmp_path),
        checkpoint_freq=2,
        verbose=0,
    )
    values = sorted(t.last_result["value"] for t in results.trials)
    assert values == [5, 10]
    assert all(t.last_result["training_iteration"] == 5 for t in results.trials)
    assert all(t.checkpoint is not None for t in results.trials)


def test_stop_dict_limits_iterations(tmp_path: Path) -> None:
    results = tune.run(
        Counter,
        config={"rate": 1},
        stop={"training_iteration": 2},
        storage_path=str(tmp_path),
        verbose=0,
    )
    assert results.trials[0].last_result["training_iteration"] == 2


def flaky(config: dict[str, Any]) -> None:
    if config["x"] == 3:
        raise ValueError("x=3 is cursed")
    tune.report(score=config["x"])


def test_failing_trial_keeps_others_and_raises_at_end(tmp_path: Path) -> None:
    with pytest.raises(TuneError, match="cursed"):
        tune.run(
            flaky,
            config={"x": tune.grid_search(list(range(6)))},
            storage_path=str(tmp_path),
            name="flaky",
            verbose=0,
        )
    from tunefleet.results import Results
    from tunefleet.storage import open_store

    results = Results(open_store(str(tmp_path)), "flaky", metric="score", mode="max")
    statuses = {t.config["x"]: t.status for t in results.trials}
    assert statuses[3] == "ERROR" and sum(s == "TERMINATED" for s in statuses.values()) == 5
    err = next(t for t in results.trials if t.config["x"] == 3)
    assert "cursed" in (err.error or "") and "flaky" in (err.traceback or "")
    assert results.best_config == {"x": 5}


def test_failing_trial_no_raise(tmp_path: Path) -> None:
    results = tune.run(
        flaky,
        config={"x": tune.grid_search([2, 3])},
        storage_path=str(tmp_path),
        raise_on_failed_trial=False,
        verbose=0,
    )
    assert sorted(t.status for t in results.trials) == ["ERROR", "TERMINATED"]


def fails_once(config: dict[str, Any]) -> None:
    marker = Path(config["dir"]) / f"failed-{config['x']}"
    start = 0
    if tune.get_checkpoint() is not None:
        start = int(Path(tune.get_checkpoint().path, "i").read_text())
    for i in range(start, 4):
        d = Path(config["dir"]) / f"ck-{config['x']}-{i}"
        d.mkdir(parents=True, exist_ok=True)
        (d / "i").write_text(str(i + 1))
        tune.report({"i": i}, checkpoint=tune.Checkpoint.from_directory(d))
        if i == 1 and not marker.exists():
            marker.touch()
            raise RuntimeError("transient")


def test_max_failures_retries_from_checkpoint(tmp_path: Path) -> None:
    results = tune.run(
        fails_once,
        config={"x": tune.grid_search([0, 1]), "dir": str(tmp_path)},
        max_failures=1,
        storage_path=str(tmp_path / "runs"),
        verbose=0,
    )
    for t in results.trials:
        assert t.status == "TERMINATED"
        assert t.last_result["training_iteration"] == 4
        df = results.trial_dataframes[t.trial_id]
        # iterations 1,2 then (after restoring the iteration-2 checkpoint) 3,4
        assert list(df["training_iteration"]) == [1, 2, 3, 4]


def test_fail_fast_stops_the_experiment(tmp_path: Path) -> None:
    with pytest.raises(TuneError):
        tune.run(
            flaky,
            config={"x": tune.grid_search([3, 0, 1, 2, 4, 5, 6, 7])},
            fail_fast=True,
            max_concurrent_trials=1,
            storage_path=str(tmp_path),
            verbose=0,
        )


def nan_metric(config: dict[str, Any]) -> None:
    tune.report(score=math.nan if config["x"] == 0 else float(config["x"]))


def test_nan_metric_recorded_treated_as_worst_and_warned_once(tmp_path: Path) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        results = tune.run(
            nan_metric,
            config={"x": tune.grid_search([0, 1, 2])},
            metric="score",
            mode="max",
            storage_path=str(tmp_path),
            verbose=0,
        )
    nan_warnings = [w for w in caught if "non-finite" in str(w.message)]
    assert len(nan_warnings) == 1
    assert results.best_config == {"x": 2}
    assert any(math.isnan(t.last_result["score"]) for t in results.trials)


def wrong_metric(config: dict[str, Any]) -> None:
    tune.report(loss=1.0)


def test_metric_never_reported_errors_at_end(tmp_path: Path) -> None:
    with pytest.raises(TuneValueError, match="metric: 'accuracy' was never reported"):
        tune.run(
            wrong_metric,
            num_samples=2,
            metric="accuracy",
            mode="max",
            storage_path=str(tmp_path),
            verbose=0,
        )


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"num_samples": 0}, "num_samples"),
        ({"num_samples": -3}, "num_samples"),
        ({"metric": "score", "mode": "maximize"}, "mode"),
        ({"metric": "score"}, "mode"),
        ({"mode": "max"}, "metric"),
        ({"scheduler": "nope"}, "scheduler"),
        ({"search_alg": "nope"}, "search_alg"),
        ({"max_failures": -2}, "max_failures"),
        ({"time_budget_s": 0}, "time_budget_s"),
        ({"resources_per_trial": {"cpu": -1}}, "resources_per_trial"),
        ({"resources_per_trial": {"cpu": 10_000}}, "resources_per_trial"),
        ({"max_concurrent_trials": 0}, "max_concurrent_trials"),
        ({"engine": "warp-drive"}, "engine"),
        ({"config": {"model": {"lr": tune.uniform(1, 0)}}}, r"config\['model'\]\['lr'\]: uniform"),
        ({"config": {"opt": [tune.choice([])]}}, r"config\['opt'\]\[0\]: choice"),
        ({"config": {"n": tune.qrandint(1, 10, 0)}}, r"config\['n'\]: qrandint"),
        (
            {"metric": "loss", "mode": "min", "scheduler": ASHAScheduler(metric="acc", mode="max")},
            "scheduler: ASHAScheduler was given metric='acc'",
        ),
        (
            {"metric": "loss", "mode": "min", "scheduler": ASHAScheduler(mode="max")},
            "scheduler: ASHAScheduler was given mode='max'",
        ),
        (
            {"metric": "loss", "mode": "min", "search_alg": RandomSearch(metric="acc", mode="min")},
            "search_alg: RandomSearch was given metric='acc'",
        ),
        ({"stop": {"score": "high"}}, r"stop\['score'\]: threshold must be a number"),
    ],
)
def test_bad_arguments_name_the_parameter(
    tmp_path: Path, kwargs: dict[str, Any], param: str
) -> None:
    kwargs = {"config": {"lr": 0.1, "batch": 1}, **kwargs}
    with pytest.raises((TuneValueError, TuneTypeError), match=param):
        tune.run(quadratic, storage_path=str(tmp_path), verbose=0, **kwargs)
    assert not any(tmp_path.iterdir())  # nothing created: rejected before any compute


def string_metric(config: dict[str, Any]) -> None:
    tune.report(score=config.get("s", 1.0))
    tune.report(score="0.9")  # a string: cannot be ranked
    tune.report(score=2.0)  # may cross the stop request, like any report


def test_a_metric_that_is_not_a_number_fails_that_trial_only(tmp_path: Path) -> None:
    res = tune.run(
        string_metric,
        config={"s": tune.grid_search([1.0, 0.5])},
        metric="score",
        mode="max",
        storage_path=str(tmp_path),
        verbose=0,
        max_failures=3,  # not retried: the same code reports the same string
        raise_on_failed_trial=False,
    )
    assert [t.status for t in res.trials] == ["ERROR", "ERROR"]
    for t in res.trials:
        assert "metric 'score' must be a number, got str '0.9'" in (t.error or "")
        assert t.num_failures == 1


def two_reports(config: dict[str, Any]) -> None:
    tune.report(score=1.0)
    tune.report(score=2.0, other=1)


def test_a_stop_key_no_result_carries_warns_then_fails_at_the_end(tmp_path: Path) -> None:
    with (
        pytest.warns(UserWarning, match=r"stop\['scroe'\]: the first result carries no such key"),
        pytest.raises(TuneValueError, match=r"stop: no result carried 'scroe'") as info,
    ):
        tune.run(
            two_reports,
            num_samples=2,
            stop={"scroe": 1.5, "other": 5},
            metric="score",
            mode="max",
            storage_path=str(tmp_path),
            verbose=0,
        )
    assert "Results are stored in" in str(info.value)
    # a key that only later results carry is fine: 'other' appears in the second report
    assert "'other'" not in str(info.value)


def test_unknown_names_list_the_valid_ones(tmp_path: Path) -> None:
    with pytest.raises(TuneValueError, match="fifo"):
        tune.run(quadratic, scheduler="nope", storage_path=str(tmp_path), verbose=0)
    with pytest.raises(TuneValueError, match="random"):
        tune.run(quadratic, search_alg="nope", storage_path=str(tmp_path), verbose=0)


def two_args(config: dict[str, Any], extra: int) -> None:
    pass


def test_bad_trainables(tmp_path: Path) -> None:
    with pytest.raises(TuneTypeError, match="run_or_experiment"):
        tune.run(42, storage_path=str(tmp_path))
    with pytest.raises(TuneTypeError, match="run_or_experiment.*two_args"):
        tune.run(two_args, storage_path=str(tmp_path))
    with pytest.raises(TuneTypeError, match="trainable"):
        tune.Tuner("not callable", run_config=tune.RunConfig(storage_path=str(tmp_path))).fit()


def test_report_outside_trial() -> None:
    with pytest.raises(ReportOutsideTrialError, match="outside of a trial"):
        tune.report(score=1.0)
    with pytest.raises(ReportOutsideTrialError):
        tune.get_checkpoint()


def test_storage_path_not_writable(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(TuneValueError, match="storage_path"):
        tune.run(quadratic, config={"lr": 0.1, "batch": 1}, storage_path=str(blocker / "runs"))


def test_unpicklable_trainable_is_rejected(tmp_path: Path) -> None:
    import threading

    lock = threading.Lock()

    def holds_lock(config: dict[str, Any]) -> None:
        with lock:
            tune.report(x=1)

    with pytest.raises(TuneTypeError, match="pickled"):
        tune.run(holds_lock, storage_path=str(tmp_path), verbose=0)


def slow_steps(config: dict[str, Any]) -> None:
    for _ in range(1000):
        tune.report(score=config["x"], time_this_iter_s=1.0)


def test_time_budget_on_simulated_clock(tmp_path: Path) -> None:
    results = tune.run(
        slow_steps,
        config={"x": tune.uniform(0, 1)},
        num_samples=4,
        time_budget_s=50,
        engine="simulated",
        storage_path=str(tmp_path),
        verbose=0,
    )
    total_iters = sum(t.last_result["training_iteration"] for t in results.trials)
    assert total_iters < 4 * 1000
    assert all(t.last_result["time_total_s"] <= 51 for t in results.trials)


def test_existing_name_is_not_overwritten(tmp_path: Path) -> None:
    kw = dict(config={"lr": 0.1, "batch": 1}, storage_path=str(tmp_path), name="same", verbose=0)
    tune.run(quadratic, **kw)
    with pytest.warns(UserWarning, match="same_2"):
        r2 = tune.run(quadratic, **kw)
    assert r2.experiment_path.rstrip("/").endswith("same_2")


class InterruptAfter(tune.Callback):
    def __init__(self, n: int) -> None:
        self.n = n
        self.done = 0

    def on_trial_complete(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self.done += 1
        if self.done >= self.n:
            raise KeyboardInterrupt


def counted(config: dict[str, Any]) -> None:
    with open(config["log"], "a") as f:
        f.write(f"{config['x']}\n")
    tune.report(score=config["x"])


def test_resume_after_interrupt_never_reruns_completed(tmp_path: Path) -> None:
    log = tmp_path / "runs.log"
    kw: dict[str, Any] = dict(
        config={"x": tune.grid_search(list(range(8))), "log": str(log)},
        storage_path=str(tmp_path / "runs"),
        name="resumable",
        verbose=0,
        max_concurrent_trials=1,
    )
    with pytest.raises(KeyboardInterrupt):
        tune.run(counted, callbacks=[InterruptAfter(3)], **kw)
    first = log.read_text().split()
    assert len(first) >= 3
    results = tune.run(counted, resume=True, **kw)
    assert len(results.trials) == 8
    assert sorted(t.config["x"] for t in results.trials) == list(range(8))
    assert all(t.status == "TERMINATED" for t in results.trials)
    runs = log.read_text().split()
    # Completed ones never re-run: each x ran once, except at most the one in flight.
    assert len(runs) <= 8 + 1
    assert sorted(set(map(int, runs))) == list(range(8))


def test_resume_unknown_name(tmp_path: Path) -> None:
    with pytest.raises(TuneValueError, match="name"):
        tune.resume("nope", counted, storage_path=str(tmp_path))


def test_import_forms() -> None:
    import tunefleet
    from tunefleet import tune as t2

    assert t2.run is tunefleet.run and t2.Tuner is tunefleet.Tuner
    from tunefleet.tune.schedulers import FIFOScheduler  # Ray's module path shape

    assert FIFOScheduler.__name__ == "FIFOScheduler"
    assert pickle.loads(pickle.dumps(tunefleet.Checkpoint("/x"))).path == "/x"
