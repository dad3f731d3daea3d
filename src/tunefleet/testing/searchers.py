"""The searcher conformance suite: what the engine and resume assume of a
:class:`~tunefleet.search.base.Searcher`.

The engine trusts a suggestion to be a resolved config inside the user's space, stops
creating trials on ``FINISHED``, feeds results (NaN, missing metric, failed trials) without
filtering them, and on resume rebuilds the searcher from ``state_dict`` alone. A searcher that
breaks one of these rules fails far from its own code (a trial crashes on an out-of-range
value, resume repeats or skips configs), so each rule is a check here that any searcher,
built-in or a user's, runs unchanged.

Use it by subclassing in a test module (the class name must start with ``Test``)::

    from tunefleet.testing.searchers import SearcherConformance

    class TestMySearcher(SearcherConformance):
        def make_searcher(self):
            return MySearcher()  # a new, not yet set up instance on every call

Leave ``metric``, ``mode`` and ``seed`` to ``setup``: the suite passes its own. Class flags
turn off what a searcher does not claim: ``supports_sample_from``, ``supports_grid_search``
(grid axes in the space), ``seeded`` (the stream depends on the seed given to ``setup``) and
``mode_symmetric`` (maximising ``f`` proposes what minimising ``-f`` does). To run the suite
over several searchers, override the ``factory`` fixture with a parametrised one. Importing
this module needs pytest and hypothesis.

Why ~510 lines: one suite, a short check per rule; a user subclasses one class to run it.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable
from typing import Any, ClassVar

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tunefleet.search.base import FINISHED, Searcher
from tunefleet.space import (
    Domain,
    choice,
    grid_search,
    is_grid,
    is_grid_marker,
    lograndint,
    loguniform,
    qloguniform,
    qrandint,
    quniform,
    randint,
    randn,
    sample_from,
    uniform,
)
from tunefleet.testing._property import property_settings

#: The metric every check reports (results may lack it or carry NaN on purpose).
METRIC = "loss"

Factory = Callable[[], Searcher]

#: Metric values a trainable may report that are not a usable score.
_BAD_VALUES: dict[str, Any] = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf, "none": None}


def _double(spec: Any) -> int:
    """The suite's ``sample_from``: a value computed from another key of the config."""
    return int(spec.config["base"]) * 2


def _every_domain_space(grid: bool, functions: bool) -> dict[str, Any]:
    """One space with each kind of node the search space language has."""
    space: dict[str, Any] = {
        "lr": loguniform(1e-5, 1e-1),
        "momentum": uniform(0.1, 0.9),
        "layers": randint(1, 6),
        "width": qrandint(16, 128, 16),
        "heads": lograndint(1, 64),
        "dropout": quniform(0.0, 0.5, 0.1),
        "decay": qloguniform(1e-4, 1e-1, 1e-4),
        "noise": randn(0.0, 2.0),
        "act": choice(["relu", "tanh", "gelu"]),
        "optim": {"beta": uniform(0.5, 0.999), "inner": {"eps": loguniform(1e-9, 1e-6)}},
        "constant": 7,
        "tags": ["a", 1, {"deep": True}],
    }
    if grid:
        space["batch"] = grid_search([16, 32])
        space["loss_fn"] = {"grid_search": ["l1", "l2"]}
    if functions:
        space["base"] = randint(0, 10)
        space["derived"] = sample_from(_double)
    return space


def _small_space(grid: bool) -> dict[str, Any]:
    """Few dimensions, so that model-based searchers build their model within a test."""
    space: dict[str, Any] = {
        "x": uniform(-1.0, 1.0),
        "y": loguniform(1e-3, 1.0),
        "k": choice(["a", "b", "c"]),
        "n": randint(1, 4),
    }
    if grid:
        space["g"] = grid_search([1, 2])
    return space


