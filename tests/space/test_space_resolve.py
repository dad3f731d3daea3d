"""Whole spaces: finding domains, validation in context, resolve, sample_from, JSON."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tunefleet.errors import TuneTypeError, TuneValueError
from tunefleet.space import (
    Function,
    choice,
    find_domains,
    format_path,
    grid_search,
    grid_values,
    is_grid,
    loguniform,
    randint,
    randn,
    resolve,
    sample_from,
    space_fingerprint,
    space_from_json,
    space_to_json,
    uniform,
    validate_space,
)


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


class Net:
    """A constant that is not JSON."""


SPACE: dict[str, Any] = {
    "optim": {"lr": loguniform(1e-5, 1e-2), "name": "adam"},
    "layers": [randint(8, 64), 32, {"drop": uniform(0, 0.5)}],
    "act": grid_search(["relu", "tanh"]),
    "bs": {"grid_search": [16, 32]},
    "double": sample_from(lambda spec: spec.config.optim.lr * 2),
    "model": Net,
    "shape": (1, 2),
}


# -------------------------------------------------------------------------------- find


def test_find_domains_covers_nested_dicts_and_lists() -> None:
    found = dict(find_domains(SPACE))
    assert list(found) == [
        ("optim", "lr"),
        ("layers", 0),
        ("layers", 2, "drop"),
        ("act",),
        ("bs",),
        ("double",),
    ]
    assert is_grid(found[("act",)]) and is_grid(found[("bs",)])
    assert grid_values(found[("bs",)]) == [16, 32]
    assert found[("double",)].is_function


def test_format_path() -> None:
    assert format_path(("optim", "lr")) == "config['optim']['lr']"
    assert format_path(("layers", 0), "param_space") == "param_space['layers'][0]"


# ---------------------------------------------------------------------------- validate


def test_validate_space_accepts_a_good_space() -> None:
    validate_space(SPACE)


@pytest.mark.parametrize(
    ("space", "error", "match"),
    [
        ([1, 2], TuneTypeError, "config must be a dict, got list"),
        ({"grid_search": [1, 2]}, TuneValueError, "not a grid_search"),
        ({"a": {1: uniform(0, 1)}}, TuneTypeError, r"config\['a'\]: keys must be strings"),
        ({"optim": {"g": {"grid_search": []}}}, TuneValueError, r"config\['optim'\]\['g'\]"),
        ({"g": {"grid_search": "abc"}}, TuneTypeError, r"config\['g'\]: grid_search needs a list"),
        ({"l": [0, {"grid_search": []}]}, TuneValueError, r"config\['l'\]\[1\]: grid_search"),
    ],
)
def test_validate_space_names_the_parameter(space: Any, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        validate_space(space)


def test_validate_space_uses_the_given_name_and_rechecks_domains() -> None:
    d = uniform(0, 1)
    d.upper = -1.0
    with pytest.raises(TuneValueError, match=r"param_space\['optim'\]\['lr'\]: uniform"):
        validate_space({"optim": {"lr": d}}, name="param_space")


# ----------------------------------------------------------------------------- resolve


def test_resolve_keeps_constants_and_structure() -> None:
    cfg = resolve(SPACE, {}, rng())
    assert cfg["optim"]["name"] == "adam"
    assert cfg["model"] is Net and cfg["shape"] == (1, 2)
    assert cfg["layers"][1] == 32 and 8 <= cfg["layers"][0] < 64
    assert 0 <= cfg["layers"][2]["drop"] < 0.5
    assert cfg["act"] in ("relu", "tanh") and cfg["bs"] in (16, 32)
    assert cfg["double"] == pytest.approx(2 * cfg["optim"]["lr"])


def test_resolve_places_given_values_and_returns_a_new_config() -> None:
    values = {("optim", "lr"): 0.5, ("bs",): 32, ("act",): "tanh", ("layers", 0): 9}
    cfg = resolve(SPACE, values, rng())
    assert cfg["optim"]["lr"] == 0.5 and cfg["bs"] == 32 and cfg["act"] == "tanh"
    assert cfg["layers"][0] == 9
    assert cfg["double"] == 1.0
    cfg["optim"]["name"] = "sgd"
    cfg["layers"].append(1)
    assert SPACE["optim"]["name"] == "adam" and len(SPACE["layers"]) == 3


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32))
def test_resolve_is_reproducible(seed: int) -> None:
    assert resolve(SPACE, {}, rng(seed)) == resolve(SPACE, {}, rng(seed))


def test_resolve_differs_between_seeds() -> None:
    assert resolve(SPACE, {}, rng(1)) != resolve(SPACE, {}, rng(2))


def test_choice_of_sub_configs_is_resolved_inside() -> None:
    space = {"opt": choice([{"name": "sgd", "m": uniform(0.8, 0.99)}, {"name": "adam"}])}
    seen = set()
    for seed in range(30):
        cfg = resolve(space, {}, rng(seed))
        seen.add(cfg["opt"]["name"])
        if cfg["opt"]["name"] == "sgd":
            assert 0.8 <= cfg["opt"]["m"] < 0.99
    assert seen == {"sgd", "adam"}


# -------------------------------------------------------------------------- sample_from


def test_sample_from_chain_in_any_order() -> None:
    space = {
        "c": sample_from(lambda spec: spec.config["b"] + 1),  # needs b, which needs a
        "b": sample_from(lambda spec: spec.config.a * 10),
        "a": uniform(0, 1),
        "nested": {"w": sample_from(lambda spec: spec.config["model"]["width"] * 2)},
        "model": {"width": randint(1, 5)},
        "plain": sample_from(lambda: 7),
        "as_config": sample_from(lambda config: config["a"]),
    }
    for seed in range(5):
        cfg = resolve(space, {}, rng(seed))
        assert cfg["b"] == pytest.approx(cfg["a"] * 10)
        assert cfg["c"] == pytest.approx(cfg["b"] + 1)
        assert cfg["nested"]["w"] == 2 * cfg["model"]["width"]
        assert cfg["plain"] == 7 and cfg["as_config"] == cfg["a"]


def test_sample_from_can_read_lists_and_whole_subtrees() -> None:
    space = {
        "sizes": [randint(1, 4), 10],
        "total": sample_from(lambda spec: sum(spec.config.sizes)),
        "copy": sample_from(lambda spec: spec.config.model),
        "model": {"w": sample_from(lambda spec: spec.config.sizes[-1] * 2)},
    }
    cfg = resolve(space, {}, rng())
    assert cfg["total"] == cfg["sizes"][0] + 10
    assert cfg["model"] == {"w": 20} and cfg["copy"] == {"w": 20}
    assert type(cfg["copy"]) is dict


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32))
def test_sample_from_returning_a_domain_is_conditional(seed: int) -> None:
    space = {
        "model": choice(["linear", "mlp"]),
        "width": sample_from(
            lambda spec: randint(16, 32) if spec.config.model == "mlp" else choice([None])
        ),
        "lr": sample_from(lambda spec: loguniform(1e-4, 1e-3)),
    }
    cfg = resolve(space, {}, rng(seed))
    if cfg["model"] == "mlp":
        assert type(cfg["width"]) is int and 16 <= cfg["width"] < 32
    else:
        assert cfg["width"] is None
    assert 1e-4 <= cfg["lr"] < 1e-3
    assert cfg == resolve(space, {}, rng(seed))


def test_sample_from_in_a_list_and_returning_numpy() -> None:
    space = {"xs": [sample_from(lambda: np.float64(1.5)), sample_from(lambda: np.int64(2))]}
    cfg = resolve(space, {}, rng())
    assert cfg["xs"] == [1.5, 2] and [type(x) for x in cfg["xs"]] == [float, int]


def test_sample_from_returning_a_sub_config_with_functions() -> None:
    space = {
        "a": 3,
        "sub": sample_from(lambda: {"x": sample_from(lambda spec: spec.config.a + 1)}),
    }
    assert resolve(space, {}, rng())["sub"] == {"x": 4}


def test_sample_from_cycle_names_the_paths() -> None:
    space = {
        "a": sample_from(lambda spec: spec.config.b),
        "m": {"b": sample_from(lambda spec: spec.config.a)},
    }
    space["b"] = sample_from(lambda spec: spec.config.a)
    with pytest.raises(TuneValueError, match=r"config\['a'\].*config\['b'\]"):
        resolve(space, {}, rng())


def test_sample_from_error_gets_a_note_with_the_path() -> None:
    space = {"x": sample_from(lambda spec: spec.config.missing)}
    with pytest.raises(AttributeError) as info:
        resolve(space, {}, rng())
    assert "config['x']" in "".join(getattr(info.value, "__notes__", []))


# -------------------------------------------------------------------------------- JSON

leaf_domains = st.sampled_from(
    [
        uniform(0, 1),
        loguniform(1e-5, 1e-1),
        randint(0, 10),
        randn(1.0, 2.0),
        choice(["a", 1, None, (1, 2)]),
        grid_search([1, 2]),
    ]
)
constants = st.none() | st.booleans() | st.integers() | st.text(max_size=4) | st.floats()
nodes = st.recursive(
    leaf_domains
    | constants
    | st.builds(lambda v: {"grid_search": v}, st.lists(st.integers(), min_size=1)),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=10,
)


def _same_space(a: Any, b: Any) -> bool:
    """Equality that also treats NaN as equal to NaN."""
    if isinstance(a, float) and isinstance(b, float) and a != a and b != b:
        return True
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same_space(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(_same_space(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.text(max_size=4), nodes, max_size=4))
def test_space_json_round_trip(space: dict[str, Any]) -> None:
    text = json.dumps(space_to_json(space), allow_nan=False)
    back = space_from_json(json.loads(text))
    assert _same_space(back, space)
    assert space_fingerprint(back) == space_fingerprint(space)


def test_space_json_keeps_reserved_keys_and_non_str_keys() -> None:
    space = {"x": {"__tunefleet__": 1, "y": uniform(0, 1)}, "z": {"inner": {2: "two"}}}
    assert space_from_json(json.loads(json.dumps(space_to_json(space)))) == space


def test_space_json_with_sample_from_gives_a_placeholder() -> None:
    space = {"a": uniform(0, 1), "b": sample_from(lambda spec: spec.config.a * 2)}
    back = space_from_json(json.loads(json.dumps(space_to_json(space))))
    assert isinstance(back["b"], Function) and back["a"] == space["a"]
    assert "spec.config.a * 2" in back["b"].to_json()["source"]
    assert space_to_json(back) == space_to_json(space)
    with pytest.raises(TuneValueError, match="cannot be restored"):
        resolve(back, {}, rng())


def test_space_from_json_rejects_other_documents() -> None:
    with pytest.raises(TuneValueError, match="space_from_json"):
        space_from_json({"a": 1})


def test_fingerprint_is_stable_and_sensitive() -> None:
    a = {"lr": loguniform(1e-5, 1e-2), "m": {"w": randint(1, 5), "k": Net()}}
    b = {"m": {"k": Net(), "w": randint(1, 5)}, "lr": loguniform(1e-5, 1e-2)}
    assert space_fingerprint(a) == space_fingerprint(b)  # key order and object address
    assert len(space_fingerprint(a)) == 64
    c = {"lr": loguniform(1e-5, 1e-3), "m": {"w": randint(1, 5), "k": Net()}}
    assert space_fingerprint(a) != space_fingerprint(c)
    assert space_fingerprint({"x": grid_search([1, 2])}) != space_fingerprint({"x": choice([1, 2])})
