"""ConcurrencyLimiter: caps how many suggested trials a searcher has running at once."""

from __future__ import annotations

from typing import Any

from tunefleet.errors import TuneTypeError, TuneValueError
from tunefleet.search.base import FINISHED, Searcher


class ConcurrencyLimiter(Searcher):
    """Wraps a searcher (Ray's class): ``suggest`` returns None while ``max_concurrent``
    of its suggestions are live. Model-based searchers use it to wait for results rather
    than propose blind.

    ``batch=True``: no new suggestion until every live trial has completed; completions
    are then passed to the wrapped searcher together. Everything else (setup, results,
    state, ``total_trials``) is forwarded. Cost per suggest: O(1) plus the wrapped one's.
    """

    def __init__(self, searcher: Searcher, max_concurrent: int, batch: bool = False) -> None:
        if not isinstance(searcher, Searcher):
            raise TuneTypeError(
                f"searcher must be a tunefleet Searcher, got {type(searcher).__name__}"
            )
        if isinstance(max_concurrent, bool) or not isinstance(max_concurrent, int):
            raise TuneTypeError(f"max_concurrent must be an int, got {max_concurrent!r}")
        if max_concurrent < 1:
            raise TuneValueError(f"max_concurrent must be >= 1, got {max_concurrent}")
        super().__init__(metric=searcher.metric, mode=searcher.mode)
        self.searcher = searcher
        self.uses_results = searcher.uses_results
        self.max_concurrent = max_concurrent
        self.batch = bool(batch)
        self.live_trials: set[str] = set()
        self._cached: dict[str, tuple[dict[str, Any] | None, bool]] = {}

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

    @property
    def num_live(self) -> int:
        return len(self.live_trials)

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        if trial_id in self.live_trials:
            raise TuneValueError(f"trial_id {trial_id!r} was already suggested and is live")
        if len(self.live_trials) >= self.max_concurrent or (self.batch and self._cached):
            return None
        config = self.searcher.suggest(trial_id)
        if config is not None and config is not FINISHED:
            self.live_trials.add(trial_id)
        return config

    def on_result(self, trial_id: str, result: dict[str, Any]) -> None:
        self.searcher.on_result(trial_id, result)

    def on_complete(
        self, trial_id: str, result: dict[str, Any] | None, error: bool = False
    ) -> None:
        if trial_id not in self.live_trials:
            return
        if not self.batch:
            self.live_trials.discard(trial_id)
            self.searcher.on_complete(trial_id, result, error)
            return
        self._cached[trial_id] = (result, error)
        if len(self._cached) == len(self.live_trials):
            for tid, (res, err) in self._cached.items():
                self.searcher.on_complete(tid, res, err)
            self.live_trials.clear()
            self._cached.clear()

    def total_trials(self, num_samples: int) -> int | None:
        return self.searcher.total_trials(num_samples)

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
            "live": sorted(self.live_trials),
            "cached": [[tid, res, err] for tid, (res, err) in self._cached.items()],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.searcher.load_state_dict(state["searcher"])
        self.live_trials = set(state["live"])
        self._cached = {tid: (res, bool(err)) for tid, res, err in state["cached"]}

    def __repr__(self) -> str:
        return f"ConcurrencyLimiter({self.searcher!r}, max_concurrent={self.max_concurrent})"
