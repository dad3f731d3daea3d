"""``tunefleet data``: generate benchmark datasets."""

from __future__ import annotations

import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

data_app = typer.Typer(
    name="data",
    help="Generate benchmark data (synthetic classification sets as CSV and Parquet).",
    no_args_is_help=True,
    add_completion=False,
)


class DataFormat(StrEnum):
    csv = "csv"
    parquet = "parquet"
    both = "both"


def _console(stderr: bool = False) -> Any:
    """A console on the current stdout/stderr (CliRunner captures it), wide when piped."""
    from rich.console import Console

    console = Console(stderr=stderr, highlight=False)
    if not console.is_terminal:
        console.width = max(console.width, 120)
    return console


def _size(n: int) -> str:
    """Bytes as a short human figure next to the exact count."""
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{n:,} ({n / scale:.1f} {unit})"
    return f"{n:,}"


class _PlainProgress:
    """One line per tenth of the rows: readable in logs, silent enough for CI."""

    def __init__(self, console: Any, total: int) -> None:
        self.console, self.total, self._next = console, total, 0.1

    def __call__(self, done: int) -> None:
        if done >= self.total or done / self.total >= self._next:
            self.console.print(f"rows written: {done:,}/{self.total:,} ({done / self.total:.0%})")
            self._next = (int(done / self.total * 10) + 1) / 10


@data_app.command("synth")
def synth_cmd(
    rows: Annotated[int, typer.Option("--rows", help="Rows to generate.")],
    out: Annotated[Path, typer.Option("--out", help="Directory to write (created).")],
    features: Annotated[int, typer.Option("--features", help="Feature columns.")] = 10,
    classes: Annotated[int, typer.Option("--classes", help="Number of classes.")] = 2,
    informative: Annotated[
        int | None,
        typer.Option(
            "--informative", help="Informative features (default: half, at least log2(classes))."
        ),
    ] = None,
    chunk_rows: Annotated[
        int, typer.Option("--chunk-rows", help="Rows held in memory and written at once.")
    ] = 500_000,
    seed: Annotated[int, typer.Option("--seed", help="Seed: same seed, same data.")] = 0,
    format: Annotated[
        DataFormat, typer.Option("--format", help="csv, parquet or both.")
    ] = DataFormat.both,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace the data files in a non-empty --out.")
    ] = False,
) -> None:
    """Generate a classification data set chunk by chunk (bounded memory) with metadata.json."""
    from rich.table import Table

    from tunefleet.bench.synth import FILE_NAMES, FORMATS, peak_rss_bytes, synthesize
    from tunefleet.errors import TuneValueError

    console = _console()
    formats = FORMATS if format is DataFormat.both else (format.value,)
    args: dict[str, Any] = dict(
        classes=classes,
        informative=informative,
        chunk_rows=chunk_rows,
        seed=seed,
        formats=formats,
        overwrite=overwrite,
    )
    t0 = time.perf_counter()
    try:
        if console.is_terminal:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

            columns = ("{task.description}", BarColumn(), MofNCompleteColumn())
            with Progress(*columns, TimeElapsedColumn(), console=console) as bar:
                task = bar.add_task("rows written", total=max(rows, 1))

                def advance(done: int) -> None:
                    bar.update(task, completed=done)

                meta = synthesize(out, rows, features, progress=advance, **args)
        else:
            progress = _PlainProgress(console, max(rows, 1))
            meta = synthesize(out, rows, features, progress=progress, **args)
    except TuneValueError as e:
        # Bad arguments are usage errors: exit 2, as for an option typer itself rejects.
        _console(stderr=True).print(f"[red]Error:[/red] {e}", soft_wrap=True)
        raise typer.Exit(code=2) from None
    seconds = time.perf_counter() - t0

    table = Table("", "value", title=f"Data set in {out}", title_justify="left")
    table.add_row("rows", f"{meta['rows']:,}")
    table.add_row("features", f"{meta['features']} ({meta['informative']} informative)")
    table.add_row("classes", str(meta["classes"]))
    for fmt in FORMATS:
        if fmt in meta["bytes"]:
            table.add_row(f"{FILE_NAMES[fmt]} bytes", _size(meta["bytes"][fmt]))
    table.add_row("seconds", f"{seconds:.2f}")
    table.add_row("rows/s", f"{meta['rows'] / max(seconds, 1e-9):,.0f}")
    table.add_row("peak RSS", _size(peak_rss_bytes()))
    console.print(table)
