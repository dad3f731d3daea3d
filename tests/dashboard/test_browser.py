"""The dashboard in a real browser: Debian's chromium (headless, driven by Playwright) against
a real uvicorn server over a real store while a real sweep runs in another process.

Skipped only when /usr/bin/chromium is absent (``make test`` installs it). Set
``TUNEFLEET_SCREENSHOT=docs/img/dashboard.png`` to refresh the README's screenshot.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
if not os.path.exists(CHROMIUM):
    pytest.skip(
        f"{CHROMIUM} is missing: `make test` installs Debian's chromium "
        "(apt-get install chromium) for this test",
        allow_module_level=True,
    )
pytest.importorskip("fastapi")
sync_api = pytest.importorskip("playwright.sync_api")

import uvicorn  # noqa: E402

from tunefleet.dashboard.app import create_app  # noqa: E402

pytestmark = pytest.mark.slow
TOKEN = "browser-test-token"
SWEEP = """
import time
import tunefleet as tune
from tunefleet.schedulers import ASHAScheduler

def trainable(config):
    if config["lr"] == %(failing)r:
        raise ValueError("this learning rate fails on purpose")
    for i in range(1, 10):
        time.sleep(0.2)
        tune.report({"score": config["lr"] * i})

tune.run(
    trainable,
    config={"lr": tune.grid_search(%(lrs)s), "note": %(evil)r},
    metric="score", mode="max", max_concurrent_trials=2,
    scheduler=ASHAScheduler(max_t=9, grace_period=1, reduction_factor=3),
    name="live", storage_path=%(root)r, verbose=0, seed=0, raise_on_failed_trial=False,
)
"""
LRS = [0.9, 0.8, 0.1, 0.2, 0.15, 0.3, 0.05, 0.25, 0.12, 0.7, 0.11, 0.13]
FAILING = 0.11  # one trial errors before its first report: the status filter has two states


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """A real uvicorn server in a thread, stopped on exit."""

    def __init__(self, root: str, **kw: Any) -> None:
        self.port = _port()
        config = uvicorn.Config(
            create_app(root, **kw), host="127.0.0.1", port=self.port, log_level="warning"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.url = f"http://127.0.0.1:{self.port}/"

    def __enter__(self) -> Server:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def sweep(tmp_path: Any, evil: str) -> Iterator[tuple[str, list[subprocess.Popen[bytes]]]]:
    """The store's root and a list that ``start(...)`` fills with the sweep's process."""
    root = str(tmp_path / "runs")
    os.makedirs(root)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        yield root, procs
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=30)


def start(root: str, procs: list[subprocess.Popen[bytes]], evil: str, where: Any) -> None:
    script = where / "sweep.py"
    script.write_text(
        textwrap.dedent(SWEEP % {"lrs": LRS, "evil": evil, "root": root, "failing": FAILING})
    )
    procs.append(subprocess.Popen([sys.executable, str(script)]))
    deadline = time.monotonic() + 30
    while not os.path.exists(os.path.join(root, "live", "experiment.db")):
        assert procs[0].poll() is None, "the sweep exited before creating its experiment"
        assert time.monotonic() < deadline, "the sweep did not start"
        time.sleep(0.05)


def _total(page: Any) -> int:
    return int(page.locator("#trial-count").get_attribute("data-total") or 0)


def _column(page: Any, index: int) -> list[str]:
    return page.locator(f"#trials tbody tr td:nth-child({index})").all_inner_texts()


def test_live_dashboard_in_chromium(
    sweep: tuple[str, list[subprocess.Popen[bytes]]], evil: str, tmp_path: Any
) -> None:
    root, procs = sweep
    with (
        Server(root) as server,
        Server(root, token=TOKEN, host="0.0.0.0") as guarded,
        sync_api.sync_playwright() as pw,
    ):
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1800})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(server.url)
            page.wait_for_selector("#list-empty:not([hidden])")  # no experiment yet
            start(root, procs, evil, tmp_path)
            page.goto(server.url + "#exp=live")
            page.wait_for_selector("#trial-count[data-total]", timeout=20_000)
            first = _total(page)
            # the trial count grows while the sweep runs, without a reload
            page.wait_for_function(
                f"Number(document.querySelector('#trial-count').dataset.total) > {first}",
                timeout=30_000,
            )
            assert procs[0].wait(timeout=120) == 0
            page.wait_for_function(
                "document.querySelector('#summary').textContent.includes('completed')",
                timeout=10_000,
            )
            page.wait_for_function(
                f"Number(document.querySelector('#trial-count').dataset.total) === {len(LRS)}",
                timeout=10_000,
            )

            # sorting: by best, best first (mode max: descending), then reversed
            page.click("#trials th[data-sort=score]")
            page.wait_for_selector("#trials th[data-sort=score]:has-text('▼')")
            desc = [float(v) for v in _column(page, 4) if v != "-"]  # the failed trial: "-"
            assert desc == sorted(desc, reverse=True) and len(desc) == len(LRS) - 1
            page.click("#trials th[data-sort=score]")
            page.wait_for_selector("#trials th[data-sort=score]:has-text('▲')")
            asc = [float(v) for v in _column(page, 4) if v != "-"]
            assert asc == sorted(desc) and asc != desc

            # filtering: by status, then by text
            rows = page.request.get(server.url + "api/experiments/live/trials?limit=100").json()
            terminated = sum(r["status"] == "TERMINATED" for r in rows["rows"])
            assert rows["total"] == len(LRS) and terminated == len(LRS) - 1, rows["rows"]
            page.select_option("#status-filter", "TERMINATED")
            # the filtered page has drawn once its row count is the unfiltered list's count
            page.wait_for_function(
                f"document.querySelectorAll('#trials tbody tr').length === {terminated}",
                timeout=10_000,
            )
            assert set(_column(page, 2)) == {"TERMINATED"}
            page.select_option("#status-filter", "ERROR")
            page.wait_for_function(
                "document.querySelectorAll('#trials tbody tr').length === 1", timeout=10_000
            )
            assert _column(page, 2) == ["ERROR"]
            assert "fails on purpose" in page.locator("#trials tbody").inner_text()
            page.select_option("#status-filter", "")
            target = _column(page, 1)[0]
            page.fill("#filter", target)
            page.wait_for_function(
                "document.querySelectorAll('#trials tbody tr').length === 1", timeout=5_000
            )
            assert _column(page, 1) == [target]
            page.fill("#filter", "")

            # learning curves: every trial ASHA stopped early ends at its rung, marked
            page.wait_for_function(
                "document.getElementById('curves').data && "
                "document.getElementById('curves').data.some(t => t.name === 'stopped')",
                timeout=10_000,
            )
            traces = page.evaluate(
                "document.getElementById('curves').data.map(t => "
                "({name: t.name, x: Array.from(t.x), text: t.text ? Array.from(t.text) : []}))"
            )
            lines = {t["name"]: t["x"] for t in traces if t["name"].startswith(target[:5])}
            stops = next(t for t in traces if t["name"] == "stopped")
            stopped_at = {
                s.split(" ")[0]: x for s, x in zip(stops["text"], stops["x"], strict=True)
            }
            early = {tid: xs[-1] for tid, xs in lines.items() if xs[-1] < 9}
            assert early, f"ASHA stopped no trial early: {lines}"
            for tid, last in early.items():
                assert last in (1, 3), (tid, last)
                assert stopped_at[tid] == last

            # a malicious config value is shown as text, never run
            page.click("#trials tbody tr >> nth=0")
            page.wait_for_selector("#detail:not([hidden])")
            assert evil in page.locator("#detail-config").inner_text()
            assert evil in page.locator("#trials tbody").inner_text()
            assert page.evaluate("window.__pwned") is None
            assert page.locator("main script, main img").count() == 0
            assert not errors, errors

            # parallel coordinates and one scatter per parameter, over every scored trial
            page.wait_for_function(
                "(document.getElementById('parcoords').data || []).length === 1 && "
                f"document.getElementById('params-note').textContent.startsWith('{len(LRS) - 1} of')",
                timeout=10_000,
            )
            assert page.locator("#slices > div").count() == 1  # lr (the note is constant)

            page.wait_for_function(
                "document.getElementById('importance-note').textContent.includes('random forest')",
                timeout=20_000,
            )
            page.click("#trials th[data-sort=score]")  # best first, for the screenshot
            page.wait_for_function(
                f"document.querySelectorAll('#trials tbody tr').length === {len(LRS)}"
            )
            shot = os.environ.get("TUNEFLEET_SCREENSHOT") or str(tmp_path / "dashboard.png")
            page.click("#detail-close")
            page.screenshot(path=shot, full_page=False)
            assert os.path.getsize(shot) > 10_000

            # the token: refused without it, served with it
            denied = page.goto(guarded.url + "#exp=live")
            assert denied is not None and denied.status == 401
            assert page.request.get(guarded.url + "api/experiments").status == 401
            page.goto(guarded.url + f"?token={TOKEN}#exp=live")
            page.wait_for_selector("#trials tbody tr", timeout=10_000)
            assert _total(page) == len(LRS)
        finally:
            browser.close()
