"""Every built-in searcher, scheduler and stopper survives ``describe`` → JSON → ``rebuild``.

A resume rebuilds components from their recorded class and arguments, so a built-in that
does not keep its arguments would come back as something else. The class list is taken
from the registries and from the modules themselves: a new built-in without an example
here (and so without a round-trip test) fails ``test_every_builtin_has_an_example``.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import json
import math
import pkgutil
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tunefleet.schedulers
import tunefleet.search
from tunefleet import space as tune
from tunefleet import stoppers
from tunefleet.components import class_path, describe, is_rebuildable, rebuild
from tunefleet.errors import TuneValueError
from tunefleet.params import construct
from tunefleet.schedulers import (
    ASHAScheduler,
    AsyncHyperBandScheduler,
    FIFOScheduler,
    HyperBandForBOHB,
    HyperBandScheduler,
    MedianStoppingRule,
    PopulationBasedTraining,
    Scheduler,
)
from tunefleet.schedulers.dehb import HyperBandForDEHB
from tunefleet.schedulers.hypertune import HyperTuneASHA
from tunefleet.schedulers.mo_asha import MOASHAScheduler, ParetoStoppingRule
from tunefleet.schedulers.pb2 import PB2
from tunefleet.search import (
    BasicVariantGenerator,
    ConcurrencyLimiter,
    GridSearch,
    RandomSearch,
    Searcher,
    SobolSearch,
    VariantSearcher,
)
from tunefleet.search._adapter import LibrarySearcher
from tunefleet.search.ax import AxSearch
from tunefleet.search.bayesopt import BayesOptSearch
from tunefleet.search.bohb import TuneBOHB
from tunefleet.search.dehb import DEHBSearch
from tunefleet.search.hyperopt import HyperOptSearch
from tunefleet.search.hypertune import HyperTuneSearch
from tunefleet.search.nevergrad import NevergradSearch
from tunefleet.search.optuna import OptunaSearch
from tunefleet.search.repeater import Repeater
from tunefleet.search.scalarized import ScalarizedSearch
from tunefleet.search.tpe import TPESearch
from tunefleet.search.zoopt import ZOOptSearch
from tunefleet.stoppers import (
    CombinedStopper,
    DictStopper,
    ExperimentPlateauStopper,
    FunctionStopper,
    MaximumIterationStopper,
    Stopper,
    TimeoutStopper,
    TrialPlateauStopper,
    make_stopper,
)


def stop_at_five(trial_id: str, result: dict[str, Any]) -> bool:
    """A stop function in an importable module: recorded by name."""
    return bool(result.get("training_iteration", 0) >= 5)


def keep_config(config: dict[str, Any]) -> dict[str, Any]:
    return config


def draw_batch_size() -> int:
    return 32


class _Forgetful(FIFOScheduler):
    """Breaks scikit-learn's rule: ``patience`` is not kept."""

    def __init__(self, patience: int = 3) -> None:
        super().__init__()


SPACE = {"x": tune.uniform(0, 1), "c": tune.choice(["a", "b"]), "n": {"k": tune.randint(1, 5)}}

