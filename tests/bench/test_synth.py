"""``tunefleet data synth``: generated data, its files and metadata, determinism, loading.

Everything writes real files under tmp_path and reads them back with pyarrow.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from tunefleet.bench import synth
from tunefleet.bench.dataset import describe, load_dataset
from tunefleet.bench.synth import SynthSpec, synthesize
from tunefleet.cli import app
from tunefleet.errors import TuneValueError

runner = CliRunner()


def read_parquet(d: Path) -> tuple[np.ndarray, np.ndarray]:
    t = pq.read_table(d / "data.parquet")
    names = [n for n in t.column_names if n != "label"]
    x = np.column_stack([t.column(n).to_numpy() for n in names]) if names else None
    return np.asarray(x), t.column("label").to_numpy()


def read_csv(d: Path, features: int) -> tuple[np.ndarray, np.ndarray]:
    types = {f"f{j}": pa.float32() for j in range(features)}
    types["label"] = pa.int32()
    t = pcsv.read_csv(d / "data.csv", convert_options=pcsv.ConvertOptions(column_types=types))
    x = np.column_stack([t.column(f"f{j}").to_numpy() for j in range(features)])
    return x, t.column("label").to_numpy()


def leftovers(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir()) if d.exists() else []


# -- files and metadata ------------------------------------------------------------------------


def test_metadata_files_and_exact_rows(tmp_path: Path) -> None:
    out = tmp_path / "set"
    seen: list[int] = []
    meta = synthesize(
        out, rows=1_001, features=6, classes=3, informative=3, chunk_rows=300, seed=7,
        progress=seen.append,
    )  # fmt: skip
    assert seen == [300, 600, 900, 1_001]
    assert leftovers(out) == ["data.csv", "data.parquet", "metadata.json"]
    on_disk = json.loads((out / "metadata.json").read_text())
    assert on_disk == meta == describe(out) == describe(out / "data.parquet")
    assert (meta["rows"], meta["features"], meta["classes"], meta["informative"]) == (
        1_001, 6, 3, 3,
    )  # fmt: skip
    assert (meta["seed"], meta["chunk_rows"], meta["generator_version"]) == (7, 300, 1)
    assert meta["columns"] == ["f0", "f1", "f2", "f3", "f4", "f5", "label"]
    assert meta["bytes"] == {
        "csv": (out / "data.csv").stat().st_size,
        "parquet": (out / "data.parquet").stat().st_size,
    }
    roles = meta["column_roles"]
    assert len(roles["informative"]) == 3 and len(roles["noise"]) == 3
    assert sorted(roles["informative"] + roles["noise"]) == meta["columns"][:-1]
    assert "created" in meta and meta["versions"]["numpy"] == np.__version__

    pf = pq.ParquetFile(out / "data.parquet")
    assert [pf.metadata.row_group(i).num_rows for i in range(pf.num_row_groups)] == [
        300, 300, 300, 101,
    ]  # fmt: skip
    schema = pf.schema_arrow
    assert schema.field("f0").type == pa.float32() and schema.field("label").type == pa.int32()
    assert (out / "data.csv").read_text().splitlines()[0] == "f0,f1,f2,f3,f4,f5,label"


def test_csv_and_parquet_hold_identical_values(tmp_path: Path) -> None:
    synthesize(tmp_path, rows=2_345, features=5, classes=4, informative=3, chunk_rows=1_000)
    xp, yp = read_parquet(tmp_path)
    xc, yc = read_csv(tmp_path, 5)
    assert xp.shape == (2_345, 5) and xp.dtype == np.float32
    np.testing.assert_array_equal(xp, xc)  # float32 text is the shortest exact form
    np.testing.assert_array_equal(yp, yc)


def test_one_format_only(tmp_path: Path) -> None:
    meta = synthesize(tmp_path / "c", rows=50, features=3, formats="csv")
    assert leftovers(tmp_path / "c") == ["data.csv", "metadata.json"]
    assert list(meta["bytes"]) == ["csv"] and list(meta["files"]) == ["csv"]


# -- determinism -------------------------------------------------------------------------------


def test_same_seed_same_bytes_other_seed_other_data(tmp_path: Path) -> None:
    args: dict[str, Any] = dict(rows=3_000, features=4, classes=2, chunk_rows=700, seed=11)
    a, b = synthesize(tmp_path / "a", **args), synthesize(tmp_path / "b", **args)
    for name in ("data.csv", "data.parquet"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert a["bytes"] == b["bytes"]
    synthesize(tmp_path / "c", **{**args, "seed": 12})
    assert not np.array_equal(read_parquet(tmp_path / "a")[0], read_parquet(tmp_path / "c")[0])


def test_chunk_rows_never_changes_the_data_across_block_boundaries(tmp_path: Path) -> None:
    # features=2: blocks of 65,536 rows, so 70,000 rows span two blocks.
    assert synth.block_rows_for(2) == 65_536
    big = synthesize(tmp_path / "big", rows=70_000, features=2, chunk_rows=500_000)
    odd = synthesize(tmp_path / "odd", rows=70_000, features=2, chunk_rows=9_999)
    assert big["block_rows"] == odd["block_rows"] == 65_536
    assert (tmp_path / "big" / "data.csv").read_bytes() == (
        tmp_path / "odd" / "data.csv"
    ).read_bytes()
    xb, yb = read_parquet(tmp_path / "big")
    xo, yo = read_parquet(tmp_path / "odd")
    np.testing.assert_array_equal(xb, xo)
    np.testing.assert_array_equal(yb, yo)
    # A smaller set is a prefix of a larger one with the same seed.
    synthesize(tmp_path / "small", rows=1_234, features=2, chunk_rows=100)
    xs, ys = read_parquet(tmp_path / "small")
    np.testing.assert_array_equal(xs, xb[:1_234])
    np.testing.assert_array_equal(ys, yb[:1_234])


# -- what the data look like -------------------------------------------------------------------


def test_labels_in_range_and_balanced(tmp_path: Path) -> None:
    # Without label noise a complete block (65,536 rows here) is balanced to one row...
    synthesize(tmp_path / "exact", rows=65_536, features=5, classes=3, flip_y=0.0)
    counts = np.bincount(read_parquet(tmp_path / "exact")[1], minlength=3)
    assert counts.sum() == 65_536 and counts.max() - counts.min() <= 1
    # ... and a part of one is a random draw from it.
    assert np.all(np.abs(np.bincount(read_parquet(tmp_path / "exact")[1][:3_000]) - 1_000) < 100)
    synthesize(tmp_path / "noisy", rows=4_000, features=5, classes=4, flip_y=0.2)
    y = read_parquet(tmp_path / "noisy")[1]
    assert y.min() >= 0 and y.max() <= 3
    assert np.all(np.abs(np.bincount(y, minlength=4) / 4_000 - 0.25) < 0.05)


def test_informative_columns_separate_the_classes_and_noise_does_not(tmp_path: Path) -> None:
    from sklearn.linear_model import LogisticRegression

    meta = synthesize(tmp_path, rows=6_000, features=10, classes=2, informative=5, seed=3)
    x, y = read_parquet(tmp_path)
    train, test = slice(0, 5_000), slice(5_000, None)

    def accuracy(cols: list[str]) -> float:
        idx = [meta["columns"].index(c) for c in cols]
        model = LogisticRegression(max_iter=500).fit(x[train][:, idx], y[train])
        return float(model.score(x[test][:, idx], y[test]))

    assert accuracy(meta["columns"][:-1]) > 0.8
    assert accuracy(meta["column_roles"]["informative"]) > 0.8
    assert accuracy(meta["column_roles"]["noise"]) < 0.6


def test_redundant_columns_are_linear_in_the_informative_ones(tmp_path: Path) -> None:
    meta = synthesize(tmp_path, rows=500, features=7, informative=3, redundant=2, formats="parquet")
    x, _ = read_parquet(tmp_path)
    roles = meta["column_roles"]
    inf = x[:, [meta["columns"].index(c) for c in roles["informative"]]].astype(np.float64)
    for c in roles["redundant"]:
        target = x[:, meta["columns"].index(c)]
        coef, *_ = np.linalg.lstsq(inf, target, rcond=None)
        assert np.allclose(inf @ coef, target, atol=1e-4)


@settings(max_examples=30, deadline=None)
@given(
    rows=st.integers(1, 120),
    features=st.integers(1, 6),
    classes=st.integers(2, 5),
    informative=st.one_of(st.none(), st.integers(1, 6)),
    chunk_rows=st.integers(1, 50),
    seed=st.integers(0, 2**32),
)
def test_property_shape_validity_and_chunk_independence(
    rows: int, features: int, classes: int, informative: int | None, chunk_rows: int, seed: int
) -> None:
    args: dict[str, Any] = dict(
        rows=rows, features=features, classes=classes, informative=informative, seed=seed
    )
    k = synth.default_informative(features, classes) if informative is None else informative
    valid = k <= features and classes <= 2**k
    with pytest.MonkeyPatch.context() as mp, tempfile.TemporaryDirectory() as tmp:
        mp.setattr(synth, "_MAX_BLOCK_ROWS", 16)  # many block boundaries in few rows
        out = Path(tmp) / "set"
        if not valid:
            with pytest.raises(TuneValueError, match="informative|classes"):
                synthesize(out, chunk_rows=chunk_rows, **args)
            assert not out.exists()
            return
        meta = synthesize(out, chunk_rows=chunk_rows, **args)
        assert meta["rows"] == rows and meta["informative"] == k and meta["block_rows"] == 16
        x, y = read_parquet(out)
        assert x.shape == (rows, features) and np.isfinite(x).all()
        assert y.min() >= 0 and y.max() < classes
        np.testing.assert_array_equal(read_csv(out, features)[0], x)
        # One chunk for everything, with a fresh spec: the same values.
        whole_x, whole_y = SynthSpec(**args).rows_between(0, rows)
        np.testing.assert_array_equal(whole_x.T, x)
        np.testing.assert_array_equal(whole_y, y)


# -- argument checks and failures --------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "name"),
    [
        ({"rows": 0}, "rows"),
        ({"rows": 2.5}, "rows"),
        ({"rows": True}, "rows"),
        ({"features": 0}, "features"),
        ({"classes": 1}, "classes"),
        ({"informative": 0}, "informative"),
        ({"informative": 5}, "informative"),  # > features
        ({"classes": 5, "informative": 2}, "informative"),  # 5 clusters > 2**2 vertices
        ({"classes": 20, "informative": None}, "classes"),  # needs 5 informative of 4
        ({"redundant": 2, "informative": 3}, "redundant"),
        ({"redundant": -1}, "redundant"),
        ({"clusters_per_class": 0}, "clusters_per_class"),
        ({"chunk_rows": 0}, "chunk_rows"),
        ({"seed": -1}, "seed"),
        ({"flip_y": 1.5}, "flip_y"),
        ({"class_sep": -1.0}, "class_sep"),
        ({"class_sep": float("nan")}, "class_sep"),
        ({"formats": ("xlsx",)}, "formats"),
        ({"formats": ()}, "formats"),
        ({"progress": 3}, "progress"),
    ],
)
def test_bad_argument_names_the_parameter_and_writes_nothing(
    tmp_path: Path, change: dict[str, Any], name: str
) -> None:
    args: dict[str, Any] = {"rows": 10, "features": 4, "informative": 2, **change}
    out = tmp_path / "never"
    with pytest.raises(TuneValueError, match=name):
        synthesize(out, **args)
    assert not out.exists()


def test_out_must_be_empty_or_overwritten(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(TuneValueError, match="out"):
        synthesize(tmp_path / "file", rows=5, features=2)
    synthesize(tmp_path / "set", rows=5, features=2)
    (tmp_path / "set" / "notes.txt").write_text("mine")
    with pytest.raises(TuneValueError, match="out.*not empty"):
        synthesize(tmp_path / "set", rows=8, features=2)
    meta = synthesize(tmp_path / "set", rows=8, features=2, formats="csv", overwrite=True)
    # The stale Parquet file of the old set goes; files tunefleet did not write stay.
    assert leftovers(tmp_path / "set") == ["data.csv", "metadata.json", "notes.txt"]
    assert describe(tmp_path / "set") == meta and meta["rows"] == 8


def test_failed_run_leaves_no_metadata_and_no_partial_files(tmp_path: Path) -> None:
    def boom(done: int) -> None:
        if done >= 200:
            raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError, match="interrupted"):
        synthesize(tmp_path / "new", rows=1_000, features=3, chunk_rows=100, progress=boom)
    assert leftovers(tmp_path / "new") == []
    with pytest.raises(TuneValueError, match="metadata.json"):
        load_dataset(tmp_path / "new")

    # Overwriting a complete set and failing half-way keeps the old set, whole.
    old = synthesize(tmp_path / "old", rows=300, features=3, seed=1)
    old_x = read_parquet(tmp_path / "old")[0]
    with pytest.raises(RuntimeError, match="interrupted"):
        synthesize(
            tmp_path / "old", rows=1_000, features=3, chunk_rows=100, seed=2, overwrite=True,
            progress=boom,
        )  # fmt: skip
    assert leftovers(tmp_path / "old") == ["data.csv", "data.parquet", "metadata.json"]
    assert describe(tmp_path / "old") == old
    np.testing.assert_array_equal(read_parquet(tmp_path / "old")[0], old_x)


# -- the command -------------------------------------------------------------------------------


def test_cli_writes_a_set_and_prints_the_table(tmp_path: Path) -> None:
    out = tmp_path / "cli"
    cmd = ["data", "synth", "--rows", "2500", "--features", "4", "--classes", "3"]
    cmd += ["--informative", "2", "--chunk-rows", "1000", "--seed", "5", "--out", str(out)]
    result = runner.invoke(app, [*cmd, "--format", "parquet"])
    assert result.exit_code == 0, result.output
    for word in ("rows written: 2,500/2,500", "data.parquet bytes", "seconds", "peak RSS"):
        assert word in result.output
    assert leftovers(out) == ["data.parquet", "metadata.json"]
    assert describe(out)["seed"] == 5 and describe(out)["classes"] == 3
    # Same arguments through the API: the same values.
    synthesize(tmp_path / "api", 2_500, 4, classes=3, informative=2, seed=5, formats="parquet")
    np.testing.assert_array_equal(read_parquet(out)[0], read_parquet(tmp_path / "api")[0])

    again = runner.invoke(app, [*cmd, "--format", "both"])
    assert again.exit_code == 2 and "not empty" in again.stderr
    again = runner.invoke(app, [*cmd, "--format", "both", "--overwrite"])
    assert again.exit_code == 0 and "data.csv bytes" in again.output
    bad = runner.invoke(app, ["data", "synth", "--rows", "10", "--classes", "1", "--out", "x"])
    assert bad.exit_code == 2 and "classes" in bad.stderr
    bad = runner.invoke(app, ["data", "synth", "--rows", "10", "--format", "xml", "--out", "x"])
    assert bad.exit_code == 2 and "--format" in bad.output


# -- loading -----------------------------------------------------------------------------------


def test_load_dataset_rows_split_and_determinism(tmp_path: Path) -> None:
    synthesize(tmp_path, rows=2_500, features=4, classes=3, chunk_rows=1_000, seed=9)
    x_all, y_all = read_parquet(tmp_path)

    ds = load_dataset(tmp_path, rows=1_500, valid_fraction=0.2, seed=1)
    assert (len(ds.y_train), len(ds.y_valid), ds.rows, ds.classes) == (1_200, 300, 1_500, 3)
    assert ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.int64
    assert ds.x_train.shape == (1_200, 4) and ds.meta["source"] == "parquet"
    # Train + valid are exactly the first 1,500 rows, shuffled.
    got = np.vstack([ds.x_train, ds.x_valid])
    order = np.lexsort(got.T[::-1])
    want = x_all[:1_500]
    np.testing.assert_array_equal(got[order], want[np.lexsort(want.T[::-1])])

    same = load_dataset(tmp_path, rows=1_500, valid_fraction=0.2, seed=1)
    np.testing.assert_array_equal(same.x_valid, ds.x_valid)
    np.testing.assert_array_equal(same.y_train, ds.y_train)
    other = load_dataset(tmp_path, rows=1_500, valid_fraction=0.2, seed=2)
    assert not np.array_equal(other.x_valid, ds.x_valid)

    whole = load_dataset(tmp_path, valid_fraction=0.0)
    assert whole.rows == 2_500 and len(whole.y_valid) == 0
    np.testing.assert_array_equal(np.sort(whole.y_train), np.sort(y_all.astype(np.int64)))


def test_load_dataset_falls_back_to_csv(tmp_path: Path) -> None:
    args: dict[str, Any] = dict(rows=900, features=3, chunk_rows=250, seed=4)
    synthesize(tmp_path / "csv", formats="csv", **args)
    synthesize(tmp_path / "pq", formats="parquet", **args)
    from_csv = load_dataset(tmp_path / "csv", rows=600, seed=3)
    from_pq = load_dataset(tmp_path / "pq", rows=600, seed=3)
    assert from_csv.meta["source"] == "csv" and from_pq.meta["source"] == "parquet"
    for field in ("x_train", "y_train", "x_valid", "y_valid"):
        np.testing.assert_array_equal(getattr(from_csv, field), getattr(from_pq, field))
    assert from_csv.y_train.dtype == np.int64


def test_load_dataset_errors_name_the_problem(tmp_path: Path) -> None:
    with pytest.raises(TuneValueError, match="path"):
        load_dataset(tmp_path / "missing")
    with pytest.raises(TuneValueError, match="metadata.json"):
        describe(tmp_path)
    synthesize(tmp_path / "set", rows=100, features=2)
    with pytest.raises(TuneValueError, match="rows"):
        load_dataset(tmp_path / "set", rows=101)
    with pytest.raises(TuneValueError, match="valid_fraction"):
        load_dataset(tmp_path / "set", valid_fraction=1.0)
    with pytest.raises(TuneValueError, match="rows"):
        load_dataset(tmp_path / "set", rows=0)
    for name in ("data.csv", "data.parquet"):
        (tmp_path / "set" / name).unlink()
    with pytest.raises(TuneValueError, match="neither data.parquet nor data.csv"):
        load_dataset(tmp_path / "set")
