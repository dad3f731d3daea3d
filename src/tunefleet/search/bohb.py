"""BOHB's model-based sampler: Falkner, Klein & Hutter 2018, "BOHB: Robust and Efficient
Hyperparameter Optimization at Scale", ICML 2018, arXiv:1807.01774 (Section 4, Alg. 2).

Pair it with :class:`~tunefleet.schedulers.bohb.HyperBandForBOHB`, which decides budgets;
this searcher only proposes configurations. It learns each result's budget from
``time_attr`` (``training_iteration`` by default) of every intermediate result, so it needs
nothing from the scheduler or the engine.

- Observations: per budget ``b``, the score of every trial that reported at ``b`` (the
  latest one if it reported there twice) and, per trial, its config in the unit cube:
  ``Domain.to_unit`` for numeric domains, the category's index for ``choice`` and grid
  axes. ``sample_from`` values and domains nested inside chosen values are not modelled
  (they are sampled at random).
- Model: built on the largest budget with at least ``min_points_in_model`` observations
  (default d + 1). Its observations are ranked by score; the best
  ``⌈top_n_percent/100 · n⌉`` (at least one, at most n − 1) form the "good" set, the rest
  the "bad" set, and each gets a product-kernel Parzen estimator: for numeric dimensions a
  Gaussian truncated to [0, 1], bandwidth by Scott's rule ``σ_j n^{−1/(d+4)}`` (at least
  ``min_bandwidth``; a set of at most d points takes σ and n from all the budget's
  observations, since it cannot estimate its own spread); for categorical dimensions the Aitchison–Aitken kernel
  (``1−λ`` on the same category, ``λ/(c−1)`` on each other one) with
  ``λ = √(Gini impurity) · n^{−1/(d+4)}`` clipped to ``[min_bandwidth, (c−1)/c]``: the
  categorical analogue of the standard deviation in Scott's rule.
- Suggestion: ``num_samples`` candidates drawn from the good estimator with bandwidths
  multiplied by ``bandwidth_factor`` (wider, to explore); the one maximising ``l(x)/g(x)``
  (good density over bad density, the TPE criterion) wins. A ``random_fraction`` of
  suggestions, and every suggestion before any budget has enough observations, is drawn
  uniformly at random. ``points_to_evaluate`` come first.

:attr:`TuneBOHB.suggestion_log` records how each suggestion was made ("point", "random",
"random_fraction" or "model", and the model's budget).

Cost per suggestion: O(n·d·S) for n observations at the model budget and S =
``num_samples`` candidates; per result O(1). Memory: O(total results) scores plus O(d)
per trial, all in the JSON state.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
from scipy.special import logsumexp, ndtr, ndtri

from tunefleet.errors import TuneTypeError, TuneValueError
from tunefleet.search.base import Searcher
from tunefleet.search.constraints import check_constraints, infeasible
from tunefleet.search.variant import _check_points, _new_rng, merge_point
from tunefleet.space import (
    Categorical,
    Domain,
    Path,
    find_domains,
    grid_values,
    is_grid_marker,
    resolve,
    space_fingerprint,
    validate_space,
)

_STATE_VERSION = 1
#: Random draws tried before scanning a finite space for a cell not yet proposed.
_FRESH_TRIES = 32
#: Finite spaces up to this many cells are scanned; larger ones keep a duplicate.
_FRESH_ENUMERATE = 1_000_000
_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)

DEFAULTS: dict[str, Any] = {
    "min_points_in_model": None,  # None: number of modelled dimensions + 1
    "top_n_percent": 15,
    "num_samples": 64,
    "random_fraction": 1 / 3,
    "bandwidth_factor": 3,
    "min_bandwidth": 1e-3,
}


class _Dim:
    """One modelled dimension: numeric (``size`` 0, unit cube) or categorical (indices)."""

    __slots__ = ("path", "domain", "options", "size")

    def __init__(self, path: Path, node: Any) -> None:
        self.path = path
        self.domain: Domain | None = None
        self.options: list[Any] = []
        if is_grid_marker(node) or isinstance(node, Categorical):
            self.options = grid_values(node) if is_grid_marker(node) else list(node.categories)
        else:
            self.domain = node
        self.size = len(self.options)

    def encode(self, value: Any) -> float:
        if self.size == 0:
            assert self.domain is not None
            return float(self.domain.to_unit(value))
        for i, option in enumerate(self.options):
            if option is value:
                return float(i)
        for i, option in enumerate(self.options):
            if type(option) is type(value) and option == value:
                return float(i)
        raise TuneValueError(f"{value!r} is not one of {self.options!r}")

    def decode(self, u: float) -> Any:
        if self.size == 0:
            assert self.domain is not None
            return self.domain.from_unit(float(u))
        return self.options[int(u)]


def _get(config: Any, path: Path) -> Any:
    node = config
    for key in path:
        node = node[key]
    return node


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in extra.items():
        old = out.get(k)
        if isinstance(old, dict) and isinstance(v, Mapping) and not is_grid_marker(old):
            out[k] = _merge(old, v)
        else:
            out[k] = v
    return out


def _bandwidths(ref: np.ndarray, sizes: list[int], min_bandwidth: float) -> np.ndarray:
    """Scott's rule per dimension from the spread of ``ref`` (see the module docstring)."""
    n, d = ref.shape
    shrink = n ** (-1.0 / (d + 4))
    bw = np.empty(d)
    for j, c in enumerate(sizes):
        if c == 0:
            sd = float(np.std(ref[:, j], ddof=1)) if n > 1 else 0.0
            bw[j] = max(sd * shrink, min_bandwidth)
        else:
            freq = np.bincount(ref[:, j].astype(int), minlength=c) / n
            gini = 1.0 - float(np.sum(freq * freq))
            bw[j] = min(max(math.sqrt(gini) * shrink, min_bandwidth), (c - 1) / c)
    return bw