EXAMPLES: dict[type, Callable[[], Any]] = {
    Searcher: lambda: Searcher(metric="loss", mode="min"),
    VariantSearcher: lambda: VariantSearcher([{"a": 1}], 3, 2, True, "loss", "min"),
    RandomSearch: lambda: RandomSearch(
        points_to_evaluate=[{"a": (1, 2), "b": {"c": None}}],
        seed=3,
        max_concurrent=2,
        constant_grid_search=True,
        metric="acc",
        mode="max",
    ),
    BasicVariantGenerator: lambda: BasicVariantGenerator(
        points_to_evaluate=[{"a": 1}], max_concurrent=1, constant_grid_search=True, random_state=7
    ),
    GridSearch: lambda: GridSearch([{"a": 2}], 1, 7, 3, "loss", "min"),
    SobolSearch: lambda: SobolSearch(seed=11, scramble=False, max_concurrent=2, metric="m"),
    TuneBOHB: lambda: TuneBOHB(
        space=SPACE,
        bohb_config={"top_n_percent": 20, "num_samples": 16},
        metric="loss",
        mode="min",
        points_to_evaluate=[{"x": 0.5}],
        seed=4,
        max_concurrent=2,
        time_attr="epoch",
    ),
    DEHBSearch: lambda: DEHBSearch(
        space=SPACE,
        metric="loss",
        mode="min",
        seed=4,
        population_size=10,
        mutation_factor=0.7,
        crossover_prob=0.3,
        time_attr="epoch",
    ),
    HyperTuneSearch: lambda: HyperTuneSearch(
        space=SPACE, metric="loss", mode="min", seed=4, n_startup_trials=4, time_attr="epoch"
    ),
    TPESearch: lambda: TPESearch(
        space=SPACE,
        metric="loss",
        mode="min",
        points_to_evaluate=[{"x": 0.5}],
        evaluated_rewards=[1.0],
        seed=4,
        n_startup_trials=5,
        gamma=0.2,
        constraints=["mem"],
    ),
    ConcurrencyLimiter: lambda: ConcurrencyLimiter(
        SobolSearch(seed=2, metric="loss", mode="min"), max_concurrent=3, batch=True
    ),
    # the search-library adapters (building them imports no library)
    LibrarySearcher: lambda: LibrarySearcher(SPACE, "loss", "min", [{"x": 0.5}], [0.1]),
    OptunaSearch: lambda: OptunaSearch(
        metric=["loss", "acc"], mode=["min", "max"], sampler="nsgaii", study_name="s", seed=3
    ),
    HyperOptSearch: lambda: HyperOptSearch(SPACE, "loss", "min", None, 5, 7, 0.3),
    NevergradSearch: lambda: NevergradSearch("TwoPointsDE", {"num_workers": 2}, seed=2),
    BayesOptSearch: lambda: BayesOptSearch(utility_kwargs={"kind": "ei"}, random_state=1),
    AxSearch: lambda: AxSearch(outcome_constraints=["c <= 1"], is_test=True),
    ZOOptSearch: lambda: ZOOptSearch("sracos", 20, parallel_num=2, seed=5),
    Repeater: lambda: Repeater(SobolSearch(seed=2), repeat=3, set_index=False),
    Scheduler: lambda: Scheduler(metric="acc", mode="max"),
    FIFOScheduler: lambda: FIFOScheduler(metric="acc", mode="max"),
    ASHAScheduler: lambda: ASHAScheduler(
        "epoch", "loss", "min", 27, 3, 3, 2, False, "promotion", 9
    ),
    AsyncHyperBandScheduler: lambda: AsyncHyperBandScheduler(max_t=50, grace_period=2, seed=1),
    HyperBandScheduler: lambda: HyperBandScheduler("epoch", "loss", "min", 27, 3, False),
    HyperBandForBOHB: lambda: HyperBandForBOHB("epoch", "acc", "max", 9, 3, False),
    HyperBandForDEHB: lambda: HyperBandForDEHB("epoch", "acc", "max", 9, 3, False),
    HyperTuneASHA: lambda: HyperTuneASHA("epoch", "acc", "max", 27, 1, 3, 1, False, seed=2),
    MOASHAScheduler: lambda: MOASHAScheduler("epoch", ["acc", "ms"], ["max", "min"], 27, 1, 3),
    ParetoStoppingRule: lambda: ParetoStoppingRule(
        "epoch", ["acc", "ms"], ["max", "min"], 20, 2, 3, 2, 4, False
    ),
    ScalarizedSearch: lambda: ScalarizedSearch(
        metric=["acc", "ms"], mode=["max", "min"], seed=4, n_startup_trials=5, constraints=["c"]
    ),
    MedianStoppingRule: lambda: MedianStoppingRule("epoch", "loss", "min", 2.0, 4, 1.5, False),
    PopulationBasedTraining: lambda: PopulationBasedTraining(
        time_attr="training_iteration",
        metric="loss",
        mode="min",
        perturbation_interval=4,
        burn_in_period=2,
        hyperparam_mutations={
            "lr": tune.loguniform(1e-4, 1e-1),
            "bs": [16, 32, 64],
            "opt": {"momentum": tune.uniform(0.1, 0.9)},
            "drop": tune.choice([0.1, 0.2]),
            "width": draw_batch_size,
        },
        quantile_fraction=0.3,
        resample_probability=0.5,
        perturbation_factors=[1.5, 0.5],
        custom_explore_fn=keep_config,
        log_config=False,
        require_attrs=False,
        synch=True,
        seed=3,
    ),
    PB2: lambda: PB2(
        time_attr="epoch",
        metric="acc",
        mode="max",
        perturbation_interval=5,
        hyperparam_bounds={"lr": [1e-4, 0.1], "nested": {"wd": (0.0, 0.5)}},
        quantile_fraction=0.5,
        log_config=False,
        require_attrs=False,
        synch=True,
        custom_explore_fn=keep_config,
        seed=2,
        max_data_points=32,
    ),
    Stopper: Stopper,
    FunctionStopper: lambda: FunctionStopper(stop_at_five),
    DictStopper: lambda: DictStopper({"training_iteration": 5, "acc": 0.9}),
    MaximumIterationStopper: lambda: MaximumIterationStopper(7),
    TimeoutStopper: lambda: TimeoutStopper(12.5),
    CombinedStopper: lambda: CombinedStopper(
        MaximumIterationStopper(3), DictStopper({"acc": 0.5}), FunctionStopper(stop_at_five)
    ),
    TrialPlateauStopper: lambda: TrialPlateauStopper("loss", 0.1, 3, 2, 0.5, "min"),
    ExperimentPlateauStopper: lambda: ExperimentPlateauStopper("loss", 0.01, 3, "max", 2),
}