def check_config(space: Any, config: Any, path: str = "config") -> list[str]:
    """Why ``config`` is not a resolved config of ``space`` (empty: it is one)."""
    if is_grid(space):
        values = space["grid_search"] if is_grid_marker(space) else space.values()
        if not any(config is v or (type(config) is type(v) and config == v) for v in values):
            return [f"{path}={config!r} is not one of the grid's values {values!r}"]
        return []
    if isinstance(space, Domain):
        if space.is_function:
            return []  # checked by the caller, which knows the function
        if not space.contains(config):
            return [f"{path}={config!r} is outside {space!r}"]
        return []
    if isinstance(space, dict):
        if not isinstance(config, dict):
            return [f"{path} should be a dict, got {config!r}"]
        if config.keys() != space.keys():
            return [f"{path} has keys {sorted(config)}, the space has {sorted(space)}"]
        return [p for k in space for p in check_config(space[k], config[k], f"{path}[{k!r}]")]
    if isinstance(space, list):
        if not isinstance(config, list) or len(config) != len(space):
            return [f"{path} should be a list of {len(space)}, got {config!r}"]
        return [
            p
            for i, (s, c) in enumerate(zip(space, config, strict=True))
            for p in check_config(s, c, f"{path}[{i}]")
        ]
    if type(config) is not type(space) or config != space:
        return [f"{path}={config!r} should be the constant {space!r}"]
    return []


def _assert_in_space(space: dict[str, Any], config: Any) -> None:
    assert isinstance(config, dict), f"suggest returned {config!r}, not a config dict"
    problems = check_config(space, config)
    if "derived" in space and not problems and config["derived"] != config["base"] * 2:
        problems.append(f"sample_from not evaluated on the config: {config!r}")
    assert not problems, "; ".join(problems)


def _objective(config: Any) -> float:
    """A deterministic score of a config: every check replays the same feedback."""
    if isinstance(config, dict):
        return sum(_objective(v) for v in config.values())
    if isinstance(config, list):
        return sum(_objective(v) for v in config)
    if isinstance(config, bool):
        return 0.5 if config else 0.0
    if isinstance(config, int | float):
        x = float(config)
        return (math.log1p(abs(x)) - 0.3) ** 2 if math.isfinite(x) else 0.0
    if isinstance(config, str):
        return 0.1 * len(config)
    return 0.0


def json_round_trip_problem(state: Any) -> str | None:
    """Why ``state`` does not survive ``json.dumps``/``json.loads`` unchanged (None: it does).

    Resume stores the state as JSON and hands back what JSON gives: an int key comes back a
    string and a numpy number does not encode at all. A tuple coming back as a list is let
    through (``load_state_dict`` commonly converts it back); whether the loaded state behaves
    the same is what the stream checks test.
    """
    try:
        text = json.dumps(state)
    except (TypeError, ValueError) as e:
        return f"state_dict() is not JSON: {e}"
    back = json.loads(text)
    diff = _first_difference(state, back, "state")
    return None if diff is None else f"state_dict() changes through JSON at {diff}"


def _first_difference(a: Any, b: Any, path: str) -> str | None:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return None
    if type(a) is tuple and type(b) is list:
        a = list(a)
    if type(a) is not type(b):
        return f"{path}: {type(a).__name__} {a!r} comes back as {type(b).__name__} {b!r}"
    if isinstance(a, dict):
        if list(a) != list(b):
            return f"{path}: keys {list(a)!r} come back as {list(b)!r}"
        for k in a:
            d = _first_difference(a[k], b[k], f"{path}[{k!r}]")
            if d is not None:
                return d
        return None
    if isinstance(a, list):
        if len(a) != len(b):
            return f"{path}: length {len(a)} comes back as {len(b)}"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            d = _first_difference(x, y, f"{path}[{i}]")
            if d is not None:
                return d
        return None
    return None if a == b else f"{path}: {a!r} comes back as {b!r}"


def _json(state: dict[str, Any]) -> dict[str, Any]:
    """What resume would hand back: the state after a trip through JSON text."""
    problem = json_round_trip_problem(state)
    assert problem is None, problem
    back: dict[str, Any] = json.loads(json.dumps(state))
    return back


