"""The ``tunefleet`` command: list, show and export experiments; generate data; benchmark.

Everything here reads the store through read-only connections, so it works while a driver
is writing (WAL readers never block it) and long after the driver is gone.

Why ~560 lines: typer wants the commands and their options next to each other; each
command body is short and calls into the package (the benchmark commands live in
``bench/cli_*.py``, the tables in ``cli_tables.py``).
"""

from __future__ import annotations

import functools
import json
import math
import shutil
import tempfile
from collections.abc import Callable
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from tunefleet.cli_tables import (
    Column,
    _fmt_time,
    _fmt_value,
    _metric_value,
    _objective_column,
    _parquet_safe,
    _print_config,
    _to_json,
    build_lineage_table,
    build_trials_table,
    trial_columns,
)
from tunefleet.errors import TuneError, TuneValueError
from tunefleet.storage import (
    DEFAULT_STORAGE_PATH,
    DamagedStoreError,
    SchemaVersionError,
    Store,
    UnknownExperimentError,
    open_store,
)

if TYPE_CHECKING:
    from tunefleet.results import Results, TrialResult

app = typer.Typer(
    name="tunefleet",
    help="Inspect tunefleet experiments: list them, show their trials, export their results.",
    no_args_is_help=True,
    add_completion=False,
)


class Mode(StrEnum):
    min = "min"
    max = "max"


class Format(StrEnum):
    csv = "csv"
    json = "json"
    parquet = "parquet"


StoragePathOpt = Annotated[
    str,
    typer.Option(
        "--storage-path",
        "-s",
        help="Directory holding the experiments; for ls and show also a URL where sweeps "
        "mirrored their logs (s3://bucket/prefix).",
    ),
]
StorageOptionOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--storage-option",
        "-o",
        help="KEY=VALUE passed to fsspec for a URL --storage-path (endpoint_url=..., "
        "anon=true); repeat the option. Credentials also come from the environment.",
    ),
]


def _console(stderr: bool = False) -> Console:
    """A console on the *current* stdout/stderr (so CliRunner captures it), wide when piped."""
    console = Console(stderr=stderr, highlight=False)
    if not console.is_terminal:
        console.width = max(console.width, 160)
    return console


def _fail(message: str) -> NoReturn:
    _console(stderr=True).print(f"[red]Error:[/red] {message}", soft_wrap=True)
    raise typer.Exit(code=1)


def _one_line_errors(command: Callable[..., None]) -> Callable[..., None]:
    """A damaged or future-version store is one line on stderr and exit 1, not a traceback
    (it may surface anywhere a command reads)."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        try:
            command(*args, **kwargs)
        except (DamagedStoreError, SchemaVersionError) as e:
            _fail(str(e))
        finally:  # the temporary copies of mirrored logs (ls and show on a URL)
            _MIRRORS.clear()
            _STORAGE_OPTIONS.clear()
            while _MIRROR_DIRS:
                shutil.rmtree(_MIRROR_DIRS.pop(), ignore_errors=True)

    return wrapper


# A URL --storage-path, within one command: the store over the logs copied from there
# (read once however often the command opens it), the temporary folders to delete, and
# the fsspec options the command was given.
_MIRRORS: dict[str, Store] = {}
_MIRROR_DIRS: list[str] = []
_STORAGE_OPTIONS: dict[str, Any] = {}


def _storage_options(pairs: list[str] | None) -> None:
    """Parse ``--storage-option KEY=VALUE`` (true/false/null and numbers as JSON)."""
    for pair in pairs or ():
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            _fail(f"--storage-option: expected KEY=VALUE, got {pair!r}")
        try:
            value: Any = json.loads(raw)
        except ValueError:
            value = raw
        _STORAGE_OPTIONS[key.strip()] = value


def _open(storage_path: str) -> Store:
    if "://" in storage_path and not storage_path.startswith("file://"):
        return _open_mirror(storage_path)
    try:
        return open_store(storage_path)
    except TuneValueError as e:
        _fail(str(e))


def _open_mirror(url: str) -> Store:
    """The experiment logs that sweeps mirrored at ``url``, copied into a private temporary
    folder, read-only (log_mirror.py); the command's end deletes the copies."""
    store = _MIRRORS.get(url)
    if store is not None:
        return store
    from tunefleet.log_mirror import read_mirrors

    tmp = tempfile.mkdtemp(prefix="tunefleet-mirror-read-")
    _MIRROR_DIRS.append(tmp)
    try:
        store = read_mirrors(url, dict(_STORAGE_OPTIONS) or None, tmp)
    except Exception as e:  # noqa: BLE001 - no credentials, no such bucket, no network...
        _fail(f"--storage-path: cannot read the logs mirrored at {url}: {type(e).__name__}: {e}")
    _MIRRORS[url] = store
    return store


