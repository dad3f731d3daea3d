"""OptunaSearch tells outcome constraints to Optuna's samplers (issue 16 pt 2), against the
real Optuna: the values, that NSGA-II and MOTPE learn from them, the run's own
constraints, points told with them, and resume."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from tunefleet import tune

optuna = pytest.importorskip("optuna")

from tunefleet.search.optuna import OptunaSearch  # noqa: E402

pytestmark = pytest.mark.timeout(120)


def test_constraint_values_follow_optunas_sign_convention() -> None:
    s = OptunaSearch(constraints=["mem", "lat <= 10", "acc >= 0.9", "n < 3", "m > 1"])
    values = s._extra_metrics({"mem": 2.0, "lat": 4.0, "acc": 0.95, "n": 3, "m": 1.5})
    assert values is not None
    assert values["c0"] == 2.0  # a bare key: its value must be <= 0
    assert values["c1"] == -6.0  # lat - 10
    assert values["c2"] == pytest.approx(-0.05)  # 0.9 - acc
    assert values["c3"] > 0 and values["c3"] == math.ulp(0.0)  # 3 < 3 fails at equality
    assert values["c4"] == -0.5
    assert values["feasible"] == 0.0
    gone = s._extra_metrics({"feasible": False})  # keys missing: they break nothing
    assert gone == {"c0": 0.0, "c1": 0.0, "c2": 0.0, "c3": 0.0, "c4": 0.0, "feasible": 1.0}
    assert OptunaSearch()._extra_metrics({"mem": 1.0}) is None
    with pytest.raises(Exception, match=r"constraints\[0\]"):
        OptunaSearch(constraints=["lat = 3"])


def _fn(config: dict[str, Any]) -> None:
    x, y = config["x"], config["y"]
    # a trade-off in x; y does not matter to the objectives, but only y <= 0.3 is allowed
    tune.report(f1=x, f2=(1.0 - x) ** 2, y=y)


def _run(tmp_path: Path, name: str, searcher: OptunaSearch, **kwargs: Any) -> Any:
    return tune.run(
        _fn,
        config={"x": tune.uniform(0, 1), "y": tune.uniform(0, 1)},
        metric=["f1", "f2"],
        mode=["min", "min"],
        search_alg=searcher,
        num_samples=40,
        max_concurrent_trials=1,  # one at a time: the seeded sampler sees the same history
        engine="threads",
        storage_path=str(tmp_path),
        name=name,
        verbose=0,
        seed=0,
        **kwargs,
    )


def _nsga2() -> Any:  # a population that breeds within 30 trials (the default is 50)
    return optuna.samplers.NSGAIISampler(population_size=6, seed=1)


@pytest.mark.parametrize("sampler", ["motpe", _nsga2])
def test_the_sampler_stores_and_learns_the_runs_constraints(tmp_path: Path, sampler: Any) -> None:
    if callable(sampler):  # a sampler object: the constraints reach it as well
        with_c, without = OptunaSearch(sampler=sampler()), OptunaSearch(sampler=sampler())
    else:
        with_c, without = (
            OptunaSearch(sampler=sampler, seed=1),
            OptunaSearch(sampler=sampler, seed=1),
        )
    results = _run(tmp_path, "with", with_c, constraints=["y <= 0.3"])
    study = with_c.study
    assert with_c.constraints == ["y <= 0.3"]  # the run told the searcher
    done = [t for t in study.trials if t.state.name == "COMPLETE"]
    assert len(done) == 40
    for t in done:  # Optuna holds each trial's constraint values
        assert t.constraints == pytest.approx({"y <= 0.3": t.params["y"] - 0.3, "feasible": 0})
    _run(tmp_path, "without", without)
    assert without.study.trials[0].constraints == {}

    def feasible_share(s: OptunaSearch) -> float:
        late = s.study.trials[-15:]  # after the start: TPE's 10 random, NSGA-II's 4 generations
        return sum(t.params["y"] <= 0.3 for t in late) / len(late)

    # the constrained sampler steers to the feasible region; the same seed unconstrained
    # does not (y does not matter to the objectives)
    assert feasible_share(with_c) > feasible_share(without) + 0.2
    assert all(t.last_result["y"] <= 0.3 for t in results.pareto_front())


def test_resume_tells_the_constraints_again(tmp_path: Path) -> None:
    first = OptunaSearch(sampler="nsgaii", seed=2, constraints=["y <= 0.3"])
    first.setup(
        {"x": tune.uniform(0, 1), "y": tune.uniform(0, 1)}, ["f1", "f2"], ["min", "min"], 2, 6
    )
    for i in range(6):
        c = first.suggest(f"t{i}")
        first.on_complete(f"t{i}", {"f1": c["x"], "f2": 1 - c["x"], "y": c["y"]})
    again = OptunaSearch(sampler="nsgaii", seed=2, constraints=["y <= 0.3"])
    again.setup(
        {"x": tune.uniform(0, 1), "y": tune.uniform(0, 1)}, ["f1", "f2"], ["min", "min"], 2, 6
    )
    again.load_state_dict(first.state_dict())
    a = [t.constraints for t in first.study.trials]
    b = [t.constraints for t in again.study.trials]
    assert a == b and all(len(v) == 2 for v in a)
    assert again.suggest("t6") == first.suggest("t6")


def test_points_to_evaluate_are_added_with_their_constraints() -> None:
    s = OptunaSearch(
        sampler="motpe",
        seed=0,
        constraints=["y <= 0.3"],
        points_to_evaluate=[{"x": 0.5, "y": 0.9}],
    )
    s.setup({"x": tune.uniform(0, 1), "y": tune.uniform(0, 1)}, ["f1", "f2"], ["min", "min"], 0)
    assert s.suggest("p") == {"x": 0.5, "y": 0.9}
    s.on_complete("p", {"f1": 0.5, "f2": 0.25, "y": 0.9})
    (added,) = s.study.trials
    assert added.constraints == pytest.approx({"0": 0.6, "1": 0.0})  # Optuna's list form