class _Run:
    """Drives one searcher as the engine does: suggest, report results, complete."""

    def __init__(self, searcher: Searcher, space: dict[str, Any], sign: float = 1.0) -> None:
        self.searcher = searcher
        self.space = space
        self.sign = sign
        self.configs: list[tuple[str, dict[str, Any]]] = []
        self.live: dict[str, dict[str, Any]] = {}
        self.finished = False

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        config = self.searcher.suggest(trial_id)
        if config is FINISHED:
            self.finished = True
            return None
        assert config is not None or self.live, (
            f"suggest({trial_id!r}) returned None while no trial was running: the engine "
            "would wait for ever (return FINISHED when done)"
        )
        if config is None:
            return None
        assert not self.finished, "suggest proposed a config after returning FINISHED"
        _assert_in_space(self.space, config)
        self.configs.append((trial_id, config))
        self.live[trial_id] = config
        return config

    def result(self, trial_id: str, iteration: int) -> dict[str, Any]:
        value = self.sign * _objective(self.live[trial_id]) / iteration
        r = {
            METRIC: value,
            "training_iteration": iteration,
            "time_total_s": float(iteration),
            "trial_id": trial_id,
            "done": False,
        }
        self.searcher.on_result(trial_id, r)
        return r

    def complete(self, trial_id: str, iterations: int, start: int = 1) -> None:
        last = None
        for it in range(start, iterations + 1):
            last = self.result(trial_id, it)
        self.searcher.on_complete(trial_id, last, False)
        del self.live[trial_id]

    def trials(self, n: int, first: int = 0, iterations: int = 3) -> None:
        """``n`` trials one after the other, each reporting ``iterations`` results."""
        for i in range(first, first + n):
            tid = f"t{i:04d}"
            if self.suggest(tid) is None:
                return
            self.complete(tid, iterations)


def _setup(
    factory: Factory,
    space: dict[str, Any],
    *,
    mode: str = "min",
    seed: int | None = 0,
    num_samples: int = 1000,
) -> Searcher:
    searcher = factory()
    assert isinstance(searcher, Searcher), f"the factory made {searcher!r}, not a Searcher"
    searcher.setup(space, METRIC, mode, seed, num_samples)
    return searcher


# -------------------------------------------------------------------- random spaces
_names = st.sampled_from(["a", "b", "c", "d", "e", "f"])
_ints = st.integers(-20, 20)
_constant = st.one_of(st.integers(-3, 3), st.sampled_from(["s", "t"]), st.booleans())


def _domains(grid: bool) -> st.SearchStrategy[Any]:
    options: list[st.SearchStrategy[Any]] = [
        st.builds(lambda lo, w: uniform(lo, lo + w), st.floats(-10, 10), st.floats(0.01, 10)),
        st.builds(lambda lo, r: loguniform(lo, lo * r), st.floats(1e-6, 1.0), st.floats(1.5, 1e4)),
        st.builds(lambda lo, k: randint(lo, lo + k), _ints, st.integers(1, 30)),
        st.builds(lambda k, q: qrandint(0, k * q, q), st.integers(1, 8), st.integers(1, 5)),
        st.builds(lambda hi: lograndint(1, hi), st.integers(2, 1000)),
        st.builds(lambda k, q: quniform(0.0, k * q, q), st.integers(1, 8), st.just(0.25)),
        st.builds(lambda m, s: randn(m, s), st.floats(-5, 5), st.floats(0.1, 3)),
        st.builds(
            choice,
            st.lists(st.one_of(_ints, st.sampled_from(["x", "y", "z"])), min_size=1, max_size=4),
        ),
        _constant,
    ]
    if grid:
        values = st.lists(_ints, min_size=1, max_size=3, unique=True)
        options.append(st.builds(grid_search, values))
        options.append(st.builds(lambda v: {"grid_search": v}, values))
    return st.one_of(options)


