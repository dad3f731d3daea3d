"""Every plot kind written as PNG and HTML from real sweeps, through ``Results.plot_*``
and through ``tunefleet plot``; bad requests refused naming the option."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import plotly.graph_objects as go
import pytest
from matplotlib.figure import Figure
from typer.testing import CliRunner

import tunefleet as tune
from tunefleet.analysis import MARKERS
from tunefleet.analysis import source as src
from tunefleet.cli import app
from tunefleet.errors import TuneValueError
from tunefleet.plots import KINDS
from tunefleet.results import Results

PNG = b"\x89PNG\r\n\x1a\n"
ARGS: dict[str, dict[str, Any]] = {"pareto": {"metric": "score,cost", "mode": "max,min"}}
SOURCE = {"lineage": "pbt"}  # the others from the ASHA sweep


def draw(store_path: str, kind: str, out: Path) -> Any:
    res = Results.load(SOURCE.get(kind, "asha"), store_path)
    return getattr(res, f"plot_{kind}")(out=out, **ARGS.get(kind, {}))


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_writes_a_png(store_path: str, tmp_path: Path, kind: str) -> None:
    out = tmp_path / f"{kind}.png"
    fig = draw(store_path, kind, out)
    assert isinstance(fig, Figure) and fig.axes
    data = out.read_bytes()
    assert data.startswith(PNG) and len(data) > 5000


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_writes_a_self_contained_html(store_path: str, tmp_path: Path, kind: str) -> None:
    out = tmp_path / f"{kind}.html"
    fig = draw(store_path, kind, out)
    assert isinstance(fig, go.Figure) and (fig.data or fig.layout.annotations)
    text = out.read_text(encoding="utf-8")
    assert "<html>" in text[:200].lower() and text.rstrip().endswith("</html>")
    assert "<script src=" not in text and "Plotly.newPlot" in text  # plotly.js is embedded
    assert len(text) > 1_000_000  # the library itself, so it opens offline


def test_curves_figure_shows_every_trial_and_the_stops(store_path: str) -> None:
    res = Results.load("asha", store_path)
    fig = res.plot_curves()
    (ax,) = fig.axes
    (lines,) = [c for c in ax.collections if c.get_label() not in MARKERS]
    assert len(lines.get_segments()) == len(res)
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "stopped" in legend
    assert fig._repr_png_().startswith(PNG)  # what Jupyter shows, without pyplot
    html_fig = res.plot_curves(backend="plotly")
    names = [t.name for t in html_fig.data]
    assert "stopped" in names and {t.trial_id for t in res.trials} <= set(names)


def test_promotion_and_exploit_markers_reach_the_figure(store_path: str) -> None:
    promo = Results.load("promo", store_path).plot_curves(backend="plotly")
    assert {"paused", "resumed"} <= {t.name for t in promo.data}
    pbt = Results.load("pbt", store_path)
    assert "exploited" in {t.name for t in pbt.plot_curves(backend="plotly").data}
    arrows = pbt.plot_lineage().axes[0].texts  # one annotation arrow per exploit
    assert len(arrows) == len(pbt.plot_lineage(backend="plotly").layout.annotations) > 0


def test_importance_figure_draws_the_shares(store_path: str) -> None:
    res = Results.load("asha", store_path)
    shares = src.importance_of(res)
    (bar,) = res.plot_importance(backend="plotly").data
    assert list(bar.y) == list(shares)[::-1]  # drawn bottom-up: the top bar is the first
    assert list(bar.x) == pytest.approx(list(shares.values())[::-1])


def test_bad_requests_are_refused_naming_the_parameter(store_path: str, tmp_path: Path) -> None:
    res = Results.load("asha", store_path)
    with pytest.raises(TuneValueError, match="^out: "):
        res.plot_history(out=tmp_path / "h.jpg")
    with pytest.raises(TuneValueError, match="^out: the folder"):
        res.plot_history(out=tmp_path / "missing" / "h.png")
    with pytest.raises(TuneValueError, match="^backend: 'matplotlib' cannot write .html"):
        res.plot_history(out=tmp_path / "h.html", backend="matplotlib")
    with pytest.raises(TuneValueError, match="^backend: "):
        res.plot_history(backend="bokeh")
    with pytest.raises(TuneValueError, match="^kind: lineage needs PBT"):
        res.plot_lineage(out=tmp_path / "l.png")
    with pytest.raises(TuneValueError, match="^metric: the curves kind takes one metric"):
        res.plot_curves(["score", "cost"])  # type: ignore[arg-type]
    assert not list(tmp_path.iterdir())  # nothing written by a refused request


def test_cli_plot_writes_files_and_refuses_bad_input(store_path: str, tmp_path: Path) -> None:
    runner = CliRunner()

    def call(*args: str) -> Any:
        return runner.invoke(app, ["plot", *args, "--storage-path", store_path])

    out = tmp_path / "curves.png"
    ok = call("asha", "--kind", "curves", "--out", str(out))
    assert ok.exit_code == 0, ok.output
    assert out.read_bytes().startswith(PNG)
    html = tmp_path / "front.html"
    ok = call(
        "asha", "-k", "pareto", "-o", str(html), "--metric", "score,cost", "--mode", "max,min"
    )
    assert ok.exit_code == 0, ok.output
    assert "Plotly.newPlot" in html.read_text(encoding="utf-8")
    bad_kind = call("asha", "--kind", "violin", "--out", str(out))
    assert bad_kind.exit_code == 2 and "--kind" in bad_kind.output
    cases = [
        (["asha", "-k", "curves", "-o", str(tmp_path / "x.gif")], "out: "),
        (["asha", "-k", "curves", "-o", str(out), "-m", "nope"], "metric: "),
        (["asha", "-k", "history", "-o", str(out), "--mode", "up"], "mode: "),
        (["asha", "-k", "lineage", "-o", str(out)], "kind: lineage"),
        (["pbt", "-k", "lineage", "-o", str(out), "-m", "acc"], "metric: the lineage kind"),
        (["asha", "-k", "curves", "-o", str(out), "--mode", "max"], "mode: the curves kind"),
        (["asha", "-k", "pareto", "-o", str(out), "-m", "score"], "metric: the pareto kind"),
        (["ghost", "-k", "curves", "-o", str(out)], "no experiment named 'ghost'"),
    ]
    for args, message in cases:
        result = call(*args)
        assert result.exit_code == 1, (args, result.output)
        assert message in result.output, (args, result.output)


def tagged(config: dict[str, Any]) -> None:
    tune.report(score=config["x"] + (1.0 if config["tag"] == "ok" else 0.0))


def test_config_strings_are_text_in_every_format(tmp_path: Path) -> None:
    hostile = "</script><script>alert(1)</script> $\\frac{$"  # HTML breakout; bad mathtext
    res = tune.run(
        tagged,
        config={"x": tune.uniform(0, 1), "tag": tune.choice([hostile, "ok"])},
        num_samples=8,
        metric="score",
        mode="max",
        storage_path=str(tmp_path),
        name="hostile",
        verbose=0,
        seed=1,
    )
    assert hostile in {t.config["tag"] for t in res.trials}
    for kind in ("slice", "parallel"):
        png = tmp_path / f"{kind}.png"
        getattr(res, f"plot_{kind}")(out=png)  # mathtext would raise on the '$'
        assert png.read_bytes().startswith(PNG)
        page = tmp_path / f"{kind}.html"
        getattr(res, f"plot_{kind}")(out=page)
        text = page.read_text(encoding="utf-8")
        assert "alert(1)" in text  # the value is there ...
        assert "<script>alert(1)" not in text  # ... but cannot close plotly's script tag
