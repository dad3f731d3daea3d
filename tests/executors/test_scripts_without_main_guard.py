"""Scripts without ``if __name__ == "__main__":`` run on Dask, Ray and Spark, unchanged.

Each script is written to a file and run with ``python`` in a subprocess, as a user runs it:
the sweep from issue 12 (with a thread started before it), and README's examples taken from
README.md at test time with only ``engine=`` added and fewer samples, and a script whose
trainable lives in a module beside it, started from another directory. The top of every
script appends its process id to a marker file, so a worker that executed the script again
(Dask's spawned workers did: "Nanny failed to start") shows up as a second line even when
the run itself would survive it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = 6

pytestmark = pytest.mark.timeout(200)

# The top of every script: leaves one line per execution of the script.
_MARK = """\
import os
with open(os.environ["TUNEFLEET_TEST_MARK"], "a") as _mark:
    _mark.write(f"{os.getpid()}\\n")
"""

# Issue 12's script, a thread started before the sweep, the result printed.
_ISSUE = """\
import threading
import time

import tunefleet as tune

threading.Thread(target=time.sleep, args=(60,), daemon=True).start()

def f(config):
    for i in range(3):
        tune.report(score=config["x"] * (i + 1))
r = tune.run(f, config={"x": tune.uniform(0, 1)}, num_samples=8, max_concurrent_trials=2,
             engine=ENGINE, verbose=0, metric="score", mode="max")
print("best config:", r.best_config)
"""

# README's examples call a function of the user's; this one stands for it.
_TRAIN_ONE_EPOCH = """\
def train_one_epoch(lr, batch):
    return lr * batch
"""


def _readme_blocks() -> list[str]:
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert len(blocks) >= 2, "README.md lost its first two Python examples"
    return blocks


def _swap(code: str, old: str, new: str) -> str:
    assert code.count(old) == 1, f"README example changed: {old!r} not found once in\n{code}"
    return code.replace(old, new)


def readme_run(engine: str) -> str:
    """README's first example: ``tune.run`` with ``from tunefleet import tune``."""
    code = _swap(_readme_blocks()[0], "num_samples=200)", f"num_samples={SAMPLES}, engine=ENGINE)")
    return _TRAIN_ONE_EPOCH + code + 'print("README run example finished")\n'


def readme_tuner(engine: str) -> str:
    """README's Tuner example, with the ``train`` of the first example."""
    first, tuner = _readme_blocks()[:2]
    train = re.search(r"^def train\(config\):\n(?:    .*\n)+", first, re.M)
    assert train is not None, f"README's first example has no train():\n{first}"
    tuner = _swap(tuner, "num_samples=200)", f"num_samples={SAMPLES})")
    tuner = _swap(tuner, '"training_iteration": 20})', '"training_iteration": 20}, engine=ENGINE)')
    return "import tunefleet as tune\n" + _TRAIN_ONE_EPOCH + train.group(0) + tuner


# A trainable in a module beside the script, the script started from another directory:
# the workers must find the module (cloudpickle ships such a function by reference).
_SIBLING_MODULE = """\
import tunefleet as tune

def train(config):
    for i in range(2):
        tune.report(score=config["x"] * (i + 1))
"""
_SIBLING = """\
import tunefleet as tune
from mytrain import train

r = tune.run(train, config={"x": tune.uniform(0, 1)}, num_samples=4, engine=ENGINE, verbose=0,
             metric="score", mode="max")
print("best config:", r.best_config)
"""


def run_script(tmp_path: Path, name: str, body: str, engine: str) -> tuple[str, list[str]]:
    """Run ``body`` as ``tmp_path/scripts/name.py`` with ``python`` from ``tmp_path``;
    return its output and the pids that executed the script's top level."""
    mark = tmp_path / f"{name}.executions"
    folder = tmp_path / "scripts"
    folder.mkdir(exist_ok=True)
    (folder / "mytrain.py").write_text(_SIBLING_MODULE)
    script = folder / f"{name}.py"
    script.write_text(_MARK + f"ENGINE = {engine!r}\n" + body)
    env = dict(os.environ, TUNEFLEET_TEST_MARK=str(mark))
    proc = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"{name} on {engine} exited {proc.returncode}:\n{output[-4000:]}"
    executions = mark.read_text().split() if mark.exists() else []
    assert executions, f"{name} never ran its top level"
    return proc.stdout, executions


def _assert_ran_once(executions: list[str]) -> None:
    assert len(executions) == 1, (
        f"the script's top level ran {len(executions)} times (pids {executions}): "
        "a worker executed the user's script again"
    )


_MODULE = {"dask": "distributed", "ray": "ray", "spark": "pyspark"}
_SCRIPTS = {
    "issue": lambda engine: _ISSUE,
    "sibling": lambda engine: _SIBLING,
    "readme_run": readme_run,
    "readme_tuner": readme_tuner,
}
# What each script prints when its sweep finished.
_PRINTS = {
    "issue": re.compile(r"best config: \{'x': 0\.\d+"),
    "sibling": re.compile(r"best config: \{'x': 0\.\d+"),
    "readme_run": re.compile(r"README run example finished"),
    "readme_tuner": re.compile(r"\{'lr': [\d.e-]+, 'batch': \d+\} [\d.e-]+ \S*my_sweep"),
}


@pytest.mark.parametrize(
    ("engine", "script"),
    [
        ("dask", "issue"),
        ("dask", "readme_run"),
        ("dask", "readme_tuner"),
        ("dask", "sibling"),
        ("ray", "issue"),
        ("ray", "readme_tuner"),
        ("spark", "issue"),
        ("spark", "readme_run"),
        ("spark", "sibling"),
    ],
)
def test_script_without_main_guard_runs_once_and_finishes(
    tmp_path: Path, engine: str, script: str
) -> None:
    pytest.importorskip(_MODULE[engine])
    stdout, executions = run_script(tmp_path, script, _SCRIPTS[script](engine), engine)
    assert _PRINTS[script].search(stdout), stdout[-3000:]
    _assert_ran_once(executions)
