"""LazyGenerator draws numpy's ``default_rng(seed)`` stream without numpy, draw for draw,
and its state is numpy's (space/lazy_rng.py)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tunefleet.space.lazy_rng import LazyGenerator

seeds = st.integers(min_value=0, max_value=2**200)


@settings(max_examples=60, deadline=None)
@given(seed=seeds, n=st.integers(min_value=0, max_value=300))
def test_same_uniforms_and_state_as_numpy(seed: int, n: int) -> None:
    real = np.random.default_rng(seed)
    lazy = LazyGenerator(seed)
    assert lazy.bit_generator.state == real.bit_generator.state
    assert [lazy.random() for _ in range(n)] == [real.random() for _ in range(n)]
    assert lazy.bit_generator.state == real.bit_generator.state


@settings(max_examples=30, deadline=None)
@given(seed=seeds, before=st.integers(min_value=0, max_value=20))
def test_any_other_method_continues_as_numpy(seed: int, before: int) -> None:
    """A normal draw (or anything but random()) hands over to a real Generator at the same
    state; the two streams stay equal afterwards."""
    real = np.random.default_rng(seed)
    lazy = LazyGenerator(seed)
    for _ in range(before):
        assert lazy.random() == real.random()
    assert lazy.standard_normal() == real.standard_normal()
    assert lazy.integers(0, 10, size=5).tolist() == real.integers(0, 10, size=5).tolist()
    assert lazy.random() == real.random()
    assert lazy.bit_generator.state == real.bit_generator.state


@settings(max_examples=30, deadline=None)
@given(seed=seeds, n=st.integers(min_value=0, max_value=50))
def test_states_load_both_ways(seed: int, n: int) -> None:
    real = np.random.default_rng(seed)
    for _ in range(n):
        real.random()
    lazy = LazyGenerator(state=real.bit_generator.state)
    assert [lazy.random() for _ in range(10)] == [real.random() for _ in range(10)]
    back = np.random.Generator(np.random.PCG64())
    back.bit_generator.state = lazy.bit_generator.state
    assert back.random() == lazy.random()
    lazy.bit_generator.state = back.bit_generator.state  # the setter, as numpy's
    assert lazy.random() == back.random()


@pytest.mark.parametrize("bad", [-1, 1.5, "3", True])
def test_bad_seeds_are_refused(bad: object) -> None:
    with pytest.raises(ValueError, match="seed must be a non-negative int"):
        LazyGenerator(bad)  # type: ignore[arg-type]


def test_a_state_of_another_bit_generator_is_refused() -> None:
    state = np.random.Generator(np.random.MT19937(1)).bit_generator.state
    with pytest.raises(ValueError, match="PCG64"):
        LazyGenerator(state=state)


def test_random_search_imports_no_numpy_and_keeps_its_seeded_stream(tmp_path: object) -> None:
    """A seeded random sweep on the threads engine never imports numpy, and suggests what
    numpy's default_rng(seed) gave before (the first config, computed here with numpy)."""
    script = f"""
import sys
import tunefleet as tune
def f(config):
    tune.report(score=config["x"])
r = tune.run(f, config={{"x": tune.uniform(2, 3)}}, num_samples=3, engine="threads",
             seed=11, storage_path={str(tmp_path)!r}, verbose=0, metric="score", mode="max")
print(sorted(t.config["x"] for t in r.trials))
print("numpy" in sys.modules)
"""
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    ).stdout.split("\n")
    assert out[1] == "False"
    got = eval(out[0])  # noqa: S307 - a list of floats printed by the child
    seed_used = _searcher_seed(tmp_path)
    rng = np.random.default_rng(seed_used)
    assert got == sorted(2 + rng.random() for _ in range(3))


def _searcher_seed(root: object) -> int:
    from tunefleet.storage import open_store

    store = open_store(str(root))
    (name,) = store.experiment_names()
    state = store.last_of_kind(name, "state")
    assert state is not None
    return int(state.data["searcher"]["seed"])
