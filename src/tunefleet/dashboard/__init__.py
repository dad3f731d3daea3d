"""``tunefleet dashboard``: a live, read-only web view of the experiments in a store.

It reads only the store's event log (:mod:`tunefleet.dashboard.live`), so it shows a running
sweep, a finished one and a crashed one alike, whatever engine ran them. FastAPI, uvicorn and
plotly (whose bundled ``plotly.min.js`` draws the charts, served locally: no CDN) come with
the ``dashboard`` extra and are imported only when the dashboard starts.
"""

from __future__ import annotations

import secrets
import sys

DEFAULT_PORT = 8265


def command(storage_path: str, host: str = "127.0.0.1", port: int = DEFAULT_PORT) -> str:
    """The shell command that opens the dashboard on ``storage_path``."""
    import shlex

    cmd = f"tunefleet dashboard --storage-path {shlex.quote(storage_path)}"
    return cmd if port == DEFAULT_PORT and host == "127.0.0.1" else f"{cmd} --port {port}"


def dashboard_hint(store: object) -> str | None:
    """The line a sweep prints so its user can watch it live (SQLite stores: they have a
    ``root`` the dashboard can read, from another process, while the sweep writes)."""
    root = getattr(store, "root", None)
    return f"watch it live: {command(root)}" if isinstance(root, str) else None


def serve(
    storage_path: str,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    token: str | None = None,
) -> None:
    """Serve until interrupted. Off the loopback a token is required (made up if not given)."""
    try:
        import uvicorn

        from tunefleet.dashboard.app import create_app, is_loopback
    except ImportError as e:
        raise ImportError(
            f"the dashboard needs fastapi and uvicorn ({e.name} is missing): "
            "pip install 'tunefleet[dashboard]'"
        ) from e
    if token is None and not is_loopback(host):
        token = secrets.token_urlsafe(24)
    # this process is the dashboard's: a request waiting for the GIL (while the refresher
    # recomputes answers) gets it within 1 ms rather than 5
    sys.setswitchinterval(0.001)
    app = create_app(storage_path, token=token, host=host)
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    url = f"http://{shown}:{port}/" + (f"?token={token}" if token else "")
    print(f"tunefleet dashboard on {url}  (read-only; Ctrl-C to stop)", flush=True)
    if token:
        print(f"token: {token}  (every request must carry it)", flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning")