def _root(store: Store, storage_path: str) -> str:
    return str(getattr(store, "url", None) or getattr(store, "root", storage_path))


def _stored_in(results: Results) -> str:
    """Where an experiment's results are: its folder, or for a mirrored log its URL."""
    url = getattr(results._store, "url", None)
    return f"{url}/{results.name}" if url else results.experiment_path


def _load(name: str, storage_path: str, metric: str | None, mode: str | None) -> Results:
    from tunefleet.results import Results

    store = _open(storage_path)
    try:
        return Results(store, name, metric=metric, mode=mode)
    except UnknownExperimentError:
        names = store.experiment_names()
        listing = ", ".join(names) if names else "(none)"
        _fail(
            f"no experiment named {name!r} in {_root(store, storage_path)}.\n"
            f"Existing experiments: {listing}"
        )
    except (SchemaVersionError, DamagedStoreError, TuneValueError) as e:
        _fail(str(e))


# -- ls ----------------------------------------------------------------------------------------


@app.command("ls")
@_one_line_errors
def ls_cmd(
    storage_path: StoragePathOpt = DEFAULT_STORAGE_PATH,
    storage_option: StorageOptionOpt = None,
) -> None:
    """List the experiments in the storage path, oldest first.

    Status: running (a driver holds it now), crashed (its driver died mid-run: `tunefleet
    resume` continues it), interrupted, completed, failed, damaged (see below the table).
    A URL storage path lists the logs that sweeps mirrored there (their last snapshots:
    an unfinished one shows as running, whether or not its driver still runs).
    """
    _storage_options(storage_option)
    store = _open(storage_path)
    root = _root(store, storage_path)
    summaries = store.list_experiments()
    console = _console()
    if not summaries:
        console.print(f"No experiments in {root}")
        return
    table = Table(title=f"Experiments in {root}", title_justify="left")
    table.add_column("name", no_wrap=True, style="bold")
    table.add_column("created", no_wrap=True)
    table.add_column("status")
    for header in ("trials", "terminated", "error", "running"):
        table.add_column(header, justify="right")
    table.add_column("best")
    for s in summaries:
        best = "-"
        if s.best is not None:
            best = f"{s.metric}={s.best:.6g} ({s.mode})"
        table.add_row(
            s.name,
            _fmt_time(s.created) if s.problem is None else "-",
            s.status,
            str(s.num_trials),
            str(s.counts.get("TERMINATED", 0)),
            str(s.counts.get("ERROR", 0)),
            str(s.counts.get("RUNNING", 0)),
            best,
        )
    console.print(table)
    for s in summaries:
        if s.problem is not None:
            console.print(f"{s.name}: {s.problem}", soft_wrap=True)


# -- show --------------------------------------------------------------------------------------


