"""``tunefleet bench``: the same sweep on every engine and through peers, as tables and charts."""

from __future__ import annotations

import typer

bench_app = typer.Typer(
    name="bench",
    help="Benchmark engines, schedulers and peers (Ray Tune, Optuna) on a workload.",
    no_args_is_help=True,
    add_completion=False,
)