def _resolve(entry: str) -> Any:
    module, _, attr = entry.partition(":")
    return getattr(importlib.import_module(module), attr)


def _registered_classes() -> set[type]:
    """The classes behind every built-in name of the searcher and scheduler registries."""
    from tunefleet.search import registry

    entries = list(registry._BUILTIN.values())
    entries += [e for e in tunefleet.schedulers._REGISTRY.values() if isinstance(e, str)]
    out = set()
    for entry in entries:
        if not entry.startswith("tunefleet."):
            continue  # registered by another test
        obj = _resolve(entry)
        out.add(obj if isinstance(obj, type) else type(obj()))  # a factory function
    return out


def _module_classes() -> set[type]:
    """Every public Searcher/Scheduler/Stopper class defined in tunefleet's modules."""
    modules = [stoppers]
    for pkg in (tunefleet.search, tunefleet.schedulers):
        for info in pkgutil.iter_modules(pkg.__path__, pkg.__name__ + "."):
            modules.append(importlib.import_module(info.name))
    out = set()
    for module in modules:
        for name, cls in inspect.getmembers(module, inspect.isclass):
            public = cls.__module__ == module.__name__ and not name.startswith("_")
            if public and issubclass(cls, Searcher | Scheduler | Stopper):
                out.add(cls)
    return out


def same(a: Any, b: Any) -> bool:
    """Equal parameters: components by class and (recursively) parameters, tuples stay
    tuples, domains by value, functions by identity."""
    if callable(getattr(a, "get_params", None)) and not isinstance(a, type):
        return type(a) is type(b) and same(a.get_params(), b.get_params())
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return bool(a == b)


def roundtrip(obj: Any, param: str = "component") -> Any:
    return rebuild(json.loads(json.dumps(describe(obj, param), allow_nan=False)), param)


