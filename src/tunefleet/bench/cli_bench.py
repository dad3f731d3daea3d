"""``tunefleet bench``: the same sweep on every engine and through peers, as tables and charts."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

bench_app = typer.Typer(
    name="bench",
    help="Benchmark engines, schedulers and peers (Ray Tune, Optuna) on a workload.",
    no_args_is_help=True,
    add_completion=False,
)

DEFAULT_ROWS = 200_000


def _split(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _fail(message: str) -> None:
    from rich.console import Console

    Console(stderr=True).print(f"[red]error:[/red] {message}", highlight=False)
    raise typer.Exit(2)


def ensure_data(data: str | None, out: str, seed: int) -> str:
    """The dataset to use: ``--data``, else one generated once under ``out/data``."""
    if data:
        return data
    from tunefleet.bench.synth import synthesize

    path = Path(out) / f"data-{DEFAULT_ROWS}"
    if not (path / "metadata.json").is_file():
        typer.echo(f"no --data given: generating {DEFAULT_ROWS:,} rows x 10 features in {path}")
        synthesize(
            path,
            rows=DEFAULT_ROWS,
            features=10,
            classes=2,
            informative=5,
            seed=seed,
            overwrite=True,
        )
    return str(path)


@bench_app.command("run")
def run_cmd(
    workload: Annotated[
        str, typer.Option(help="lightgbm, xgboost, logreg, random-forest, knn or mlp.")
    ],
    engines: Annotated[str, typer.Option(help="Comma-separated tunefleet engines.")] = "local",
    peers: Annotated[str, typer.Option(help="Comma-separated peers: raytune, optuna.")] = "",
    trials: Annotated[int, typer.Option(help="Trials per system.")] = 20,
    scheduler: Annotated[
        str, typer.Option(help="fifo, asha, hyperband, median, pbt or bohb.")
    ] = "fifo",
    target: Annotated[
        float | None, typer.Option(help="Target score (default: the workload's).")
    ] = None,
    inject_failure: Annotated[
        bool, typer.Option("--inject-failure", help="SIGKILL one running trial's process.")
    ] = False,
    price_per_core_hour: Annotated[
        float | None, typer.Option(help="On-demand price per core-hour.")
    ] = None,
    spot_price_per_core_hour: Annotated[
        float | None, typer.Option(help="Spot price per core-hour.")
    ] = None,
    data: Annotated[
        str | None, typer.Option(help="Dataset directory from `tunefleet data synth`.")
    ] = None,
    rows: Annotated[
        int | None, typer.Option(help="Use only the first N rows of the dataset.")
    ] = None,
    cpus_per_trial: Annotated[int, typer.Option(help="CPUs (threads) per trial process.")] = 1,
    workers_per_trial: Annotated[
        int, typer.Option(help="Processes per trial (torch.distributed; mlp).")
    ] = 1,
    concurrency: Annotated[
        int | None, typer.Option(help="Trials at a time (default: cores / CPUs per trial).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed for data split and search.")] = 0,
    out: Annotated[
        str, typer.Option(help="Directory for bench.json, bench.md and charts.")
    ] = "bench_results",
    timeout: Annotated[float, typer.Option(help="Seconds allowed per system.")] = 3600.0,
    device: Annotated[str, typer.Option(help="cpu, or cuda: mlp/xgboost/lightgbm on GPU.")] = "cpu",
    gpus_per_trial: Annotated[
        float, typer.Option(help="GPUs per trial; 0.5 packs two trials on a device.")
    ] = 0.0,
) -> None:
    """Run one workload's sweep on each engine and peer; print and write the comparison."""
    from tunefleet.bench import report
    from tunefleet.bench.run import BenchConfig, run_bench, validate
    from tunefleet.errors import TuneError, TuneTypeError, TuneValueError

    cfg = BenchConfig(
        workload=workload,
        data=data or "",
        engines=_split(engines),
        peers=_split(peers),
        trials=trials,
        scheduler=scheduler,
        target=target,
        inject_failure=inject_failure,
        price_per_core_hour=price_per_core_hour,
        spot_price_per_core_hour=spot_price_per_core_hour,
        cpus_per_trial=cpus_per_trial,
        workers_per_trial=workers_per_trial,
        concurrency=concurrency,
        rows=rows,
        seed=seed,
        out=out,
        timeout_s=timeout,
        device=device,
        gpus_per_trial=gpus_per_trial,
    )
    try:
        validate(cfg, check_data=bool(data))
        cfg.data = ensure_data(data, out, seed)
        result = run_bench(cfg, on_event=_echo_event)
    except (TuneError, TuneValueError, TuneTypeError) as exc:
        _fail(str(exc))
        return
    report.print_table(
        f"tunefleet bench run: {workload}", result["rows"], report.run_columns(result["rows"])
    )
    for row in result["rows"]:
        for note in row.get("notes", []):
            typer.echo(f"  {row['system']}: {note}")
        if row.get("error"):
            typer.echo(f"  {row['system']}: {row['error']}")
    typer.echo(f"written: {Path(out) / 'bench.md'}, bench.json, bench.png, bench_curve.png")


