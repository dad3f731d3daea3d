"""Write a benchmark's table as markdown, JSON and PNG charts, and print it."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

#: (key, header, format) of the engine table's columns, in order.
RUN_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("system", "system", "{}"),
    ("time_to_target_s", "time to target (s)", "{:.1f}"),
    ("trials_per_hour", "trials/hour", "{:,.0f}"),
    ("utilisation", "utilisation", "{:.1%}"),
    ("utilisation_busy", "utilisation (busy)", "{:.1%}"),
    ("utilisation_slots", "utilisation (per process)", "{:.1%}"),
    ("utilisation_training", "utilisation (training)", "{:.1%}"),
    ("cost_per_1000", "cost/1000 trials", "{:.3f}"),
    ("cost_per_1000_spot", "cost/1000 (spot)", "{:.3f}"),
    ("recovery_s", "recovery (s)", "{:.2f}"),
    ("best", "best", "{:.4f}"),
    ("wall_s", "wall (s)", "{:.1f}"),
    ("trials", "trials", "{}"),
)

#: GPU columns (bench/gpu_sampler.py), shown only when some row was sampled on a GPU.
GPU_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("gpu_utilisation", "GPU util (busy)", "{:.1%}"),
    ("gpu_per_device", "GPU util per device", "{}"),
    ("gpu_memory_peak_mb", "GPU mem peak (MiB)", "{:,.0f}"),
)


def run_columns(rows: Sequence[dict[str, Any]]) -> tuple[tuple[str, str, str], ...]:
    """The engine table's columns: the GPU ones after utilisation when a GPU was sampled."""
    if not any("gpu_utilisation" in r for r in rows):
        return RUN_COLUMNS
    at = [k for k, _, _ in RUN_COLUMNS].index("utilisation_slots") + 1
    return RUN_COLUMNS[:at] + GPU_COLUMNS + RUN_COLUMNS[at:]


def cell(row: dict[str, Any], key: str, fmt: str) -> str:
    value = row.get(key)
    if value is None:
        if key == "system":
            return "?"
        if row.get("error"):
            return "error"
        return "—"
    try:
        return fmt.format(value)
    except (ValueError, TypeError):
        return str(value)


def markdown_table(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str, str]]) -> str:
    lines = [
        "| " + " | ".join(h for _, h, _ in columns) + " |",
        "|" + "|".join("---" for _ in columns) + "|",
    ]
    for row in rows:
        lines.append("| " + " | ".join(cell(row, k, f) for k, _, f in columns) + " |")
    return "\n".join(lines)


def print_table(
    title: str, rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str, str]]
) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for i, (_, header, _) in enumerate(columns):
        table.add_column(header, justify="left" if i == 0 else "right")
    for row in rows:
        table.add_row(*(cell(row, k, f) for k, _, f in columns))
    console = Console()
    if not console.is_terminal:
        console = Console(width=200)  # a log file: no wrapping into unreadable columns
    console.print(table)


def write_json(path: Path, report: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(report, indent=2, default=str))
    tmp.replace(path)


def bar_charts(
    path: Path,
    rows: Sequence[dict[str, Any]],
    panels: Sequence[tuple[str, str]],
    title: str,
) -> bool:
    """One bar chart per ``(key, label)`` panel side by side; False without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    panels = [
        (k, label) for k, label in panels if any(isinstance(r.get(k), (int, float)) for r in rows)
    ]
    if not panels:
        return False
    fig, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels), 3.4), squeeze=False)
    names = [str(r["system"]) for r in rows]
    for ax, (key, label) in zip(axes[0], panels, strict=True):
        values = [r.get(key) for r in rows]
        heights = [float(v) if isinstance(v, (int, float)) else 0.0 for v in values]
        bars = ax.bar(names, heights, color="#4C72B0")
        for bar, v in zip(bars, values, strict=True):
            if not isinstance(v, (int, float)):
                ax.annotate("n/a", (bar.get_x() + bar.get_width() / 2, 0), ha="center", va="bottom")
        ax.set_title(label, fontsize=10)
        ax.tick_params(axis="x", labelrotation=30, labelsize=8)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def curve_chart(
    path: Path, curves: dict[str, list[tuple[float, float]]], metric: str, target: float | None
) -> bool:
    """Best metric so far against wall time, one line per system."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for name, points in curves.items():
        if points:
            xs, ys = zip(*points, strict=True)
            ax.step(xs, ys, where="post", label=name)
    if target is not None:
        ax.axhline(target, color="grey", linestyle="--", linewidth=1, label="target")
    ax.set_xlabel("seconds since the sweep started")
    ax.set_ylabel(f"best {metric} so far")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