class _KDE:
    """Product-kernel Parzen estimator over mixed numeric/categorical dimensions.

    ``bw``: one bandwidth per dimension (d,), or one per kernel and dimension (n, d) for
    TPE's per-point widths (a categorical column then holds one value throughout)."""

    def __init__(self, data: np.ndarray, sizes: list[int], bw: np.ndarray) -> None:
        self.data = data
        self.sizes = sizes
        self.bw = bw

    def log_pdf(self, X: np.ndarray) -> np.ndarray:
        """log density at each row of X (m × d), with the fitted bandwidths."""
        total = np.zeros((len(X), len(self.data)))
        for j, c in enumerate(self.sizes):
            centers = self.data[None, :, j]
            x = X[:, j, None]
            if c == 0:
                h = self.bw[j] if self.bw.ndim == 1 else self.bw[None, :, j]
                z = (x - centers) / h
                mass = ndtr((1.0 - centers) / h) - ndtr(-centers / h)
                total += -0.5 * z * z - _LOG_SQRT_2PI - np.log(h) - np.log(np.maximum(mass, 1e-300))
            elif c > 1:
                lam = float(self.bw[j] if self.bw.ndim == 1 else self.bw[0, j])
                same = x == centers
                total += np.where(same, math.log1p(-lam), math.log(lam / (c - 1)))
        return logsumexp(total, axis=1) - math.log(len(self.data))

    def sample(self, rng: np.random.Generator, m: int, factor: float) -> np.ndarray:
        """m draws around randomly chosen data points, bandwidths widened by ``factor``."""
        n, d = self.data.shape
        pick = rng.integers(n, size=m)
        centers = self.data[pick]
        bw = self.bw if self.bw.ndim == 2 else np.broadcast_to(self.bw, (n, d))
        out = np.empty((m, d))
        for j, c in enumerate(self.sizes):
            if c == 0:
                h = bw[pick, j] * factor
                mu = centers[:, j]
                lo, hi = ndtr(-mu / h), ndtr((1.0 - mu) / h)
                u = lo + rng.random(m) * (hi - lo)
                out[:, j] = np.clip(mu + h * ndtri(np.clip(u, 1e-12, 1 - 1e-12)), 0.0, 1.0)
            else:
                lam = min(float(bw[0, j]) * factor, (c - 1) / c)
                move = rng.random(m) < lam * c / (c - 1) if c > 1 else np.zeros(m, bool)
                other = rng.integers(c, size=m)  # uniform over all: λ spread over the c − 1
                out[:, j] = np.where(move, other, centers[:, j])
        return out


