"""The dashboard's request guard, as plain ASGI middleware: read-only methods, the Host
check on a loopback address, the token off it, and the security headers on every answer.

Why plain ASGI rather than ``@app.middleware("http")``: Starlette's ``BaseHTTPMiddleware``
runs each request through a task group and a pair of memory streams, the largest part of
a cached poll's ~1.3 ms of server CPU; an open page polls about a dozen views a second,
and a new question waits behind them (docs/benchmarks.md, dashboard run G). Here a request
costs a few header lookups.
"""

from __future__ import annotations

import hmac
from collections.abc import MutableMapping
from typing import Any

from starlette.datastructures import Headers, MutableHeaders, QueryParams
from starlette.requests import cookie_parser
from starlette.responses import JSONResponse, Response

COOKIE = "tunefleet_token"
CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = (
    ("content-security-policy", CSP),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("cache-control", "no-store"),
)


def _set_cookie(token: str) -> str:
    """The ``Set-Cookie`` value that carries the token (HttpOnly, SameSite=Strict)."""
    r = Response()
    r.set_cookie(COOKIE, token, httponly=True, samesite="strict")
    return r.headers["set-cookie"]


class InFlight:
    """How many requests are being answered now: counted by :class:`Guard` on the event
    loop's thread, read by the refresher, which gives them the GIL while any is."""

    def __init__(self) -> None:
        self.count = 0


class Guard:
    """ASGI middleware: refuses what the dashboard must not answer (405, 403, 401) and
    adds the security headers (and the token's cookie) to every answer."""

    def __init__(
        self,
        app: Any,
        token: str | None,
        loopback: bool,
        is_loopback: Any,
        in_flight: InFlight | None = None,
    ) -> None:
        self.app = app
        self.in_flight = in_flight or InFlight()
        self.token = token
        self.loopback = loopback
        self.is_loopback = is_loopback
        self.cookie = _set_cookie(token) if token is not None else None

    def refusal(self, scope: MutableMapping[str, Any]) -> JSONResponse | None:
        if scope["method"] not in ("GET", "HEAD"):
            return JSONResponse({"detail": "the dashboard is read-only"}, status_code=405)
        headers = Headers(scope=scope)
        if self.loopback and self.token is None:
            asked = (headers.get("host") or "").rsplit(":", 1)[0].strip("[]")
            if not self.is_loopback(asked):
                return JSONResponse({"detail": "unexpected Host header"}, status_code=403)
        if self.token is not None:
            given = headers.get("x-tunefleet-token") or QueryParams(scope["query_string"]).get(
                "token"
            )
            if not given:
                given = cookie_parser(headers.get("cookie", "")).get(COOKIE)
            if not given or not hmac.compare_digest(given.encode(), self.token.encode()):
                return JSONResponse({"detail": "a valid token is required"}, status_code=401)
        return None

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refused = self.refusal(scope)

        async def send_with_headers(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if self.cookie is not None and refused is None:
                    # the page's own script and style requests carry it from now
                    headers.append("set-cookie", self.cookie)
                for k, v in SECURITY_HEADERS:
                    headers[k] = v
            await send(message)

        if refused is not None:
            await refused(scope, receive, send_with_headers)
            return
        self.in_flight.count += 1
        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            self.in_flight.count -= 1