def test_every_builtin_has_an_example() -> None:
    builtins = _registered_classes() | _module_classes()
    missing = sorted(class_path(c) for c in builtins - set(EXAMPLES))
    assert not missing, f"add these to EXAMPLES (and make them rebuildable): {missing}"


@pytest.mark.parametrize("cls", list(EXAMPLES), ids=lambda c: c.__name__)
def test_roundtrip(cls: type) -> None:
    obj = EXAMPLES[cls]()
    assert type(obj) is cls
    again = roundtrip(obj)
    assert type(again) is cls
    assert same(obj.get_params(), again.get_params())
    assert describe(again, "x") == describe(obj, "x")
    assert same(construct(cls, obj.get_params()).get_params(), obj.get_params())
    sig = inspect.signature(cls).parameters.values()
    if all(p.kind is not p.VAR_POSITIONAL for p in sig):
        assert same(cls(**obj.get_params()).get_params(), obj.get_params())


def test_nested_components_are_tagged() -> None:
    d = describe(EXAMPLES[ConcurrencyLimiter](), "search_alg")
    inner = d["params"]["searcher"]["__component__"]
    assert inner["class"] == "tunefleet.search.sobol:SobolSearch"
    assert inner["params"]["seed"] == 2
    d = describe(EXAMPLES[CombinedStopper](), "stop")
    parts = d["params"]["stoppers"]["__tuple__"]
    assert parts[2]["__component__"]["params"]["function"] == {
        "__callable__": f"{__name__}:stop_at_five"
    }


def test_values_json_cannot_hold_are_tagged() -> None:
    pbt = describe(EXAMPLES[PopulationBasedTraining](), "scheduler")["params"]
    assert pbt["hyperparam_mutations"]["lr"] == {
        "__domain__": {"type": "loguniform", "lower": 1e-4, "upper": 0.1}
    }
    assert pbt["hyperparam_mutations"]["bs"] == [16, 32, 64]
    assert pbt["perturbation_factors"] == [1.5, 0.5]  # a list stays a list
    default = describe(PopulationBasedTraining(hyperparam_mutations={"a": [1, 2]}), "s")
    assert default["params"]["perturbation_factors"] == {"__tuple__": [1.2, 0.8]}
    odd = DictStopper({"__tuple__": 3, "x": 1})  # a dict that could pass for a tag
    assert same(roundtrip(odd).get_params(), odd.get_params())
    lone = DictStopper({"__tuple__": 3})
    assert "__dict__" in describe(lone, "stop")["params"]["criteria"]
    assert roundtrip(lone).criteria == {"__tuple__": 3}
    forever = roundtrip(TimeoutStopper(math.inf))
    assert forever.timeout == math.inf
    from_numpy = roundtrip(MaximumIterationStopper(np.int64(4)))
    assert from_numpy.max_iter == 4 and type(from_numpy.max_iter) is int


def test_params_are_the_arguments_not_what_setup_bound() -> None:
    asha = ASHAScheduler()
    asha.setup("loss", "min", 5)
    assert asha.metric == "loss"
    assert asha.get_params()["metric"] is None and asha.get_params()["seed"] is None
    rs = RandomSearch()
    rs.setup({"x": tune.uniform(0, 1)}, "acc", "max", None)
    assert rs.seed is not None  # drawn at setup and kept in the state, not a parameter
    assert rs.get_params()["seed"] is None and rs.get_params()["mode"] is None
    bohb = TuneBOHB(space={"x": tune.uniform(0, 1)}, seed=1)
    bohb.setup({"c": 1}, "acc", "max", 0)
    assert bohb.get_params()["space"] == {"x": tune.uniform(0, 1)}


