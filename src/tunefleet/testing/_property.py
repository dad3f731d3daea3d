"""Hypothesis settings shared by the property checks of the conformance suites."""

from __future__ import annotations

from hypothesis import HealthCheck, settings


def property_settings(max_examples: int) -> settings:
    """Settings for a property check that runs inside one of a suite's test methods.

    The checks close over the suite's function-scoped fixtures (a factory, a store) on
    purpose: every example builds its own component or experiment from them, so sharing the
    fixture across examples is safe and hypothesis's warning about it is turned off. No
    deadline and no "too slow" check: a model-based component may take longer on some
    examples, and the suites judge behaviour, not speed.
    """
    return settings(
        max_examples=max_examples,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
