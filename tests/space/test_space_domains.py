"""Domains: validation, sampling, the unit-interval maps and JSON."""

from __future__ import annotations

import json
import math
import re
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tunefleet.errors import TuneTypeError, TuneValueError
from tunefleet.space import (
    Categorical,
    Domain,
    Float,
    Function,
    Grid,
    Integer,
    InvalidDomain,
    Normal,
    OpaqueValue,
    choice,
    domain_from_json,
    grid_search,
    lograndint,
    loguniform,
    qlograndint,
    qloguniform,
    qrandint,
    qrandn,
    quniform,
    randint,
    randn,
    sample_from,
    uniform,
    validate_space,
)

FAST = settings(max_examples=150, deadline=None)

lows = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)
widths = st.floats(1e-3, 1e6)
positive = st.floats(1e-8, 1e3)
json_scalars = st.none() | st.booleans() | st.integers(-100, 100) | st.text(max_size=5)
json_values = st.recursive(
    json_scalars | st.floats(-1e9, 1e9),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=6,
)


@st.composite
def domains(draw: Any) -> Domain:
    """Any valid sampled domain, of every kind."""
    kind = draw(
        st.sampled_from(
            [
                "uniform",
                "quniform",
                "loguniform",
                "qloguniform",
                "randn",
                "qrandn",
                "randint",
                "qrandint",
                "lograndint",
                "qlograndint",
                "choice",
                "grid",
            ]
        )
    )
    if kind == "uniform":
        lo = draw(lows)
        return uniform(lo, lo + draw(widths))
    if kind == "quniform":
        q = draw(st.floats(1e-3, 10))
        lo = draw(lows)
        return quniform(lo, lo + q * draw(st.floats(1.0, 1e3)), q)
    if kind == "loguniform":
        lo = draw(positive)
        return loguniform(lo, lo * draw(st.floats(1.01, 1e6)), base=draw(st.sampled_from([2, 10])))
    if kind == "qloguniform":
        q = draw(st.floats(1e-4, 1.0))
        lo = draw(st.floats(1e-3, 100))
        return qloguniform(lo, lo + q * draw(st.floats(1.0, 1e3)), q)
    if kind == "randn":
        return randn(draw(lows), draw(st.floats(1e-3, 1e3)))
    if kind == "qrandn":
        return qrandn(draw(lows), draw(st.floats(1e-2, 1e3)), draw(st.floats(1e-3, 10)))
    if kind == "randint":
        lo = draw(st.integers(-(10**6), 10**6))
        return randint(lo, lo + draw(st.integers(1, 10**6)))
    if kind == "qrandint":
        q = draw(st.integers(1, 50))
        lo = draw(st.integers(-(10**4), 10**4))
        return qrandint(lo, lo + q - 1 + draw(st.integers(0, 10**4)), q)
    if kind == "lograndint":
        lo = draw(st.integers(1, 10**4))
        return lograndint(lo, lo + draw(st.integers(1, 10**6)))
    if kind == "qlograndint":
        q = draw(st.integers(1, 20))
        lo = draw(st.integers(1, 10**4))
        return qlograndint(lo, lo + q - 1 + draw(st.integers(0, 10**5)), q)
    values = draw(st.lists(json_values, min_size=1, max_size=6))
    return choice(values) if kind == "choice" else grid_search(values)


def assert_valid(d: Domain, v: Any) -> None:
    """An independent check (not Domain.contains) that v is a valid value of d."""
    assert not isinstance(v, np.generic), f"numpy scalar {v!r} from {d!r}"
    if isinstance(d, Float):
        assert type(v) is float
        assert d.lower <= v <= d.upper
        if d.q is not None:
            assert math.isclose(v / d.q, round(v / d.q), rel_tol=1e-9, abs_tol=1e-6)
    elif isinstance(d, Integer):
        assert type(v) is int
        hi = d.upper if d.upper_inclusive else d.upper - 1
        assert d.lower <= v <= hi
        assert v % (d.q or 1) == 0
    elif isinstance(d, Normal):
        assert type(v) is float and math.isfinite(v)
        if d.q is not None:
            assert math.isclose(v / d.q, round(v / d.q), rel_tol=1e-9, abs_tol=1e-6)
    elif isinstance(d, Categorical):
        assert any(c is v for c in d.categories)
    else:  # pragma: no cover
        raise AssertionError(d)