def test_rebuilt_components_behave_the_same() -> None:
    original, again = EXAMPLES[ASHAScheduler](), roundtrip(EXAMPLES[ASHAScheduler]())
    assert again.rung_milestones(1) == original.rung_milestones(1)
    space = {"x": tune.uniform(0, 1), "y": tune.randint(0, 9)}
    a, b = SobolSearch(seed=5), roundtrip(SobolSearch(seed=5))
    for s in (a, b):
        s.setup(space, "m", "min", None)
    assert [a.suggest(f"t{i}") for i in range(5)] == [b.suggest(f"t{i}") for i in range(5)]
    stop = roundtrip(EXAMPLES[CombinedStopper]())
    assert stop("t", {"training_iteration": 3}) and not stop("t", {"training_iteration": 1})


# -------------------------------------------------------------------------- refusals
def test_lambda_stop_function_is_refused() -> None:
    with pytest.raises(TuneValueError, match=r"stop: .*argument function is a lambda") as e:
        describe(FunctionStopper(lambda tid, r: False), "stop")
    assert "tunefleet.resume(name, stop=...)" in str(e.value)
    combined = make_stopper([MaximumIterationStopper(2), lambda tid, r: False])
    with pytest.raises(TuneValueError, match=r"CombinedStopper.*stoppers\[1\]\.function"):
        describe(combined, "stop")


def test_class_defined_in_a_function_is_refused() -> None:
    class LocalScheduler(FIFOScheduler):
        pass

    with pytest.raises(TuneValueError, match=r"scheduler: .*LocalScheduler.*inside a function"):
        describe(LocalScheduler(), "scheduler")
    wrapped = ConcurrencyLimiter(type("Main", (RandomSearch,), {"__module__": "__main__"})(), 2)
    with pytest.raises(TuneValueError, match=r"search_alg: .*argument searcher .*__main__"):
        describe(wrapped, "search_alg")


@pytest.mark.parametrize(
    ("obj", "argument"),
    [
        (BasicVariantGenerator(random_state=np.random.default_rng(0)), "random_state"),
        (
            PopulationBasedTraining(
                hyperparam_mutations={"a": [1]}, custom_explore_fn=functools.partial(keep_config)
            ),
            "custom_explore_fn",
        ),
        (
            PopulationBasedTraining(hyperparam_mutations={"a": RandomSearch().suggest}),
            "hyperparam_mutations.a",
        ),
        (
            PopulationBasedTraining(hyperparam_mutations={"f": tune.sample_from(lambda: 1)}),
            "hyperparam_mutations.f",
        ),
        (RandomSearch(points_to_evaluate=[{"a": {1, 2}}]), "points_to_evaluate[0].a"),
        (RandomSearch(points_to_evaluate=[{"a": object()}]), "points_to_evaluate[0].a"),
        (make_stopper(type("Duck", (), {"__call__": stop_at_five, "stop_all": bool})()), "obj"),
        (_Forgetful(), "patience"),
    ],
    ids=["generator", "partial", "method", "sample_from", "set", "object", "duck", "unkept"],
)
def test_arguments_json_cannot_hold_are_refused(obj: Any, argument: str) -> None:
    with pytest.raises(TuneValueError, match=r"^scheduler: ") as e:
        describe(obj, "scheduler")
    assert argument in str(e.value) and class_path(type(obj)) in str(e.value)
    assert is_rebuildable(obj, "scheduler") == str(e.value)


def test_method_of_a_class_is_an_importable_callable() -> None:
    pbt = PopulationBasedTraining(hyperparam_mutations={"a": [1]}, custom_explore_fn=dict.copy)
    assert is_rebuildable(pbt) is not None  # dict.copy has no module to import it from
    pbt = PopulationBasedTraining(hyperparam_mutations={"a": [1]}, custom_explore_fn=dict)
    assert is_rebuildable(pbt) is None
    assert roundtrip(pbt).custom_explore_fn is dict


