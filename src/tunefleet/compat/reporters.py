"""``CLIReporter`` and friends: Ray's progress tables. tunefleet prints its own progress
(``verbose``), so a reporter is accepted for the metric columns it names and otherwise
changes nothing; ``run()`` warns once that it is ignored."""

from __future__ import annotations

from typing import Any


class ProgressReporter:
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.metric_columns: list[str] | dict[str, str] = list(kwargs.get("metric_columns") or [])
        self.parameter_columns: Any = kwargs.get("parameter_columns")
        self.extra = kwargs

    def add_metric_column(self, metric: str, representation: str | None = None) -> None:
        if isinstance(self.metric_columns, dict):
            self.metric_columns[metric] = representation or metric
        else:
            self.metric_columns.append(metric)

    def should_report(self, trials: list[Any], done: bool = False) -> bool:
        return False

    def report(self, trials: list[Any], done: bool, *sys_info: Any) -> None:
        """Nothing: tunefleet's own progress lines are printed instead."""


class CLIReporter(ProgressReporter):
    pass


class JupyterNotebookReporter(ProgressReporter):
    pass
