"""``tunefleet dashboard``: the command (typer only; the web stack loads when it starts)."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from tunefleet.dashboard import DEFAULT_PORT, serve
from tunefleet.storage.sqlite import DEFAULT_STORAGE_PATH


def dashboard_cmd(
    storage_path: Annotated[
        str, typer.Option("--storage-path", help="Where the experiments are stored.")
    ] = DEFAULT_STORAGE_PATH,
    host: Annotated[
        str,
        typer.Option(help="Address to bind. Any non-loopback address requires a token."),
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = DEFAULT_PORT,
    token: Annotated[
        str | None,
        typer.Option(help="Require this token on every request (made up off the loopback)."),
    ] = None,
) -> None:
    """Serve a live, read-only web dashboard of the experiments in the storage path."""
    if not 0 < port < 65536:
        raise typer.BadParameter(f"must be between 1 and 65535, got {port}", param_hint="--port")
    if not os.path.isdir(storage_path):
        raise typer.BadParameter(
            f"{storage_path!r} is not a directory of experiments", param_hint="--storage-path"
        )
    if token is not None and len(token) < 8:
        raise typer.BadParameter("must be at least 8 characters", param_hint="--token")
    try:
        serve(storage_path, host=host, port=port, token=token)
    except ImportError as e:
        raise typer.BadParameter(str(e)) from None
