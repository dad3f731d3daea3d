"""What the commands print and write: ``tunefleet show``'s tables (trial columns, the
lineage of continuations, a config) and ``tunefleet export``'s JSON and Parquet-safe frames.
Kept apart from cli.py, which holds the commands and their options; plain functions over
Results/Store rows, so tests can build a table without running a command.
"""

from __future__ import annotations

import datetime as _dt
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich.console import Console, JustifyMethod
from rich.table import Table

from tunefleet.storage import Store
from tunefleet.storage import records as rk

if TYPE_CHECKING:
    import pandas as pd

    from tunefleet.results import TrialResult


_STATUS_STYLE = {
    "TERMINATED": "green",
    "ERROR": "red",
    "RUNNING": "cyan",
    "PAUSED": "yellow",
    "PENDING": "dim",
}


def _fmt_time(ts: float | None) -> str:
    if ts is None or not math.isfinite(ts):
        return "-"
    return _dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


def _fmt_value(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def _status(status: str) -> str:
    style = _STATUS_STYLE.get(status)
    return f"[{style}]{status}[/{style}]" if style else status


@dataclass(frozen=True)
class Column:
    """One column of the trials table; later features (PBT lineage...) append more."""

    header: str
    cell: Callable[[TrialResult], str]
    justify: JustifyMethod = "left"
    no_wrap: bool = False


def varying_config_keys(trials: list[TrialResult], limit: int = 6) -> list[str]:
    """Flattened config keys whose value differs between trials: the ones worth a column."""
    from tunefleet.results import flatten

    seen: dict[str, set[str]] = {}
    for t in trials:
        for k, v in flatten(t.config).items():
            seen.setdefault(k, set()).add(repr(v))
    keys = [k for k, vals in seen.items() if len(vals) > 1 or len(trials) == 1]
    return keys[:limit]


def trial_columns(
    trials: list[TrialResult], metric: str | None, score: Callable[[TrialResult], float | None]
) -> list[Column]:
    """The columns of ``tunefleet show``, in order."""
    cols = [
        Column("trial", lambda t: t.trial_id, no_wrap=True),
        Column("status", lambda t: _status(t.status)),
    ]
    if any(t.parent_trial_id for t in trials):
        cols.append(Column("parent", lambda t: t.parent_trial_id or "-", no_wrap=True))
    for key in varying_config_keys(trials):
        cols.append(Column(key, _config_cell(key), justify="right"))
    cols.append(Column("iter", lambda t: str(t.iteration), justify="right"))
    if metric is not None:
        cols.append(Column(metric, lambda t: _fmt_value(score(t)), justify="right"))
    cols.append(Column("error", lambda t: _first_line(t.error)))
    return cols


def _objective_column(name: str) -> Column:
    return Column(name, lambda t: _fmt_value(_metric_value(t.last_result, name)), justify="right")


def _config_cell(key: str) -> Callable[[TrialResult], str]:
    from tunefleet.results import flatten

    def cell(t: TrialResult) -> str:
        return _fmt_value(flatten(t.config).get(key))

    return cell


def _first_line(text: str | None, width: int = 60) -> str:
    if not text:
        return ""
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= width else line[: width - 1] + "…"


def build_trials_table(columns: list[Column], trials: list[TrialResult]) -> Table:
    table = Table(title_justify="left")
    for c in columns:
        table.add_column(c.header, justify=c.justify, no_wrap=c.no_wrap)
    for t in trials:
        table.add_row(*(c.cell(t) for c in columns))
    return table


def lineage_rows(store: Store, name: str) -> list[tuple[str, str, str, str, str]]:
    """Every continuation of a trial from a checkpoint, in log order: PBT exploits (another
    trial's checkpoint and a new config) and resumes (its own checkpoint, after a pause,
    a failure or a driver restart). Rows: (trial, event, source trial, iteration, detail)."""
    configs: dict[str, dict[str, Any]] = {}
    rows: list[tuple[str, str, str, str, str]] = []
    kinds = (rk.TRIAL_CREATED, rk.TRIAL_RESTARTED, rk.TRIAL_STARTED)
    for rec in store.read(name, kinds=kinds):
        tid = rec.trial_id or ""
        data = rec.data
        if rec.kind == rk.TRIAL_CREATED:
            configs[tid] = data.get("config") or {}
        elif rec.kind == rk.TRIAL_RESTARTED:
            new = data.get("config") or {}
            old = configs.get(tid, {})
            changed = ", ".join(
                f"{k}: {_fmt_value(old.get(k))} → {_fmt_value(v)}"
                for k, v in sorted(new.items())
                if old.get(k) != v
            )
            configs[tid] = new
            rows.append(
                (
                    tid,
                    "exploit",
                    str(data.get("from_trial")),
                    str(data.get("iteration", "")),
                    changed or "(same config)",
                )
            )
        elif data.get("checkpoint"):
            ckpt = str(data["checkpoint"])
            source = _checkpoint_owner(ckpt) or tid
            rows.append(
                (
                    tid,
                    f"resume (attempt {data.get('attempt')})",
                    source,
                    _checkpoint_iteration(ckpt),
                    ckpt,
                )
            )
    return rows


def _checkpoint_owner(path: str) -> str | None:
    parts = path.replace("\\", "/").rstrip("/").split("/")
    if len(parts) >= 2 and parts[-1].startswith("checkpoint_"):
        return parts[-2]
    return None


def _checkpoint_iteration(path: str) -> str:
    last = path.rstrip("/").rsplit("/", 1)[-1]
    if not last.startswith("checkpoint_"):
        return ""
    digits = last[len("checkpoint_") :].split(".")[0]
    return str(int(digits)) if digits.isdigit() else ""


def build_lineage_table(store: Store, name: str, limit: int) -> Table | None:
    rows = lineage_rows(store, name)
    if not rows:
        return None
    table = Table(title="Lineage (continuations from checkpoints)", title_justify="left")
    for col in ("trial", "event", "from trial", "iteration", "detail"):
        table.add_column(col)
    shown = rows if limit <= 0 else rows[-limit:]
    exp_dir = store.experiment_dir(name)
    for row in shown:
        detail = row[-1]
        if detail.startswith(exp_dir + os.sep):  # trials/<id>/checkpoint_...: fits a line
            detail = os.path.relpath(detail, exp_dir)
        table.add_row(*row[:-1], detail)
    if len(shown) < len(rows):
        table.caption = f"last {len(shown)} of {len(rows)} (use --limit 0 to see all)"
    return table


def _metric_value(result: dict[str, Any], metric: str | None) -> float | None:
    if metric is None:
        return None
    v = result.get(metric)
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    return float(v)


def _print_config(console: Console, config: dict[str, Any]) -> None:
    from tunefleet.results import flatten

    table = Table("parameter", "value", title="Config", title_justify="left")
    for k, v in flatten(config).items():
        table.add_row(k, _fmt_value(v))
    console.print(table)


def _parquet_safe(df: pd.DataFrame) -> pd.DataFrame:
    """Columns pyarrow cannot type (mixed types, dicts, lists) become strings."""
    import json

    df = df.copy()
    for col in df.columns:
        if df[col].dtype != object:
            continue
        values = [v for v in df[col] if v is not None and not (isinstance(v, float) and v != v)]
        kinds = {type(v) for v in values}
        if any(issubclass(k, dict | list | tuple) for k in kinds):
            df[col] = [
                json.dumps(v, default=repr) if isinstance(v, dict | list | tuple) else v
                for v in df[col]
            ]
            kinds = {type(v) for v in df[col] if v is not None}
        if len(kinds) > 1:
            df[col] = [None if v is None else str(v) for v in df[col]]
    return df


def _to_json(df: pd.DataFrame) -> str:
    """Records as standard JSON (NaN/inf → null), floats written exactly (repr, not %.10g)."""
    import json

    import pandas as pd

    def clean(v: Any) -> Any:
        if isinstance(v, float):  # numpy float64 included
            return v if math.isfinite(v) else None
        if v is None or isinstance(v, str | bool | int | list | dict):
            return v
        return None if pd.api.types.is_scalar(v) and pd.isna(v) else v

    rows = [{k: clean(v) for k, v in r.items()} for r in df.to_dict(orient="records")]
    return json.dumps(rows, default=_json_default, allow_nan=False)


def _json_default(o: Any) -> Any:
    if hasattr(o, "item"):  # numpy scalars
        return o.item()
    if hasattr(o, "tolist"):
        return o.tolist()
    return str(o)
