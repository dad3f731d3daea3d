"""Ray names under Ray's module paths that tunefleet does not implement: each imports, and
using it raises ``NotProvidedError`` (a ``TuneError`` and a ``NotImplementedError``)
naming it, why and what to use instead. The small ones that have a faithful meaning here
(``tune.constants``, ``air.constants``, ``tune.context``, ``get_trial_resources``,
``train.torch``'s helpers, ``prepare_trainer``) work, checked in real trials.
"""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path
from typing import Any

import pytest

from tunefleet import train, tune
from tunefleet.compat.unprovided import NotProvidedError
from tunefleet.errors import TuneError
from tunefleet.executors.local import LocalExecutor

pytestmark = pytest.mark.timeout(120)

# (module path under tunefleet., name, words its error must hold)
CLASSES = [
    ("tune.schedulers.resource_changing_scheduler", "ResourceChangingScheduler", "fixed per trial"),
    ("tune.schedulers.resource_changing_scheduler", "DistributeResources", "fixed per trial"),
    ("tune.schedulers.resource_changing_scheduler", "DistributeResourcesToTopJob", "fixed"),
    ("tune.schedulers", "ResourceChangingScheduler", "resources_per_trial"),
    ("tune.schedulers", "PopulationBasedTrainingReplay", "event log"),
    ("tune.integration.ray_train", "TuneReportCallback", "tune.report"),
    ("train.torch", "TorchTrainer", '"workers": N'),
    ("train.torch", "TorchConfig", "no Ray Train"),
    ("train.huggingface", "TransformersTrainer", "TrainerCallback"),
    ("train.huggingface", "HuggingFaceTrainer", "no Ray Train"),
    ("train.huggingface.transformers", "RayTrainReportCallback", "tune.report"),
    ("tune.logger.aim", "AimLoggerCallback", "LoggerCallback"),
    ("air.integrations.comet", "CometLoggerCallback", "LoggerCallback"),
    ("tune.search.skopt", "SkOptSearch", "OptunaSearch"),
    ("tune.suggest.skopt", "SkOptSearch", "OptunaSearch"),
    ("tune.search.dragonfly", "DragonflySearch", "no adapter"),
    ("tune.search.sigopt", "SigOptSearch", "no adapter"),
    ("tune.search.flaml", "BlendSearch", "no adapter"),
    ("tune.suggest.flaml", "CFO", "no adapter"),
    ("tune.integration.torch", "DistributedTrainableCreator", '"workers": N'),
    ("tune.integration.horovod", "DistributedTrainableCreator", '"workers": N'),
    ("tune.integration.tensorflow", "DistributedTrainableCreator", "own launcher"),
    ("train.torch.xla", "TorchXLAConfig", "torch_xla"),
    ("tune.schedulers.pbt", "PopulationBasedTrainingReplay", "event log"),
]
FUNCTIONS = [
    ("tune.schedulers.resource_changing_scheduler", "evenly_distribute_cpus_gpus"),
    ("tune.schedulers.resource_changing_scheduler", "evenly_distribute_cpus_gpus_distributed"),
    ("tune.integration.torch", "distributed_checkpoint_dir"),
]


@pytest.mark.parametrize(("path", "name", "hint"), CLASSES)
def test_an_unprovided_class_imports_and_raises_when_created(
    path: str, name: str, hint: str
) -> None:
    cls = getattr(importlib.import_module(f"tunefleet.{path}"), name)
    assert isinstance(cls, type) and cls.__name__ == name
    with pytest.raises(NotProvidedError) as info:
        cls()
    message = str(info.value)
    assert f".{name} is not provided by tunefleet: " in message
    assert "Instead: " in message and hint in message
    assert isinstance(info.value, TuneError) and isinstance(info.value, NotImplementedError)
    # a script's subclass (a custom DistributeResources) fails the same way
    sub = type("Mine", (cls,), {})
    with pytest.raises(NotProvidedError, match=name):
        sub(1, key=2)
    # and so does a classmethod-style use (TorchTrainer.restore(path))
    with pytest.raises(NotProvidedError, match=name):
        cls.restore("somewhere")  # type: ignore[attr-defined]


@pytest.mark.parametrize(("path", "name"), FUNCTIONS)
def test_an_unprovided_function_imports_and_raises_when_called(path: str, name: str) -> None:
    fn = getattr(importlib.import_module(f"tunefleet.{path}"), name)
    with pytest.raises(NotProvidedError, match=f"{name} is not provided.*Instead: "):
        fn(None, None, {}, None)


def test_ray_constants_have_rays_values() -> None:
    from tunefleet.air import constants as air_constants
    from tunefleet.tune import constants as tune_constants

    assert "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS" in tune_constants.TUNE_ENV_VARS
    assert air_constants.TRAINING_ITERATION == "training_iteration"
    assert (air_constants.EXPR_PARAM_FILE, air_constants.EXPR_PROGRESS_FILE) == (
        "params.json",
        "progress.csv",
    )
    assert air_constants.EXPR_RESULT_FILE == "result.json"
    assert air_constants.MODEL_KEY == "model"
    assert air_constants.PREPROCESSOR_KEY == "_preprocessor"


def test_the_logger_files_carry_the_constants_names(tmp_path: Path) -> None:
    from tunefleet.air.constants import EXPR_PARAM_FILE, EXPR_PROGRESS_FILE, EXPR_RESULT_FILE
    from tunefleet.tune.logger import CSVLoggerCallback, JsonLoggerCallback

    def fn(config: dict[str, Any]) -> None:
        tune.report({"x": config["x"]})

    grid = tune.run(
        fn,
        config={"x": 1},
        storage_path=str(tmp_path),
        callbacks=[CSVLoggerCallback(), JsonLoggerCallback()],
        verbose=0,
        engine=LocalExecutor(num_cpus=1),
    )
    trial_dir = Path(grid.trials[0].logdir)
    for name in (EXPR_PARAM_FILE, EXPR_PROGRESS_FILE, EXPR_RESULT_FILE):
        assert (trial_dir / name).is_file(), name


