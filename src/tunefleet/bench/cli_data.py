"""``tunefleet data``: generate benchmark datasets."""

from __future__ import annotations

import typer

data_app = typer.Typer(
    name="data",
    help="Generate benchmark data (synthetic classification sets as CSV and Parquet).",
    no_args_is_help=True,
    add_completion=False,
)
