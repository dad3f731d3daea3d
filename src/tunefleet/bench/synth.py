"""Synthetic classification data, written chunk by chunk as CSV and Parquet.

The design follows Guyon (2003), as scikit-learn's ``make_classification`` describes it:
each class owns a cluster of normally distributed points around a vertex of a hypercube
(side ``2 * class_sep``) in an ``informative``-dimensional subspace, with a random linear
map per cluster so that the clusters are not spherical. ``redundant`` columns are random
linear combinations of the informative ones, the remaining columns are pure noise, the
columns are shuffled once and a fraction ``flip_y`` of the labels is replaced at random.

Unlike ``make_classification`` it never holds the data set in memory, and the data depend
on the arguments only (never on ``chunk_rows``, the machine's thread count or the order in
which parts are generated):

* the geometry (cluster centres, linear maps, column order) is drawn once from
  ``SeedSequence(seed, spawn_key=(0,))``;
* rows come in fixed-size *blocks* (:func:`block_rows_for`, a function of ``features``
  alone); block ``b`` draws from its own ``SeedSequence(seed, spawn_key=(1, b))``, so any
  block can be generated alone, in any order, in parallel;
* ``chunk_rows`` only sets how many rows are buffered and written at once (and the Parquet
  row-group size), so two runs that differ in ``chunk_rows`` write the same values, and the
  first ``n`` rows of a large set equal a set of ``n`` rows.

Cluster membership is round-robin over the global row index, shuffled inside each block:
before label noise every complete block holds each cluster equally often (to within one
row) and a partial block is a random draw from such a block, so classes are balanced.

Files are written under temporary names and renamed at the end, ``metadata.json`` last: a
run that crashes or is interrupted never leaves a directory that looks complete.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import math
import operator
import os
import resource
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from tunefleet.errors import TuneValueError

#: Bumped whenever the same arguments would produce different values.
GENERATOR_VERSION = 1
GENERATOR = "tunefleet.bench.synth"
FORMATS = ("csv", "parquet")
FILE_NAMES = {"csv": "data.csv", "parquet": "data.parquet"}
METADATA_NAME = "metadata.json"
LABEL_COLUMN = "label"
PARTIAL_SUFFIX = ".partial"

# Rows per block: about 2**20 values, at most 2**16 rows. Part of the data's definition
# (changing it changes the values, so it would need a new GENERATOR_VERSION).
_BLOCK_VALUES = 2**20
_MAX_BLOCK_ROWS = 2**16
_MIN_BLOCK_ROWS = 2**6

ProgressFn = Callable[[int], None]


def block_rows_for(features: int) -> int:
    """Rows per RNG block: a power of two keeping a block near 2**20 values (8 MiB)."""
    target = max(1, _BLOCK_VALUES // max(1, features))
    rows = 1 << (target.bit_length() - 1)
    return int(min(_MAX_BLOCK_ROWS, max(_MIN_BLOCK_ROWS, rows)))


def default_informative(features: int, classes: int, clusters_per_class: int = 1) -> int:
    """Half the features, but enough hypercube vertices for every cluster."""
    needed = max(1, math.ceil(math.log2(classes * clusters_per_class)))
    return min(features, max(features // 2, needed))


def peak_rss_bytes() -> int:
    """This process's peak resident memory (ru_maxrss is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


# -- validation --------------------------------------------------------------------------------


def _int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool):
        raise TuneValueError(f"{name} must be an integer, got {value!r}")
    try:
        v = operator.index(value)
    except TypeError:
        raise TuneValueError(f"{name} must be an integer, got {value!r}") from None
    if v < minimum:
        raise TuneValueError(f"{name} must be >= {minimum}, got {v}")
    return int(v)


def _float(name: str, value: Any, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.floating | np.integer):
        raise TuneValueError(f"{name} must be a number, got {value!r}")
    v = float(value)
    if not (math.isfinite(v) and low <= v <= high):
        raise TuneValueError(f"{name} must be between {low} and {high}, got {value!r}")
    return v


def _formats(formats: str | Iterable[str]) -> tuple[str, ...]:
    items = [formats] if isinstance(formats, str) else list(formats)
    unknown = [f for f in items if f not in FORMATS]
    if unknown or not items:
        raise TuneValueError(
            f"formats must be a non-empty selection of {', '.join(FORMATS)}, got {formats!r}"
        )
    return tuple(f for f in FORMATS if f in items)


