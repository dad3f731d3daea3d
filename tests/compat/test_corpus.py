"""The compatibility corpus: Ray Tune scripts of every API generation (``scripts/``: 1.x
``tune.run`` as ``r1_*``, 2.0-2.6 ``ray.air`` as ``r2air_*``, 2.7-2.40 ``ray.train`` as
``r2train_*``, 2.41+ ``tune.RunConfig`` as ``r2tune_*``), each run as a subprocess after
rewriting only its import lines. Every script asserts its own outcome, so a script that
runs but computes the wrong thing fails too.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tunefleet.compat.migrate import changed_lines, migrate

SCRIPTS = sorted((Path(__file__).parent / "scripts").glob("r*.py"))
# scripts that need a package only some installs have
NEEDS = {
    "xgboost": "xgboost",
    "lightgbm": "lightgbm",
    "mlflow": "mlflow",
    "wandb": "wandb",
    "lightning": "lightning",
    "keras": "keras",
    "ray.train.torch": "torch",
}


def _missing(source: str) -> str | None:
    import importlib.util

    for marker, module in NEEDS.items():
        if marker in source and importlib.util.find_spec(module) is None:
            return module
    return None


def test_the_corpus_covers_every_generation() -> None:
    names = [p.stem for p in SCRIPTS]
    assert len(names) >= 30
    for prefix in ("r1_", "r2air_", "r2train_", "r2tune_"):
        assert sum(n.startswith(prefix) for n in names) >= 5, prefix


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_script_runs_after_changing_its_imports(script: Path, tmp_path: Path) -> None:
    source = script.read_text()
    missing = _missing(source)
    if missing:
        pytest.skip(f"{missing} is not installed")
    migrated = migrate(source)
    changed = changed_lines(source, migrated)
    assert changed and all(line.lstrip().startswith(("import ", "from ")) for line in changed)
    path = tmp_path / script.name
    path.write_text(migrated)
    env = {
        **os.environ,
        "WANDB_MODE": "offline",
        "KERAS_BACKEND": "torch",
        "WANDB_SILENT": "true",
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
        "PYTHONWARNINGS": "ignore",
    }
    out = subprocess.run(
        [sys.executable, str(path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, f"{script.name}:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
