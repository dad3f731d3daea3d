"""Population Based Bandits (PB2): Parker-Holder, Nguyen & Roberts 2020, "Provably Efficient
Online Hyperparameter Optimization with Population-Based Bandits", NeurIPS 2020,
arXiv:2002.02518.

PB2 is Population Based Training (:mod:`tunefleet.schedulers.pbt`) with the random explore
step replaced by a GP bandit. Exploit is unchanged: at each perturbation a trial in the
bottom ``quantile_fraction`` restarts from the checkpoint of a trial drawn from the top
``quantile_fraction``. Explore then chooses the continuous hyperparameters named in
``hyperparam_bounds`` by *time-varying GP-UCB* (Bogunovic, Scarlett & Cevher 2016,
"Time-Varying Gaussian Process Bandit Optimization", AISTATS, arXiv:1601.06650):

- data: one point per trial and perturbation interval: ``(t, x, y)`` with ``t`` the
  trial's ``time_attr`` at the end of the interval, ``x`` its config over the bounds
  mapped linearly to [0, 1]^d, and ``y`` the change of its (mode-oriented) score over the
  interval divided by the interval's length, so that intervals of different lengths (after
  a restart) compare. Every trial contributes, not only the explored ones;
- model: a GP with kernel ``k((x,t),(x',t')) = σ_f² exp(−‖x−x'‖²/2ℓ²) (1−ε)^{|τ−τ'|/2}``
  (+ noise), ``τ = t / perturbation_interval``: the squared exponential over configs times
  the paper's time-varying decay, so ``ε`` is the fraction of correlation forgotten per
  interval. ``ℓ, σ_f², σ_n², ε`` maximise the marginal likelihood (L-BFGS-B within bounds,
  analytic gradients, warm-started from the last fit); targets are standardised;
- acquisition: UCB ``μ(x) + √β_t σ(x)`` at the current time with
  ``β_t = c₁ + max(0, log(c₂ t))``, ``c₁ = 0.2, c₂ = 0.4``, ``t`` the number of data points
  (the paper's β_t grows as log t; these constants are the authors' practical choice);
- batch: the configs of the other running trials are added to the GP as pending points
  with their posterior mean as value (GP-BUCB, Desautels et al. 2014, as in the paper's
  parallel setting). That leaves the mean unchanged and shrinks the variance near them, so
  the population does not pile onto one config;
- maximisation: 1,000 random candidates, then L-BFGS-B from the best five.

With fewer than two data points the config is drawn uniformly within the bounds. Integer
hyperparameters (the current value is an ``int``) are rounded.

Cost per explore: O(I·N³ + (N+P)³ + C·N·d) for N data points (the last
``max_data_points``, 128 by default), P pending trials, C candidates and I ≤ 100 likelihood
evaluations: about 0.2 s for N = 128 on one core. Between perturbations a result costs O(1).

Why ~540 lines: the time-varying GP (kernel, likelihood with analytic gradients, UCB
maximisation) is written here on numpy/scipy rather than pulled from a GP library, and
it is used by nothing else.
"""

from __future__ import annotations

import contextlib
import copy
import math
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from scipy.optimize import minimize

from tunefleet.errors import TuneTypeError, TuneValueError
from tunefleet.schedulers.base import Decision, Restart
from tunefleet.schedulers.pbt import PopulationBasedTraining
from tunefleet.space.domains import uniform
from tunefleet.trial import Trial, TrialStatus

_C1 = 0.2
_C2 = 0.4
_N_CANDIDATES = 1000
_N_STARTS = 5
_MIN_DATA = 2
_JITTER = 1e-8
_LOG_2PI = math.log(2.0 * math.pi)

Path = tuple[str, ...]


