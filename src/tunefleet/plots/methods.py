"""``Results.plot_*()``: one thin method per plot kind (see :mod:`tunefleet.plots`).

Each returns the figure (matplotlib's ``Figure`` unless ``backend="plotly"`` or ``out``
ends in ``.html``) and writes it to ``out`` when given. This module imports nothing
heavy: the plot is drawn by :func:`tunefleet.plots.render.plot` on first call.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

PathLike = str | os.PathLike[str] | None


class PlotMethods:
    """Mixed into :class:`tunefleet.results.Results`."""

    def _plot(self, kind: str, **kwargs: Any) -> Any:
        from tunefleet.plots.render import plot

        return plot(self, kind, **kwargs)  # type: ignore[arg-type]

    def plot_history(
        self,
        metric: str | None = None,
        mode: str | None = None,
        *,
        out: PathLike = None,
        backend: str | None = None,
    ) -> Any:
        """Best-so-far of ``metric`` over wall time and over training iterations."""
        return self._plot("history", metric=metric, mode=mode, out=out, backend=backend)

    def plot_curves(
        self, metric: str | None = None, *, out: PathLike = None, backend: str | None = None
    ) -> Any:
        """Every trial's learning curve, scheduler stops/pauses/promotions/exploits marked."""
        return self._plot("curves", metric=metric, out=out, backend=backend)

    def plot_parallel(
        self, metric: str | None = None, *, out: PathLike = None, backend: str | None = None
    ) -> Any:
        """Parallel coordinates: one line per trial across its parameters and score."""
        return self._plot("parallel", metric=metric, out=out, backend=backend)

    def plot_importance(
        self, metric: str | None = None, *, out: PathLike = None, backend: str | None = None
    ) -> Any:
        """Each parameter's share of importance (random-forest permutation importance)."""
        return self._plot("importance", metric=metric, out=out, backend=backend)

    def plot_slice(
        self, metric: str | None = None, *, out: PathLike = None, backend: str | None = None
    ) -> Any:
        """The score against each parameter, one panel per parameter."""
        return self._plot("slice", metric=metric, out=out, backend=backend)

    def plot_pareto(
        self,
        metric: str | Sequence[str] | None = None,
        mode: str | Sequence[str] | None = None,
        *,
        out: PathLike = None,
        backend: str | None = None,
    ) -> Any:
        """The trials' last values of two objectives, the non-dominated ones marked;
        ``metric="a,b"`` or ``["a", "b"]`` with one mode each."""
        return self._plot("pareto", metric=metric, mode=mode, out=out, backend=backend)

    def plot_lineage(self, *, out: PathLike = None, backend: str | None = None) -> Any:
        """PBT/PB2 ancestry: one lane per trial, an arrow per exploit (donor → copier)."""
        return self._plot("lineage", out=out, backend=backend)
