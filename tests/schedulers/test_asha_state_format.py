"""ASHA's state is keyed by trial (small deltas in the log) and still reads the old lists."""

from __future__ import annotations

import json

from tunefleet.schedulers.asha import ASHAScheduler
from tunefleet.storage.state_log import diff
from tunefleet.trial import Trial


def _fed(n: int) -> tuple[ASHAScheduler, dict[str, Trial]]:
    s = ASHAScheduler(max_t=9, grace_period=1, reduction_factor=3, variant="promotion")
    s.setup("score", "max", 0)
    trials = {}
    for i in range(n):
        t = Trial(f"t{i}", {}, index=i)
        trials[t.trial_id] = t
        s.on_trial_added(t)
        s.on_result(t, {"training_iteration": 1, "score": (i * 37 % 11) / 11})
    return s, trials


def test_a_new_result_is_a_small_delta() -> None:
    s, _ = _fed(200)
    before = json.loads(json.dumps(s.state_dict()))
    t = Trial("late", {}, index=999)
    s.on_trial_added(t)
    s.on_result(t, {"training_iteration": 1, "score": 0.5})
    after = json.loads(json.dumps(s.state_dict()))
    assert len(json.dumps(diff(before, after))) < 400 < len(json.dumps(after)) / 10


def test_old_list_format_loads_with_the_same_decisions() -> None:
    s, trials = _fed(30)
    state = s.state_dict()
    old = json.loads(json.dumps(state))
    for rungs in old["rungs"]:
        for r in rungs:  # the format written before 2026-12
            pairs = sorted((k, t) for t, k in r.pop("scores").items())
            r["keys"] = [k for k, _ in pairs]
            r["members"] = sorted(t for _, t in pairs)
            r["unpromoted"] = sorted([k, q, t] for t, (k, q) in r["unpromoted"].items())
            r["gone"] = sorted(r["gone"])
    fresh = ASHAScheduler(max_t=9, grace_period=1, reduction_factor=3, variant="promotion")
    fresh.setup("score", "max", 0)
    fresh.load_state_dict(old)
    probe = Trial("probe", {}, index=500)
    for sched in (s, fresh):
        sched.on_trial_added(probe)
    assert s.on_result(probe, {"training_iteration": 1, "score": 0.95}) is fresh.on_result(
        probe, {"training_iteration": 1, "score": 0.95}
    )
    assert sorted(s._rungs[0][0].keys) == sorted(fresh._rungs[0][0].keys)