class TuneBOHB(Searcher):
    """Ray Tune's ``TuneBOHB`` arguments; the model is BOHB's (see the module docstring).

    ``space``: a tunefleet search space (dict of domains); if given, ``run``'s config may
    only add constants. ``bohb_config``: overrides of ``min_points_in_model``,
    ``top_n_percent``, ``num_samples``, ``random_fraction``, ``bandwidth_factor`` and
    ``min_bandwidth`` (hpbandster's names). ``max_concurrent`` > 0: ``suggest`` returns
    None while that many suggestions are live. ``time_attr``: the result field that gives
    a result's budget.
    """

    #: True: a suggestion goes to a configuration not proposed before (nor told) while the
    #: space has one; the model's next-best candidate first, then a random new cell.
    _fresh_only: ClassVar[bool] = False

    #: ``space`` and ``seed`` are what ``setup`` bound; the arguments stay in these.
    _param_attrs: ClassVar[Mapping[str, str]] = {
        **Searcher._param_attrs,
        "space": "space_arg",
        "seed": "_init_seed",
    }

    def __init__(
        self,
        space: dict[str, Any] | None = None,
        bohb_config: dict[str, Any] | None = None,
        metric: str | None = None,
        mode: str | None = None,
        points_to_evaluate: list[dict[str, Any]] | None = None,
        seed: int | None = None,
        max_concurrent: int = 0,
        time_attr: str = "training_iteration",
        evaluated_rewards: list[float] | None = None,
        constraints: list[str] | None = None,
    ) -> None:
        super().__init__(metric=metric, mode=mode)
        who = type(self).__name__
        if evaluated_rewards is not None and len(evaluated_rewards) != len(
            points_to_evaluate or []
        ):
            raise TuneValueError(
                f"{who}(evaluated_rewards=...): needs one reward per entry of "
                f"points_to_evaluate ({len(evaluated_rewards)} vs {len(points_to_evaluate or [])})"
            )
        self.evaluated_rewards = evaluated_rewards
        self.constraints = check_constraints(who, constraints)
        if space is not None and not isinstance(space, dict):
            raise TuneTypeError(f"TuneBOHB(space=...): expected a dict, got {type(space).__name__}")
        self.space_arg = space
        self.bohb_config = bohb_config
        cfg = dict(DEFAULTS)
        unknown = sorted(set(bohb_config or {}) - set(DEFAULTS))
        if unknown:
            raise TuneValueError(
                f"TuneBOHB(bohb_config=...): unknown keys {unknown}; valid: {sorted(DEFAULTS)}"
            )
        cfg.update(bohb_config or {})
        self._check_config(cfg)
        self._cfg = cfg
        self.points_to_evaluate = points_to_evaluate
        self._points = _check_points(points_to_evaluate)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise TuneTypeError(f"TuneBOHB(seed={seed!r}): must be an int or None")
        self._init_seed = seed
        self.seed = seed
        if isinstance(max_concurrent, bool) or not isinstance(max_concurrent, int):
            raise TuneTypeError(f"TuneBOHB(max_concurrent={max_concurrent!r}): must be an int")
        if max_concurrent < 0:
            raise TuneValueError(f"TuneBOHB(max_concurrent={max_concurrent}): must be >= 0")
        self.max_concurrent = max_concurrent
        self.time_attr = time_attr
        self._time_attr_given = time_attr != "training_iteration"
        self._rng: np.random.Generator | None = None
        self._dims: list[_Dim] = []
        self._min_points = 2
        self._fingerprint = ""
        self._next_point = 0
        self._x: dict[str, list[float]] = {}  # trial → unit-cube config
        self._obs: dict[float, dict[str, float]] = {}  # budget → trial → score
        self._model_budget: float | None = None
        self._live: set[str] = set()
        #: (trial_id, "point" | "random" | "random_fraction" | "model", model budget or None)
        self.suggestion_log: list[tuple[str, str, float | None]] = []

    @staticmethod
    def _check_config(cfg: dict[str, Any]) -> None:
        def bad(key: str, rule: str) -> TuneValueError:
            return TuneValueError(f"TuneBOHB(bohb_config[{key!r}]={cfg[key]!r}): must be {rule}")

        mp = cfg["min_points_in_model"]
        if mp is not None and (isinstance(mp, bool) or not isinstance(mp, int) or mp < 2):
            raise bad("min_points_in_model", "None or an int >= 2")
        if not 0 < cfg["top_n_percent"] < 100:
            raise bad("top_n_percent", "in (0, 100)")
        ns = cfg["num_samples"]
        if isinstance(ns, bool) or not isinstance(ns, int) or ns < 1:
            raise bad("num_samples", "an int >= 1")
        if not 0 <= cfg["random_fraction"] <= 1:
            raise bad("random_fraction", "in [0, 1]")
        if not cfg["bandwidth_factor"] > 0:
            raise bad("bandwidth_factor", "> 0")
        if not cfg["min_bandwidth"] > 0:
            raise bad("min_bandwidth", "> 0")

    def adopt_scheduler(self, scheduler: Any) -> None:
        """Read budgets from the ``time_attr`` of a Hyperband or ASHA scheduler where this
        searcher was left at the default (``training_iteration``), as when both are chosen
        by name; the run calls it before ``setup`` (``pair_with_scheduler``)."""
        from tunefleet.schedulers.asha import ASHAScheduler
        from tunefleet.schedulers.hyperband import HyperBandScheduler

        attr = getattr(scheduler, "time_attr", None)
        if (
            isinstance(scheduler, (ASHAScheduler, HyperBandScheduler))
            and isinstance(attr, str)
            and not self._time_attr_given
        ):
            self.time_attr = attr

    # ---------------------------------------------------------------------------- setup
    def setup(
        self,
        space: dict[str, Any],
        metric: str | None,
        mode: str | None,
        seed: int | None,
        num_samples: int = 1,
    ) -> None:
        if self.space_arg is not None:
            if find_domains(space):
                raise TuneValueError(
                    "space: TuneBOHB was given a search space and the run's config has "
                    "domains too; give the space in one place"
                )
            space = _merge(space, self.space_arg)
        validate_space(space)
        super().setup(space, metric, mode, seed, num_samples)
        if self.metric is None or self.mode not in ("min", "max"):
            raise TuneValueError("metric: TuneBOHB needs metric and mode ('min' or 'max')")
        if self._init_seed is not None:
            self.seed = self._init_seed
        if self.seed is None:
            self.seed = secrets.randbits(63)  # kept in the state, so resume is exact
        self._rng = np.random.default_rng(self.seed)
        self._dims = [
            _Dim(path, node)
            for path, node in find_domains(space)
            if is_grid_marker(node) or (isinstance(node, Domain) and not node.is_function)
        ]
        mp = self._cfg["min_points_in_model"]
        self._min_points = int(mp) if mp is not None else max(2, len(self._dims) + 1)
        self._fingerprint = space_fingerprint(space)
        self._next_point = 0
        self._x, self._obs, self._live = {}, {}, set()
        self._model_budget = None
        self.suggestion_log = []
        if self.evaluated_rewards:
            # told, not run: the points are consumed here and become observations
            for i, reward in enumerate(self.evaluated_rewards):
                tid = f"__evaluated_{i}"
                self.suggest(tid)
                self._live.discard(tid)
                self._observe(tid, {str(self.metric): reward, self.time_attr: 0})
            self.suggestion_log = []

    # -------------------------------------------------------------------------- suggest
    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        rng = self._rng
        if rng is None:
            raise RuntimeError("TuneBOHB.setup() must be called before suggest()")
        if self.max_concurrent and len(self._live) >= self.max_concurrent:
            return None
        budget: float | None = None
        if self._next_point < len(self._points):
            space = merge_point(self.space, self._points[self._next_point], self._next_point)
            self._next_point += 1
            config = resolve(space, None, rng)
            source = "point"
        else:
            seen = self._proposed() if self._fresh_only else set()
            coin = rng.random()
            values: dict[Path, Any] = {}
            model_budget = self._model_choice(trial_id) if self._dims else None
            if model_budget is None:
                source = "random"
            elif coin < self._cfg["random_fraction"]:
                source = "random_fraction"
            else:
                budget = model_budget
                u = self._from_model(budget, rng, seen)
                values = {dim.path: dim.decode(ui) for dim, ui in zip(self._dims, u, strict=True)}
                source = "model"
            config = resolve(self.space, values, rng)
            if seen:
                config, source = self._fresh(config, source, seen, rng)
        x = self._encode(config)
        if x is not None:
            self._x[trial_id] = x
        self._live.add(trial_id)
        self.suggestion_log.append((trial_id, source, budget))
        return config

    # ------------------------------------------------------------- fresh configurations
    @staticmethod
    def _key(x: Any) -> tuple[float, ...]:
        return tuple(round(float(v), 9) for v in x)

    def _proposed(self) -> set[tuple[float, ...]]:
        """Keys of every configuration proposed or told so far (evaluated or running)."""
        return {self._key(x) for x in self._x.values()}

    def _cell(self, u: np.ndarray) -> tuple[float, ...]:
        """The key of the configuration a unit-cube vector decodes to (its cell: a
        quantized or integer domain maps many vectors to one value)."""
        return self._key(dim.encode(dim.decode(ui)) for dim, ui in zip(self._dims, u, strict=True))

    def _best_fresh(
        self, cands: np.ndarray, scores: np.ndarray, avoid: set[tuple[float, ...]] | None
    ) -> np.ndarray:
        """The best-scoring candidate whose cell was not proposed yet (the best one if
        every candidate's was)."""
        top = int(np.argmax(scores))
        if not avoid or self._cell(cands[top]) not in avoid:
            return cands[top]
        for i in np.argsort(-scores, kind="stable"):
            if self._cell(cands[i]) not in avoid:
                return cands[i]
        return cands[top]

    def _fresh(
        self,
        config: dict[str, Any],
        source: str,
        seen: set[tuple[float, ...]],
        rng: np.random.Generator,
    ) -> tuple[dict[str, Any], str]:
        """``config`` if its cell is new, else a random configuration in a cell not yet
        proposed: up to ``_FRESH_TRIES`` random draws, then (finite spaces of at most
        ``_FRESH_ENUMERATE`` cells) a scan of the cells in random order. A space whose
        every cell was proposed gets ``config`` back."""
        x = self._encode(config)
        if x is None or self._key(x) not in seen:
            return config, source
        for _ in range(_FRESH_TRIES):
            other = resolve(self.space, {}, rng)
            ox = self._encode(other)
            if ox is not None and self._key(ox) not in seen:
                return other, "fresh"
        axes: list[list[float]] = []
        for dim in self._dims:
            if dim.size:
                axes.append([float(i) for i in range(dim.size)])
                continue
            assert dim.domain is not None
            values = dim.domain.values()
            if values is None:
                return config, source  # a continuous dimension: not a finite space
            axes.append(sorted({dim.encode(v) for v in values}))
        total = math.prod(len(a) for a in axes)
        if total > _FRESH_ENUMERATE:
            return config, source
        for flat in rng.permutation(total):
            u, rest = [], int(flat)
            for axis in axes:
                rest, i = divmod(rest, len(axis))
                u.append(axis[i])
            if self._cell(np.array(u)) not in seen:
                values_at = {
                    dim.path: dim.decode(ui) for dim, ui in zip(self._dims, u, strict=True)
                }
                return resolve(self.space, values_at, rng), "fresh"
        return config, source

    def _model_choice(self, trial_id: str) -> float | None:
        """The budget whose model proposes ``trial_id``'s configuration, or None for a
        random one: BOHB's largest budget with enough observations."""
        return self._model_budget

    def _encode(self, config: dict[str, Any]) -> list[float] | None:
        try:
            return [dim.encode(_get(config, dim.path)) for dim in self._dims]
        except (KeyError, IndexError, TypeError, ValueError):
            return None  # e.g. a point outside its domain: not modelled

    def _from_model(
        self,
        budget: float,
        rng: np.random.Generator,
        avoid: set[tuple[float, ...]] | None = None,
    ) -> np.ndarray:
        """A unit-cube vector proposed by the model of ``budget``; ``avoid``: cells
        already proposed, to skip where the model offers another candidate."""
        obs = self._obs[budget]
        ranked = sorted(obs, key=lambda tid: (-obs[tid], tid))
        n = len(ranked)
        n_good = min(n - 1, max(1, math.ceil(n * self._cfg["top_n_percent"] / 100)))
        X = np.array([self._x[tid] for tid in ranked], dtype=float)
        sizes = [dim.size for dim in self._dims]
        min_bw = float(self._cfg["min_bandwidth"])
        d = len(sizes)
        # A set of at most d points cannot tell its spread in d dimensions (one point has
        # none): its bandwidths come from all n observations instead, so early models do
        # not collapse onto the first good point.
        good_ref = X[:n_good] if n_good > d else X
        bad_ref = X[n_good:] if n - n_good > d else X
        good = _KDE(X[:n_good], sizes, _bandwidths(good_ref, sizes, min_bw))
        bad = _KDE(X[n_good:], sizes, _bandwidths(bad_ref, sizes, min_bw))
        cands = good.sample(
            rng, int(self._cfg["num_samples"]), float(self._cfg["bandwidth_factor"])
        )
        ratio = good.log_pdf(cands) - bad.log_pdf(cands)
        return self._best_fresh(cands, ratio, avoid)

    # -------------------------------------------------------------------------- results
    def _observe(self, trial_id: str, result: dict[str, Any] | None) -> None:
        if result is None or trial_id not in self._x:
            return
        budget = result.get(self.time_attr)
        value = result.get(self.metric) if self.metric else None
        if budget is None or value is None:
            return
        try:
            b, v = float(budget), float(value)
        except (TypeError, ValueError):
            return
        ok = math.isfinite(v) and not infeasible(result, self.constraints)
        score = (v if self.mode == "max" else -v) if ok else -math.inf
        at = self._obs.setdefault(b, {})
        at[trial_id] = score
        if len(at) >= self._min_points and (self._model_budget is None or b > self._model_budget):
            self._model_budget = b

    def on_result(self, trial_id: str, result: dict[str, Any]) -> None:
        self._observe(trial_id, result)

    def on_complete(
        self, trial_id: str, result: dict[str, Any] | None, error: bool = False
    ) -> None:
        self._live.discard(trial_id)
        if not error:
            self._observe(trial_id, result)

    @property
    def model_budget(self) -> float | None:
        """The budget the model is built on now (None: not enough observations yet)."""
        return self._model_budget

    # ---------------------------------------------------------------------------- state
    def state_dict(self) -> dict[str, Any]:
        if self._rng is None:
            raise RuntimeError("TuneBOHB.setup() must be called before state_dict()")
        return {
            "version": _STATE_VERSION,
            "space": self._fingerprint,
            "seed": self.seed,
            "rng": dict(self._rng.bit_generator.state),
            "next_point": self._next_point,
            "x": self._x,
            "obs": [
                [b, {t: (s if math.isfinite(s) else None) for t, s in at.items()}]
                for b, at in self._obs.items()
            ],
            "model_budget": self._model_budget,
            "live": sorted(self._live),
            "log": [list(entry) for entry in self.suggestion_log],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if not state:
            return
        if self._rng is None:
            raise RuntimeError("TuneBOHB.setup() must be called before load_state_dict()")
        if state.get("version") != _STATE_VERSION:
            raise TuneValueError(f"state: unsupported version {state.get('version')!r}")
        if state.get("space") != self._fingerprint:
            raise TuneValueError(
                "state: it was saved for a different search space (space fingerprint differs)"
            )
        self.seed = state["seed"]
        self._rng = _new_rng(state["rng"])
        self._next_point = int(state["next_point"])
        self._x = {k: [float(v) for v in x] for k, x in state["x"].items()}
        self._obs = {
            float(b): {t: (-math.inf if s is None else float(s)) for t, s in at.items()}
            for b, at in state["obs"]
        }
        mb = state["model_budget"]
        self._model_budget = None if mb is None else float(mb)
        self._live = set(state["live"])
        self.suggestion_log = [(str(t), str(s), b) for t, s, b in state["log"]]

    def __repr__(self) -> str:
        return f"TuneBOHB(seed={self._init_seed!r}, metric={self.metric!r}, mode={self.mode!r})"
