"""A real notebook, executed cell by cell by a Jupyter kernel, sweeps on local and on Dask.

Notebooks are where most sweeps start: the trainable and the dataset live in cells, in the
kernel's ``__main__``, which no worker can import. The notebook is built with nbformat and
run by nbclient on an ipykernel (the same machinery as ``jupyter nbconvert --execute``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

pytestmark = pytest.mark.timeout(180)

_CELLS = [
    "import numpy as np\nimport tunefleet as tune",
    # the dataset: a small regression problem, made in the kernel
    "rng = np.random.default_rng(0)\n"
    "X = rng.normal(size=(256, 3))\n"
    "y = X @ np.array([1.5, -2.0, 0.5]) + 0.1 * rng.normal(size=256)",
    # the trainable: gradient descent on the cells' X and y (cloudpickle carries them)
    "def train(config):\n"
    "    w = np.zeros(X.shape[1])\n"
    "    for step in range(8):\n"
    "        w -= config['lr'] * X.T @ (X @ w - y) / len(y)\n"
    "        tune.report(loss=float(np.mean((X @ w - y) ** 2)))",
    "results = tune.run(train, config={'lr': tune.uniform(0.05, 0.5)}, num_samples=4,\n"
    "                   metric='loss', mode='min', engine=ENGINE, storage_path=STORE,\n"
    "                   max_concurrent_trials=2, verbose=0)",
    "import json\n"
    "print(json.dumps({'loss': results.best_result['loss'], 'baseline': float(np.mean(y ** 2)),\n"
    "                  'trials': len(results.trials),\n"
    "                  'statuses': sorted({t.status for t in results.trials})}))",
]


def _notebook(engine: str, store: Path) -> object:
    settings = f"ENGINE = {engine!r}\nSTORE = {str(store)!r}"
    cells = [nbformat.v4.new_code_cell(settings)]
    cells += [nbformat.v4.new_code_cell(src) for src in _CELLS]
    return nbformat.v4.new_notebook(cells=cells)


@pytest.mark.parametrize("engine", ["local", "dask"])
def test_notebook_sweeps_with_trainable_and_data_defined_in_cells(
    tmp_path: Path, engine: str
) -> None:
    if engine == "dask":
        pytest.importorskip("distributed")
    path = tmp_path / f"sweep_{engine}.ipynb"
    nbformat.write(_notebook(engine, tmp_path / "runs"), path)
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=150, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()  # raises CellExecutionError, with the cell's traceback, if a cell fails
    outputs = nb.cells[-1].outputs
    text = "".join(o.get("text", "") for o in outputs if o.get("name") == "stdout")
    summary = json.loads(text.strip().splitlines()[-1])
    assert summary["trials"] == 4 and summary["statuses"] == ["TERMINATED"], summary
    assert summary["loss"] < summary["baseline"] / 2, summary  # the trials really trained
