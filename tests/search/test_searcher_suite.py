"""Every registered searcher passes the shipped searcher suite
(:mod:`tunefleet.testing.searchers`), and the suite fails searchers that break the
contract, so that passing it means something."""

from __future__ import annotations

import math
from typing import Any

import pytest

from tunefleet.search import RandomSearch, create_searcher, searcher_names
from tunefleet.testing.searchers import Factory, SearcherConformance

pytestmark = pytest.mark.timeout(120)

#: (registry name, check) -> why the built-in fails it today (reported, not fixed here).
KNOWN_FAILURES: dict[tuple[str, str], str] = {}


#: adapters to outside libraries: each runs the suite in its own test module (no grid axes)
ADAPTERS = {"optuna", "hyperopt", "nevergrad", "bayesopt", "ax", "hebo", "zoopt"}


class TestRegisteredSearchers(SearcherConformance):
    @pytest.fixture(params=[n for n in searcher_names() if n not in ADAPTERS])
    def factory(self, request: pytest.FixtureRequest) -> Factory:
        name: str = request.param
        reason = KNOWN_FAILURES.get((name, request.function.__name__))
        if reason is not None:
            request.applymarker(pytest.mark.xfail(reason=reason, strict=True))
        return lambda: create_searcher(name)


# ------------------------------------------------------------------ the suite can fail
class _SetState(RandomSearch):
    """Keeps the live trials as a set in its state: not JSON."""

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state["live"] = set(state["live"])
        return state


class _Forgetful(RandomSearch):
    """Ignores the state it is given: a resumed run proposes the first configs again."""

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


class _Sloppy(RandomSearch):
    """Proposes one value just outside its domain."""

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        config = super().suggest(trial_id)
        if isinstance(config, dict) and "momentum" in config:
            config["momentum"] = 0.95  # the space says uniform(0.1, 0.9)
        return config


class _NaNAverse(RandomSearch):
    """Raises on a result whose metric is not a finite number."""

    def on_result(self, trial_id: str, result: dict[str, Any]) -> None:
        value = result.get("loss")
        if not isinstance(value, float) or not math.isfinite(value):
            raise ValueError(f"bad metric {value!r}")


def _suite() -> SearcherConformance:
    return SearcherConformance()


def test_suite_catches_a_state_dict_that_is_not_json() -> None:
    with pytest.raises(AssertionError, match="not JSON"):
        _suite().test_state_dict_is_json(_SetState)


def test_suite_catches_a_searcher_that_ignores_its_state() -> None:
    with pytest.raises(AssertionError, match="restored searcher"):
        _suite().test_load_state_dict_continues_the_stream(_Forgetful, 4)


def test_suite_catches_a_suggestion_outside_the_space() -> None:
    with pytest.raises(AssertionError, match="momentum.*outside"):
        _suite().test_every_domain_type_is_respected(_Sloppy, "max")


def test_suite_catches_a_searcher_that_cannot_take_nan() -> None:
    with pytest.raises(ValueError, match="bad metric"):
        _suite().test_nan_missing_metric_and_failed_trials_are_accepted(_NaNAverse)


def test_known_failures_name_real_searchers_and_checks() -> None:
    checks = {n for n in dir(SearcherConformance) if n.startswith("test_")}
    for name, check in KNOWN_FAILURES:
        assert name in searcher_names() and check in checks, (name, check)
