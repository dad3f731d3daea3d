"""Live progress for long sweeps: counts by status, best so far, trials per second.

On a terminal it is a rich live panel refreshed at most twice a second; elsewhere (CI,
logs) one plain line every ``log_every`` seconds. ``verbose=0`` shows nothing. The cost on
the hot path is one comparison per result (tracking the best value).
"""

from __future__ import annotations

import math
import sys
import time
from typing import Any

from tunefleet.storage import records as rk
from tunefleet.storage.records import Record


class Progress:
    def __init__(
        self,
        name: str,
        metric: str | None,
        mode: str | None,
        total: int | None,
        verbose: int = 1,
        log_every: float = 10.0,
        hint: str | None = None,
    ) -> None:
        self.name = name
        self.hint = hint  # e.g. the command that opens the live dashboard
        # several objectives (a list) have no single best to show
        self.metric = metric if isinstance(metric, str) else None
        self.sign = -1.0 if mode == "min" else 1.0
        self.total = total
        self.verbose = verbose
        self.best: float = -math.inf
        self.best_trial: str | None = None
        self.best_config: dict[str, Any] | None = None
        self._configs: dict[str, Any] = {}
        self._live: Any = None
        self._last_draw = 0.0
        self._log_every = log_every
        self._t0 = time.monotonic()
        self._tty = sys.stdout.isatty()

    def __enter__(self) -> Progress:
        if self.verbose >= 1 and self.hint and not self._tty:
            print(f"[{self.name}] {self.hint}", flush=True)
        if self.verbose >= 1 and self._tty:
            from rich.live import Live

            self._live = Live(self._render_empty(), refresh_per_second=2, transient=False)
            self._live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._live is not None:
            self._live.__exit__(*exc)
            self._live = None

    def observe(self, records: list[Record]) -> None:
        """Track the best value so far from freshly emitted records."""
        metric = self.metric
        if metric is None or self.verbose < 1:
            return
        for r in records:
            kind = r.kind
            if kind == rk.RESULT:
                v = r.data.get(metric)
                if isinstance(v, (int, float)) and math.isfinite(v):
                    s = self.sign * v
                    if s > self.best:
                        self.best = s
                        self.best_trial = r.trial_id
                        self.best_config = self._configs.get(r.trial_id or "")
            elif kind == rk.TRIAL_CREATED or kind == rk.TRIAL_RESTARTED:
                self._configs[r.trial_id or ""] = r.data.get("config")

    def update(self, counts: dict[str, int], num_results: int, force: bool = False) -> None:
        if self.verbose < 1:
            return
        now = time.monotonic()
        if self._live is not None:
            if force or now - self._last_draw >= 0.5:
                self._last_draw = now
                self._live.update(self._render(counts, num_results, now))
        elif force or now - self._last_draw >= self._log_every:
            self._last_draw = now
            print(self._line(counts, num_results, now), flush=True)

    # -- rendering ---------------------------------------------------------------------
    def _best_text(self) -> str:
        if self.best_trial is None or self.metric is None:
            return "-"
        return f"{self.metric}={self.sign * self.best:.6g} ({self.best_trial})"

    def _line(self, counts: dict[str, int], num_results: int, now: float) -> str:
        elapsed = now - self._t0
        done = counts.get("TERMINATED", 0) + counts.get("ERROR", 0)
        rate = done / elapsed if elapsed > 0 else 0.0
        total = f"/{self.total}" if self.total else ""
        return (
            f"[{self.name}] {elapsed:7.1f}s  running {counts.get('RUNNING', 0)}  "
            f"pending {counts.get('PENDING', 0)}  paused {counts.get('PAUSED', 0)}  "
            f"terminated {counts.get('TERMINATED', 0)}{total}  error {counts.get('ERROR', 0)}  "
            f"{rate:.1f} trials/s  best {self._best_text()}"
        )

    def _render_empty(self) -> Any:
        from rich.text import Text

        return Text(f"[{self.name}] starting workers…" + (f"\n{self.hint}" if self.hint else ""))

    def _render(self, counts: dict[str, int], num_results: int, now: float) -> Any:
        from rich.table import Table

        elapsed = now - self._t0
        done = counts.get("TERMINATED", 0) + counts.get("ERROR", 0)
        table = Table(
            title=f"tunefleet · {self.name}",
            title_justify="left",
            caption=self.hint,
            caption_justify="left",
            expand=False,
        )
        for col in (
            "elapsed",
            "running",
            "pending",
            "paused",
            "terminated",
            "error",
            "trials/s",
            "results",
            f"best {self.metric or ''}".strip(),
        ):
            table.add_column(col, justify="right")
        total = f"/{self.total}" if self.total else ""
        table.add_row(
            f"{elapsed:.1f}s",
            str(counts.get("RUNNING", 0)),
            str(counts.get("PENDING", 0)),
            str(counts.get("PAUSED", 0)),
            f"{counts.get('TERMINATED', 0)}{total}",
            str(counts.get("ERROR", 0)),
            f"{done / elapsed if elapsed > 0 else 0.0:.1f}",
            str(num_results),
            self._best_text(),
        )
        return table
