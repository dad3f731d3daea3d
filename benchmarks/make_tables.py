"""Build the two table benchmarks of benchmarks/search_quality.py from real learning curves.

Each table is a grid of hyperparameters × budgets (1, 3, 9, 27) holding the validation
error of a real model trained once per grid point on a scikit-learn toy data set (offline;
a fixed 70/30 split, seed 0), so the suite looks values up instead of training:

- ``mlp_digits``: ``MLPClassifier`` on digits; budget = epochs (one ``fit`` of one epoch
  each, ``warm_start``, mini-batches of 64); grid: ``learning_rate_init`` (6, log 1e-4..1e-1), ``alpha``
  (5, log 1e-6..1e-1), hidden units (4: 16, 32, 64, 128).
- ``hgb_breast_cancer``: ``HistGradientBoostingClassifier`` on breast_cancer; budget =
  4 × boosting rounds (staged predictions of one 108-round model); grid:
  ``learning_rate`` (6, log 0.01..1), ``max_leaf_nodes`` (5: 2..32), ``min_samples_leaf``
  (4: 1, 5, 20, 60).

Like the tabular benchmarks of Klein & Hutter 2019 ("Tabular Benchmarks for Joint
Architecture and Hyperparameter Optimization", arXiv:1905.04970), but small enough to
commit. Run: ``.venv/bin/python benchmarks/make_tables.py`` (a few minutes); writes
benchmarks/data/sq_tables.json.gz.
"""

from __future__ import annotations

import gzip
import itertools
import json
import pathlib
import time
import warnings

import numpy as np

BUDGETS = (1, 3, 9, 27)
OUT = pathlib.Path(__file__).parent / "data" / "sq_tables.json.gz"


def _split(loader: object) -> tuple[np.ndarray, ...]:
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    X, y = loader(return_X_y=True)  # type: ignore[operator]
    Xa, Xb, ya, yb = train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)
    sc = StandardScaler().fit(Xa)
    return sc.transform(Xa), sc.transform(Xb), ya, yb


def mlp_digits() -> dict[str, object]:
    from sklearn.datasets import load_digits
    from sklearn.neural_network import MLPClassifier

    Xa, Xb, ya, yb = _split(load_digits)
    axes = {
        "learning_rate_init": np.logspace(-4, -1, 6).tolist(),
        "alpha": np.logspace(-6, -1, 5).tolist(),
        "hidden": [16, 32, 64, 128],
    }
    rows = []
    for lr, alpha, hidden in itertools.product(*axes.values()):
        m = MLPClassifier(
            (hidden,),
            learning_rate_init=lr,
            alpha=alpha,
            batch_size=64,
            max_iter=1,
            warm_start=True,
            random_state=0,
        )
        row = []
        for epoch in range(1, BUDGETS[-1] + 1):
            m.fit(Xa, ya)  # one more epoch (warm_start, max_iter=1)
            if epoch in BUDGETS:
                row.append(round(1.0 - float(m.score(Xb, yb)), 5))
        rows.append(row)
    return {"axes": axes, "error": rows}


def hgb_breast_cancer() -> dict[str, object]:
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import HistGradientBoostingClassifier

    Xa, Xb, ya, yb = _split(load_breast_cancer)
    axes = {
        "learning_rate": np.logspace(-2, 0, 6).tolist(),
        "max_leaf_nodes": [2, 4, 8, 16, 32],
        "min_samples_leaf": [1, 5, 20, 60],
    }
    rows = []
    for lr, leaves, min_leaf in itertools.product(*axes.values()):
        m = HistGradientBoostingClassifier(
            learning_rate=lr,
            max_leaf_nodes=leaves,
            min_samples_leaf=min_leaf,
            max_iter=4 * BUDGETS[-1],
            early_stopping=False,
            random_state=0,
        ).fit(Xa, ya)
        errs = [1.0 - float(np.mean(p == yb)) for p in m.staged_predict(Xb)]
        rows.append([round(errs[4 * b - 1], 5) for b in BUDGETS])
    return {"axes": axes, "error": rows}


def main() -> None:
    from threadpoolctl import threadpool_limits

    warnings.filterwarnings("ignore")
    tables = {}
    for name, build in (("mlp_digits", mlp_digits), ("hgb_breast_cancer", hgb_breast_cancer)):
        t0 = time.perf_counter()
        # one BLAS/OpenMP thread: these models are tiny, and threads on a shared 2-core
        # machine made an MLP epoch 15x slower (0.47 s vs 0.03 s)
        with threadpool_limits(1):
            tables[name] = {"budgets": list(BUDGETS), **build()}
        print(f"{name}: {time.perf_counter() - t0:.1f} s", flush=True)
    OUT.parent.mkdir(exist_ok=True)
    text = json.dumps(tables).encode()
    with OUT.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as fh:
        fh.write(text)  # mtime 0: the same tables give the same bytes
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")


main()