# ----------------------------------------------------------------------------------- GP
class TimeVaryingGP:
    """Gaussian process over (config in [0,1]^d, time τ) with the PB2 kernel.

    ``k = σ_f² exp(−‖x−x'‖²/2ℓ²) (1−ε)^{|τ−τ'|/2}``, plus ``σ_n²`` on the diagonal. Targets
    are standardised in :meth:`fit`; :meth:`predict` answers in the original units.
    Hyperparameters live in ``theta = [log ℓ, log σ_f², log σ_n², ε]``.
    """

    BOUNDS = (
        (math.log(1e-2), math.log(10.0)),  # log lengthscale (the unit cube)
        (math.log(5e-2), math.log(20.0)),  # log signal variance (standardised targets)
        (math.log(1e-6), math.log(2.0)),  # log noise variance
        (1e-6, 0.9),  # epsilon: correlation forgotten per perturbation interval
    )
    DEFAULT = (math.log(0.3), 0.0, math.log(0.1), 0.1)

    def __init__(
        self,
        lengthscale: float = 0.3,
        signal_var: float = 1.0,
        noise_var: float = 0.1,
        epsilon: float = 0.1,
    ) -> None:
        self.theta = np.array(
            [math.log(lengthscale), math.log(signal_var), math.log(noise_var), epsilon]
        )
        self._X = np.empty((0, 0))
        self._t = np.empty(0)
        self._y = np.empty(0)
        self._d2 = np.empty((0, 0))
        self._dt = np.empty((0, 0))
        self._y_mean = 0.0
        self._y_std = 1.0
        self._Li = np.empty((0, 0))  # inverse Cholesky factor of the data's kernel matrix
        self._alpha = np.empty(0)
        self._Xv = self._X  # the points the variance conditions on (data + pending)
        self._tv = self._t
        self._Liv = self._Li

    @classmethod
    def from_theta(cls, theta: Any) -> TimeVaryingGP:
        gp = cls()
        gp.theta = np.clip(np.asarray(theta, dtype=float), *np.array(cls.BOUNDS).T)
        return gp

    # -- kernel --------------------------------------------------------------------------
    def _parts(
        self, X1: np.ndarray, t1: np.ndarray, X2: np.ndarray, t2: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(k without noise, squared distances, |Δτ|, the time factor)."""
        log_l, log_sf2, _, eps = self.theta
        d2 = np.sum(X1 * X1, axis=1)[:, None] + np.sum(X2 * X2, axis=1)[None, :] - 2.0 * (X1 @ X2.T)
        np.maximum(d2, 0.0, out=d2)
        dt = np.abs(t1[:, None] - t2[None, :])
        time = np.exp(0.5 * dt * math.log1p(-eps))
        k = math.exp(log_sf2) * np.exp(-0.5 * d2 / math.exp(2.0 * log_l)) * time
        return k, d2, dt, time

    def kernel(self, X1: np.ndarray, t1: np.ndarray, X2: np.ndarray, t2: np.ndarray) -> np.ndarray:
        return self._parts(X1, t1, X2, t2)[0]

    @staticmethod
    def _inv_chol(K: np.ndarray) -> tuple[np.ndarray, float]:
        """(L⁻¹, log|K|) for the Cholesky factor L of K, adding jitter if needed.

        numpy only, on purpose: alternating numpy and scipy BLAS calls makes their two
        OpenBLAS thread pools spin against each other, which costs ~100x on small matrices.
        """
        jitter = _JITTER
        eye = np.eye(len(K))
        for _ in range(6):
            try:
                L = np.linalg.cholesky(K + jitter * eye)
            except np.linalg.LinAlgError:
                jitter *= 100.0
                continue
            return np.linalg.inv(L), 2.0 * float(np.sum(np.log(np.diag(L))))
        raise np.linalg.LinAlgError("PB2: kernel matrix is not positive definite")

    # -- fitting -------------------------------------------------------------------------
    def neg_log_likelihood(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """Negative log marginal likelihood of the standardised targets and its gradient.

        ``½ yᵀK⁻¹y + ½ log|K| + (n/2) log 2π``; ``∂/∂θ = ½ tr((K⁻¹ − ααᵀ) ∂K/∂θ)``,
        ``α = K⁻¹y``. The pairwise distances are cached by :meth:`fit`, so an evaluation
        is one exponential, one Cholesky and one inverse from it: O(n³).
        """
        log_l, log_sf2, log_sn2, eps = (float(v) for v in theta)
        n = len(self._y)
        ell2 = math.exp(2.0 * log_l)
        noise = math.exp(log_sn2)
        k = math.exp(log_sf2) * np.exp(-0.5 * self._d2 / ell2 + (0.5 * math.log1p(-eps)) * self._dt)
        K = k + noise * np.eye(n)
        try:
            Li, logdet = self._inv_chol(K)
        except np.linalg.LinAlgError:
            return 1e25, np.zeros(4)
        Kinv = Li.T @ Li
        alpha = Kinv @ self._y
        nll = 0.5 * float(self._y @ alpha) + 0.5 * logdet + 0.5 * n * _LOG_2PI
        W = Kinv - np.outer(alpha, alpha)
        Wk = W * k
        grad = np.array(
            [
                0.5 * float(np.sum(Wk * self._d2)) / ell2,
                0.5 * float(np.sum(Wk)),
                0.5 * noise * float(np.trace(W)),
                -0.25 * float(np.sum(Wk * self._dt)) / (1.0 - eps),
            ]
        )
        return nll, grad

    def fit(
        self, X: np.ndarray, t: np.ndarray, y: np.ndarray, optimize: bool = True
    ) -> TimeVaryingGP:
        """Condition on (X, t, y); with ``optimize``, first fit the hyperparameters by
        maximising the marginal likelihood from the current ``theta`` and the default."""
        self._X = np.asarray(X, dtype=float)
        self._t = np.asarray(t, dtype=float)
        y = np.asarray(y, dtype=float)
        self._y_mean = float(np.mean(y)) if len(y) else 0.0
        std = float(np.std(y)) if len(y) else 1.0
        self._y_std = std if std > 1e-12 else 1.0
        self._y = (y - self._y_mean) / self._y_std
        _, self._d2, self._dt, _ = self._parts(self._X, self._t, self._X, self._t)
        if optimize and len(y) >= 2:
            best_theta, best_nll = self.theta, self.neg_log_likelihood(self.theta)[0]
            starts = [self.theta]
            if not np.allclose(self.theta, self.DEFAULT):
                starts.append(np.array(self.DEFAULT))
            for start in starts:
                res = minimize(
                    self.neg_log_likelihood,
                    start,
                    jac=True,
                    method="L-BFGS-B",
                    bounds=self.BOUNDS,
                    options={"maxiter": 50},
                )
                if np.all(np.isfinite(res.x)) and float(res.fun) < best_nll:
                    best_theta, best_nll = np.asarray(res.x, dtype=float), float(res.fun)
            self.theta = best_theta
        k = self.kernel(self._X, self._t, self._X, self._t)
        self._Li = self._inv_chol(k + math.exp(self.theta[2]) * np.eye(len(self._y)))[0]
        self._alpha = self._Li.T @ (self._Li @ self._y)
        self._Xv, self._tv, self._Liv = self._X, self._t, self._Li
        return self

    def condition_on_pending(self, X: np.ndarray, t: np.ndarray) -> None:
        """Add pending points valued at their posterior mean: the mean is unchanged (the
        residual is zero), only the variance shrinks, so it is enough to refactor it."""
        if len(X) == 0:
            self._Xv, self._tv, self._Liv = self._X, self._t, self._Li
            return
        Xv = np.vstack([self._X, np.asarray(X, dtype=float)])
        tv = np.concatenate([self._t, np.asarray(t, dtype=float)])
        k = self.kernel(Xv, tv, Xv, tv)
        self._Xv, self._tv = Xv, tv
        self._Liv = self._inv_chol(k + math.exp(self.theta[2]) * np.eye(len(tv)))[0]

    # -- prediction ----------------------------------------------------------------------
    def _predict_std(self, X: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mean = self.kernel(X, t, self._X, self._t) @ self._alpha
        kv = self.kernel(X, t, self._Xv, self._tv)
        v = self._Liv @ kv.T
        var = math.exp(self.theta[1]) - np.sum(v * v, axis=0)
        return mean, np.maximum(var, 1e-12)

    def predict(self, X: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and variance (of the latent function, no noise) at (X, t)."""
        X = np.atleast_2d(np.asarray(X, dtype=float))
        t = np.broadcast_to(np.asarray(t, dtype=float), (len(X),))
        mean, var = self._predict_std(X, t)
        return self._y_mean + self._y_std * mean, var * self._y_std**2

    def ucb(self, X: np.ndarray, t: float, kappa: float) -> np.ndarray:
        """UCB in standardised units at many points (the argmax is the same)."""
        mean, var = self._predict_std(X, np.full(len(X), t))
        return mean + kappa * np.sqrt(var)

    def ucb_and_grad(self, x: np.ndarray, t: float, kappa: float) -> tuple[float, np.ndarray]:
        """UCB at one point and its gradient in x (standardised units)."""
        ell2 = math.exp(2.0 * self.theta[0])
        tt = np.array([t])
        k = self.kernel(x[None, :], tt, self._X, self._t)[0]
        dk = -(x[None, :] - self._X) / ell2 * k[:, None]
        mean = float(k @ self._alpha)
        dmean = dk.T @ self._alpha
        kv = self.kernel(x[None, :], tt, self._Xv, self._tv)[0]
        dkv = -(x[None, :] - self._Xv) / ell2 * kv[:, None]
        w = self._Liv.T @ (self._Liv @ kv)
        var = math.exp(self.theta[1]) - float(kv @ w)
        if var <= 1e-12:
            return mean + kappa * 1e-6, dmean
        sd = math.sqrt(var)
        dsd = (-2.0 * (dkv.T @ w)) / (2.0 * sd)
        return mean + kappa * sd, dmean + kappa * dsd


# ------------------------------------------------------------------------------- PB2
_BLAS: list[Any] = []  # a cached threadpoolctl controller, or None without threadpoolctl


def _one_blas_thread() -> contextlib.AbstractContextManager[Any]:
    """Run the GP on one BLAS thread. Its matrices are small and numpy and scipy each
    bundle an OpenBLAS pool; interleaving calls to both (L-BFGS-B around numpy algebra)
    makes the two pools spin against each other: 10-30x slower on a 2-core machine.
    threadpoolctl is optional (it comes with scikit-learn)."""
    if not _BLAS:
        try:
            from threadpoolctl import ThreadpoolController

            _BLAS.append(ThreadpoolController())
        except Exception:  # not installed, or it cannot inspect this platform
            _BLAS.append(None)
    controller = _BLAS[0]
    if controller is None:
        return contextlib.nullcontext()
    return controller.limit(limits=1, user_api="blas")


def _flatten_bounds(bounds: Any, path: Path = ()) -> list[tuple[Path, float, float]]:
    where = "hyperparam_bounds" + "".join(f"[{k!r}]" for k in path)
    if not isinstance(bounds, Mapping) or not bounds:
        raise TuneValueError(
            f"PB2({where}={bounds!r}): give a non-empty dict of name -> [low, high]"
        )
    out: list[tuple[Path, float, float]] = []
    for key, value in bounds.items():
        sub = (*path, key)
        at = "hyperparam_bounds" + "".join(f"[{k!r}]" for k in sub)
        if isinstance(value, Mapping):
            out.extend(_flatten_bounds(value, sub))
            continue
        if not isinstance(value, (list, tuple)) or len(value) != 2:
            raise TuneValueError(f"PB2: {at} must be [low, high], got {value!r}")
        lo, hi = value
        for v in (lo, hi):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise TuneValueError(f"PB2: {at} needs finite numbers, got {value!r}")
        if not lo < hi:
            raise TuneValueError(f"PB2: {at} must have low < high, got {value!r}")
        out.append((sub, float(lo), float(hi)))
    return out


def _as_mutations(bounds: Mapping[str, Any]) -> dict[str, Any]:
    return {
        k: _as_mutations(v) if isinstance(v, Mapping) else uniform(float(v[0]), float(v[1]))
        for k, v in bounds.items()
    }


def _get(config: Any, path: Path) -> Any:
    node = config
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def _set(config: dict[str, Any], path: Path, value: Any) -> None:
    node = config
    for key in path[:-1]:
        nxt = node.get(key)
        if not isinstance(nxt, dict):
            nxt = node[key] = {}
        node = nxt
    node[path[-1]] = value


def _finite(v: float) -> float | None:
    return v if math.isfinite(v) else None


class PB2(PopulationBasedTraining):
    """Ray Tune's ``PB2`` arguments: PBT's exploit, GP-bandit explore (see the module).

    ``hyperparam_bounds``: name → ``[low, high]`` (nested dicts for nested configs); only
    these hyperparameters are explored, continuously. ``max_data_points`` bounds the GP's
    data window (the most recent points). ``seed`` seeds exploit choices and candidates.
    """

    def __init__(
        self,
        time_attr: str = "time_total_s",
        metric: str | None = None,
        mode: str | None = None,
        perturbation_interval: float = 60.0,
        hyperparam_bounds: Mapping[str, Any] | None = None,
        quantile_fraction: float = 0.25,
        log_config: bool = True,
        require_attrs: bool = True,
        synch: bool = False,
        custom_explore_fn: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
        seed: int | None = None,
        max_data_points: int = 128,
    ) -> None:
        self._bounds = _flatten_bounds(hyperparam_bounds)
        if isinstance(max_data_points, bool) or not isinstance(max_data_points, int):
            raise TuneTypeError(f"PB2(max_data_points={max_data_points!r}): must be an int")
        if max_data_points < _MIN_DATA:
            raise TuneValueError(f"PB2(max_data_points={max_data_points}): must be >= {_MIN_DATA}")
        bounds: Mapping[str, Any] = hyperparam_bounds or {}
        super().__init__(
            time_attr=time_attr,
            metric=metric,
            mode=mode,
            perturbation_interval=perturbation_interval,
            hyperparam_mutations=_as_mutations(bounds),
            quantile_fraction=quantile_fraction,
            custom_explore_fn=custom_explore_fn,
            log_config=log_config,
            require_attrs=require_attrs,
            synch=synch,
            seed=seed,
        )
        self.hyperparam_bounds = hyperparam_bounds
        self.max_data_points = max_data_points
        self._data: deque[tuple[float, list[float], float]] = deque(maxlen=max_data_points)
        self._segment: dict[str, tuple[float, float]] = {}  # trial → (t, score) at its start
        self._theta: list[float] = list(TimeVaryingGP.DEFAULT)
        self._now = 0.0
        self._recipient: str | None = None
        #: How each explore chose its config: "gp" or "random" (too little data), in order.
        self.explore_sources: list[str] = []

    # -- data ----------------------------------------------------------------------------
    def _unit(self, config: dict[str, Any]) -> list[float] | None:
        out = []
        for path, lo, hi in self._bounds:
            v = _get(config, path)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                return None
            out.append(min(max((float(v) - lo) / (hi - lo), 0.0), 1.0))
        return out

    def on_result(self, trial: Trial, result: dict[str, Any]) -> Decision:
        tid = trial.trial_id
        t = result.get(self.time_attr)
        if t is not None:
            t = float(t)
            score = self.score(result)
            start = self._segment.get(tid)
            due = self.due(tid, t)
            if start is None:
                self._segment[tid] = (t, score)
            elif due:
                self._record(trial, start, t, score)
                self._segment[tid] = (t, score)
            self._now = t
        self._recipient = tid
        decision = super().on_result(trial, result)
        if isinstance(decision, Restart):
            # New weights and config: the next interval starts at its next result.
            self._segment.pop(tid, None)
        return decision

    def _record(self, trial: Trial, start: tuple[float, float], t: float, score: float) -> None:
        t0, s0 = start
        if not (t > t0 and math.isfinite(score) and math.isfinite(s0)):
            return
        x = self._unit(trial.config)
        if x is not None:
            self._data.append((t, x, (score - s0) / (t - t0)))

    def on_trial_finished(self, trial: Trial) -> None:
        super().on_trial_finished(trial)
        self._segment.pop(trial.trial_id, None)

    # -- explore -------------------------------------------------------------------------
    def explore(self, config: dict[str, Any]) -> dict[str, Any]:
        new = copy.deepcopy(config)
        u, source = self._select()
        for (path, lo, hi), ui in zip(self._bounds, u, strict=True):
            value = lo + float(ui) * (hi - lo)
            old = _get(config, path)
            if isinstance(old, int) and not isinstance(old, bool):
                low, high = math.ceil(lo), math.floor(hi)
                _set(new, path, int(min(max(round(value), low), high)) if low <= high else old)
            else:
                _set(new, path, min(max(value, lo), hi))
        self.explore_sources.append(source)
        if self.custom_explore_fn is not None:
            out = self.custom_explore_fn(new)
            if not isinstance(out, dict):
                raise TuneTypeError(
                    f"custom_explore_fn must return the config dict, got {type(out).__name__}"
                )
            new = out
        return new

    def _pending(self) -> list[list[float]]:
        """Unit configs of the other trials that are running (or about to)."""
        out = []
        for tid, trial in self._trials.items():
            if tid == self._recipient or tid not in self._alive:
                continue
            if trial.status not in (TrialStatus.RUNNING, TrialStatus.PENDING):
                continue
            x = self._unit(trial.restart_config or trial.config)
            if x is not None:
                out.append(x)
        return out

    def _select(self) -> tuple[np.ndarray, str]:
        d = len(self._bounds)
        if len(self._data) < _MIN_DATA:
            return self._rng.random(d), "random"
        with _one_blas_thread():
            return self._select_gp(d), "gp"

    def _select_gp(self, d: int) -> np.ndarray:
        t = np.array([p[0] for p in self._data]) / self.perturbation_interval
        X = np.array([p[1] for p in self._data], dtype=float).reshape(len(t), d)
        y = np.array([p[2] for p in self._data])
        gp = TimeVaryingGP.from_theta(self._theta).fit(X, t, y, optimize=True)
        self._theta = [float(v) for v in gp.theta]
        now = self._now / self.perturbation_interval
        pending = self._pending()
        if pending:
            P = np.array(pending, dtype=float).reshape(len(pending), d)
            gp.condition_on_pending(P, np.full(len(P), now))
        kappa = math.sqrt(_C1 + max(0.0, math.log(_C2 * len(y))))
        cands = self._rng.random((_N_CANDIDATES, d))
        values = gp.ucb(cands, now, kappa)
        order = np.argsort(-values, kind="stable")[:_N_STARTS]
        best_x, best_v = cands[order[0]], float(values[order[0]])

        def neg(x: np.ndarray) -> tuple[float, np.ndarray]:
            v, g = gp.ucb_and_grad(x, now, kappa)
            return -v, -g

        for i in order:
            res = minimize(neg, cands[i], jac=True, method="L-BFGS-B", bounds=[(0.0, 1.0)] * d)
            x = np.clip(np.asarray(res.x, dtype=float), 0.0, 1.0)
            v = float(gp.ucb(x[None, :], now, kappa)[0])
            if v > best_v:
                best_x, best_v = x, v
        return best_x

    # -- persistence ---------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state["pb2"] = {
            "data": [[t, x, y] for t, x, y in self._data],
            "segment": {k: [t, _finite(s)] for k, (t, s) in self._segment.items()},
            "theta": self._theta,
            "now": self._now,
            "explore_sources": self.explore_sources,
        }
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if not state:
            return
        super().load_state_dict(state)
        pb2 = state["pb2"]
        self._data = deque(
            ((float(t), [float(v) for v in x], float(y)) for t, x, y in pb2["data"]),
            maxlen=self.max_data_points,
        )
        self._segment = {
            k: (float(t), -math.inf if s is None else float(s))
            for k, (t, s) in pb2["segment"].items()
        }
        self._theta = [float(v) for v in pb2["theta"]]
        self._now = float(pb2["now"])
        self.explore_sources = list(pb2["explore_sources"])
