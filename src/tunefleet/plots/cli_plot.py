"""``tunefleet plot NAME --kind KIND --out FILE``: a plot of one experiment to a file.

Registered by :mod:`tunefleet.cli`; typer checks ``--kind``, then the output path is
checked before the experiment is opened, and the data checks (metric, mode, lineage)
before anything is drawn. Every refusal is one line naming the option.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from tunefleet.plots import EXTENSIONS, KINDS
from tunefleet.storage import DEFAULT_STORAGE_PATH

PlotKind = StrEnum("PlotKind", {k: k for k in KINDS})  # type: ignore[misc]


def plot_cmd(
    name: Annotated[str, typer.Argument(help="Experiment name.")],
    kind: Annotated[PlotKind, typer.Option("--kind", "-k", help="What to plot.")],
    out: Annotated[
        str,
        typer.Option(
            "--out",
            "-o",
            help=f"File to write: {', '.join(EXTENSIONS)} (.html: interactive, works offline).",
        ),
    ],
    storage_path: Annotated[
        str, typer.Option("--storage-path", "-s", help="Directory holding the experiments.")
    ] = DEFAULT_STORAGE_PATH,
    metric: Annotated[
        str | None,
        typer.Option(
            "--metric",
            "-m",
            help="Metric (default: the run's); pareto: two or more, 'a,b'; lineage: none.",
        ),
    ] = None,
    mode: Annotated[
        str | None,
        typer.Option(
            "--mode",
            help="history: min or max (default: the run's); pareto: one per metric, 'max,min'.",
        ),
    ] = None,
) -> None:
    """Plot an experiment to a PNG/SVG/PDF or an interactive HTML file, without a server.

    Kinds: history (best so far over time and compute), curves (learning curves, scheduler stops, pauses, promotions and exploits marked), parallel (coordinates), importance (random-forest permutation importance), slice (score per parameter), pareto (two metrics), lineage (PBT/PB2 exploits).
    """
    from tunefleet.cli import _console, _fail, _load
    from tunefleet.errors import TuneValueError
    from tunefleet.plots.render import check_request, plot

    value = str(kind.value)
    try:
        check_request(value, out, None)
    except TuneValueError as e:
        _fail(str(e))
    results = _load(name, storage_path, None, None)
    try:
        plot(results, value, metric=metric, mode=mode, out=out)
    except (TuneValueError, ImportError) as e:
        _fail(str(e))
    _console(stderr=True).print(f"Wrote the {value} plot of {name} to {out}")
