"""What importing tunefleet and building a sweep's pieces pulls in: a sweep's driver imports
numpy while its workers boot (Runner.run) when its searcher needs it, which only helps while
nothing earlier imports it; random and grid search need none."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("numpy", "scipy", "ray", "dask", "pyspark", "torch", "pandas", "sklearn", "optuna")


def _loaded_after(code: str) -> list[str]:
    probe = f"import sys\n{code}\nprint(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    return out.stdout.split()


def test_defining_a_space_and_loading_the_runner_import_no_numpy() -> None:
    code = (
        "import tunefleet as tune\n"
        "space = {'x': tune.uniform(0, 1), 'y': tune.choice([1, 2]), 'g': tune.grid_search([1])}\n"
        "import tunefleet.runner, tunefleet.run_loop, tunefleet.search, tunefleet.executors.local\n"
        "from tunefleet.search import create_searcher\n"
        "from tunefleet.space import validate_space\n"
        "validate_space(space)"
    )
    assert _loaded_after(code) == []


def test_random_search_samples_without_numpy_and_the_probe_sees_it_when_used() -> None:
    """Random search draws numpy's stream without numpy (space/lazy_rng.py) unless a
    domain needs more than uniforms; the probe does see numpy when something imports it."""
    code = (
        "import tunefleet as tune\n"
        "from tunefleet.search import RandomSearch\n"
        "s = RandomSearch(seed=0)\n"
        "s.setup({{'x': tune.uniform(0, 1), 'c': tune.choice([1, 2]){extra}}}, 'score', 'max', 0)\n"
        "s.suggest('t0')"
    )
    assert _loaded_after(code.format(extra="")) == []
    assert "numpy" in _loaded_after(code.format(extra=", 'n': tune.randn(0, 1)"))


def test_run_starts_the_workers_before_importing_the_run_loop() -> None:
    """runner.py must stay light: run() starts the local workers before the engine, the
    store and the executor are imported (executors/early.py), so they boot meanwhile."""
    probe = (
        "import sys\n"
        "import tunefleet.runner\n"
        "heavy = ('tunefleet.run_loop', 'tunefleet.engine', 'tunefleet.storage', "
        "'tunefleet.executors.local', 'tunefleet.run_spec', 'tunefleet.search')\n"
        "print(' '.join(m for m in heavy if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.split() == []
