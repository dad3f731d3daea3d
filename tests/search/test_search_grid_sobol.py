"""GridSearch (finite domains as axes) and SobolSearch (quasi-random)."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import numpy as np
import pytest
from scipy.stats import qmc

from tunefleet.errors import TuneTypeError, TuneValueError
from tunefleet.search import FINISHED, GridSearch, RandomSearch, Searcher, SobolSearch
from tunefleet.space import (
    choice,
    grid_search,
    loguniform,
    qrandint,
    quniform,
    randint,
    randn,
    sample_from,
    uniform,
)


def drain(searcher: Searcher) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    while (cfg := searcher.suggest(f"t{len(out)}")) is not FINISHED:
        assert cfg is not None
        out.append(cfg)
    return out


# ------------------------------------------------------------------------------ grid


def test_grid_search_expands_finite_domains() -> None:
    space = {
        "act": choice(["relu", "tanh", "gelu"]),
        "depth": randint(1, 3),
        "step": qrandint(0, 10, 5),
        "frac": quniform(0, 1, 0.5),
        "g": grid_search([True, False]),
        "lr": loguniform(1e-4, 1e-1),
        "noise": randn(),
        "wide": randint(0, 1000),
    }
    s = GridSearch(seed=0)
    s.setup(space, None, None, None, 2)
    configs = drain(s)
    axes = 3 * 2 * 3 * 3 * 2
    assert len(configs) == axes * 2 == s.total_trials(2)
    counts = Counter(tuple(c[k] for k in ("act", "depth", "step", "frac", "g")) for c in configs)
    assert len(counts) == axes and set(counts.values()) == {2}
    assert len({c["lr"] for c in configs}) == len(configs)  # continuous: sampled
    assert len({c["wide"] for c in configs}) > 10  # over the limit: sampled
    assert all(0 <= c["wide"] < 1000 for c in configs)


def test_grid_search_limit_is_configurable() -> None:
    s = GridSearch(seed=0, max_axis_values=1000)
    s.setup({"wide": randint(0, 1000)}, None, None, None, 1)
    assert s.total_trials(1) == 1000
    assert sorted(c["wide"] for c in drain(s)) == list(range(1000))
    with pytest.raises(TuneValueError, match="max_axis_values"):
        GridSearch(max_axis_values=0)
    with pytest.raises(TuneTypeError, match="max_axis_values"):
        GridSearch(max_axis_values=2.5)  # type: ignore[arg-type]


def test_grid_search_with_points_expands_only_what_they_leave_open() -> None:
    space = {"a": choice([1, 2, 3]), "b": choice(["x", "y"])}
    s = GridSearch(seed=0, points_to_evaluate=[{"a": 2}])
    s.setup(space, None, None, None, 2)
    configs = drain(s)
    assert s.total_trials(2) == 2 + 6 == len(configs)
    assert configs[:2] == [{"a": 2, "b": "x"}, {"a": 2, "b": "y"}]


# ----------------------------------------------------------------------------- sobol


CUBE = {"x": uniform(0, 1), "y": uniform(0, 1), "z": uniform(0, 1)}


def _points(searcher: Searcher, n: int) -> np.ndarray:
    searcher.setup(CUBE, None, None, None, n)
    return np.array([[c[k] for k in "xyz"] for c in drain(searcher)])


def test_sobol_has_lower_discrepancy_than_random() -> None:
    for seed in range(5):
        sobol = _points(SobolSearch(seed=seed), 128)
        rand = _points(RandomSearch(seed=seed), 128)
        assert sobol.shape == rand.shape == (128, 3)
        assert qmc.discrepancy(sobol) < qmc.discrepancy(rand) / 2


def test_sobol_is_seeded_and_scrambled() -> None:
    a = _points(SobolSearch(seed=1), 32)
    assert np.array_equal(a, _points(SobolSearch(seed=1), 32))
    assert not np.array_equal(a, _points(SobolSearch(seed=2), 32))
    plain = _points(SobolSearch(seed=1, scramble=False), 4)
    assert plain[0].tolist() == [0.0, 0.0, 0.0]


def test_sobol_maps_through_each_domain_and_expands_grids() -> None:
    space = {
        "lr": loguniform(1e-5, 1e-1),
        "act": choice(["relu", "tanh"]),
        "bs": grid_search([16, 32]),
        "double": sample_from(lambda spec: spec.config.lr * 2),
        "n": randint(1, 9),
    }
    s = SobolSearch(seed=0)
    s.setup(space, None, None, None, 64)
    configs = drain(s)
    assert len(configs) == 128 == s.total_trials(64)
    assert Counter(c["bs"] for c in configs) == {16: 64, 32: 64}
    assert Counter(c["act"] for c in configs) == {"relu": 64, "tanh": 64}  # balanced
    assert set(Counter(c["n"] for c in configs).values()) == {16}  # 8 values, 128 points
    logs = np.log10([c["lr"] for c in configs])
    assert logs.min() >= -5 and logs.max() < -1
    assert all(c["double"] == c["lr"] * 2 for c in configs)


def test_sobol_without_sampled_domains_is_just_the_grid() -> None:
    s = SobolSearch(seed=0)
    s.setup({"g": grid_search([1, 2, 3]), "c": 5}, None, None, None, 1)
    assert drain(s) == [{"g": 1, "c": 5}, {"g": 2, "c": 5}, {"g": 3, "c": 5}]


def test_sobol_state_is_seed_and_count() -> None:
    s = SobolSearch(seed=3)
    s.setup(CUBE, None, None, None, 100)
    for i in range(70):  # crosses a block boundary
        s.suggest(str(i))
    state = s.state_dict()
    assert state["seed"] == 3 and state["sobol_drawn"] == 70
    restored = SobolSearch(seed=3)
    restored.setup(CUBE, None, None, None, 100)
    restored.load_state_dict(state)
    assert drain(restored) == drain(s)


def test_sobol_never_warns_about_balance(recwarn: Any) -> None:
    _points(SobolSearch(seed=0), 100)
    assert not [w for w in recwarn if "balance" in str(w.message)]
    assert math.isfinite(len(recwarn))
