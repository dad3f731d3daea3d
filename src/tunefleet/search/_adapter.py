"""What every adapter to an outside search library shares (Optuna, HyperOpt, Nevergrad, ...).

Why one base: each library asks for the space in its own form and learns through its own
ask/tell calls, but the engine's contract (resolved configs, JSON state, resume that
continues the stream, ``points_to_evaluate``/``evaluated_rewards``, Ray's ``save``/
``restore``/``set_search_properties``) is the same, so it is written once here.

- **Parameters** (:mod:`tunefleet.search._params`). Each searchable domain becomes a
  :class:`Param` named by its
  path joined with ``/`` (Ray's flattening): ``float``/``int`` where the library has a
  native numeric form (plain uniform, loguniform, randint), ``cat`` (the option's index)
  for ``choice``, and ``unit`` (a float in [0, 1] decoded with ``Domain.from_unit``) for
  everything else (``randn``, quantised domains). Values the library returns are put back
  in their domain with ``from_unit(to_unit(v))``, so a suggestion always lies in the space.
  ``sample_from`` is evaluated on the config after the library's values are placed. A
  ``choice`` whose options hold domains is *conditional*: its options' domains become the
  Param's ``children``; a library without a conditional form refuses it, naming the key.
  ``grid_search`` axes are refused (Ray's adapters refuse them too).
- **State is an event log** (``point``, ``ask``, ``wait``, ``tell``) plus the seed and the
  generator of ``sample_from``: resume builds the library afresh from the seed and replays
  the log, which leaves a seeded library exactly where it was, so the resumed searcher
  proposes what the uninterrupted one would have. Cost: one library ask per earlier
  suggestion, once, at resume. Not exact where the library is not deterministic given its
  seed (Ax's BoTorch fits, by Ax's own note) or where a user's object brings its own
  random state (an Optuna sampler object, an ``ax_client``): there resume continues the
  model from the same observations, with other draws.
- **Scores.** The library always minimises ``loss`` (``-metric`` when ``mode="max"``); a
  NaN, infinite or missing metric, or a failed trial, is told as a failure where the
  library has that notion and is not told otherwise.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Mapping
from typing import Any, ClassVar

from tunefleet.errors import TuneTypeError, TuneValueError
from tunefleet.search._params import (
    Param,
    _flatten,
    decode,
    encode,
    merge_config,
    space_params,
)
from tunefleet.search.base import Searcher
from tunefleet.search.constraints import infeasible
from tunefleet.space import find_domains, resolve, space_fingerprint, validate_space

_STATE_VERSION = 1

#: What ``_ask`` returns when the library has nothing to propose until a trial completes.
WAIT: Any = object()


def loss_of(result: Mapping[str, Any] | None, metric: str | None, mode: str | None) -> float | None:
    """The number the library minimises, or None when the result has no usable score."""
    if result is None or metric is None:
        return None
    value = result.get(metric)
    if value is None or isinstance(value, bool):
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(v):
        return None
    return -v if mode == "max" else v


class LibrarySearcher(Searcher):
    """Base of the adapters. Subclasses set ``library``/``conditional`` and implement
    ``_build``, ``_ask``, ``_tell`` and ``_add`` (their docstrings say what each does)."""

    #: The package to import (named in errors).
    library: ClassVar[str] = ""
    #: Does the library model conditional choices (options holding domains)?
    conditional: ClassVar[bool] = False

    _param_attrs: ClassVar[Mapping[str, str]] = {
        **Searcher._param_attrs,
        "space": "space_arg",
    }

    def __init__(
        self,
        space: Any = None,
        metric: str | None = None,
        mode: str | None = None,
        points_to_evaluate: list[dict[str, Any]] | None = None,
        evaluated_rewards: list[Any] | None = None,
    ) -> None:
        super().__init__(metric=metric, mode=mode)
        if mode is not None and not self._good_mode(mode):
            raise TuneValueError(f"{type(self).__name__}(mode={mode!r}): must be 'min' or 'max'")
        self.space_arg = space
        self.points_to_evaluate = points_to_evaluate
        self.evaluated_rewards = evaluated_rewards
        self._points = _points(points_to_evaluate, type(self).__name__)
        if evaluated_rewards is not None:
            if not isinstance(evaluated_rewards, list | tuple):
                raise TuneTypeError(
                    f"{type(self).__name__}(evaluated_rewards=...): must be a list of numbers"
                )
            if len(evaluated_rewards) != len(self._points):
                raise TuneValueError(
                    f"{type(self).__name__}(evaluated_rewards=...): {len(evaluated_rewards)} "
                    f"rewards for {len(self._points)} points_to_evaluate; give one per point"
                )
        self._params: list[Param] = []
        self._built = False
        self._fingerprint = ""
        self._events: list[list[Any]] = []
        self._next_point = 0
        self._point_trials: dict[str, dict[str, Any] | None] = {}  # trial -> encoded point
        self._handles: dict[str, Any] = {}
        self._rng: Any = None
        self._restored: dict[str, Any] | None = None
        self._explicit_seed: int | None = None
        self._extra: dict[str, float] | None = None
        self._worst_feasible: float | None = None  # the worst feasible loss told (constraints)

    #: Does the library take several objectives (``metric`` and ``mode`` lists)?
    multi_objective: ClassVar[bool] = False

    def _good_mode(self, mode: Any) -> bool:
        if isinstance(mode, list) and self.multi_objective:
            return bool(mode) and all(m in ("min", "max") for m in mode)
        return mode in ("min", "max")

    def _loss(self, result: Mapping[str, Any] | None) -> Any:
        """``loss_of`` for the one objective, or the list of losses for several (None when
        any is missing: the trial is then told as failed)."""
        if not isinstance(self.metric, list):
            return loss_of(result, self.metric, self.mode)
        losses = [
            loss_of(result, m, md) for m, md in zip(self.metric, self.mode or [], strict=True)
        ]
        return None if any(v is None for v in losses) else losses

    # ------------------------------------------------------------- for subclasses
    def _build(self, seed: int) -> None:
        """Create the library's optimizer for ``self._params`` (or the native space)."""
        raise NotImplementedError

    def _ask(self) -> tuple[dict[str, Any], Any] | None:
        """``(values, handle)``: the library's proposal as flat ``{name: raw}`` (or, from
        a native space, the config itself) and what ``_tell`` needs; None: budget spent."""
        raise NotImplementedError

    def _tell(self, handle: Any, loss: float | None) -> None:
        """The outcome of an asked trial (None: failed or no usable score)."""
        raise NotImplementedError

    def _add(self, raw: dict[str, Any], loss: float) -> None:
        """An observation the library did not propose (points_to_evaluate, rewards)."""
        raise NotImplementedError

    def _extra_metrics(self, result: Mapping[str, Any] | None) -> dict[str, float] | None:
        """Other numbers of a trial's last result the library learns from (Ax's outcome
        constraints); ``_tell``/``_add`` find them in ``self._extra``."""
        return None

    def _native_space(self) -> bool:
        """Is ``space`` given in the library's own form (then the run's config only adds
        constants and the library's values are the config)?"""
        return False

    def _space_from_native(self) -> Any:
        return self.space_arg

    # --------------------------------------------------------------------- setup
    def setup(
        self,
        space: dict[str, Any],
        metric: str | None,
        mode: str | None,
        seed: int | None,
        num_samples: int = 1,
    ) -> None:
        who = type(self).__name__
        if self.space_arg is not None:
            if find_domains(space):
                raise TuneValueError(
                    f"space: {who} was given a search space and the run's config has "
                    "domains too; give the space in one place"
                )
            if not self._native_space():
                if not isinstance(self.space_arg, dict):
                    raise TuneTypeError(
                        f"{who}(space=...): expected a dict, got {type(self.space_arg).__name__}"
                    )
                space = merge_config(space, self.space_arg)
        validate_space(space)
        super().setup(space, metric, mode, seed, num_samples)
        if self.metric is None or not self._good_mode(self.mode):
            raise TuneValueError(f"metric: {who} needs metric and mode ('min' or 'max')")
        if isinstance(self.metric, list) != isinstance(self.mode, list) or (
            isinstance(self.metric, list) and len(self.metric) != len(self.mode or [])
        ):
            raise TuneValueError(
                f"metric: {who} was given metric={self.metric!r} and mode={self.mode!r}; "
                "several objectives need a list of modes of the same length"
            )
        if self._explicit_seed is not None:
            self.seed = self._explicit_seed
        if self.seed is None:
            self.seed = secrets.randbits(62)  # kept in the state, so resume is exact
        self._params = [] if self._native_space() else space_params(space, who, self.conditional)
        self._fingerprint = space_fingerprint(space)
        self._start(int(self.seed))
        if self._restored is not None:
            state, self._restored = self._restored, None
            self.load_state_dict(state)

    def _start(self, seed: int) -> None:
        import numpy as np

        self._rng = np.random.default_rng(seed)
        self._events, self._handles, self._point_trials = [], {}, {}
        self._next_point = 0
        self._build(seed)
        self._built = True
        if self.evaluated_rewards is not None:
            for point, reward in zip(self._points, self.evaluated_rewards, strict=True):
                metrics: list[Any] = self.metric if isinstance(self.metric, list) else [self.metric]
                rewards = reward if isinstance(reward, list | tuple) else [reward]
                loss = self._loss(dict(zip(metrics, rewards, strict=False)))
                raw = self._encode_point(point)
                if loss is not None and raw is not None:
                    self._add(raw, loss)
            self._next_point = len(self._points)

    def _point_config(self, i: int) -> dict[str, Any]:
        point = self._points[i]
        if self._native_space():
            return merge_config(self.space, point)
        from tunefleet.search.variant import merge_point

        return resolve(merge_point(self.space, point, i), None, self._rng)

    def _encode_point(self, point: dict[str, Any]) -> dict[str, Any] | None:
        if self._native_space():
            return _flatten(point)
        return encode(self._params, merge_config({}, point))

    # ------------------------------------------------------------------- suggest
    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        if not self._built:
            raise RuntimeError(f"{type(self).__name__}.setup() must be called before suggest()")
        if self._next_point < len(self._points):
            i = self._next_point
            self._next_point += 1
            config = self._point_config(i)
            self._point_trials[trial_id] = self._encode_point(config)
            self._events.append(["point", trial_id, i])
            return config
        asked = self._ask()
        if asked is WAIT:
            self._events.append(["wait", trial_id])
            return None
        if asked is None:
            from tunefleet.search.base import FINISHED

            return FINISHED
        raw, handle = asked
        self._handles[trial_id] = handle
        self._events.append(["ask", trial_id])
        if self._native_space():
            return merge_config(self.space, raw)
        return resolve(self.space, decode(self._params, raw), self._rng)

    # ------------------------------------------------------------------- results
    def on_complete(
        self, trial_id: str, result: dict[str, Any] | None, error: bool = False
    ) -> None:
        loss = None if error else self._loss(result)
        bad = loss is not None and infeasible(result, None)
        loss = self._penalty(loss) if bad else loss
        self._note_worst(loss, bad)
        self._extra = None if error else self._extra_metrics(result)
        self._complete(trial_id, loss)
        if trial_id in self._handles or trial_id in self._point_trials:
            event: list[Any] = ["tell", trial_id, loss]
            if self._extra or bad:
                event.append(self._extra)
            if bad:
                event.append(True)  # infeasible: its loss is a penalty, not a measurement
            self._events.append(event)
            self._handles.pop(trial_id, None)
            self._point_trials.pop(trial_id, None)

    def _note_worst(self, loss: Any, bad: bool) -> None:
        if isinstance(loss, float) and not bad:
            self._worst_feasible = (
                loss if self._worst_feasible is None else max(self._worst_feasible, loss)
            )

    def _penalty(self, loss: Any) -> Any:
        """The loss told for a result with ``feasible=False``: the worst feasible loss told
        so far (so the library's model steers away without being fed a number off its
        scale), or "failed" (None) before any, or with several objectives."""
        if not isinstance(loss, float):
            return None
        return None if self._worst_feasible is None else max(self._worst_feasible, loss)

    def _complete(self, trial_id: str, loss: float | None) -> None:
        if trial_id in self._handles:
            self._tell(self._handles[trial_id], loss)
        elif trial_id in self._point_trials:
            raw = self._point_trials[trial_id]
            if raw is not None and loss is not None:
                self._add(raw, loss)

    # --------------------------------------------------------------------- state
    def state_dict(self) -> dict[str, Any]:
        if not self._built:
            return {}
        return {
            "version": _STATE_VERSION,
            "space": self._fingerprint,
            "seed": self.seed,
            "rng": dict(self._rng.bit_generator.state),
            "events": self._events,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if not state:
            return
        if not self._built:
            self._restored = state  # applied by setup (Ray's restore before the run)
            return
        if state.get("version") != _STATE_VERSION:
            raise TuneValueError(f"state: unsupported version {state.get('version')!r}")
        if state.get("space") != self._fingerprint:
            raise TuneValueError(
                "state: it was saved for a different search space (space fingerprint differs)"
            )
        from tunefleet.search.variant import _new_rng

        self.seed = int(state["seed"])
        self._start(self.seed)
        for event in state["events"]:
            kind, tid = event[0], str(event[1])
            if kind == "point":
                i = int(event[2])
                config = self._point_config(i)
                self._point_trials[tid] = self._encode_point(config)
                self._next_point = i + 1
            elif kind == "wait":
                self._ask()
            elif kind == "ask":
                asked = self._ask()
                if asked is not None and asked is not WAIT:
                    self._handles[tid] = asked[1]
            elif kind == "tell":
                loss = event[2]
                self._extra = event[3] if len(event) > 3 else None
                if isinstance(loss, list):
                    loss = [float(v) for v in loss]
                elif loss is not None:
                    loss = float(loss)
                self._note_worst(loss, len(event) > 4 and bool(event[4]))
                self._complete(tid, None if loss is None else loss)
                self._handles.pop(tid, None)
                self._point_trials.pop(tid, None)
            self._events.append(list(event))
        self._rng = _new_rng(state["rng"])

    # -------------------------------------------------------------- Ray's methods
    def set_search_properties(
        self, metric: str | None, mode: str | None, config: dict[str, Any], **spec: Any
    ) -> bool:
        """Ray's hook: give the searcher the run's metric, mode and space. False when it
        already has a space (it was given one, or was set up)."""
        if self._built or self.space_arg is not None:
            return False
        self.setup(config or {}, metric, mode, self._explicit_seed, int(spec.get("num_samples", 1)))
        return True

    def __repr__(self) -> str:
        return f"{type(self).__name__}(metric={self.metric!r}, mode={self.mode!r})"


def _points(points: Any, who: str) -> list[dict[str, Any]]:
    from tunefleet.search.variant import _check_points

    try:
        return _check_points(points)
    except TuneTypeError as e:
        raise TuneTypeError(f"{who}(points_to_evaluate=...): {e}") from e


def check_seed(who: str, name: str, seed: Any) -> int | None:
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise TuneTypeError(f"{who}({name}={seed!r}): must be an int or None")
    return seed
