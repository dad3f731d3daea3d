"""Ray Tune 1.x-2.x's classic API on tunefleet: the checkpoint_dir signature,
``tune.checkpoint_dir``, ``report(done=)``, returned dicts, bool stop/verbose, loggers=,
accepted-but-meaningless arguments, PlacementGroupFactory, registered trainables,
``ExperimentAnalysis(path)`` and the arguments callbacks receive."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

import pytest
from tunefleet.tune.logger import CSVLogger, JsonLogger

from tunefleet import tune


def _ckpt_fn(config: dict[str, Any], checkpoint_dir: str | None = None) -> None:
    start = 0
    if checkpoint_dir:
        with open(os.path.join(checkpoint_dir, "state.json")) as f:
            start = json.load(f)["step"]
    for step in range(start, 4):
        with tune.checkpoint_dir(step=step) as d, open(os.path.join(d, "state.json"), "w") as f:
            json.dump({"step": step + 1}, f)
        if step == 1 and not checkpoint_dir and config["crash"]:
            raise RuntimeError("first attempt dies after two checkpoints")
        tune.report(loss=float(step), resumed_from=start, done=step == 2)


def test_checkpoint_dir_signature_restores_and_done_ends_the_trial(tmp_path: Path) -> None:
    analysis = tune.run(
        _ckpt_fn,
        config={"crash": True},
        metric="loss",
        mode="min",
        max_failures=1,
        stop={"done": True},
        verbose=False,
        raise_on_failed_trial=True,
        local_dir=str(tmp_path),
    )
    last = analysis.trials[0].last_result
    # the retry restored the last checkpoint a report carried (written at step 0; the one
    # written at step 1 died with its attempt), and done=True at step 2 ended the trial
    assert last["resumed_from"] == 1
    assert last["loss"] == 2.0
    assert analysis.best_checkpoint is not None


def _returns(config: dict[str, Any]) -> dict[str, float]:
    return {"score": config["x"] * 2}


def test_a_returned_dict_is_the_final_result(tmp_path: Path) -> None:
    analysis = tune.run(
        _returns,
        config={"x": tune.grid_search([1, 3, 2])},
        metric="score",
        mode="max",
        storage_path=str(tmp_path),
        verbose=0,
    )
    assert analysis.best_config == {"x": 3}
    best = analysis.get_best_trial()
    assert best.last_result["score"] == 6 and best.trainable_name == "_returns"


def _returns_with(config: dict[str, Any], offset: int = 0) -> dict[str, float]:
    return {"score": config["x"] + offset}


def test_a_with_parameters_trainable_that_returns_a_dict(tmp_path: Path) -> None:
    analysis = tune.run(
        tune.with_parameters(_returns_with, offset=10),
        config={"x": tune.grid_search([1, 2])},
        metric="score",
        mode="max",
        storage_path=str(tmp_path),
        verbose=0,
    )
    assert analysis.best_result["score"] == 12


def _steps(config: dict[str, Any]) -> None:
    for i in range(3):
        tune.report(acc=i * config["lr"], nested={"a": i})


def test_loggers_write_csv_and_json_and_meaningless_arguments_warn_once(tmp_path: Path) -> None:
    kwargs: dict[str, Any] = dict(
        config={"lr": tune.grid_search([0.5, 1.0])},
        loggers=[CSVLogger, JsonLogger],
        sync_config=tune.SyncConfig(),
        progress_reporter=tune.CLIReporter(metric_columns=["acc"]),
        resources_per_trial=tune.PlacementGroupFactory([{"CPU": 1}]),
        keep_checkpoints_num=1,
        checkpoint_score_attr="acc",
        local_dir=str(tmp_path),
        verbose=0,
    )
    from tunefleet import legacy_args

    legacy_args._warned.discard("sync_config")
    legacy_args._warned.discard("progress_reporter")
    with pytest.warns(UserWarning) as record:
        analysis = tune.run(_steps, **kwargs)
    text = " ".join(str(w.message) for w in record)
    assert "sync_config" in text and "progress_reporter" in text
    with warnings.catch_warnings(record=True) as again:
        warnings.simplefilter("always")
        tune.run(_steps, **kwargs)
    assert not [w for w in again if "sync_config" in str(w.message)]
    trial_dirs = sorted(Path(analysis.experiment_path).glob("trials/*"))
    assert len(trial_dirs) == 2
    for d in trial_dirs:
        rows = (d / "progress.csv").read_text().splitlines()
        assert rows[0].split(",")[:2] == ["acc", "nested/a"] and len(rows) == 4
        lines = (d / "result.json").read_text().splitlines()
        assert [json.loads(x)["nested"]["a"] for x in lines] == [0, 1, 2]
        assert json.loads((d / "params.json").read_text())["lr"] in (0.5, 1.0)


def test_registered_trainable_by_name_and_experiment_analysis_of_a_path(tmp_path: Path) -> None:
    tune.register_trainable("doubler", _returns)
    tune.run("doubler", config={"x": 4}, name="named", storage_path=str(tmp_path), verbose=0)
    analysis = tune.ExperimentAnalysis(str(tmp_path / "named"))
    assert analysis.get_best_config(metric="score", mode="max") == {"x": 4}
    with pytest.raises(ValueError, match="run_or_experiment.*nope"):
        tune.run("nope", storage_path=str(tmp_path))


class _Recorder(tune.Callback):
    def __init__(self) -> None:
        self.seen: list[tuple[str, str, Any, Any, str, str, int]] = []

    def on_trial_result(self, iteration, trials, trial, result, **info):  # type: ignore[no-untyped-def]
        self.seen.append(
            (
                trial.trial_id,
                trial.trainable_name,
                trial.config["lr"],
                trial.last_result.get("acc"),
                trial.logdir,
                trial.local_path,
                len(trials),
            )
        )


def test_callbacks_get_rays_trial_view(tmp_path: Path) -> None:
    rec = _Recorder()
    tune.run(
        _steps,
        config={"lr": tune.grid_search([1.0, 2.0])},
        callbacks=[rec],
        storage_path=str(tmp_path),
        verbose=0,
    )
    assert len(rec.seen) == 6
    tid, name, lr, _acc, logdir, local_path, n = rec.seen[-1]
    assert name == "_steps" and lr in (1.0, 2.0) and n == 2
    assert logdir == local_path and logdir.endswith(os.path.join("trials", tid))


class _CheckpointsAndEnd(tune.Callback):
    def __init__(self) -> None:
        self.checkpoints: list[tuple[str, dict[str, Any]]] = []
        self.ended: list[tuple[str, str, str]] = []

    def on_checkpoint(self, iteration, trials, trial, checkpoint, **info):  # type: ignore[no-untyped-def]
        self.checkpoints.append((trial.trial_id, checkpoint.to_dict()))

    def on_experiment_end(self, trials, **info):  # type: ignore[no-untyped-def]
        self.ended = [(t.trial_id, t.trainable_name, t.status) for t in trials]


def _saves(config: dict[str, Any]) -> None:
    for step in range(3):
        tune.report({"step": step}, checkpoint=tune.Checkpoint.from_dict({"step": step}))


def test_on_checkpoint_and_on_experiment_end_get_rays_arguments(tmp_path: Path) -> None:
    cb = _CheckpointsAndEnd()
    tune.run(_saves, num_samples=2, callbacks=[cb], storage_path=str(tmp_path), verbose=0)
    assert len(cb.checkpoints) == 6
    assert sorted(d["step"] for _, d in cb.checkpoints) == [0, 0, 1, 1, 2, 2]
    assert len(cb.ended) == 2
    assert {(name, status) for _, name, status in cb.ended} == {("_saves", "TERMINATED")}


def _finishes(config: dict[str, Any]) -> None:
    for i in range(10):
        tune.report(i=i, done=i == 2)


def test_tuner_names_trials_warns_for_ignored_fields_and_takes_bool_stops(tmp_path: Path) -> None:
    from tunefleet import legacy_args

    legacy_args._warned.discard("log_to_file")
    names = _Names()
    with pytest.warns(UserWarning, match="log_to_file"):
        grid = tune.Tuner(
            _finishes,
            tune_config=tune.TuneConfig(
                trial_name_creator=lambda t: f"finisher-{t.config['k']}",
            ),
            param_space={"k": 7},
            run_config=tune.RunConfig(
                storage_path=str(tmp_path),
                stop={"done": True},
                callbacks=[names],
                log_to_file=True,
            ),
        ).fit()
    assert grid[0].metrics["i"] == 2 and grid[0].metrics["training_iteration"] == 3
    assert names.seen == {"finisher-7"}
    with pytest.raises(TypeError, match="trial_name_creator"):
        tune.run(_finishes, trial_name_creator="not a function", storage_path=str(tmp_path))


class _Names(tune.Callback):
    def __init__(self) -> None:
        self.seen: set[str] = set()

    def on_trial_result(self, iteration, trials, trial, result, **info):  # type: ignore[no-untyped-def]
        self.seen.add(str(trial))


def _fails_until_marked(config: dict[str, Any]) -> None:
    marker = Path(config["dir"], f"ran-{config['i']}")
    first = not marker.exists()
    marker.touch()
    if config["i"] == 1 and first:
        raise RuntimeError("fails on its first attempt")
    tune.report(ok=1)


@pytest.mark.parametrize(
    "how",
    [
        {"resume": "AUTO+ERRORED"},  # Ray 2.x suffix
        {"resume": "ERRORED_ONLY"},  # Ray 1.x
        {"resume_config": tune.ResumeConfig(errored="restart")},  # Ray 2.10+
    ],
    ids=["auto+errored", "errored_only", "resume_config"],
)
def test_rays_resume_strings_and_resume_config_rerun_errored_trials(
    tmp_path: Path, how: dict[str, Any]
) -> None:
    space = {"i": tune.grid_search([0, 1]), "dir": str(tmp_path)}
    kw: dict[str, Any] = {"storage_path": str(tmp_path), "name": "exp", "verbose": 0}
    first = tune.run(_fails_until_marked, config=space, raise_on_failed_trial=False, **kw)
    assert sorted(t.status for t in first.trials) == ["ERROR", "TERMINATED"]
    again = tune.run(_fails_until_marked, config=space, **kw, **how)
    assert sorted(t.status for t in again.trials) == ["TERMINATED", "TERMINATED"]


def test_resume_values_ray_does_not_have_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="resume: 'AUTO\\+SOMETIMES'"):
        tune.run(_finishes, resume="AUTO+SOMETIMES", storage_path=str(tmp_path), name="x")
    with pytest.raises(ValueError, match="resume_config.errored"):
        tune.run(
            _finishes,
            resume_config=tune.ResumeConfig(errored="maybe"),
            storage_path=str(tmp_path),
            name="x",
        )