def _echo_event(kind: str, info: dict[str, Any]) -> None:
    if kind == "start":
        typer.echo(f"running {info['system']} ...")
    else:
        row = info["row"]
        state = row.get("error") or f"{row.get('trials', 0)} trials, best {row.get('best')}"
        typer.echo(f"  {info['system']} done in {info['seconds']:.1f} s: {state}")


@bench_app.command("schedulers")
def schedulers_cmd(
    workload: Annotated[
        str, typer.Option(help="lightgbm, xgboost, logreg, random-forest, knn or mlp.")
    ],
    methods: Annotated[
        str, typer.Option(help="Comma-separated: grid, random, tpe, asha, hyperband, bohb, pbt.")
    ] = "grid,random,tpe,asha,hyperband,bohb,pbt",
    data: Annotated[
        str | None, typer.Option(help="Dataset directory from `tunefleet data synth`.")
    ] = None,
    rows: Annotated[
        int | None, typer.Option(help="Use only the first N rows of the dataset.")
    ] = None,
    trials_factor: Annotated[
        float, typer.Option(help="ASHA/Hyperband/BOHB trials as a multiple of the grid's.")
    ] = 2.0,
    cpus_per_trial: Annotated[int, typer.Option(help="CPUs (threads) per trial.")] = 1,
    tolerance: Annotated[
        float, typer.Option(help="Second column: compute to come this close to grid's best.")
    ] = 0.005,
    seed: Annotated[int, typer.Option(help="Seed for data split and search.")] = 0,
    out: Annotated[
        str, typer.Option(help="Directory for schedulers.json/.md/.png.")
    ] = "bench_results/schedulers",
    timeout: Annotated[float, typer.Option(help="Seconds allowed per method.")] = 3600.0,
    reuse: Annotated[
        bool,
        typer.Option(
            help="Reuse a method's outcome saved in --out when its job is unchanged "
            "(e.g. to re-summarise with another --tolerance without training again)."
        ),
    ] = False,
) -> None:
    """Compute each search method needs to reach grid search's best score (grid = 100)."""
    from tunefleet.bench import report
    from tunefleet.bench.compare_schedulers import (
        COLUMNS,
        SchedulerBenchConfig,
        run_scheduler_bench,
    )
    from tunefleet.errors import TuneError, TuneTypeError, TuneValueError

    try:
        cfg = SchedulerBenchConfig(
            workload=workload,
            data=ensure_data(data, str(Path(out).parent), seed),
            methods=tuple(_split(methods)),
            trials_factor=trials_factor,
            tolerance=tolerance,
            rows=rows,
            cpus_per_trial=cpus_per_trial,
            seed=seed,
            out=out,
            timeout_s=timeout,
            reuse=reuse,
        )
        result = run_scheduler_bench(cfg, on_event=_echo_progress)
    except (TuneError, TuneValueError, TuneTypeError) as exc:
        _fail(str(exc))
        return
    report.print_table(
        f"compute to reach grid search's best ({workload}, grid = 100)", result["rows"], COLUMNS
    )
    typer.echo(f"written: {Path(out) / 'schedulers.md'}, schedulers.json, schedulers.png")


def _echo_progress(kind: str, info: dict[str, Any]) -> None:
    if kind == "start":
        typer.echo(f"running {info['system']} ...")
    else:
        error = info["row"].get("error")
        typer.echo(
            f"  {info['system']} done in {info['seconds']:.1f} s" + (f": {error}" if error else "")
        )
