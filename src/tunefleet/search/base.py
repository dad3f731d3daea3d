"""The Searcher interface: proposes configurations, learns from results.

Order of calls made by the engine::

    setup(space, metric, mode, seed, num_samples)
                                           once (space: the user's nested config dict)
    suggest(trial_id) -> dict | None | FINISHED
                                           None: nothing to propose now (try again later);
                                           FINISHED: the searcher will never propose again
    on_result(trial_id, result)            every intermediate result
    on_complete(trial_id, result, error)   once per trial; result is its last result or None
    state_dict() / load_state_dict(d)      JSON-serialisable state, for resume

``suggest`` returns a *fully resolved* config: every Domain sampled, every ``sample_from``
evaluated, constants and nesting kept as in the space.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from tunefleet.params import get_params as _get_params


class _Finished:
    __slots__ = ()

    def __repr__(self) -> str:
        return "FINISHED"


#: Returned by :meth:`Searcher.suggest` when the searcher has nothing more to propose.
FINISHED: Any = _Finished()


class Searcher:
    """Base class. Constructor arguments are stored unchanged (scikit-learn's rule)."""

    #: Do suggestions depend on the results seen so far? (With ``reproducible=True`` a
    #: searcher that learns suggests a trial only once every earlier trial has finished.)
    uses_results: bool = True

    #: Does ``setup``/``suggest`` import numpy? (The runner then imports it while the
    #: workers boot; random and grid search draw without it: space/lazy_rng.py.)
    uses_numpy: bool = True

    #: Constructor arguments kept under another attribute: ``setup`` binds the run's
    #: metric and mode to ``metric``/``mode`` when none was given (see tunefleet.params).
    _param_attrs: ClassVar[Mapping[str, str]] = {"metric": "_init_metric", "mode": "_init_mode"}

    def __init__(self, metric: str | None = None, mode: str | None = None) -> None:
        self.metric = metric
        self.mode = mode
        self._init_metric = metric
        self._init_mode = mode
        self.space: dict[str, Any] = {}
        self.seed: int | None = None
        self.num_samples = 1

    def setup(
        self,
        space: dict[str, Any],
        metric: str | None,
        mode: str | None,
        seed: int | None,
        num_samples: int = 1,
    ) -> None:
        self.space = space
        self.num_samples = num_samples
        if self.metric is None:
            self.metric = metric
        if self.mode is None:
            self.mode = mode
        self.seed = seed

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        raise NotImplementedError

    def on_result(self, trial_id: str, result: dict[str, Any]) -> None:
        """An intermediate result."""

    def on_complete(
        self, trial_id: str, result: dict[str, Any] | None, error: bool = False
    ) -> None:
        """The trial finished (error=True: it failed)."""

    def total_trials(self, num_samples: int) -> int | None:
        """How many trials this searcher will produce for ``num_samples``, if it knows
        (grid search: grid size × num_samples). None: the engine counts num_samples."""
        return None

    def get_params(self) -> dict[str, Any]:
        """The constructor arguments as given, so that a resume can rebuild this searcher
        (:mod:`tunefleet.components`). Learned state is in :meth:`state_dict`."""
        return _get_params(self)

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass

    # ------------------------------------------------------------- Ray's methods
    def set_search_properties(
        self, metric: str | None, mode: str | None, config: dict[str, Any], **spec: Any
    ) -> bool:
        """Ray's hook for handing the run's metric, mode and space to a searcher before
        the run: True when this searcher took them. The engine calls ``setup`` anyway, so
        the default takes nothing (Ray's default too)."""
        return False

    def save(self, checkpoint_path: str) -> None:
        """Ray's ``Searcher.save``: :meth:`state_dict` as JSON in one file."""
        import json

        with open(checkpoint_path, "w", encoding="utf-8") as f:
            json.dump(self.state_dict(), f)

    def restore(self, checkpoint_path: str) -> None:
        """Ray's ``Searcher.restore``: :meth:`load_state_dict` from a file :meth:`save`
        wrote (after ``setup``, unless the searcher says it accepts it before)."""
        import json

        with open(checkpoint_path, encoding="utf-8") as f:
            self.load_state_dict(json.load(f))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(metric={self.metric!r}, mode={self.mode!r})"