@app.command()
@_one_line_errors
def show(
    name: Annotated[str, typer.Argument(help="Experiment name.")],
    storage_path: StoragePathOpt = DEFAULT_STORAGE_PATH,
    metrics: Annotated[
        list[str] | None,
        typer.Option(
            "--metric",
            "-m",
            help="Metric to rank by (default: spec's). Several (repeat the option or "
            "separate by commas): mark their Pareto front.",
        ),
    ] = None,
    modes: Annotated[
        list[Mode] | None,
        typer.Option("--mode", help="min or max; one per --metric (repeat the option)."),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", help="Rows to show; 0 for all.")] = 20,
    storage_option: StorageOptionOpt = None,
) -> None:
    """Show an experiment's trials (best first when a metric is known) and its best config;
    a URL storage path reads the log a sweep mirrored there (its last snapshot)."""
    _storage_options(storage_option)
    names = [m for given in metrics or () for m in given.split(",") if m]
    if len(names) > 1:
        return _show_front(name, storage_path, names, [m.value for m in modes or ()], limit)
    if modes is not None and len(modes) > 1:
        _fail(f"--mode: {len(modes)} modes for {len(names) or 'no'} --metric; give one each")
    metric = names[0] if names else None
    mode = modes[0] if modes else None
    results = _load(name, storage_path, metric, mode.value if mode else None)
    console = _console()
    metric = metric or results.default_metric
    mode_s = mode.value if mode else results.default_mode
    counts = results.counts
    status = results.status  # "crashed" as in `tunefleet ls`: no driver holds it any more
    console.print(
        f"[bold]{name}[/bold]  status: {status}  trials: {len(results)}  "
        + "  ".join(f"{k.lower()}: {v}" for k, v in counts.items() if v)
        + (f"  runs: {results.num_runs}" if results.num_runs > 1 else "")
    )

    def score(t: TrialResult) -> float | None:
        return _metric_value(t.last_result, metric)

    trials = results.trials
    if metric is not None and mode_s is not None:
        sign = -1.0 if mode_s == "max" else 1.0

        def key(t: TrialResult) -> tuple[int, float, int]:
            v = score(t)
            if v is None or math.isnan(v):
                return (1, 0.0, t.index)
            return (0, sign * v, t.index)

        trials = sorted(trials, key=key)
    objectives = results.spec.get("metric") if metric is None else None
    front: set[str] = set()
    cols = trial_columns(results.trials, metric, score)
    if isinstance(objectives, list):  # several objectives: their values, the front first
        front = {t.trial_id for t in results.pareto_front()}
        for objective in objectives:
            cols.insert(-1, _objective_column(objective))
        cols.insert(-1, Column("pareto", lambda t: "*" if t.trial_id in front else ""))
        trials = sorted(trials, key=lambda t: (t.trial_id not in front, t.index))
    shown = trials if limit <= 0 else trials[:limit]
    console.print(build_trials_table(cols, shown))
    if len(shown) < len(trials):
        console.print(f"… {len(trials) - len(shown)} more trials (use --limit 0 to see all)")

    if metric is not None and mode_s is not None:
        try:
            best = results.get_best_trial(metric, mode_s)
        except TuneValueError as e:
            _fail(str(e))
        if best is None:
            console.print(f"No trial reported a finite {metric!r} yet.")
        else:
            console.print(
                f"\n[bold]Best trial:[/bold] {best.trial_id}  "
                f"{metric}={_fmt_value(score(best))} ({mode_s})"
            )
            _print_config(console, best.config)
            if best.checkpoint is not None:
                console.print(f"Checkpoint: {best.checkpoint.path}")
    elif isinstance(objectives, list):
        modes = results.spec.get("mode") or []
        goals = ", ".join(f"{m} ({d})" for m, d in zip(objectives, modes, strict=False))
        console.print(
            f"\n[bold]Pareto front[/bold] of {goals}: {len(front)} trial(s) marked * "
            "(several objectives: no single best; --metric/--mode ranks by one)"
        )
    else:
        console.print("\nNo metric/mode recorded: pass --metric and --mode to rank trials.")
    lineage = build_lineage_table(_open(storage_path), name, limit)
    if lineage is not None:
        console.print(lineage)
    console.print(f"\nResults stored in: {_stored_in(results)}")


def _show_front(
    name: str, storage_path: str, metrics: list[str], modes: list[str], limit: int
) -> None:
    """``show --metric a --metric b``: the trials with each objective, Pareto front first."""
    results = _load(name, storage_path, None, None)
    if not modes:  # the experiment's own modes, if it was run with these objectives
        spec_metric, spec_mode = results.spec.get("metric"), results.spec.get("mode")
        if isinstance(spec_metric, list) and isinstance(spec_mode, list):
            own = dict(zip(spec_metric, spec_mode, strict=False))
            modes = [own[m] for m in metrics if m in own]
        if len(modes) != len(metrics):
            _fail(f"--mode: give one --mode per --metric ({len(metrics)}: {', '.join(metrics)})")
    if len(modes) != len(metrics):
        _fail(f"--mode: {len(modes)} modes for {len(metrics)} metrics; give one each")
    try:
        front_trials = results.pareto_front(metrics, modes)
    except TuneValueError as e:
        _fail(str(e))
    front = {t.trial_id for t in front_trials}
    console = _console()
    console.print(f"[bold]{name}[/bold]  status: {results.status}  trials: {len(results)}")
    cols = trial_columns(results.trials, None, lambda t: None)
    for objective in metrics:
        cols.insert(-1, _objective_column(objective))
    cols.insert(-1, Column("pareto", lambda t: "*" if t.trial_id in front else ""))
    trials = sorted(results.trials, key=lambda t: (t.trial_id not in front, t.index))
    shown = trials if limit <= 0 else trials[:limit]
    console.print(build_trials_table(cols, shown))
    if len(shown) < len(trials):
        console.print(f"… {len(trials) - len(shown)} more trials (use --limit 0 to see all)")
    goals = ", ".join(f"{m} ({d})" for m, d in zip(metrics, modes, strict=True))
    console.print(f"\n[bold]Pareto front[/bold] of {goals}: {len(front)} trial(s) marked *")
    console.print(f"\nResults stored in: {_stored_in(results)}")


# -- export ------------------------------------------------------------------------------------


@app.command()
@_one_line_errors
def export(
    name: Annotated[str, typer.Argument(help="Experiment name.")],
    format: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.csv,
    out: Annotated[
        str | None,
        typer.Option("--out", "-o", help="Output file (default NAME.FORMAT; '-' for stdout)."),
    ] = None,
    all_results: Annotated[
        bool, typer.Option("--all-results", help="Every result, not one row per trial.")
    ] = False,
    storage_path: StoragePathOpt = DEFAULT_STORAGE_PATH,
    storage_option: Annotated[
        list[str] | None,
        typer.Option(
            "--storage-option",
            help="KEY=VALUE passed to fsspec for a URL --storage-path; repeat the option "
            "(no short form here: -o is --out).",
        ),
    ] = None,
) -> None:
    """Export one row per trial (its last result and config) or every result."""
    _storage_options(storage_option)
    results = _load(name, storage_path, None, None)
    try:
        df = results.all_results_dataframe() if all_results else results.dataframe()
    except ImportError:
        _fail("export needs pandas: pip install 'tunefleet[pandas]'")
    target = out or f"{name}.{format.value}"
    if target == "-" and format is Format.parquet:
        _fail("--out: parquet is binary; give a file name instead of '-'")
    stdout = target == "-"
    if format is Format.csv:
        text = df.to_csv(None if stdout else target, index=False)
    elif format is Format.json:
        text = _to_json(df)
        if not stdout:
            with open(target, "w", encoding="utf-8") as f:
                f.write(text)
    else:
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            _fail("--format parquet needs pyarrow: pip install 'tunefleet[parquet]'")
        try:
            _parquet_safe(df).to_parquet(target, index=False)
        except (TuneError, ValueError, TypeError) as e:
            _fail(f"could not write parquet: {e}")
        text = None
    if stdout:
        typer.echo(text, nl=False)
    else:
        _console(stderr=True).print(f"Wrote {len(df)} rows to {target}")


@app.command()
@_one_line_errors
def resume(
    name: Annotated[str, typer.Argument(help="Experiment name.")],
    storage_path: StoragePathOpt = DEFAULT_STORAGE_PATH,
    trainable: Annotated[
        str | None,
        typer.Option(
            "--trainable",
            "-t",
            help="module:function to run (default: the one recorded in the experiment).",
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Resume even if the search space changed.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No live progress.")] = False,
    trust_storage: Annotated[
        bool,
        typer.Option(
            "--trust-storage",
            help="Resume even if other users can write the storage path (what a resume "
            "imports and unpickles comes from there).",
        ),
    ] = False,
) -> None:
    """Continue an experiment after a crash: finished trials are kept, never re-run."""
    import sys

    from tunefleet.restore import import_ref
    from tunefleet.restore import resume as resume_run

    local = storage_path
    if "://" in storage_path:  # the log mirrored beside checkpoints (log_mirror.py)
        from tunefleet.log_mirror import localize

        try:
            local = localize(storage_path, name, None, True)[0]
        except (TuneValueError, OSError) as e:
            _fail(str(e))
    store = _open(local)
    if not store.experiment_exists(name):
        _load(name, local, None, None)  # prints the existing names and exits 1
    try:
        store.check_trusted(name, trusted=trust_storage)  # before importing what it names
    except TuneValueError as e:
        _fail(str(e))
    sys.path.insert(0, "")  # the trainable's module is usually the user's working dir
    try:
        fn = import_ref(trainable or str(store.get_spec(name).get("trainable", "")))
        results = resume_run(
            name,
            fn,
            storage_path=storage_path,
            force_resume=force,
            verbose=0 if quiet else 1,
            trust_storage=trust_storage,
        )
    except (TuneError, TuneValueError, ImportError, AttributeError) as e:
        _fail(str(e))
    console = _console()
    console.print(
        f"[bold]{name}[/bold] resumed: {len(results)} trials, status {results.status}. "
        f"Results stored in: {results.experiment_path}"
    )


@app.command(name="doctor")
@_one_line_errors
def doctor(
    name: Annotated[str, typer.Argument(help="Experiment name.")],
    storage_path: StoragePathOpt = DEFAULT_STORAGE_PATH,
) -> None:
    """Check an experiment's file; if damaged, salvage every readable record into a new
    file (the damaged one is renamed aside, never deleted) and say how many were lost."""
    from tunefleet.storage.salvage import salvage
    from tunefleet.storage.sqlite import SQLiteStore

    if "://" in storage_path and not storage_path.startswith("file://"):
        _fail(
            f"--storage-path: doctor repairs an experiment file on this machine, not the logs "
            f"mirrored at {storage_path} (a resume from that URL fetches a copy first)"
        )
    store = _open(storage_path)
    if not isinstance(store, SQLiteStore):
        _fail(f"--storage-path: doctor repairs SQLite stores, not {type(store).__name__}")
    try:
        report = salvage(store, name)
    except UnknownExperimentError as e:
        _fail(str(e))
    except (TuneValueError, OSError) as e:
        _fail(f"cannot repair {name!r}: {e}")
    _console().print(report.message(), soft_wrap=True)


app.command(name="repair", help="Same as doctor.")(doctor)


def _mount_subcommands() -> None:
    # Imported here so that ``tunefleet ls`` does not pay for the benchmark modules' imports
    # beyond their (light) typer definitions.
    from tunefleet.bench.cli_bench import bench_app
    from tunefleet.bench.cli_data import data_app
    from tunefleet.dashboard.cli_dashboard import dashboard_cmd
    from tunefleet.plots.cli_plot import plot_cmd

    app.add_typer(data_app, name="data")
    app.add_typer(bench_app, name="bench")
    app.command(name="plot")(_one_line_errors(plot_cmd))
    app.command(name="dashboard")(dashboard_cmd)


_mount_subcommands()


def main() -> None:
    """Console-script entry point (``tunefleet``)."""
    app()


if __name__ == "__main__":
    main()
