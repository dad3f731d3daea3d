"""Drivers started in the same second with the same trainable get distinct automatic names
(trainable + second, then _2, _3...), instead of the second one being refused."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

DRIVER = textwrap.dedent(
    """
    import sys, time
    import tunefleet as tune
    def trainable(config):
        time.sleep(1.0)
        tune.report(score=1)
    start = float(sys.argv[1])
    while time.time() < start:
        time.sleep(0.001)
    tune.run(trainable, config={}, verbose=0, storage_path=sys.argv[2])
    """
)


def test_three_drivers_in_the_same_second_get_three_names(tmp_path: Path) -> None:
    script = tmp_path / "driver.py"
    script.write_text(DRIVER)
    start = int(time.time()) + 2.5  # mid-second, after the three interpreters are up
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), repr(start), str(tmp_path / "runs")],
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    for p in procs:
        _, err = p.communicate(timeout=60)
        assert p.returncode == 0, err[-2000:]
    names = sorted(d.name for d in (tmp_path / "runs").iterdir())
    assert len(names) == 3, names
    assert len({n.split("_20")[0] for n in names}) == 1  # all "trainable_<stamp>[_k]"
