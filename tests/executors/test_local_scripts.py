"""Users' scripts as they write them, run with ``python script.py`` on the local engine.

No script here has an ``if __name__ == "__main__":`` guard: a worker that executed the main
module again would start the sweep again (the bug these tests guard against; it showed as
``WorkerLost ... exit code 1`` once the driver had a second thread). README's examples are
read from README.md itself, so the test follows the README.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.timeout(180)

#: The one name README's examples leave to the reader.
README_PRELUDE = """\
def train_one_epoch(lr, batch):
    return -abs(lr - 1e-3) * 1000 - batch / 64
"""


def _run(tmp_path: Path, code: str, name: str = "script.py") -> subprocess.CompletedProcess[str]:
    script = tmp_path / name
    script.write_text(code)
    return subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,  # the default storage path ./tunefleet_runs lands in tmp_path
        capture_output=True,
        text=True,
        timeout=170,
        check=False,
    )


def _readme_blocks() -> list[str]:
    """README's runnable python blocks (those without a ``...`` placeholder), in order."""
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    runnable = [b for b in blocks if "..." not in b]
    assert len(runnable) >= 2, "README.md lost its tune.run and Tuner examples"
    return runnable


def test_readme_examples_verbatim_without_main_guard(tmp_path: Path) -> None:
    blocks = _readme_blocks()
    assert any("tune.run(" in b for b in blocks) and any("Tuner(" in b for b in blocks)
    out = _run(tmp_path, README_PRELUDE + "\n".join(blocks))
    assert out.returncode == 0, out.stderr[-4000:]
    # the Tuner example prints the best config, its score and its path
    best = re.search(r"\{'lr': [0-9.e-]+, 'batch': (16|32|64)\} -?[0-9.]+ \S+", out.stdout)
    assert best, out.stdout[-2000:]
    assert "WorkerLost" not in out.stdout + out.stderr


def test_readme_examples_with_a_thread_started_first(tmp_path: Path) -> None:
    threaded = "import threading, time\nthreading.Thread(target=time.sleep, args=(600,), "
    threaded += "daemon=True).start()\n"
    out = _run(tmp_path, threaded + README_PRELUDE + "\n".join(_readme_blocks()))
    assert out.returncode == 0, out.stderr[-4000:]
    assert re.search(r"\{'lr': [0-9.e-]+, 'batch': (16|32|64)\}", out.stdout), out.stdout[-2000:]


THREADED_SCRIPT = textwrap.dedent(
    """
    import threading, time
    import numpy as np
    import tunefleet as tune

    threading.Thread(target=time.sleep, args=(600,), daemon=True).start()
    print("sweep starts", flush=True)  # printed once: a worker never runs this script

    class Small:  # classes of the script travel by value, in the trainable and the config
        scale = 1.0

    class Large:
        scale = 2.0

    DATA = np.arange(10.0)

    def f(config):
        for i in range(3):
            tune.report(score=config["x"] * config["model"].scale * DATA[i + 1])

    # every Large trial beats every Small one
    r = tune.run(f, config={"x": tune.uniform(0.5, 1), "model": tune.grid_search([Small, Large])},
                 num_samples=4, max_concurrent_trials=2, engine="local", verbose=0,
                 metric="score", mode="max")
    print("best config:", r.best_config)  # the store keeps a class by its repr
    """
)


def test_script_with_a_thread_and_classes_of_its_own(tmp_path: Path) -> None:
    out = _run(tmp_path, THREADED_SCRIPT)
    assert out.returncode == 0, out.stderr[-4000:]
    assert out.stdout.count("sweep starts") == 1
    assert re.search(r"best config: \{'x': 0\.\d+, 'model': .*Large", out.stdout), out.stdout


def test_modules_next_to_the_script_and_on_a_runtime_path(tmp_path: Path) -> None:
    (tmp_path / "helpers.py").write_text("def score(x):\n    return 2 * x\n")
    extra = tmp_path / "lib"
    extra.mkdir()
    (extra / "more.py").write_text("OFFSET = 1.0\n")
    code = textwrap.dedent(
        f"""
        import sys
        sys.path.append({str(extra)!r})
        import helpers, more
        import tunefleet as tune

        def f(config):
            tune.report(score=helpers.score(config["x"]) + more.OFFSET)

        r = tune.run(f, config={{"x": tune.grid_search([1, 2])}}, engine="local",
                     verbose=0, metric="score", mode="max")
        print("best:", r.best_result["score"])
        """
    )
    out = _run(tmp_path, code)
    assert out.returncode == 0, out.stderr[-4000:]
    assert "best: 5.0" in out.stdout


def test_what_a_worker_cannot_import_is_an_error_before_any_trial(tmp_path: Path) -> None:
    hidden = tmp_path / "hidden"
    hidden.mkdir()
    (hidden / "plugin.py").write_text(
        "import pathlib\n\ndef train(config):\n    pathlib.Path('ran').touch()\n"
    )
    code = textwrap.dedent(
        f"""
        import importlib.util, sys
        import tunefleet as tune

        # loaded from a file that is on no sys.path entry: a fresh interpreter cannot find it
        spec = importlib.util.spec_from_file_location("plugin", {str(hidden / "plugin.py")!r})
        plugin = importlib.util.module_from_spec(spec)
        sys.modules["plugin"] = plugin
        spec.loader.exec_module(plugin)
        tune.run(plugin.train, config={{"x": tune.uniform(0, 1)}}, num_samples=4,
                 engine="local", verbose=0)
        """
    )
    out = _run(tmp_path, code)
    assert out.returncode != 0
    last = out.stderr.strip().splitlines()
    error = next(line for line in last if line.startswith("tunefleet.errors.TuneError"))
    assert "Module 'plugin' is not importable" in error
    assert "put its directory on sys.path" in error
    assert "register_pickle_by_value(plugin)" in error
    assert not (tmp_path / "ran").exists()  # no trial ran