@pytest.mark.parametrize(
    ("desc", "why"),
    [
        ({"class": "no_such_module:X", "params": {}}, "no_such_module"),
        ({"class": "tunefleet.stoppers:Nope", "params": {}}, "Nope"),
        ({"class": "tunefleet.stoppers:make_stopper", "params": {}}, "not a class"),
        ({"class": "tunefleet.stoppers:MaximumIterationStopper", "params": {}}, "max_iter"),
        (
            {"class": "tunefleet.stoppers:MaximumIterationStopper", "params": {"max_iter": 0}},
            ">= 1",
        ),
        ({"class": "tunefleet.stoppers:Stopper", "error": "a lambda"}, "a lambda"),
        (
            {
                "class": "tunefleet.stoppers:FunctionStopper",
                "params": {"function": {"__callable__": "no_such_module:f"}},
            },
            "argument function",
        ),
        (
            {
                "class": "tunefleet.stoppers:CombinedStopper",
                "params": {"stoppers": {"__tuple__": [{"__component__": {"class": "x:Y"}}]}},
            },
            r"argument stoppers\[0\] \(x:Y\)",
        ),
    ],
)
def test_rebuild_failures_name_the_param_and_class(desc: dict[str, Any], why: str) -> None:
    with pytest.raises(TuneValueError, match=why) as e:
        rebuild(desc, "stop")
    message = str(e.value)
    assert message.startswith(f"stop: {desc['class']} cannot be rebuilt")
    assert "pass it again" in message


def test_is_rebuildable() -> None:
    assert is_rebuildable(EXAMPLES[PB2]()) is None
    why = is_rebuildable(FunctionStopper(lambda tid, r: True), "stop")
    assert why is not None and why.startswith("stop: ") and "lambda" in why


# ------------------------------------------------------------------------ properties
names = st.sampled_from(["training_iteration", "epoch", "time_total_s"])
modes = st.sampled_from([None, "min", "max"])


@st.composite
def asha_args(draw: st.DrawFn) -> dict[str, Any]:
    grace = draw(st.integers(1, 20) | st.floats(0.5, 20))
    return {
        "time_attr": draw(names),
        "metric": draw(st.none() | st.text(min_size=1, max_size=8)),
        "mode": draw(modes),
        "max_t": grace * draw(st.integers(1, 200)),
        "grace_period": grace,
        "reduction_factor": draw(st.integers(2, 6) | st.floats(1.5, 6)),
        "brackets": draw(st.integers(1, 3)),
        "stop_last_trials": draw(st.booleans()),
        "variant": draw(st.sampled_from(["stopping", "promotion"])),
        "seed": draw(st.none() | st.integers(0, 2**63)),
    }


@settings(max_examples=60, deadline=None)
@given(asha_args())
def test_random_asha_arguments_roundtrip(args: dict[str, Any]) -> None:
    asha = ASHAScheduler(**args)
    again = roundtrip(asha, "scheduler")
    assert again.get_params() == args
    assert [again.rung_milestones(b) for b in range(asha.brackets)] == [
        asha.rung_milestones(b) for b in range(asha.brackets)
    ]


@settings(max_examples=60, deadline=None)
@given(
    time_attr=names,
    mode=modes,
    grace_period=st.floats(0, 1e6),
    min_samples_required=st.integers(1, 100),
    min_time_slice=st.floats(0, 1e6) | st.integers(0, 100),
    hard_stop=st.booleans(),
)
def test_random_median_arguments_roundtrip(**args: Any) -> None:
    again = roundtrip(MedianStoppingRule(**args), "scheduler")
    assert again.get_params() == {"metric": None, **args}


tags = st.sampled_from(["__tuple__", "__component__", "__float__", "__dict__"])
json_leaves = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=5)
    | tags
)
values = st.recursive(
    json_leaves,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text(max_size=12) | tags | st.integers(), inner, max_size=3)
    ),
    max_leaves=12,
)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.dictionaries(st.text(max_size=12) | tags, values, max_size=3), max_size=3))
def test_any_point_values_roundtrip(points: list[dict[str, Any]]) -> None:
    rs = RandomSearch(points_to_evaluate=points)
    assert same(roundtrip(rs, "search_alg").points_to_evaluate, points)
