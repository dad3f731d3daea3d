"""The dashboard's web app: read-only JSON endpoints over the store, and a static front end.

Safe by default: only GET routes exist (SQLite connections are ``mode=ro`` besides); on a
loopback address the Host header must name the loopback (so a page on another site cannot
reach it through DNS rebinding); on any other address every request must carry the token
(``?token=`` once, then the cookie set in return, or the ``X-Tunefleet-Token`` header),
else 401 (guard.py: the guard is plain ASGI middleware). The front
end writes every value with ``textContent`` and the CSP forbids inline scripts, so a config
value such as ``<script>`` shows as text. FastAPI is imported here only (the ``dashboard``
extra).
"""

from __future__ import annotations

import gc
import ipaddress
import json
import math
import os
import threading
import time
from importlib import resources
from typing import Any

from fastapi import FastAPI, HTTPException, Response
from fastapi.responses import FileResponse

from tunefleet.dashboard import views
from tunefleet.dashboard.fit import fit_elsewhere
from tunefleet.dashboard.guard import Guard, InFlight
from tunefleet.dashboard.live import LiveExperiment
from tunefleet.storage.sqlite import SQLiteStore

STATIC = resources.files("tunefleet.dashboard") / "static"
POLL_S = 0.5  # the refresher's period; the page polls every second
IDLE_S = 60.0  # an experiment nobody looked at for this long is not refreshed
IMPORTANCE_EVERY_S = 10.0
PREWARM_S = 5.0  # answers asked for this recently are recomputed when the model changes
LOADING_REUSE_S = 1.0  # while a model loads, the refresher recomputes answers this often
LOADING_SHARE = 0.25  # ... or less often: at most this share of its time (costly answers)
STALE_S = 5.0  # a polled answer older than this is recomputed on its request
MAX_ANSWERS = 256  # cached answers kept; the least recently asked go first
#: while a model loads, the refresher waits up to this long between two of its steps (or
#: two recomputed answers) while requests are being answered: they get the GIL first
GIVE_WAY_S = 0.01


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Registry:
    """One :class:`LiveExperiment` per experiment looked at, refreshed in the background."""

    def __init__(self, root: str, in_flight: InFlight | None = None) -> None:
        self.store = SQLiteStore(root)
        self.in_flight = in_flight or InFlight()
        self.live: dict[str, LiveExperiment] = {}
        self.problems: dict[str, str] = {}
        self.seen: dict[str, float] = {}
        self.prewarmed: dict[str, float] = {}  # when the refresher recomputes next, loading
        # (name, view...) -> [model version, answer, how to compute it, last asked, computed,
        # times asked]
        self.answers: dict[tuple[Any, ...], list[Any]] = {}
        self.memos: dict[tuple[Any, ...], list[Any]] = {}
        self.importance: dict[str, dict[str, Any]] = {}  # the latest fit, per experiment
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="dashboard-refresh", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        with self.lock:
            for live in self.live.values():
                live.close()  # a loader process still running

    def get(self, name: str) -> LiveExperiment:
        if name not in self.store.experiment_names():
            raise HTTPException(404, f"no experiment named {name!r}")
        with self.lock:
            live = self.live.get(name)
        if live is None:
            spec = self.store.get_spec(name)  # raises DamagedStoreError on a damaged file
            metrics, modes = objectives(spec)
            live = LiveExperiment(self.store.db_path(name), metrics, modes)
            live.refresh(budget_s=0.1, foreground=True)  # a large log loads in the background
            with self.lock:
                live = self.live.setdefault(name, live)
        self.seen[name] = time.monotonic()
        return live

    def cached(self, name: str, key: tuple[Any, ...], live: LiveExperiment, fn: Any) -> Response:
        """``fn()`` as JSON, recomputed only when the model has changed since: polls of a
        quiet sweep cost a dict lookup, and the refresher recomputes what was asked lately
        as soon as the model changes (:meth:`_prewarm`), so a poll of a running sweep
        does too. Encoded here with ``json`` (FastAPI's own encoder walks every value in
        Python, several times slower for the large answers)."""
        body = self._lookup(self.answers, (name, *key), live, lambda: encode(fn()))
        return Response(body, media_type="application/json")

    def memo(self, name: str, key: tuple[Any, ...], live: LiveExperiment, fn: Any) -> Any:
        """``fn()``, recomputed only when the model has changed since (O(trials) walks
        that every poll of the list and the summary would repeat)."""
        return self._lookup(self.memos, (name, *key), live, fn)

    @staticmethod
    def _lookup(table: dict[tuple[Any, ...], list[Any]], key: Any, live: Any, fn: Any) -> Any:
        hit = table.get(key)
        now = time.monotonic()
        stale = hit is None or hit[0] != live.version
        if stale and hit is not None and (live.loading or (hit[5] >= 2 and now - hit[4] < STALE_S)):
            # While loading, the model changes at every step: the refresher recomputes
            # what was asked at most once a second, off the request path (_loop). After
            # it, an answer that pages poll is served as it was while the refresher
            # recomputes it (its next pass, within POLL_S; the answer at most STALE_S
            # old, should the refresher lag): when a load ends or a batch of results
            # lands, a dozen polled views go stale at once, and computing them on their
            # requests made each wait for the others (up to 0.8 s)
            stale = False
        if stale or hit is None:
            version = live.version
            value = fn()
            if len(table) >= MAX_ANSWERS:  # drop the least recently asked half (one-off
                # questions), keeping what open pages poll
                for old in sorted(table, key=lambda k: table[k][3])[: MAX_ANSWERS // 2]:
                    del table[old]
            hit = table[key] = [version, value, fn, now, time.monotonic(), 0]
        hit[3] = now
        hit[5] += 1
        return hit[1]

    def _prewarm(self, name: str, live: LiveExperiment) -> bool:
        """Recompute, for the model's new version, the answers asked for more than once,
        the last time within ``PREWARM_S`` (what an open page polls; a question asked
        once, such as a filter being typed, is not kept warm): off the request path.

        While the model loads, an answer is recomputed at most once a second, and only
        when no request is being answered (a recomputation of 50-80 ms of CPU would
        share the GIL with it): with requests in flight it stops, and says so (False),
        and the rest is done on a later pass."""
        version = live.version
        now = time.monotonic()
        loading = live.loading
        for table in (self.memos, self.answers):
            for key, hit in list(table.items()):
                if key[0] != name or hit[0] == version or now - hit[3] > PREWARM_S:
                    continue
                if hit[5] < 2:
                    continue
                if loading and now - hit[4] < LOADING_REUSE_S:
                    continue  # recomputed lately (a pass that stopped part-way)
                self._give_way()
                if loading and self.in_flight.count:
                    return False
                try:
                    value = hit[2]()
                except Exception:  # noqa: BLE001 - the request that asks again says why
                    continue
                hit[0], hit[1], hit[4] = version, value, time.monotonic()
        return True

    def _give_way(self) -> None:
        """Wait (up to ``GIVE_WAY_S``) while requests are being answered: between two
        steps of a load, the refresher holds no lock, and a request computing a new
        answer would otherwise share the GIL with the load half and half."""
        end = time.monotonic() + GIVE_WAY_S
        while self.in_flight.count and time.monotonic() < end:
            time.sleep(0.001)

    def _loop(self) -> None:
        wait = POLL_S
        while not self._stop.wait(wait):
            now = time.monotonic()
            with self.lock:
                items = list(self.live.items())
            wait = POLL_S
            for name, live in items:
                if now - self.seen.get(name, 0.0) > IDLE_S:
                    continue
                loading = live.loading
                try:
                    live.refresh(budget_s=0.3, between=self._give_way)
                except Exception as e:  # a damaged record: shown, not fatal to the others
                    self.problems[name] = str(e)
                if loading:
                    # what a load step made lives as long as the model: out of the cyclic
                    # collector's sight, whose full passes over 10⁶ objects held the GIL
                    # for 0.1-0.3 s each during a load (requests waited)
                    gc.freeze()
                if live.loading:
                    wait = 0.01  # still catching up: next step soon
                    if now >= self.prewarmed.get(name, 0.0):
                        t = time.monotonic()
                        done = self._prewarm(name, live)
                        spent = time.monotonic() - t
                        pause = spent / LOADING_SHARE
                        self.prewarmed[name] = now + (
                            max(LOADING_REUSE_S, pause) if done else pause
                        )
                else:
                    self._prewarm(name, live)


def encode(value: Any) -> bytes:
    """Strict JSON (a NaN or infinity in a user's config becomes null: browsers reject NaN)."""
    try:
        return json.dumps(value, separators=(",", ":"), allow_nan=False).encode()
    except ValueError:
        return json.dumps(_finite(value), separators=(",", ":")).encode()


def _finite(v: Any) -> Any:
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, dict):
        return {k: _finite(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_finite(x) for x in v]
    return v


def objectives(spec: dict[str, Any]) -> tuple[list[str], list[str]]:
    """The spec's metric(s) and mode(s) as lists (several objectives: a Pareto run)."""
    metric, mode = spec.get("metric"), spec.get("mode")
    metrics = [metric] if isinstance(metric, str) else list(metric or [])
    metrics = [m for m in metrics if isinstance(m, str)]
    modes = [mode] * len(metrics) if isinstance(mode, str) else list(mode or [])
    modes = [m if m in ("min", "max") else "max" for m in modes]
    modes += ["max"] * (len(metrics) - len(modes))
    return metrics, modes[: len(metrics)]


def summary(reg: Registry, name: str) -> dict[str, Any]:
    try:
        live = reg.get(name)
    except HTTPException:
        raise
    except Exception as e:  # damaged or from a newer version: listed, not fatal
        return {"name": name, "status": "damaged", "problem": str(e)}

    def snapshot() -> dict[str, Any]:
        # as `tunefleet ls` and Results rank (Ray's scope="last"): the best of the trials'
        # last values; the history chart shows the best value ever reported
        with live.lock:
            best, best_trial = live.best_last()
            started = live.replay.started or live.first_ts
            end = live.replay.finished_ts if live.replay.finished is not None else live.last_ts
            return {
                "name": name,
                "status": live.replay.status,
                "trials": len(live.replay.trials),
                "counts": live.replay.counts(),
                "results": live.num_results,
                "metric": live.metrics,
                "mode": live.modes,
                "best": best,
                "best_trial": best_trial,
                "started": started,
                "duration": (end - started) if started is not None and end is not None else None,
                "seq": live.last_seq,
            }

    # per model version, as the views (while loading, refreshed once a second: no wait
    # for the lock that the load's steps take)
    out = dict(reg.memo(name, ("summary",), live, snapshot))
    if out["status"] == "running" and reg.store.driver_alive(name) is False:
        out["status"] = "crashed"
    out.update(problem=reg.problems.get(name), loading=live.loading)
    return out


def create_app(root: str, token: str | None = None, host: str = "127.0.0.1") -> FastAPI:
    """The app over the store at ``root``; ``token`` required on every request when set."""
    _preload()
    in_flight = InFlight()
    reg = Registry(root, in_flight)
    app = FastAPI(
        title="tunefleet dashboard",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        on_shutdown=[reg.close],
    )
    app.state.registry = reg
    loopback = is_loopback(host)

    app.add_middleware(
        Guard, token=token, loopback=loopback, is_loopback=is_loopback, in_flight=in_flight
    )

    def static(name: str, media: str) -> FileResponse:
        return FileResponse(str(STATIC / name), media_type=media)

    @app.get("/")
    def index() -> FileResponse:
        return static("index.html", "text/html")

    @app.get("/static/app.js")
    def app_js() -> FileResponse:
        return static("app.js", "text/javascript")

    @app.get("/static/style.css")
    def style() -> FileResponse:
        return static("style.css", "text/css")

    @app.get("/static/plotly.min.js")
    def plotly_js() -> FileResponse:
        try:
            import plotly
        except ImportError:
            raise HTTPException(
                404, "plotly is missing: pip install 'tunefleet[dashboard]'"
            ) from None
        path = os.path.join(os.path.dirname(plotly.__file__), "package_data", "plotly.min.js")
        return FileResponse(path, media_type="text/javascript")

    @app.get("/api/experiments")
    def experiments() -> dict[str, Any]:
        rows = [summary(reg, n) for n in reg.store.experiment_names()]
        rows.sort(key=lambda r: (r.get("started") or math.inf, r["name"]))
        return {"experiments": rows}

    @app.get("/api/experiments/{name}")
    def experiment(name: str) -> dict[str, Any]:
        return summary(reg, name)

    @app.get("/api/experiments/{name}/trials")
    def trials(
        name: str,
        sort: str = "index",
        desc: bool = False,
        q: str = "",
        status: str = "",
        offset: int = 0,
        limit: int = 100,
    ) -> Response:
        try:
            live = reg.get(name)
            key = ("trials", sort, desc, q, status, offset, limit)
            page = (live, sort, desc, q, status, max(0, offset), limit)
            return reg.cached(name, key, live, lambda: views.trials_page(*page))
        except ValueError as e:
            raise HTTPException(422, str(e)) from None

    @app.get("/api/experiments/{name}/trials/{trial_id}")
    def trial(name: str, trial_id: str) -> Response:
        live = reg.get(name)

        def answer() -> dict[str, Any]:
            out = views.trial_detail(live, trial_id)
            if out is None:  # raised: not cached (the trial may be loaded by the next ask)
                raise LookupError(trial_id)
            return out

        try:  # cached as the views: a detail is read from the file once per model version
            return reg.cached(name, ("trial", trial_id), live, answer)
        except LookupError:
            raise HTTPException(404, f"no trial {trial_id!r} in {name!r}") from None

    @app.get("/api/experiments/{name}/history")
    def history(name: str) -> Response:
        live = reg.get(name)
        return reg.cached(name, ("history",), live, lambda: views.history(live))

    @app.get("/api/experiments/{name}/curves")
    def curves(name: str, trials: int = 200, points: int = 200, trial: str = "") -> Response:
        live = reg.get(name)
        args = (live, max(1, min(trials, 1000)), max(2, min(points, 2000)), trial)
        key = ("curves", *args[1:])
        return reg.cached(name, key, live, lambda: views.curves(*args))

    @app.get("/api/experiments/{name}/params")
    def params(name: str) -> Response:
        live = reg.get(name)
        return reg.cached(name, ("params",), live, lambda: views.param_sample(live)[0])

    @app.get("/api/experiments/{name}/importance")
    def importance(name: str) -> dict[str, Any]:
        live = reg.get(name)
        with reg.lock:
            fit = reg.importance.setdefault(name, {"seq": -1, "at": 0.0, "running": False})
            stale = fit["seq"] != live.version and (
                "importance" not in fit
                or "problem" in fit
                or time.monotonic() - fit["at"] > IMPORTANCE_EVERY_S
            )
            # a fit is seconds of CPU: none on a model still loading (it would be stale
            # before it ends, and it takes CPU from the requests and the load)
            if stale and not fit["running"] and not live.loading:
                fit["running"] = True
                args = (fit, live)
                threading.Thread(target=_fit_importance, args=args, daemon=True).start()
            out = {k: v for k, v in fit.items() if k in ("importance", "trials", "problem")}
            out["pending"] = fit["running"] or live.loading
        return out

    @app.get("/api/experiments/{name}/lineage")
    def lineage(name: str) -> Response:
        live = reg.get(name)
        return reg.cached(name, ("lineage",), live, lambda: views.lineage(live))

    @app.get("/api/experiments/{name}/errors")
    def errors(name: str) -> Response:
        live = reg.get(name)
        return reg.cached(name, ("errors",), live, lambda: views.errors(live))

    @app.get("/api/experiments/{name}/pareto")
    def pareto(name: str) -> Response:
        live = reg.get(name)

        def answer() -> dict[str, Any]:
            out = views.pareto(live)
            return out if out is not None else {"metrics": live.metrics, "points": []}

        return reg.cached(name, ("pareto",), live, answer)

    return app


def _preload() -> None:
    """What the parameter and Pareto views import, imported at start-up rather than by
    the first request that needs it (numpy alone is a good part of 200 ms)."""
    try:
        import numpy  # noqa: F401

        import tunefleet.analysis  # noqa: F401
        import tunefleet.pareto  # noqa: F401
    except ImportError:  # said by the view that needs it
        pass


def _fit_importance(fit: dict[str, Any], live: LiveExperiment) -> None:
    """Random-forest importance (seconds of CPU): fit in a child process (fit.py), off the
    request path and off this interpreter's GIL, served cached."""
    seq = live.version
    try:
        scored, _ = views.scored_sample(live, max_trials=500)
        out = fit_elsewhere(live.metrics[0] if live.metrics else "score", scored)
    except Exception as e:  # noqa: BLE001 - said on the page, as a fit's own failure
        out = {"trials": 0, "problem": str(e)}
    fit.pop("problem", None)
    out.setdefault("importance", {})
    fit.update(out, seq=seq, at=time.monotonic(), running=False)
