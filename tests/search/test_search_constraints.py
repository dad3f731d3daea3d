"""Outcome constraints and told rewards reach every model-based searcher: BOHB and DEHB
score an infeasible result as the worst, DEHB consumes evaluated_rewards, and the library
adapters tell an infeasible trial as the worst feasible loss so far (kept across resume)."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tunefleet import space as sp
from tunefleet.errors import TuneTypeError, TuneValueError
from tunefleet.search.bohb import TuneBOHB
from tunefleet.search.constraints import infeasible
from tunefleet.search.dehb import DEHBSearch
from tunefleet.testing._property import property_settings

SPACE = {"x": sp.uniform(0.0, 1.0)}


@given(
    st.dictionaries(st.sampled_from(["a", "b", "feasible"]), st.one_of(st.floats(), st.booleans()))
)
@property_settings(max_examples=50)
def test_infeasible_is_feasible_false_or_a_positive_constraint(result: dict[str, Any]) -> None:
    positive = any(
        k != "feasible" and not isinstance(v, bool) and float(v) > 0 for k, v in result.items()
    ) or any(k != "feasible" and v is True for k, v in result.items())
    expected = result.get("feasible") is False or positive
    assert infeasible(result, ["a", "b"]) == expected
    assert infeasible(result, None) == (result.get("feasible") is False)


@pytest.mark.parametrize("cls", [TuneBOHB, DEHBSearch])
def test_model_searchers_score_infeasible_results_as_worst(cls: type[TuneBOHB]) -> None:
    s = cls(metric="loss", mode="min", seed=0, constraints=["mem_over"])
    s.setup(dict(SPACE), None, None, None)
    for tid, result in (
        ("ok", {"loss": 5.0}),
        ("flagged", {"loss": -100.0, "feasible": False}),
        ("over", {"loss": -100.0, "mem_over": 0.5}),
        ("under", {"loss": 1.0, "mem_over": -0.5}),
    ):
        assert s.suggest(tid) is not None
        s.on_complete(tid, {**result, "training_iteration": 1})
    assert s._obs[1.0] == {"ok": -5.0, "flagged": -math.inf, "over": -math.inf, "under": -1.0}
    with pytest.raises(TuneTypeError, match=r"constraints"):
        cls(metric="loss", mode="min", constraints="mem_over")  # type: ignore[arg-type]


def test_dehb_consumes_evaluated_rewards() -> None:
    pts = [{"x": 0.25}, {"x": 0.75}]
    s = DEHBSearch(
        metric="loss", mode="min", seed=0, points_to_evaluate=pts, evaluated_rewards=[3, 1]
    )
    s.setup(dict(SPACE), None, None, None)
    assert sorted(s._obs[0.0].values()) == [-3.0, -1.0]
    assert s.suggest("t0") not in pts  # told, not run again
    with pytest.raises(TuneValueError, match="evaluated_rewards"):
        DEHBSearch(points_to_evaluate=pts, evaluated_rewards=[1.0])


def test_adapter_tells_infeasible_as_worst_feasible_and_resumes_it() -> None:
    pytest.importorskip("optuna")
    from tunefleet.search.optuna import OptunaSearch

    def drive(s: OptunaSearch, results: list[dict[str, Any]]) -> None:
        for i, r in enumerate(results):
            assert s.suggest(f"t{i}") is not None
            s.on_complete(f"t{i}", r)

    a = OptunaSearch(metric="loss", mode="min", seed=3)
    a.setup(dict(SPACE), "loss", "min", 3, 10)
    drive(a, [{"loss": 2.0}, {"loss": 7.0}, {"loss": -50.0, "feasible": False}])
    told = [t.value for t in a.study.trials]
    assert told == [2.0, 7.0, 7.0]  # the infeasible -50 is told as the worst so far
    b = OptunaSearch(metric="loss", mode="min", seed=3)
    b.setup(dict(SPACE), "loss", "min", 3, 10)
    b.load_state_dict(a.state_dict())
    for s in (a, b):
        assert s.suggest("t9") is not None
        s.on_complete("t9", {"loss": -80.0, "feasible": False})
    assert a.study.trials[-1].value == b.study.trials[-1].value == 7.0
