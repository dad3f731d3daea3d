"""ConcurrencyLimiter and the searcher registry (create_searcher / register_searcher)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tunefleet.errors import TuneTypeError, TuneValueError
from tunefleet.search import (
    FINISHED,
    BasicVariantGenerator,
    ConcurrencyLimiter,
    GridSearch,
    RandomSearch,
    Searcher,
    SobolSearch,
    create_searcher,
    register_searcher,
    searcher_names,
)
from tunefleet.search import registry as registry_module
from tunefleet.space import uniform

SPACE = {"x": uniform(0, 1)}


class Recorder(Searcher):
    """A searcher that records what the limiter forwards to it."""

    def __init__(self, budget: int = 1000) -> None:
        super().__init__()
        self.budget = budget
        self.suggested: list[str] = []
        self.completed: list[str] = []
        self.results: list[str] = []
        self.loaded: dict[str, Any] | None = None

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        if len(self.suggested) >= self.budget:
            return FINISHED
        self.suggested.append(trial_id)
        return {"x": len(self.suggested)}

    def on_result(self, trial_id: str, result: dict[str, Any]) -> None:
        self.results.append(trial_id)

    def on_complete(
        self, trial_id: str, result: dict[str, Any] | None, error: bool = False
    ) -> None:
        self.completed.append(trial_id)

    def total_trials(self, num_samples: int) -> int | None:
        return 42

    def state_dict(self) -> dict[str, Any]:
        return {"n": len(self.suggested)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.loaded = state


# ------------------------------------------------------------------------- limiter


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 4), st.lists(st.booleans(), max_size=60), st.booleans())
def test_limiter_never_exceeds_max_concurrent(limit: int, ops: list[bool], batch: bool) -> None:
    inner = Recorder()
    lim = ConcurrencyLimiter(inner, max_concurrent=limit, batch=batch)
    lim.setup(SPACE, "m", "max", 0)
    live: list[str] = []
    n = 0
    for suggest in ops:
        if suggest:
            n += 1
            cfg = lim.suggest(f"t{n}")
            if cfg is not None:
                live.append(f"t{n}")
        elif live:
            lim.on_complete(live.pop(0), {"m": 1.0})
        assert len(lim.live_trials) <= limit
        assert len(inner.suggested) - len(inner.completed) <= limit
    assert set(inner.completed) <= set(inner.suggested)


def test_limiter_frees_a_slot_on_complete() -> None:
    inner = Recorder()
    lim = ConcurrencyLimiter(inner, max_concurrent=2)
    assert lim.suggest("a") is not None and lim.suggest("b") is not None
    assert lim.suggest("c") is None and inner.suggested == ["a", "b"]
    lim.on_result("a", {"m": 1})
    lim.on_complete("a", {"m": 1})
    assert inner.results == ["a"] and inner.completed == ["a"]
    assert lim.suggest("c") is not None
    lim.on_complete("unknown", None)  # not live: ignored
    assert inner.completed == ["a"]


def test_limiter_batch_waits_for_all_live_trials() -> None:
    inner = Recorder()
    lim = ConcurrencyLimiter(inner, max_concurrent=3, batch=True)
    for t in "abc":
        assert lim.suggest(t) is not None
    lim.on_complete("a", None)
    lim.on_complete("b", None)
    assert lim.suggest("d") is None and inner.completed == []
    lim.on_complete("c", None)
    assert inner.completed == ["a", "b", "c"]
    assert lim.suggest("d") is not None


def test_limiter_passes_finished_through_and_forwards_everything() -> None:
    inner = Recorder(budget=1)
    lim = ConcurrencyLimiter(inner, max_concurrent=2)
    lim.setup(SPACE, "m", "min", 0)
    assert (lim.metric, lim.mode) == ("m", "min")
    assert lim.suggest("a") is not None
    assert lim.suggest("b") is FINISHED and lim.live_trials == {"a"}
    assert lim.total_trials(5) == 42
    state = json.loads(json.dumps(lim.state_dict()))
    other = ConcurrencyLimiter(Recorder(), max_concurrent=2)
    other.load_state_dict(state)
    assert other.searcher.loaded == {"n": 1}  # type: ignore[attr-defined]
    assert other.live_trials == {"a"} and other.suggest("c") is not None
    assert other.suggest("d") is None


def test_limiter_over_random_search_keeps_the_stream() -> None:
    lim = ConcurrencyLimiter(RandomSearch(seed=1), max_concurrent=1)
    lim.setup(SPACE, None, None, None, 3)
    plain = RandomSearch(seed=1)
    plain.setup(SPACE, None, None, None, 3)
    got = []
    for i in range(3):
        got.append(lim.suggest(str(i)))
        assert lim.suggest("extra") is None
        lim.on_complete(str(i), None)
    assert got == [plain.suggest(str(i)) for i in range(3)]


def test_limiter_validates_its_arguments() -> None:
    with pytest.raises(TuneValueError, match="max_concurrent must be >= 1"):
        ConcurrencyLimiter(Recorder(), max_concurrent=0)
    with pytest.raises(TuneTypeError, match="max_concurrent"):
        ConcurrencyLimiter(Recorder(), max_concurrent=1.5)  # type: ignore[arg-type]
    with pytest.raises(TuneTypeError, match="searcher must be"):
        ConcurrencyLimiter(object(), max_concurrent=1)  # type: ignore[arg-type]
    lim = ConcurrencyLimiter(Recorder(), max_concurrent=2)
    lim.suggest("a")
    with pytest.raises(TuneValueError, match="'a'"):
        lim.suggest("a")


# ------------------------------------------------------------------------ registry


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("random", RandomSearch),
        ("variant_generator", BasicVariantGenerator),
        ("basic_variant", BasicVariantGenerator),
        ("grid", GridSearch),
        ("sobol", SobolSearch),
        ("quasirandom", SobolSearch),
        (" Sobol ", SobolSearch),
    ],
)
def test_create_searcher_by_name(name: str, cls: type) -> None:
    assert type(create_searcher(name)) is cls


def test_create_searcher_none_and_instances() -> None:
    s = create_searcher(None, points_to_evaluate=[{"x": 0.5}])
    assert type(s) is RandomSearch and s.points_to_evaluate == [{"x": 0.5}]
    grid = GridSearch()
    assert create_searcher(grid) is grid
    named = create_searcher("grid", points_to_evaluate=[{"x": 0.1}])
    assert named.points_to_evaluate == [{"x": 0.1}]  # type: ignore[attr-defined]
    with pytest.raises(TuneValueError, match="points_to_evaluate"):
        create_searcher(grid, points_to_evaluate=[{"x": 0.1}])
    with pytest.raises(TuneTypeError, match="search_alg must be"):
        create_searcher(3)  # type: ignore[arg-type]


def test_unknown_name_lists_the_valid_ones() -> None:
    with pytest.raises(TuneValueError, match=r"search_alg='nope'.*grid.*quasirandom.*random"):
        create_searcher("nope")


@pytest.fixture
def clean_registry() -> Any:
    saved = dict(registry_module._registry)
    yield
    registry_module._registry.clear()
    registry_module._registry.update(saved)


def test_register_searcher_lazily_and_by_callable(clean_registry: Any) -> None:
    register_searcher("my_grid", "tunefleet.search.grid:GridSearch")
    register_searcher("my_rand", lambda **kw: RandomSearch(seed=1, **kw))
    assert {"my_grid", "my_rand"} <= set(searcher_names())
    assert type(create_searcher("my_grid")) is GridSearch
    assert create_searcher("MY_RAND").seed == 1
    with pytest.raises(TuneValueError, match="already registered"):
        register_searcher("grid", "tunefleet.search.grid:GridSearch")
    register_searcher("grid", "tunefleet.search.sobol:SobolSearch", overwrite=True)
    assert type(create_searcher("grid")) is SobolSearch
    with pytest.raises(TuneValueError, match="module.path:Class"):
        register_searcher("bad", "no_colon")
    with pytest.raises(TuneTypeError, match="callable"):
        register_searcher("bad", 3)  # type: ignore[arg-type]


def test_lazy_entry_that_cannot_import_says_why(clean_registry: Any) -> None:
    register_searcher("ghost", "tunefleet_no_such_module:Searcher")
    with pytest.raises(ImportError, match="search_alg='ghost' needs 'tunefleet_no_such_module'"):
        create_searcher("ghost")


def test_factory_must_return_a_searcher(clean_registry: Any) -> None:
    register_searcher("weird", lambda **kw: object())  # type: ignore[arg-type]
    with pytest.raises(TuneTypeError, match="not a Searcher"):
        create_searcher("weird")