def spaces(grid: bool = True, functions: bool = True) -> st.SearchStrategy[dict[str, Any]]:
    """Random nested search spaces of every domain type (grid axes and a ``sample_from``
    reading another key when asked for)."""
    node = st.recursive(
        _domains(grid),
        lambda inner: st.dictionaries(_names, inner, min_size=1, max_size=3),
        max_leaves=6,
    )
    top = st.dictionaries(_names, node, min_size=1, max_size=4)
    if not functions:
        return top
    return top.map(lambda s: {**s, "base": randint(0, 10), "derived": sample_from(_double)})


class SearcherConformance:
    """Base class of the suite; subclasses implement :meth:`make_searcher` (or override the
    ``factory`` fixture)."""

    #: The searcher evaluates ``sample_from`` functions of the space.
    supports_sample_from: ClassVar[bool] = True
    #: The searcher accepts grid axes (``grid_search``) in the space.
    supports_grid_search: ClassVar[bool] = True
    #: Different seeds given to ``setup`` give different suggestions.
    seeded: ClassVar[bool] = True
    #: Maximising ``f`` proposes exactly what minimising ``-f`` proposes.
    mode_symmetric: ClassVar[bool] = True
    #: Hypothesis examples per property check.
    max_examples: ClassVar[int] = 10

    def make_searcher(self) -> Searcher:
        raise NotImplementedError

    @pytest.fixture
    def factory(self) -> Factory:
        return self.make_searcher

    def space(self) -> dict[str, Any]:
        return _every_domain_space(self.supports_grid_search, self.supports_sample_from)

    def small_space(self) -> dict[str, Any]:
        return _small_space(self.supports_grid_search)

    # ------------------------------------------------------------------ suggestions
    @pytest.mark.parametrize("mode", ["min", "max"])
    def test_every_domain_type_is_respected(self, factory: Factory, mode: str) -> None:
        space = self.space()
        run = _Run(_setup(factory, space, mode=mode), space)
        run.trials(25)
        assert len(run.configs) == 25

    def test_suggestions_lie_in_random_spaces(self, factory: Factory) -> None:
        @property_settings(self.max_examples)
        @given(space=spaces(self.supports_grid_search, self.supports_sample_from))
        def check(space: dict[str, Any]) -> None:
            run = _Run(_setup(factory, space, num_samples=8), space)
            run.trials(8)
            assert len(run.configs) == 8

        check()

    def test_configs_are_fresh_and_the_space_is_untouched(self, factory: Factory) -> None:
        space = self.space()
        before = copy.deepcopy(space)
        searcher = _setup(factory, space)
        first = searcher.suggest("t0000")
        assert isinstance(first, dict)
        first["tags"][2]["deep"] = "mutated by the trainable"
        first["optim"]["beta"] = "mutated"
        second = searcher.suggest("t0001")
        assert isinstance(second, dict)
        assert second["tags"] == ["a", 1, {"deep": True}], "configs share the space's constants"
        assert space == before, "the searcher changed the user's space"

    @pytest.mark.parametrize("num_samples", [1, 4])
    def test_num_samples_then_finished(self, factory: Factory, num_samples: int) -> None:
        space = self.small_space()
        searcher = _setup(factory, space, num_samples=num_samples)
        total = searcher.total_trials(num_samples)
        assert total is None or (isinstance(total, int) and total >= 0), total
        expected = num_samples if total is None else total
        run = _Run(searcher, space)
        run.trials(expected)
        assert len(run.configs) == expected, (
            f"FINISHED after {len(run.configs)} trials; num_samples={num_samples} "
            f"and total_trials={total} promise {expected}"
        )
        after = searcher.suggest("t_extra")
        if total is not None:
            assert after is FINISHED, (
                f"total_trials said {total}, but suggest went on with {after!r}"
            )
        if after is FINISHED:
            for i in range(3):
                assert searcher.suggest(f"t_again{i}") is FINISHED, "FINISHED must be final"

    # ------------------------------------------------------------------ results
    def test_nan_missing_metric_and_failed_trials_are_accepted(self, factory: Factory) -> None:
        flaws = ["nan", "inf", "-inf", "none", "missing", "error", "error_no_result", "empty"]

        @property_settings(self.max_examples)
        @given(plan=st.lists(st.sampled_from(["ok", *flaws]), min_size=6, max_size=16))
        def check(plan: list[str]) -> None:
            space = self.small_space()
            searcher = _setup(factory, space)
            run = _Run(searcher, space)
            for i, flaw in enumerate(plan):
                tid = f"t{i:04d}"
                if run.suggest(tid) is None:
                    return
                if flaw == "ok":
                    run.complete(tid, 2)
                    continue
                reported: dict[str, Any] = {"training_iteration": 1, "time_total_s": 1.0}
                if flaw in _BAD_VALUES:
                    reported[METRIC] = _BAD_VALUES[flaw]
                searcher.on_result(tid, dict(reported))
                last = None if flaw in ("error_no_result", "empty") else reported
                searcher.on_complete(tid, last, flaw.startswith("error"))
                del run.live[tid]
                _json(searcher.state_dict())
            run.trials(4, first=len(plan))
            _json(searcher.state_dict())

        check()

    # ------------------------------------------------------------------ state
    def test_state_dict_is_json(self, factory: Factory) -> None:
        space = self.small_space()
        searcher = _setup(factory, space)
        _json(searcher.state_dict())
        run = _Run(searcher, space)
        run.trials(8)
        run.suggest("live")
        run.result("live", 1)
        _json(searcher.state_dict())

    @pytest.mark.parametrize("cut", [0, 4, 12])
    def test_load_state_dict_continues_the_stream(self, factory: Factory, cut: int) -> None:
        """A fresh, set up searcher loaded with the state proposes exactly what the
        uninterrupted one proposes next, even with trials running at the snapshot."""
        space = self.small_space()
        first = _Run(_setup(factory, space, seed=7), space)
        first.trials(cut)
        for tid in ("live_a", "live_b"):
            if first.suggest(tid) is not None:
                first.result(tid, 1)
        state = _json(first.searcher.state_dict())
        resumed = _Run(_setup(factory, space, seed=7), space)
        resumed.searcher.load_state_dict(state)
        resumed.live = dict(first.live)
        before = len(first.configs)
        for run in (first, resumed):
            for tid in list(run.live):
                run.complete(tid, 3, start=2)
            run.trials(10, first=cut)
        assert resumed.configs == first.configs[before:], (
            "the restored searcher proposes other configs than the uninterrupted one"
        )
        assert resumed.finished == first.finished

    def test_same_seed_same_suggestions(self, factory: Factory) -> None:
        space = self.small_space()
        runs = [_Run(_setup(factory, space, seed=123), space) for _ in range(2)]
        for run in runs:
            run.trials(15)
        assert runs[0].configs == runs[1].configs

    def test_different_seeds_give_different_suggestions(self, factory: Factory) -> None:
        if not self.seeded:
            pytest.skip("seeded = False: the stream does not depend on setup's seed")
        space = {"x": uniform(0.0, 1.0), "y": uniform(0.0, 1.0)}
        streams = []
        for seed in (1, 2):
            run = _Run(_setup(factory, space, seed=seed), space)
            run.trials(5)
            streams.append([c for _, c in run.configs])
        assert streams[0] != streams[1], "setup's seed is ignored"

    def test_min_and_max_modes_mirror_each_other(self, factory: Factory) -> None:
        if not self.mode_symmetric:
            pytest.skip("mode_symmetric = False")
        space = self.small_space()
        low = _Run(_setup(factory, space, mode="min", seed=5), space, sign=1.0)
        high = _Run(_setup(factory, space, mode="max", seed=5), space, sign=-1.0)
        for run in (low, high):
            run.trials(20)
        assert low.configs == high.configs, "maximising -f differs from minimising f"


__all__ = [
    "METRIC",
    "SearcherConformance",
    "check_config",
    "json_round_trip_problem",
    "spaces",
]