def _check_out(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise TuneValueError(f"out: {str(out)!r} exists and is not a directory")
    if out.is_dir() and not overwrite and any(out.iterdir()):
        raise TuneValueError(
            f"out: directory {str(out)!r} is not empty; choose another one or pass "
            "overwrite=True (--overwrite) to replace the data files in it"
        )


# -- the generator -----------------------------------------------------------------------------


class SynthSpec:
    """Validated arguments plus the geometry drawn once from the seed.

    ``block(b)`` and ``rows(start, stop)`` are pure functions of the arguments: this is
    what makes the output independent of ``chunk_rows`` and lets blocks be made in parallel.
    """

    def __init__(
        self,
        rows: int,
        features: int,
        classes: int = 2,
        informative: int | None = None,
        redundant: int = 0,
        clusters_per_class: int = 1,
        flip_y: float = 0.01,
        class_sep: float = 1.0,
        seed: int = 0,
    ) -> None:
        self.rows = _int("rows", rows, 1)
        self.features = _int("features", features, 1)
        self.classes = _int("classes", classes, 2)
        self.clusters_per_class = _int("clusters_per_class", clusters_per_class, 1)
        self.redundant = _int("redundant", redundant, 0)
        self.flip_y = _float("flip_y", flip_y, 0.0, 1.0)
        self.class_sep = _float("class_sep", class_sep, 0.0, math.inf)
        self.seed = _int("seed", seed, 0)
        clusters = self.classes * self.clusters_per_class
        if informative is None:
            k = default_informative(self.features, self.classes, self.clusters_per_class)
            if clusters > 2**k:
                raise TuneValueError(
                    f"classes: {self.classes} classes x {self.clusters_per_class} clusters "
                    f"need more than {self.features} features (2**informative >= clusters)"
                )
        else:
            k = _int("informative", informative, 1)
            if k > self.features:
                raise TuneValueError(f"informative must be <= features ({self.features}), got {k}")
            if clusters > 2**k:
                raise TuneValueError(
                    f"informative: {k} informative features give 2**{k} = {2**k} hypercube "
                    f"vertices, fewer than classes x clusters_per_class = {clusters}"
                )
        self.informative = k
        if k + self.redundant > self.features:
            raise TuneValueError(
                f"redundant: informative ({k}) + redundant ({self.redundant}) must be <= "
                f"features ({self.features})"
            )
        self.noise = self.features - k - self.redundant
        self.clusters = clusters
        self.block_rows = block_rows_for(self.features)
        self._draw_geometry()
        self._cache: tuple[int, np.ndarray, np.ndarray] | None = None

    def _draw_geometry(self) -> None:
        rng = np.random.Generator(
            np.random.PCG64(np.random.SeedSequence(self.seed, spawn_key=(0,)))
        )
        k, n = self.informative, self.clusters
        vertices = _distinct_vertices(rng, n, k)
        self.centroids = (2.0 * vertices - 1.0) * self.class_sep  # (clusters, k)
        self.transforms = 2.0 * rng.random((n, k, k)) - 1.0  # (clusters, k, k)
        self.mixing = 2.0 * rng.random((k, self.redundant)) - 1.0  # (k, redundant)
        # Output column j holds generated column order[j] (informative, redundant, noise).
        self.order = rng.permutation(self.features)

    @property
    def columns(self) -> list[str]:
        return [f"f{j}" for j in range(self.features)] + [LABEL_COLUMN]

    def column_roles(self) -> dict[str, list[str]]:
        """Which output columns are informative, redundant and noise (for the metadata)."""
        k, r = self.informative, self.redundant
        roles: dict[str, list[str]] = {"informative": [], "redundant": [], "noise": []}
        for j, src in enumerate(self.order):
            role = "informative" if src < k else "redundant" if src < k + r else "noise"
            roles[role].append(f"f{j}")
        return roles

    def block(self, b: int) -> tuple[np.ndarray, np.ndarray]:
        """Block ``b``: features as (features, block_rows) float32, labels int32.

        Always a full block (even past ``rows``), so that a block never depends on ``rows``.
        """
        if self._cache is not None and self._cache[0] == b:
            return self._cache[1], self._cache[2]
        n, k, r = self.block_rows, self.informative, self.redundant
        ss = np.random.SeedSequence(self.seed, spawn_key=(1, b))
        rng = np.random.Generator(np.random.PCG64(ss))
        start = b * n
        cluster = rng.permutation((start + np.arange(n, dtype=np.int64)) % self.clusters)
        gen = np.empty((n, self.features), dtype=np.float64)
        z = rng.standard_normal((n, k))
        for c in range(self.clusters):
            idx = np.flatnonzero(cluster == c)
            gen[idx, :k] = z[idx] @ self.transforms[c] + self.centroids[c]
        if r:
            gen[:, k : k + r] = gen[:, :k] @ self.mixing
        if self.noise:
            gen[:, k + r :] = rng.standard_normal((n, self.noise))
        y = (cluster % self.classes).astype(np.int32)
        flip = np.flatnonzero(rng.random(n) < self.flip_y)
        y[flip] = rng.integers(0, self.classes, size=len(flip), dtype=np.int32)
        x = np.ascontiguousarray(gen[:, self.order].T, dtype=np.float32)
        self._cache = (b, x, y)
        return x, y

    def rows_between(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        """Rows [start, stop): features as (features, m) float32 (one row per column)."""
        m = stop - start
        x = np.empty((self.features, m), dtype=np.float32)
        y = np.empty(m, dtype=np.int32)
        pos = start
        while pos < stop:
            b, lo = divmod(pos, self.block_rows)
            hi = min(self.block_rows, stop - b * self.block_rows)
            bx, by = self.block(b)
            at = pos - start
            x[:, at : at + hi - lo] = bx[:, lo:hi]
            y[at : at + hi - lo] = by[lo:hi]
            pos += hi - lo
        return x, y


def _distinct_vertices(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    """``n`` distinct vertices of the unit hypercube {0, 1}**k, as float rows."""
    if k <= 62:
        ids = rng.choice(2**k, size=n, replace=False).astype(np.int64)
        return ((ids[:, None] >> np.arange(k, dtype=np.int64)) & 1).astype(np.float64)
    seen: set[bytes] = set()
    rows: list[np.ndarray] = []
    while len(rows) < n:  # 2**k is astronomically large: collisions are all but impossible
        v = rng.integers(0, 2, size=k, dtype=np.int8)
        if v.tobytes() not in seen:
            seen.add(v.tobytes())
            rows.append(v)
    return np.array(rows, dtype=np.float64)


# -- writing -----------------------------------------------------------------------------------


def _pyarrow() -> Any:
    try:
        import pyarrow
    except ImportError:  # pragma: no cover - pyarrow is part of the bench extra
        raise ImportError("tunefleet data needs pyarrow: pip install 'tunefleet[bench]'") from None
    return pyarrow


class _Writers:
    """The open CSV and Parquet writers, on temporary names until ``finish``."""

    def __init__(self, out: Path, formats: tuple[str, ...], columns: list[str]) -> None:
        pa = _pyarrow()
        import pyarrow.csv as pcsv
        import pyarrow.parquet as pq

        self.out = out
        self.formats = formats
        fields = [pa.field(c, pa.float32(), nullable=False) for c in columns[:-1]]
        fields.append(pa.field(columns[-1], pa.int32(), nullable=False))
        self.schema = pa.schema(fields)
        self.partials = {f: out / (FILE_NAMES[f] + PARTIAL_SUFFIX) for f in formats}
        self._csv_sink: Any = None
        self._csv: Any = None
        self._parquet: Any = None
        if "csv" in formats:
            self._csv_sink = pa.OSFile(str(self.partials["csv"]), "wb")
            # The header is written by hand: pyarrow < 19 always quotes column names.
            self._csv_sink.write((",".join(columns) + "\n").encode())
            options = pcsv.WriteOptions(
                include_header=False, quoting_style="none", batch_size=16_384
            )
            self._csv = pcsv.CSVWriter(self._csv_sink, self.schema, write_options=options)
        if "parquet" in formats:
            self._parquet = pq.ParquetWriter(
                str(self.partials["parquet"]),
                self.schema,
                compression="snappy",
                use_dictionary=[columns[-1]],  # random floats never repeat
            )

    def write(self, x: np.ndarray, y: np.ndarray) -> None:
        pa = _pyarrow()
        arrays = [pa.array(col) for col in x] + [pa.array(y)]
        batch = pa.RecordBatch.from_arrays(arrays, schema=self.schema)
        if self._csv is not None:
            self._csv.write_batch(batch)
        if self._parquet is not None:
            self._parquet.write_batch(batch, row_group_size=batch.num_rows)

    def close(self) -> None:
        if self._csv is not None:
            self._csv.close()
            self._csv = None
        if self._csv_sink is not None:
            self._csv_sink.close()
            self._csv_sink = None
        if self._parquet is not None:
            self._parquet.close()
            self._parquet = None

    def discard(self) -> None:
        """After a failure: close quietly and delete the temporary files."""
        with contextlib.suppress(Exception):  # the original error matters, not this one
            self.close()
        for p in self.partials.values():
            p.unlink(missing_ok=True)


def synthesize(
    out: str | os.PathLike[str],
    rows: int,
    features: int,
    classes: int = 2,
    informative: int | None = None,
    chunk_rows: int = 500_000,
    seed: int = 0,
    formats: str | Iterable[str] = FORMATS,
    redundant: int = 0,
    flip_y: float = 0.01,
    class_sep: float = 1.0,
    clusters_per_class: int = 1,
    overwrite: bool = False,
    progress: ProgressFn | None = None,
) -> dict[str, Any]:
    """Write a synthetic classification set into directory ``out``; return its metadata.

    ``out`` gets ``data.csv`` and/or ``data.parquet`` (columns ``f0..f{features-1}`` as
    float32 and ``label`` as int32, one Parquet row group per chunk) and ``metadata.json``.
    Memory stays bounded by ``chunk_rows``; the values depend on neither ``chunk_rows`` nor
    the machine's threads. ``informative`` defaults to half the features (at least enough
    for ``classes * clusters_per_class`` hypercube vertices). ``progress(rows_done)`` is
    called after each chunk; if it raises, the partial files are removed and the error
    propagates. Every argument is checked before anything is written (TuneValueError).
    """
    spec = SynthSpec(
        rows=rows,
        features=features,
        classes=classes,
        informative=informative,
        redundant=redundant,
        clusters_per_class=clusters_per_class,
        flip_y=flip_y,
        class_sep=class_sep,
        seed=seed,
    )
    chunk = _int("chunk_rows", chunk_rows, 1)
    fmts = _formats(formats)
    if progress is not None and not callable(progress):
        raise TuneValueError(f"progress must be callable or None, got {progress!r}")
    out_dir = Path(out)
    _check_out(out_dir, overwrite)
    _pyarrow()

    t0 = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    writers = _Writers(out_dir, fmts, spec.columns)
    try:
        done = 0
        while done < spec.rows:
            stop = min(spec.rows, done + chunk)
            x, y = spec.rows_between(done, stop)
            writers.write(x, y)
            del x, y
            done = stop
            if progress is not None:
                progress(done)
        writers.close()
        sizes = {f: p.stat().st_size for f, p in writers.partials.items()}
        meta = _metadata(spec, chunk, fmts, sizes, time.perf_counter() - t0)
        _publish(out_dir, writers.partials, meta)
    except BaseException:
        writers.discard()
        (out_dir / (METADATA_NAME + PARTIAL_SUFFIX)).unlink(missing_ok=True)
        raise
    return meta


def _metadata(
    spec: SynthSpec, chunk: int, fmts: tuple[str, ...], sizes: dict[str, int], seconds: float
) -> dict[str, Any]:
    import tunefleet

    pa = _pyarrow()
    return {
        "generator": GENERATOR,
        "generator_version": GENERATOR_VERSION,
        "rows": spec.rows,
        "features": spec.features,
        "classes": spec.classes,
        "informative": spec.informative,
        "redundant": spec.redundant,
        "noise": spec.noise,
        "clusters_per_class": spec.clusters_per_class,
        "flip_y": spec.flip_y,
        "class_sep": spec.class_sep,
        "seed": spec.seed,
        "chunk_rows": chunk,
        "block_rows": spec.block_rows,
        "columns": spec.columns,
        "label_column": LABEL_COLUMN,
        "feature_dtype": "float32",
        "label_dtype": "int32",
        "column_roles": spec.column_roles(),
        "files": {f: FILE_NAMES[f] for f in fmts},
        "bytes": dict(sizes),
        "seconds": round(seconds, 3),
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "versions": {
            "tunefleet": tunefleet.__version__,
            "numpy": np.__version__,
            "pyarrow": pa.__version__,
        },
    }


def _publish(out: Path, partials: dict[str, Path], meta: dict[str, Any]) -> None:
    """Rename the finished files into place, ``metadata.json`` last.

    An older ``metadata.json`` is removed first, so a crash half-way through the renames
    leaves a directory without metadata (incomplete), never new data with old metadata.
    """
    (out / METADATA_NAME).unlink(missing_ok=True)
    for fmt, partial in partials.items():
        os.replace(partial, out / FILE_NAMES[fmt])
    for fmt, name in FILE_NAMES.items():
        if fmt not in partials:  # left over from an overwritten set in another format
            (out / name).unlink(missing_ok=True)
    tmp = out / (METADATA_NAME + PARTIAL_SUFFIX)
    tmp.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, out / METADATA_NAME)
