"""RandomSearch / BasicVariantGenerator: Ray's basic-variant semantics and exact resume."""

from __future__ import annotations

import json
import math
import warnings
from collections import Counter
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tunefleet.errors import TuneTypeError, TuneValueError
from tunefleet.search import (
    FINISHED,
    BasicVariantGenerator,
    GridSearch,
    RandomSearch,
    Searcher,
    SobolSearch,
)
from tunefleet.space import choice, grid_search, loguniform, randint, sample_from, uniform

SPACE: dict[str, Any] = {
    "lr": loguniform(1e-5, 1e-2),
    "opt": {"name": grid_search(["sgd", "adam"]), "wd": uniform(0, 0.1)},
    "bs": {"grid_search": [16, 32, 64]},
    "depth": randint(1, 5),
    "act": choice(["relu", "tanh"]),
    "scaled": sample_from(lambda spec: spec.config.lr * spec.config.bs),
    "const": "x",
}


def drain(searcher: Searcher, limit: int = 10_000) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i in range(limit):
        cfg = searcher.suggest(f"t{i}")
        if cfg is FINISHED:
            return out
        assert cfg is not None
        out.append(cfg)
    raise AssertionError("searcher never finished")


def make(cls: Any = RandomSearch, space: Any = SPACE, num_samples: int = 2, **kw: Any) -> Any:
    s = cls(**kw)
    s.setup(space, "score", "max", 0, num_samples)
    return s


# ---------------------------------------------------------------------------- stream


def test_grid_repeated_num_samples_times_and_random_elsewhere() -> None:
    s = make(num_samples=3, seed=1)
    configs = drain(s)
    assert len(configs) == s.total_trials(3) == 2 * 3 * 3
    grid = Counter((c["opt"]["name"], c["bs"]) for c in configs)
    assert set(grid) == {(n, b) for n in ("sgd", "adam") for b in (16, 32, 64)}
    assert set(grid.values()) == {3}
    for c in configs:
        assert 1e-5 <= c["lr"] < 1e-2 and 0 <= c["opt"]["wd"] < 0.1 and c["const"] == "x"
        assert c["scaled"] == pytest.approx(c["lr"] * c["bs"])
    assert len({c["lr"] for c in configs}) == len(configs)  # fresh samples at each point
    assert s.suggest("again") is FINISHED


def test_first_grid_axis_varies_fastest_as_in_ray() -> None:
    configs = drain(make(num_samples=1, seed=0))
    assert [(c["opt"]["name"], c["bs"]) for c in configs[:3]] == [
        ("sgd", 16),
        ("adam", 16),
        ("sgd", 32),
    ]


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.integers(1, 4), min_size=0, max_size=3),
    st.integers(1, 4),
    st.booleans(),
)
def test_grid_count_is_product_times_num_samples(sizes: list[int], n: int, literal: bool) -> None:
    space: dict[str, Any] = {"x": uniform(0, 1)}
    for i, k in enumerate(sizes):
        values = [f"{i}-{j}" for j in range(k)]
        space[f"g{i}"] = {"grid_search": values} if literal else grid_search(values)
    s = make(space=space, num_samples=n, seed=0)
    configs = drain(s)
    assert len(configs) == math.prod(sizes) * n == s.total_trials(n)
    counts = Counter(tuple(c[f"g{i}"] for i in range(len(sizes))) for c in configs)
    assert len(counts) == math.prod(sizes) and set(counts.values()) == {n}


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**63 - 1))
def test_same_seed_same_sequence(seed: int) -> None:
    a = drain(make(seed=seed))
    b = drain(make(seed=seed))
    assert a == b
    assert a != drain(make(seed=seed + 1))


def test_setup_seed_is_used_unless_the_constructor_has_one() -> None:
    def run(ctor: int | None, setup: int | None) -> list[dict[str, Any]]:
        s = RandomSearch(seed=ctor)
        s.setup(SPACE, None, None, setup, 1)
        return drain(s)

    assert run(None, 5) == run(None, 5) == run(5, 99)
    assert run(None, 5) != run(None, 6)
    assert run(None, None) != run(None, None)  # unseeded: fresh entropy


def test_num_samples_negative_is_endless() -> None:
    s = make(space={"x": uniform(0, 1)}, num_samples=-1, seed=0)
    assert s.total_trials(-1) is None
    assert all(s.suggest(str(i)) is not FINISHED for i in range(500))


def test_constant_grid_search_shares_random_values_within_a_repetition() -> None:
    s = make(num_samples=2, seed=3, constant_grid_search=True)
    configs = drain(s)
    first, second = configs[:6], configs[6:]
    assert len({(c["lr"], c["depth"], c["opt"]["wd"]) for c in first}) == 1
    assert len({(c["lr"], c["depth"], c["opt"]["wd"]) for c in second}) == 1
    assert first[0]["lr"] != second[0]["lr"]
    assert {c["scaled"] for c in first} == {first[0]["lr"] * b for b in (16, 32, 64)}


# ---------------------------------------------------------------------- points first


def test_points_to_evaluate_come_first_and_count_as_ray() -> None:
    points = [
        {"lr": 1e-3, "opt": {"name": "adam"}, "bs": 32},  # fixes both grid axes: 1 trial
        {"lr": 2e-3, "bs": 16},  # leaves opt.name: 2 trials
    ]
    s = make(num_samples=3, seed=0, points_to_evaluate=points)
    configs = drain(s)
    assert s.total_trials(3) == 1 + 2 + (3 - 2) * 6 == len(configs)
    assert configs[0]["lr"] == 1e-3 and configs[0]["opt"]["name"] == "adam"
    assert configs[0]["bs"] == 32 and 0 <= configs[0]["opt"]["wd"] < 0.1
    assert configs[0]["scaled"] == pytest.approx(1e-3 * 32)
    assert [c["lr"] for c in configs[1:3]] == [2e-3, 2e-3]
    assert {c["opt"]["name"] for c in configs[1:3]} == {"sgd", "adam"}
    assert all(c["lr"] not in (1e-3, 2e-3) for c in configs[3:])


