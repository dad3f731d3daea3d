"""Plots of one experiment without a server: ``tunefleet plot`` and ``Results.plot_*()``.

Seven kinds (``KINDS``), each drawn from :mod:`tunefleet.analysis` data. Two renderers:

- **matplotlib** (PNG, SVG, PDF; the default): a ``matplotlib.figure.Figure`` made without
  pyplot, so no GUI backend or global figure state is touched and it shows inline in
  Jupyter;
- **plotly** (HTML): an interactive ``plotly.graph_objects.Figure`` (hover shows the trial,
  its config change, the marker's reason); ``.html`` files embed plotly.js, so they open
  offline.

The renderer follows the output file's extension, or ``backend=``. Both libraries are
imported only when a plot is made (the ``plots`` extra).
"""

from __future__ import annotations

from typing import Any

KINDS = ("history", "curves", "parallel", "importance", "slice", "pareto", "lineage")
BACKENDS = ("matplotlib", "plotly")
EXTENSIONS = {".png": "matplotlib", ".svg": "matplotlib", ".pdf": "matplotlib", ".html": "plotly"}


def plot(results: Any, kind: str, **kwargs: Any) -> Any:
    """See :func:`tunefleet.plots.render.plot`."""
    from tunefleet.plots.render import plot as _plot

    return _plot(results, kind, **kwargs)


__all__ = ["BACKENDS", "EXTENSIONS", "KINDS", "plot"]
