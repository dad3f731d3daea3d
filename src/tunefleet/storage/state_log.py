"""Component state in the log as snapshots plus small deltas, so the log grows with results.

Every commit that carries results also carries the searcher and scheduler state they
produced (each committed prefix resumes consistently). Writing the whole state each time
would make the log grow with trials × commits: an ASHA + BOHB sweep of 10,000 trials holds
a rung entry and a KDE observation per trial. Instead :class:`StateWriter` writes a full
``state`` record, then ``state_delta`` records holding only what changed (a structural diff
of the JSON), and a fresh snapshot once the deltas since the last one outweigh it. The log
then grows linearly with what changes, and a resume reads one snapshot plus at most its
size in deltas (:func:`read_state`).

Diff format (JSON): ``{"v": value}`` replaces; ``{"d": {key: patch}, "r": [keys]}`` patches
and removes keys of an object; ``{"a": [items]}`` appends to a list; ``{"i": {index:
patch}}`` patches items of a list of unchanged length.
"""

from __future__ import annotations

import copy
from typing import Any

from tunefleet.protocol import STATE, STATE_DELTA, Record, dumps, loads

_SAME: Any = object()


def diff(old: Any, new: Any) -> Any:
    """A patch turning ``old`` into ``new``, or ``_SAME`` when they are equal."""
    if old is new:
        return _SAME
    if type(old) is dict and type(new) is dict:
        changed: dict[str, Any] = {}
        for key, value in new.items():
            if key in old:
                p = diff(old[key], value)
                if p is not _SAME:
                    changed[key] = p
            else:
                changed[key] = {"v": value}
        removed = [k for k in old if k not in new]
        if not changed and not removed:
            return _SAME
        out: dict[str, Any] = {"d": changed}
        if removed:
            out["r"] = removed
        return out
    if type(old) is list and type(new) is list:
        n = len(old)
        if len(new) >= n:
            items = {str(i): p for i in range(n) if (p := diff(old[i], new[i])) is not _SAME}
            if len(new) == n:
                return {"i": items} if items else _SAME
            if not items:
                return {"a": new[n:]}
        return {"v": new}
    if type(old) is type(new) and old == new:
        return _SAME
    if old != old and new != new:  # NaN stays NaN
        return _SAME
    return {"v": new}


def patch(value: Any, p: dict[str, Any]) -> Any:
    """Apply a patch made by :func:`diff`; ``value`` is updated in place where it can be.

    What the patch inserts is copied: a later patch that appends in place must never
    change the record it came from (a replayed log, or a MemoryStore's own records).
    """
    if "v" in p:
        return copy.deepcopy(p["v"])
    if "d" in p:
        for key, sub in p["d"].items():
            value[key] = patch(value.get(key), sub)
        for key in p.get("r", ()):
            value.pop(key, None)
        return value
    if "a" in p:
        value.extend(copy.deepcopy(p["a"]))
        return value
    for index, sub in p["i"].items():
        i = int(index)
        value[i] = patch(value[i], sub)
    return value


class StateWriter:
    """Turns successive states into ``state`` / ``state_delta`` records.

    ``ratio``: a snapshot is written again once the deltas since the last one add up to
    ``ratio`` times its size (1.0: the log holds at most twice what a resume reads).
    """

    def __init__(self, ratio: float = 1.0) -> None:
        self.ratio = ratio
        self._last: Any = None  # the state as last written, decoded from its own JSON
        self._snapshot_bytes = 0
        self._delta_bytes = 0
        self.snapshots = 0
        self.deltas = 0

    def record(self, state: dict[str, Any], ts: float) -> Record:
        text = dumps(state)
        # Compare against the JSON round trip, so that a resumed reader sees the same.
        current = loads(text)
        if self._last is not None:
            p = diff(self._last, current)
            if p is _SAME:
                p = {"d": {}}
            delta = dumps(p)
            if self._delta_bytes + len(delta) <= self.ratio * self._snapshot_bytes:
                self._delta_bytes += len(delta)
                self._last = current
                self.deltas += 1
                return Record(STATE_DELTA, None, p, ts, raw=delta)
        self._last = current
        self._snapshot_bytes = len(text)
        self._delta_bytes = 0
        self.snapshots += 1
        return Record(STATE, None, current, ts, raw=text)


def read_state(store: Any, name: str) -> dict[str, Any] | None:
    """The newest component state: the last snapshot with every delta after it applied."""
    snap = store.last_of_kind(name, STATE)
    if snap is None:
        return None
    state = copy.deepcopy(snap.data)  # patched in place: never the store's own object
    for rec in store.read(name, since=snap.seq, kinds=[STATE_DELTA]):
        state = patch(state, rec.data)
    return state if isinstance(state, dict) else None