def test_more_points_than_samples_still_run_every_point() -> None:
    points = [{"x": 0.1}, {"x": 0.2}, {"x": 0.3}]
    s = make(space={"x": uniform(0, 1)}, num_samples=2, points_to_evaluate=points)
    assert [c["x"] for c in drain(s)] == [0.1, 0.2, 0.3]
    assert s.total_trials(2) == 3


def test_point_with_unknown_key_names_it() -> None:
    with pytest.raises(TuneValueError, match=r"points_to_evaluate\[1\]: config\['opt'\]\['nope'\]"):
        make(points_to_evaluate=[{"lr": 1e-3}, {"opt": {"nope": 1}}])


def test_point_outside_its_domain_warns() -> None:
    with pytest.warns(UserWarning, match=r"config\['lr'\]"):
        make(points_to_evaluate=[{"lr": 5.0}])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        make(points_to_evaluate=[{"lr": 1e-3, "act": "tanh"}])


def test_points_must_be_dicts() -> None:
    with pytest.raises(TuneTypeError, match=r"points_to_evaluate\[0\] must be a dict"):
        RandomSearch(points_to_evaluate=[1])  # type: ignore[list-item]
    with pytest.raises(TuneTypeError, match="points_to_evaluate must be a list"):
        RandomSearch(points_to_evaluate={"a": 1})  # type: ignore[arg-type]


# --------------------------------------------------------------------- concurrency


def test_max_concurrent_holds_back_until_a_trial_completes() -> None:
    s = make(max_concurrent=2, seed=0)
    assert s.suggest("a") is not None and s.suggest("b") is not None
    assert s.suggest("c") is None
    s.on_complete("a", {"score": 1.0})
    assert s.suggest("c") is not None and s.suggest("d") is None


def test_bad_constructor_arguments() -> None:
    with pytest.raises(TuneValueError, match="max_concurrent"):
        RandomSearch(max_concurrent=-1)
    with pytest.raises(TuneTypeError, match="seed"):
        RandomSearch(seed="1")  # type: ignore[arg-type]
    with pytest.raises(TuneTypeError, match="random_state"):
        BasicVariantGenerator(random_state="x")  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="setup"):
        RandomSearch().suggest("t")


# --------------------------------------------------------------------------- state


SEARCHERS = {
    "random": lambda seed: RandomSearch(seed=seed, points_to_evaluate=[{"lr": 1e-3}]),
    "constant": lambda seed: RandomSearch(seed=seed, constant_grid_search=True),
    "bvg": lambda seed: BasicVariantGenerator(random_state=np.random.default_rng(seed)),
    "grid": lambda seed: GridSearch(seed=seed),
    "sobol": lambda seed: SobolSearch(seed=seed, points_to_evaluate=[{"depth": 2}]),
}


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(sorted(SEARCHERS)), st.integers(0, 2**32), st.integers(0, 30))
def test_state_dict_round_trip_continues_the_identical_stream(kind: str, seed: int, k: int) -> None:
    def fresh() -> Searcher:
        s: Searcher = SEARCHERS[kind](seed)
        s.setup(SPACE, "score", "max", None, 3)
        return s

    reference = drain(fresh())
    k = min(k, len(reference))
    first = fresh()
    head = [first.suggest(f"t{i}") for i in range(k)]
    assert head == reference[:k]
    state = json.loads(json.dumps(first.state_dict(), allow_nan=False))  # JSON only
    restored = fresh()
    restored.load_state_dict(state)
    assert drain(restored) == reference[k:]


def test_state_keeps_live_trials() -> None:
    s = make(max_concurrent=1, seed=0)
    s.suggest("a")
    restored = make(max_concurrent=1, seed=0)
    restored.load_state_dict(s.state_dict())
    assert restored.suggest("b") is None
    restored.on_complete("a", None)
    assert restored.suggest("b") is not None


def test_state_from_a_different_space_is_refused() -> None:
    state = make(seed=0).state_dict()
    other = make(space={**SPACE, "lr": loguniform(1e-6, 1e-2)}, seed=0)
    with pytest.raises(TuneValueError, match="different search space"):
        other.load_state_dict(state)


# ------------------------------------------------------------------ Ray's signature


def test_basic_variant_generator_is_random_search_with_rays_arguments() -> None:
    bvg = BasicVariantGenerator(points_to_evaluate=[{"lr": 1e-3}], max_concurrent=0, random_state=7)
    assert isinstance(bvg, RandomSearch) and bvg.random_state == 7
    bvg.setup(SPACE, None, None, None, 2)
    rs = RandomSearch(points_to_evaluate=[{"lr": 1e-3}], seed=7)
    rs.setup(SPACE, None, None, None, 2)
    assert drain(bvg) == drain(rs)


def test_basic_variant_generator_accepts_legacy_random_state() -> None:
    a = BasicVariantGenerator(random_state=np.random.RandomState(1))
    b = BasicVariantGenerator(random_state=np.random.RandomState(1))
    for s in (a, b):
        s.setup(SPACE, None, None, None, 1)
    assert drain(a) == drain(b)
