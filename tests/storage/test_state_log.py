"""State snapshots + deltas: every patch reproduces the state, the log stays linear."""

from __future__ import annotations

import copy
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from tunefleet.protocol import STATE, STATE_DELTA
from tunefleet.storage.memory import MemoryStore
from tunefleet.storage.state_log import _SAME, StateWriter, diff, patch, read_state

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=4), children, max_size=5)
    ),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(json_values, json_values)
def test_patch_of_diff_gives_the_new_value(old: object, new: object) -> None:
    p = diff(old, new)
    if p is _SAME:
        assert old == new
        return
    assert patch(copy.deepcopy(old), json.loads(json.dumps(p))) == new


def test_appended_list_and_changed_key_are_small_patches() -> None:
    old = {"rungs": {"1": {"t0": 0.5}}, "curve": [1.0, 2.0]}
    new = {"rungs": {"1": {"t0": 0.5, "t1": 0.7}}, "curve": [1.0, 2.0, 3.0]}
    assert diff(old, new) == {
        "d": {"rungs": {"d": {"1": {"d": {"t1": {"v": 0.7}}}}}, "curve": {"a": [3.0]}}
    }


def _write(store: MemoryStore, name: str, states: list[dict]) -> StateWriter:
    w = StateWriter()
    for i, s in enumerate(states):
        store.append(name, [w.record(s, float(i))])
    return w


def test_read_state_is_the_last_state_and_log_grows_linearly() -> None:
    store = MemoryStore()
    store.create_experiment("e", {})
    states = []
    rung: dict[str, float] = {}
    for i in range(2000):
        rung[f"trial_{i:05d}"] = i / 2000
        states.append({"scheduler": {"rung": dict(rung)}, "engine": {"n": i}})
    w = _write(store, "e", states)
    assert read_state(store, "e") == states[-1]
    assert w.snapshots + w.deltas == 2000 and w.deltas > w.snapshots
    total = sum(len(json.dumps(r.data)) for r in store.read("e"))
    last_size = len(json.dumps(states[-1]))
    full = sum(len(json.dumps(s)) for s in states)  # a full snapshot at every commit
    # Snapshots grow geometrically (each follows deltas of its predecessor's size), so
    # the whole log is a small multiple of the final state: linear in what changed.
    assert total < 12 * last_size
    assert total < full / 50
    kinds = {r.kind for r in store.read("e")}
    assert kinds == {STATE, STATE_DELTA}


def test_read_state_of_a_prefix_matches_the_state_at_that_point() -> None:
    store = MemoryStore()
    store.create_experiment("e", {})
    w = StateWriter()
    seen = []
    for i in range(50):
        s = {"searcher": {"obs": list(range(i))}, "scheduler": {"x": i % 7}}
        store.append("e", [w.record(s, float(i))])
        seen.append(s)
        assert read_state(store, "e") == s
