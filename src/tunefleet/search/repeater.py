"""Repeater: evaluates each suggested config ``repeat`` times and tells the wrapped searcher
the mean score, so that a noisy objective is learned from averages (Ray's class)."""

from __future__ import annotations

import copy
import math
from typing import Any

from tunefleet.errors import TuneTypeError, TuneValueError
from tunefleet.search.base import FINISHED, Searcher

#: The config key that numbers a config's repeats (0 .. repeat-1) when ``set_index=True``.
TRIAL_INDEX = "__trial_index__"


class Repeater(Searcher):
    """``repeat`` trials per suggestion of ``searcher``; when all of a config's trials have
    completed, the wrapped searcher gets one completion (the first trial's id) whose
    ``metric`` is the mean over the trials that reported a finite one (none: a failure).
    ``set_index``: put the repeat's number in the config under ``__trial_index__``.
    Use with ``num_samples`` a multiple of ``repeat``. Cost per call: O(1).
    """

    def __init__(self, searcher: Searcher, repeat: int = 1, set_index: bool = True) -> None:
        if not isinstance(searcher, Searcher):
            raise TuneTypeError(
                f"Repeater(searcher=...): expected a tunefleet Searcher, got "
                f"{type(searcher).__name__}"
            )
        if isinstance(repeat, bool) or not isinstance(repeat, int) or repeat < 1:
            raise TuneValueError(f"Repeater(repeat={repeat!r}): must be an int >= 1")
        super().__init__(metric=searcher.metric, mode=searcher.mode)
        self.searcher = searcher
        self.repeat = repeat
        self.set_index = bool(set_index)
        self.uses_results = searcher.uses_results
        self._group: list[Any] | None = None  # [lead trial id, config, count handed out]
        self._members: dict[str, str] = {}  # trial id -> its group's lead trial id
        self._scores: dict[str, list[float | None]] = {}  # lead -> per-trial scores

    def setup(
        self,
        space: dict[str, Any],
        metric: str | None,
        mode: str | None,
        seed: int | None,
        num_samples: int = 1,
    ) -> None:
        self.searcher.setup(space, metric, mode, seed, num_samples)
        super().setup(space, metric, mode, seed, num_samples)
        self.metric, self.mode = self.searcher.metric, self.searcher.mode

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        if self._group is None or self._group[2] >= self.repeat:
            config = self.searcher.suggest(trial_id)
            if config is None or config is FINISHED:
                return config
            self._group = [trial_id, config, 0]
            self._scores[trial_id] = []
        lead, config, k = self._group
        self._group[2] = k + 1
        self._members[trial_id] = lead
        out = copy.deepcopy(config)
        if self.set_index:
            out[TRIAL_INDEX] = k
        return out

    def on_complete(
        self, trial_id: str, result: dict[str, Any] | None, error: bool = False
    ) -> None:
        lead = self._members.pop(trial_id, None)
        if lead is None:
            return
        value = (
            None if (error or result is None or self.metric is None) else result.get(self.metric)
        )
        score = (
            float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
        )
        scores = self._scores[lead]
        scores.append(score if score is not None and math.isfinite(score) else None)
        if len(scores) < self.repeat:
            return
        del self._scores[lead]
        finite = [s for s in scores if s is not None]
        if not finite:
            self.searcher.on_complete(lead, None, True)
            return
        assert self.metric is not None
        merged = dict(result or {})
        merged[self.metric] = sum(finite) / len(finite)
        self.searcher.on_complete(lead, merged, False)

    def set_search_properties(
        self, metric: str | None, mode: str | None, config: dict[str, Any], **spec: Any
    ) -> bool:
        """Forwarded to the wrapped searcher (Ray's behaviour)."""
        took = self.searcher.set_search_properties(metric, mode, config, **spec)
        if took:
            self.metric, self.mode = self.searcher.metric, self.searcher.mode
        return took

    def state_dict(self) -> dict[str, Any]:
        return {
            "searcher": self.searcher.state_dict(),
            "group": self._group,
            "members": self._members,
            "scores": self._scores,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if not state:
            return
        self.searcher.load_state_dict(state["searcher"])
        self._group = state["group"]
        self._members = dict(state["members"])
        self._scores = {k: list(v) for k, v in state["scores"].items()}

    def __repr__(self) -> str:
        return f"Repeater({self.searcher!r}, repeat={self.repeat})"