def assert_same_value(d: Domain, a: Any, b: Any) -> None:
    if isinstance(d, Float | Normal) and d.q is None:
        scale = max(abs(a), abs(b), getattr(d, "sd", 0.0), 1e-300)
        assert math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9 * scale), (a, b)
    elif isinstance(d, Categorical):
        assert d.index(a) == d.index(b)
    else:
        assert a == b and type(a) is type(b)


# ------------------------------------------------------------------------------ sampling


@FAST
@given(domains(), st.integers(0, 2**32))
def test_samples_are_valid_values_of_the_right_type(d: Domain, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(20):
        v = d.sample(rng)
        assert_valid(d, v)
        assert d.contains(v)


@FAST
@given(domains(), st.integers(0, 2**32))
def test_sampling_is_reproducible(d: Domain, seed: int) -> None:
    a = [d.sample(np.random.default_rng(seed)) for _ in range(3)]
    b = [d.sample(np.random.default_rng(seed)) for _ in range(3)]
    for x, y in zip(a, b, strict=True):
        assert x is y or x == y or (isinstance(x, float) and math.isnan(x) and math.isnan(y))


def test_samples_cover_the_domain() -> None:
    rng = np.random.default_rng(0)
    assert {randint(0, 3).sample(rng) for _ in range(200)} == {0, 1, 2}
    assert {qrandint(0, 10, 5).sample(rng) for _ in range(200)} == {0, 5, 10}
    assert {lograndint(1, 4).sample(rng) for _ in range(400)} == {1, 2, 3}
    assert {choice(["a", "b", "c"]).sample(rng) for _ in range(200)} == {"a", "b", "c"}
    xs = [loguniform(1e-4, 1).sample(rng) for _ in range(2000)]
    below = sum(x < 1e-2 for x in xs) / len(xs)
    assert 0.4 < below < 0.6  # half of the log range lies below 1e-2
    zs = np.array([randn(5.0, 2.0).sample(rng) for _ in range(4000)])
    assert abs(zs.mean() - 5.0) < 0.15 and abs(zs.std() - 2.0) < 0.15


# ----------------------------------------------------------------------- unit interval


@FAST
@given(domains(), st.floats(0.0, 1.0) | st.sampled_from([0.0, 1.0, 0.5, 1 - 1e-17]))
def test_from_unit_always_gives_a_valid_value(d: Domain, u: float) -> None:
    assert_valid(d, d.from_unit(u))


@FAST
@given(domains(), st.floats(0.0, 1.0), st.floats(0.0, 1.0))
def test_from_unit_is_monotone_for_numeric_domains(d: Domain, u1: float, u2: float) -> None:
    if isinstance(d, Categorical):
        return
    lo, hi = sorted((u1, u2))
    assert d.from_unit(lo) <= d.from_unit(hi)


@FAST
@given(domains(), st.integers(0, 2**32))
def test_unit_round_trip(d: Domain, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(10):
        v = d.sample(rng)
        u = d.to_unit(v)
        assert 0.0 <= u <= 1.0
        assert_same_value(d, d.from_unit(u), v)


def test_unit_maps_are_log_scaled_and_bucketed() -> None:
    assert loguniform(1e-4, 1).from_unit(0.5) == pytest.approx(1e-2)
    assert uniform(0, 10).from_unit(0.25) == pytest.approx(2.5)
    assert [randint(0, 4).from_unit(u) for u in (0, 0.24, 0.26, 1)] == [0, 0, 1, 3]
    assert choice(["a", "b"]).to_unit("b") == 0.75
    assert randn(0, 1).from_unit(0.5) == 0.0
    assert math.isfinite(randn(0, 1).from_unit(0.0)) and math.isfinite(randn().from_unit(1.0))


def test_quantisation_stays_in_bounds_when_bounds_are_not_multiples() -> None:
    d = quniform(0.05, 1.04, 0.5)
    assert d.values() == [0.5, 1.0]
    assert {d.from_unit(u) for u in np.linspace(0, 1, 50)} == {0.5, 1.0}
    assert qloguniform(1e-5, 1e-2, 1e-4).from_unit(0.0) == pytest.approx(1e-4)  # never 0
    assert qrandint(1, 10, 3).values() == [3, 6, 9]


def test_cardinality_and_values() -> None:
    assert uniform(0, 1).cardinality is None and uniform(0, 1).values() is None
    assert randn().cardinality is None
    assert randint(0, 5).cardinality == 5 and randint(0, 5).values() == [0, 1, 2, 3, 4]
    assert qrandint(0, 10, 5).values() == [0, 5, 10]
    assert lograndint(1, 10).values() == list(range(1, 10))
    assert quniform(0, 1, 0.25).values() == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert choice([1, "a"]).cardinality == 2
    assert grid_search([1, 2, 3]).cardinality == 3


def test_grid_and_function_flags() -> None:
    assert grid_search([1]).is_grid and not grid_search([1]).is_function
    assert sample_from(lambda: 1).is_function and not sample_from(lambda: 1).is_grid
    assert not any(d.is_grid or d.is_function for d in (uniform(0, 1), choice([1]), randint(0, 2)))


def test_choice_tells_equal_values_of_different_types_apart() -> None:
    d = choice([1, True, 1.0])
    assert [d.to_unit(v) for v in (1, True, 1.0)] == pytest.approx([1 / 6, 3 / 6, 5 / 6])
    assert not d.contains("1")
    with pytest.raises(TuneValueError, match="not one of the categories"):
        d.to_unit(2)


def test_choice_converts_numpy_scalars_to_python() -> None:
    d = choice(np.array([1, 2, 3]))
    assert all(type(d.sample(np.random.default_rng(i))) is int for i in range(10))


def test_sample_from_standalone() -> None:
    assert sample_from(lambda: 3).sample(np.random.default_rng(0)) == 3
    d = sample_from(lambda spec: uniform(10, 11))
    assert 10 <= d.sample(np.random.default_rng(0)) < 11
    assert type(sample_from(lambda: np.float64(2.5)).sample(np.random.default_rng(0))) is float
    with pytest.raises(TuneTypeError, match="unit"):
        sample_from(lambda: 1).from_unit(0.5)


# ---------------------------------------------------------------------------------- JSON


@FAST
@given(domains())
def test_json_round_trip(d: Domain) -> None:
    text = json.dumps(d.to_json(), allow_nan=False)
    back = domain_from_json(json.loads(text))
    assert back == d
    assert repr(back) == repr(d)
    assert back.to_json() == d.to_json()


def test_equality_and_repr() -> None:
    assert uniform(0, 1) == uniform(0.0, 1.0)
    assert uniform(0, 1) != uniform(0, 2)
    assert uniform(0, 1) != quniform(0, 1, 0.5)
    assert randint(0, 10) != qrandint(0, 9)
    assert choice([1, 2]) != choice([1.0, 2.0])
    assert grid_search([1, 2]) != choice([1, 2])
    assert repr(loguniform(1e-5, 1e-2)) == "loguniform(lower=1e-05, upper=0.01)"
    assert repr(loguniform(1, 8, base=2)) == "loguniform(lower=1.0, upper=8.0, base=2.0)"
    assert repr(qrandint(0, 10, 2)) == "qrandint(lower=0, upper=10, q=2)"
    assert hash(uniform(0, 1)) == hash(uniform(0, 1))
    f = lambda: 1  # noqa: E731
    assert sample_from(f) == sample_from(f) and sample_from(f) != sample_from(lambda: 1)


class _Model:
    pass


def test_json_of_non_json_categories_keeps_their_repr() -> None:
    d = choice([_Model, "adam", (1, 2), {"k": [1, None]}, float("inf")])
    data = json.loads(json.dumps(d.to_json(), allow_nan=False))
    back = domain_from_json(data)
    assert isinstance(back, Categorical)
    assert isinstance(back.categories[0], OpaqueValue)
    assert repr(back.categories[0]) == repr(_Model)
    assert back.categories[1:4] == ["adam", (1, 2), {"k": [1, None]}]
    assert back.categories[4] == math.inf
    assert back.to_json() == d.to_json()  # stable through a second round trip


def test_objects_with_default_repr_encode_stably() -> None:
    assert choice([_Model()]).to_json() == choice([_Model()]).to_json()


def test_sample_from_json_is_a_description_and_a_placeholder() -> None:
    def double_lr(spec: Any) -> float:
        return float(spec.config.lr * 2)

    d = sample_from(double_lr)
    data = d.to_json()
    assert data["type"] == "sample_from"
    assert data["qualname"].endswith("double_lr")
    assert "spec.config.lr * 2" in data["source"]
    back = domain_from_json(json.loads(json.dumps(data)))
    assert isinstance(back, Function) and back.is_function
    assert back.to_json() == data
    with pytest.raises(TuneValueError, match="loaded from JSON"):
        back.sample(np.random.default_rng(0))


def test_domain_from_json_rejects_unknown() -> None:
    with pytest.raises(TuneValueError, match="unknown domain type 'beta'"):
        domain_from_json({"type": "beta", "a": 1})
    with pytest.raises(TuneValueError, match="must be a dict"):
        domain_from_json([1])  # type: ignore[arg-type]


def test_integer_built_directly_keeps_its_upper_bound_kind() -> None:
    d = Integer(0, 10, upper_inclusive=True)
    assert d.cardinality == 11
    back = domain_from_json(json.loads(json.dumps(d.to_json())))
    assert back == d and back.cardinality == 11


# ---------------------------------------------------------------------------- validation

BAD_VALUES = [
    (lambda: loguniform(0, 1), r"loguniform\(lower=0, upper=1\): lower must be > 0"),
    (lambda: loguniform(-1, 1), "lower must be > 0"),
    (lambda: qloguniform(0, 1, 0.1), r"qloguniform\(.*lower must be > 0"),
    (lambda: loguniform(1, 10, base=1), "base must be"),
    (lambda: uniform(2, 1), r"uniform\(lower=2, upper=1\): lower must be < upper"),
    (lambda: uniform(1, 1), "lower must be < upper"),
    (lambda: randint(5, 5), r"randint\(lower=5, upper=5\): lower must be < upper"),
    (lambda: qrandint(6, 5), "lower must be <= upper"),
    (lambda: choice([]), r"choice\(categories=\[\]\): categories must not be empty"),
    (lambda: grid_search([]), r"grid_search\(values=\[\]\): values must not be empty"),
    (lambda: quniform(0, 1, 0), r"quniform\(lower=0, upper=1, q=0\): q must be > 0"),
    (lambda: quniform(0, 1, -0.5), "q must be > 0"),
    (lambda: qloguniform(1e-3, 1, -1), "q must be > 0"),
    (lambda: qrandint(0, 10, 0), r"qrandint\(.*q=0\): q must be > 0"),
    (lambda: qlograndint(1, 10, -2), "q must be > 0"),
    (lambda: qrandn(0, 1, 0), "q must be > 0"),
    (lambda: randn(0, 0), r"randn\(mean=0, sd=0\): sd must be > 0"),
    (lambda: randn(0, -1), "sd must be > 0"),
    (lambda: qrandn(0, -1, 1), "sd must be > 0"),
    (lambda: lograndint(0, 10), r"lograndint\(lower=0, upper=10.*\): lower must be > 0"),
    (lambda: lograndint(-3, 10), "lower must be > 0"),
    (lambda: qlograndint(0, 10, 1), "lower must be > 0"),
    (lambda: uniform(0, math.inf), "upper must be finite"),
    (lambda: uniform(-math.inf, 0), "lower must be finite"),
    (lambda: uniform(math.nan, 1), "lower must be finite"),
    (lambda: randn(math.nan, 1), "mean must be finite"),
    (lambda: randn(0, math.inf), "sd must be finite"),
    (lambda: randint(0, 2.5), "upper must be an integer"),  # type: ignore[arg-type]
    (lambda: qrandint(0, 10, 1.5), "q must be an integer"),  # type: ignore[arg-type]
    (lambda: quniform(0.1, 0.2, 5), "no multiple of q"),
    (lambda: qrandint(1, 2, 5), "no multiple of q"),
]


def _raises_on_use_and_in_a_space(make: Any, exc: type[Exception], match: str) -> None:
    """A factory with bad arguments returns a domain that raises on any use, and the
    space's validation (what run() does before any compute) names its config key."""
    bad = make()
    assert isinstance(bad, InvalidDomain)
    with pytest.raises(exc, match=match):
        bad.sample(np.random.default_rng(0))
    with pytest.raises(exc, match=match):
        bad.to_json()
    with pytest.raises(exc) as info:
        validate_space({"model": {"lr": bad}, "other": 1})
    assert str(info.value).startswith("config['model']['lr']: "), info.value
    assert re.search(match, str(info.value))


@pytest.mark.parametrize(("make", "match"), BAD_VALUES)
def test_bad_values_raise_naming_the_argument(make: Any, match: str) -> None:
    _raises_on_use_and_in_a_space(make, TuneValueError, match)


BAD_TYPES = [
    (lambda: uniform("0", 1), r"uniform\(lower='0', upper=1\): lower must be a number"),  # type: ignore[arg-type]
    (lambda: uniform(0, None), "upper must be a number"),  # type: ignore[arg-type]
    (lambda: loguniform(1e-3, [1]), "upper must be a number"),  # type: ignore[arg-type]
    (lambda: randint(True, 5), "lower must be a number"),
    (lambda: randn("a"), "mean must be a number"),  # type: ignore[arg-type]
    (lambda: quniform(0, 1, "q"), "q must be a number"),  # type: ignore[arg-type]
    (lambda: choice("abc"), "categories must be a list"),
    (lambda: choice({"a": 1}), "categories must be a list"),
    (lambda: choice({1, 2}), "categories must be a list"),
    (lambda: choice(3), "categories must be a list"),
    (lambda: grid_search("ab"), "values must be a list"),
    (lambda: sample_from(3), "func must be callable"),  # type: ignore[arg-type]
    (lambda: sample_from(lambda a, b: a), "func must take one argument"),
]


@pytest.mark.parametrize(("make", "match"), BAD_TYPES)
def test_bad_types_raise_naming_the_argument(make: Any, match: str) -> None:
    _raises_on_use_and_in_a_space(make, TuneTypeError, match)


def test_errors_are_value_and_type_errors() -> None:
    with pytest.raises(ValueError):
        uniform(2, 1).sample(np.random.default_rng(0))
    with pytest.raises(TypeError):
        uniform("a", 1).sample(np.random.default_rng(0))  # type: ignore[arg-type]


def test_numpy_and_integral_float_bounds_are_accepted() -> None:
    assert uniform(np.float32(0), np.int64(2)).upper == 2.0  # type: ignore[arg-type]
    d = randint(np.int64(1), 1e3)  # type: ignore[arg-type]
    assert d.upper == 1000 and type(d.upper) is int


def test_validate_rechecks_a_mutated_domain() -> None:
    d = uniform(0, 1)
    d.validate()
    d.lower = 5.0
    with pytest.raises(TuneValueError, match="lower must be < upper"):
        d.validate()


def test_grid_is_a_categorical() -> None:
    g = grid_search([1, 2])
    assert isinstance(g, Grid) and isinstance(g, Categorical)
    assert g.sample(np.random.default_rng(0)) in (1, 2)
