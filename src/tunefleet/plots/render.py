"""Check a plot request, gather its data, hand it to a renderer, write the file.

Every refusal names its parameter and comes before any data is read beyond what the check
itself needs (the metric names of the trials' last results; for lineage, the exploits).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from tunefleet.analysis import source as src
from tunefleet.errors import TuneValueError
from tunefleet.plots import BACKENDS, EXTENSIONS, KINDS

if TYPE_CHECKING:
    from tunefleet.results import Results


def check_request(kind: object, out: str | os.PathLike[str] | None, backend: object) -> str:
    """The backend to use; TuneValueError naming ``kind``, ``out`` or ``backend``."""
    if kind not in KINDS:
        raise TuneValueError(f"kind: must be one of {', '.join(KINDS)}; got {kind!r}")
    if backend is not None and backend not in BACKENDS:
        raise TuneValueError(f"backend: must be one of {', '.join(BACKENDS)}; got {backend!r}")
    if out is None:
        return str(backend or "matplotlib")
    path = os.fspath(out)
    ext = os.path.splitext(path)[1].lower()
    wanted = EXTENSIONS.get(ext)
    if wanted is None:
        raise TuneValueError(f"out: the file must end in {', '.join(EXTENSIONS)}; got {path!r}")
    if backend is not None and backend != wanted:
        raise TuneValueError(f"backend: {backend!r} cannot write {ext} files ({wanted} does)")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise TuneValueError(f"out: the folder {parent!r} does not exist")
    return wanted


def _backend_module(backend: str) -> Any:
    if backend == "plotly":
        try:
            import plotly  # noqa: F401
        except ImportError:
            raise ImportError("HTML plots need plotly: pip install 'tunefleet[plots]'") from None
        from tunefleet.plots import plotly_figs

        return plotly_figs
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ImportError("plots need matplotlib: pip install 'tunefleet[plots]'") from None
    from tunefleet.plots import mpl_figs

    return mpl_figs


def plot(
    results: Results,
    kind: str,
    *,
    metric: str | Sequence[str] | None = None,
    mode: str | Sequence[str] | None = None,
    out: str | os.PathLike[str] | None = None,
    backend: str | None = None,
) -> Any:
    """Draw ``kind`` for ``results``; write it to ``out`` if given; return the figure."""
    chosen = check_request(kind, out, backend)
    title = f"{results.name}: "
    data: Any
    if kind == "pareto":
        data = src.pareto_of(results, metric, mode)
    else:
        if not (metric is None or isinstance(metric, str)):
            raise TuneValueError(f"metric: the {kind} kind takes one metric; got {metric!r}")
        if not (mode is None or isinstance(mode, str)):
            raise TuneValueError(f"mode: the {kind} kind takes one mode; got {mode!r}")
        if mode is not None and kind != "history":  # acted on or refused, never ignored
            raise TuneValueError(f"mode: the {kind} kind does not use a mode; leave it out")
        if metric is not None and kind == "lineage":
            raise TuneValueError("metric: the lineage kind does not use a metric; leave it out")
        if kind == "history":
            data = src.history_of(results, metric, mode)
        elif kind == "curves":
            chosen_metric = src.check_metric(results, metric)
            data = (chosen_metric, src.curves_of(results, chosen_metric))
        elif kind in ("parallel", "slice"):
            data = src.table_of(results, metric)
            if not data.params:
                raise TuneValueError(
                    f"kind: {kind} needs a config parameter that varies between scored "
                    f"trials; experiment {results.name!r} has none"
                )
        elif kind == "importance":
            data = src.importance_of(results, metric)
        else:
            data = src.lineage_of(results)
    module = _backend_module(chosen)
    with _plain_text(chosen):
        fig = getattr(module, kind)(data, title)
        if out is not None:
            module.save(fig, os.fspath(out))
    return fig


def _plain_text(backend: str) -> AbstractContextManager[Any]:
    """Labels come from configs and metric names: a '$' in them is text, not mathtext
    (which would fail to parse, or render something else)."""
    if backend != "matplotlib":
        return contextlib.nullcontext()
    import matplotlib

    return matplotlib.rc_context({"text.parse_math": False})