def context_and_resources(config: dict[str, Any]) -> None:
    from tunefleet.tune.context import TuneContext, get_context

    from tunefleet.air import session

    ctx = get_context()
    assert isinstance(ctx, TuneContext)
    from tunefleet.train.context import TrainContext
    from tunefleet.train.context import get_context as train_get_context

    assert train_get_context() is ctx and isinstance(ctx, TrainContext)
    bundles = [
        use().bundles
        for use in (ctx.get_trial_resources, session.get_trial_resources, tune.get_trial_resources)
    ]
    tune.report(
        {
            "trial_id_ok": ctx.get_trial_id() == ctx.get_trial_name(),
            "bundles": bundles,
            "pgf": type(ctx.get_trial_resources()) is tune.PlacementGroupFactory,
        }
    )


def test_tune_context_module_and_trial_resources_in_a_trial(tmp_path: Path) -> None:
    grid = tune.run(
        context_and_resources,
        resources_per_trial={"cpu": 0.5},
        storage_path=str(tmp_path),
        verbose=0,
        engine=LocalExecutor(num_cpus=1),
        raise_on_failed_trial=True,
    )
    last = grid.trials[0].last_result
    assert last["trial_id_ok"] is True and last["pgf"] is True
    assert last["bundles"] == [[{"CPU": 0.5}]] * 3


class Sized(tune.Trainable):
    def step(self) -> dict[str, Any]:
        return {
            "bundles": self.trial_resources.bundles,
            "named": self.trial_name == self.trial_id != "",
            "done": True,
        }


def test_a_class_trainable_sees_its_trial_resources(tmp_path: Path) -> None:
    assert Sized().trial_resources is None  # outside a trial, as in Ray
    grid = tune.run(
        Sized,
        resources_per_trial={"cpu": 0.5},
        storage_path=str(tmp_path),
        verbose=0,
        engine=LocalExecutor(num_cpus=1),
        raise_on_failed_trial=True,
    )
    last = grid.trials[0].last_result
    assert last["bundles"] == [{"CPU": 0.5}] and last["named"] is True


def test_prepare_trainer_returns_the_trainer() -> None:
    from tunefleet.train.huggingface.transformers import prepare_trainer

    trainer = object()
    assert prepare_trainer(trainer) is trainer


needs_torch = pytest.mark.skipif(
    importlib.util.find_spec("torch") is None, reason="torch is not installed"
)


def torch_helpers(config: dict[str, Any]) -> None:
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    from tunefleet.train import torch as ray_torch

    ctx = train.get_context()
    ray_torch.enable_reproducibility(seed=3)
    first = torch.rand(1).item()
    ray_torch.enable_reproducibility(seed=3)
    same_seed = torch.rand(1).item() == first
    torch.use_deterministic_algorithms(False)
    model = ray_torch.prepare_model(torch.nn.Linear(2, 1))
    wrapped = type(model).__name__
    data = TensorDataset(torch.arange(12.0).reshape(6, 2), torch.arange(6.0))
    loader = ray_torch.prepare_data_loader(DataLoader(data, batch_size=2, shuffle=True))
    seen = sorted(int(y) for _, ys in loader for y in ys)
    loss = sum(float(model(x).sum()) for x, _ in loader)
    tune.report(
        {
            "rank": ctx.get_world_rank(),
            "size": ctx.get_world_size(),
            "device": str(ray_torch.get_device()),
            "devices": len(ray_torch.get_devices()),
            "bundles": ctx.get_trial_resources().bundles,
            "same_seed": same_seed,
            "wrapped": wrapped,
            "seen": seen,
            "finite": loss == loss,
        }
    )


@needs_torch
@pytest.mark.parametrize("workers", [1, 2])
def test_train_torch_helpers_in_a_trial(tmp_path: Path, workers: int) -> None:
    grid = tune.run(
        torch_helpers,
        resources_per_trial={"cpu": 1, "workers": workers},
        storage_path=str(tmp_path),
        verbose=0,
        engine=LocalExecutor(num_cpus=2),
        raise_on_failed_trial=True,
    )
    r = grid.trials[0].last_result
    assert (r["rank"], r["size"], r["devices"]) == (0, workers, 1)
    assert r["device"] == "cpu" and r["same_seed"] is True and r["finite"] is True
    assert r["bundles"] == [{"CPU": 1.0}] * workers  # one bundle per rank
    if workers == 1:
        assert r["wrapped"] == "Linear" and r["seen"] == list(range(6))
    else:
        # joined the trial's process group, wrapped for DDP, and rank 0 saw its half only
        assert r["wrapped"] == "DistributedDataParallel"
        assert len(r["seen"]) == 3 and set(r["seen"]) < set(range(6))


@needs_torch
def test_prepare_model_strategies() -> None:
    import torch
    from tunefleet.train.torch import prepare_model

    from tunefleet.errors import TuneValueError

    model = torch.nn.Linear(1, 1)
    assert prepare_model(model, parallel_strategy=None) is model
    assert prepare_model(model, move_to_device=torch.device("cpu")) is model
    with pytest.raises(NotProvidedError, match="fsdp"):
        prepare_model(model, parallel_strategy="fsdp")
    with pytest.raises(TuneValueError, match="parallel_strategy"):
        prepare_model(model, parallel_strategy="deepspeed")
