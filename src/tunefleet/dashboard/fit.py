"""The importance view's random-forest fit, run in a child process at a lower priority.

Why a process: the fit (importing scikit-learn, 64 trees, permutation importance: 1-3 s
of CPU, much of it Python or C holding the GIL) ran in a thread of the dashboard, and
every request answered meanwhile waited its turn for the GIL: new text filters that take
~25 ms alone took 75-165 ms while it ran (dashboard benchmark, run G). In a child at
``nice`` +10 it shares no GIL with the server, and the OS lets the server's requests go
first. The child reads ``{"metric", "scored": [[trial_id, config, score], ...]}`` as JSON
on stdin and writes ``{"trials", "importance"}`` or ``{"trials", "problem"}``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

NICE = 10
TIMEOUT_S = 300.0


def fit_elsewhere(metric: str, scored: list[tuple[str, Any, float]]) -> dict[str, Any]:
    """The fit's answer from a child process (a failed child: its error as the problem)."""
    data = json.dumps({"metric": metric, "scored": scored}).encode()
    cmd = [sys.executable, "-m", "tunefleet.dashboard.fit"]
    try:
        done = subprocess.run(cmd, input=data, capture_output=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return {"trials": len(scored), "problem": f"importance: no fit in {TIMEOUT_S:.0f} s"}
    if done.returncode != 0:
        tail = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["?"]
        return {"trials": len(scored), "problem": f"importance: the fit failed: {tail[0]}"}
    out: dict[str, Any] = json.loads(done.stdout)
    return out


def _main() -> None:
    import os

    if hasattr(os, "nice"):
        os.nice(NICE)
    job = json.loads(sys.stdin.buffer.read())
    from tunefleet.analysis import param_table

    # the submodule itself: once imported, it shadows the package's wrapper of one name
    from tunefleet.analysis.forest_importance import importance

    table = param_table([tuple(x) for x in job["scored"]], metric=job["metric"])
    out: dict[str, Any] = {"trials": len(table)}
    try:
        out["importance"] = importance(table)
    except Exception as e:  # too few trials, no scikit-learn...: said on the page
        out["problem"] = str(e)
    sys.stdout.write(json.dumps(out))


if __name__ == "__main__":
    _main()
