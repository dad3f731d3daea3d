"""Load a generated data set (``tunefleet data synth``) into a :class:`Dataset`.

Parquet is read row group by row group straight into one float32 matrix, so loading needs
little more memory than the result; CSV is the fallback when only ``data.csv`` exists.
``rows`` reads only the first rows (a prefix of a synthetic set is itself a valid set), so
a sweep can run on 100k rows of a 5M-row file without reading the rest.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from tunefleet.bench.synth import FILE_NAMES, LABEL_COLUMN, METADATA_NAME, _int
from tunefleet.bench.workload import Dataset
from tunefleet.errors import TuneValueError


def _directory(path: str | os.PathLike[str]) -> Path:
    p = Path(path)
    if p.is_file():  # data.parquet / data.csv / metadata.json given: use its directory
        p = p.parent
    if not p.is_dir():
        raise TuneValueError(f"path: {str(path)!r} is not a data directory (it does not exist)")
    return p


def describe(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The metadata of the data set in directory ``path`` (what ``synthesize`` returned)."""
    d = _directory(path)
    meta_path = d / METADATA_NAME
    if not meta_path.is_file():
        raise TuneValueError(
            f"path: {str(d)!r} has no {METADATA_NAME}: not a tunefleet data set, or its "
            "generation did not finish (run `tunefleet data synth` again with --overwrite)"
        )
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise TuneValueError(f"path: cannot read {str(meta_path)!r}: {e}") from None
    if not isinstance(meta, dict):
        raise TuneValueError(f"path: {str(meta_path)!r} does not hold a JSON object")
    return meta


def load_dataset(
    path: str | os.PathLike[str],
    rows: int | None = None,
    valid_fraction: float = 0.2,
    seed: int = 0,
) -> Dataset:
    """Read a data set and split it into shuffled train and validation parts.

    ``rows`` keeps only the first rows of the file (None: all). ``valid_fraction`` of them
    (at least one row when > 0) go to validation, chosen by a permutation seeded with
    ``seed``, so the split is the same on every run and in every worker.
    """
    meta = describe(path)
    d = _directory(path)
    if rows is not None:
        rows = _int("rows", rows, 1)
    if isinstance(valid_fraction, bool) or not isinstance(valid_fraction, int | float):
        raise TuneValueError(f"valid_fraction must be a number, got {valid_fraction!r}")
    if not (math.isfinite(valid_fraction) and 0.0 <= valid_fraction < 1.0):
        raise TuneValueError(f"valid_fraction must be in [0, 1), got {valid_fraction!r}")
    seed = _int("seed", seed, 0)
    classes = meta.get("classes")
    if isinstance(classes, bool) or not isinstance(classes, int) or classes < 2:
        raise TuneValueError(f"path: {METADATA_NAME} has no valid 'classes' (got {classes!r})")
    label = str(meta.get("label_column", LABEL_COLUMN))

    parquet, csv = d / FILE_NAMES["parquet"], d / FILE_NAMES["csv"]
    if parquet.is_file():
        source = "parquet"
        x, y = _read_parquet(parquet, label, rows)
    elif csv.is_file():
        source = "csv"
        x, y = _read_csv(csv, label, rows)
    else:
        raise TuneValueError(
            f"path: {str(d)!r} has {METADATA_NAME} but neither {FILE_NAMES['parquet']} "
            f"nor {FILE_NAMES['csv']}"
        )
    n = len(y)
    if rows is not None and n < rows:
        raise TuneValueError(f"rows: asked for {rows} rows but {source} data has only {n}")
    n_valid = 0 if valid_fraction == 0 else max(1, round(n * valid_fraction))
    if n - n_valid < 1:
        raise TuneValueError(
            f"rows: {n} rows leave no training rows with valid_fraction={valid_fraction}"
        )
    if y.size and (y.min() < 0 or y.max() >= classes):
        raise TuneValueError(f"path: labels outside 0..{classes - 1} in {source} data")
    perm = np.random.default_rng(seed).permutation(n)
    x, y = x[perm], y[perm]  # one copy; train and valid are views of it
    info = dict(meta)
    info.update(
        path=str(d), source=source, rows_loaded=n, valid_fraction=valid_fraction, split_seed=seed
    )
    return Dataset(
        x_train=x[n_valid:],
        y_train=y[n_valid:],
        x_valid=x[:n_valid],
        y_valid=y[:n_valid],
        classes=classes,
        meta=info,
    )


def _read_parquet(path: Path, label: str, rows: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Read whole row groups until ``rows`` are in, filling one preallocated matrix."""
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(str(path))
    names = [n for n in pf.schema_arrow.names if n != label]
    if label not in pf.schema_arrow.names:
        raise TuneValueError(f"path: {str(path)!r} has no {label!r} column")
    total = pf.metadata.num_rows
    n = total if rows is None else min(rows, total)
    x = np.empty((n, len(names)), dtype=np.float32)
    y = np.empty(n, dtype=np.int64)
    pos = 0
    for g in range(pf.num_row_groups):
        if pos >= n:
            break
        table = pf.read_row_group(g, columns=[*names, label])
        m = min(table.num_rows, n - pos)
        for j, name in enumerate(names):
            x[pos : pos + m, j] = table.column(name).to_numpy()[:m]
        y[pos : pos + m] = table.column(label).to_numpy()[:m]
        pos += m
    return x, y


def _read_csv(path: Path, label: str, rows: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Stream CSV batches until ``rows`` are in (the whole file when None)."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    with open(path, encoding="utf-8") as f:
        header = f.readline().strip().split(",")
    names = [h.strip('"') for h in header]
    if label not in names:
        raise TuneValueError(f"path: {str(path)!r} has no {label!r} column")
    features = [n for n in names if n != label]
    types = {n: pa.float32() for n in features}
    types[label] = pa.int64()
    reader = pcsv.open_csv(str(path), convert_options=pcsv.ConvertOptions(column_types=types))
    batches = []
    got = 0
    for batch in reader:
        batches.append(batch)
        got += batch.num_rows
        if rows is not None and got >= rows:
            break
    table = pa.Table.from_batches(batches, schema=reader.schema)
    n = table.num_rows if rows is None else min(rows, table.num_rows)
    x = np.empty((n, len(features)), dtype=np.float32)
    for j, name in enumerate(features):
        x[:, j] = table.column(name).to_numpy()[:n]
    y = table.column(label).to_numpy()[:n].astype(np.int64, copy=False)
    return x, y
