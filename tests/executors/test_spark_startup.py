"""Spark start-up: the driver JVM's class-data archive and the zip-free pyspark daemon.

The end-to-end tests run their sweeps in subprocesses: a driver JVM's options only apply
when it is launched, and Spark allows one driver per process.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytest.importorskip("pyspark")
if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
    pytest.skip("Spark needs Java", allow_module_level=True)

from tunefleet.executors import spark_classcache
from tunefleet.executors.base import Resources
from tunefleet.executors.spark import session_settings
from tunefleet.worker import spark_daemon

pytestmark = pytest.mark.timeout(400)

DAEMON = "tunefleet.worker.spark_daemon"

SWEEP = textwrap.dedent(
    """
    import json, sys
    import psutil
    import tunefleet as tune

    def trainable(config):
        import pyspark, psutil
        daemon = " ".join(psutil.Process().parent().cmdline())
        tune.report({"x": config["x"], "pyspark": pyspark.__file__, "daemon": daemon})

    from tunefleet.executors.spark import SparkExecutor
    ex = SparkExecutor()
    analysis = tune.run(trainable, config={"x": tune.grid_search([1, 2, 3])}, engine=ex,
                        metric="x", mode="max", verbose=0)
    results = list(analysis.results.values())
    from pyspark import SparkContext
    gateway = SparkContext._gateway
    args = psutil.Process(gateway.proc.pid).cmdline()  # spark-class execs the JVM
    print(json.dumps({"best": analysis.best_config["x"],
                      "pyspark": sorted({r["pyspark"] for r in results}),
                      "daemon": sorted({r["daemon"] for r in results}),
                      "java_args": args}))
    """
)


def _sweep(tmp_path: Path, cache: Path) -> dict:
    script = tmp_path / "sweep.py"
    script.write_text(SWEEP)
    env = dict(os.environ, TUNEFLEET_CACHE_DIR=str(cache), TUNEFLEET_SPARK_CLASS_CACHE="1")
    proc = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ============================================================================ daemon
def test_daemon_moves_the_installed_pysparks_zips_behind_it(monkeypatch, tmp_path):
    import pyspark

    home = Path(os.path.realpath(os.path.dirname(pyspark.__file__)))
    own = [str(home / "python" / "lib" / "pyspark.zip"), str(home / "python" / "lib" / "py4j.zip")]
    foreign = str(tmp_path / "spark-3" / "python" / "lib" / "pyspark.zip")
    path = [foreign, *own, *[p for p in sys.path if not p.endswith(".zip")]]
    monkeypatch.setattr(sys, "path", list(path))
    moved = spark_daemon.prefer_installed_pyspark()
    assert moved == own
    assert sys.path[:1] == [foreign]  # another distribution's zip keeps its place
    assert sys.path[-2:] == own


def test_daemon_leaves_the_path_alone_without_an_installed_pyspark(monkeypatch, tmp_path):
    zips = [str(tmp_path / "python" / "lib" / "pyspark.zip")]
    monkeypatch.setattr(sys, "path", [*zips, str(tmp_path)])
    assert spark_daemon.prefer_installed_pyspark() == []
    assert sys.path == [*zips, str(tmp_path)]


def test_daemon_module_only_for_workers_running_this_python(monkeypatch):
    monkeypatch.setenv("PYSPARK_PYTHON", sys.executable)
    assert session_settings("local[2,1]", Resources())["spark.python.daemon.module"] == DAEMON
    assert (
        session_settings("local-cluster[2,1,1024]", Resources())["spark.python.daemon.module"]
        == DAEMON
    )
    remote = session_settings("spark://10.1.2.3:7077", Resources())
    assert "spark.python.daemon.module" not in remote
    monkeypatch.setenv("PYSPARK_PYTHON", "/opt/other/python3")
    assert "spark.python.daemon.module" not in session_settings("local[2,1]", Resources())
    # The user's conf wins.
    mine = session_settings("local[2]", Resources(), {"spark.python.daemon.module": "x.y"})
    assert mine["spark.python.daemon.module"] == "x.y"


# ============================================================================ class cache
def test_class_cache_switch_and_location(monkeypatch, tmp_path):
    monkeypatch.setenv(spark_classcache.CACHE_DIR_ENV, str(tmp_path))
    monkeypatch.setenv(spark_classcache.SWITCH_ENV, "0")
    assert not spark_classcache.enabled()
    assert spark_classcache.java_options() == ""
    assert spark_classcache.build_in_background() is False
    assert spark_classcache.ensure() is None
    monkeypatch.setenv(spark_classcache.SWITCH_ENV, "1")
    path = spark_classcache.archive_path()
    assert path is not None and path.parent == tmp_path / "spark-cds"
    assert spark_classcache.java_options() == ""  # nothing built yet
    path.parent.mkdir(parents=True)
    path.write_bytes(b"archive")
    assert f"-XX:SharedArchiveFile={path}" in spark_classcache.java_options()
    spark_classcache.discard()
    assert not path.exists()


def test_class_cache_lock_blocks_until_stale(monkeypatch, tmp_path):
    monkeypatch.setenv(spark_classcache.CACHE_DIR_ENV, str(tmp_path))
    path = spark_classcache.archive_path()
    assert path is not None
    assert spark_classcache._take_lock(path)
    assert not spark_classcache._take_lock(path)  # a build is running
    lock = path.with_suffix(".lock")
    old = time.time() - spark_classcache.STALE_LOCK_S - 5
    os.utime(lock, (old, old))
    assert spark_classcache._take_lock(path)  # its builder died: taken over


def _wait_for_archive(path: Path, not_size: int = -1) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if path.exists() and path.stat().st_size not in (0, not_size):
            break
        time.sleep(0.5)
    assert path.exists() and path.stat().st_size > 1_000_000
    assert not path.with_suffix(".lock").exists()
    assert not path.with_suffix(".failed").exists()
    assert not list(path.parent.glob("*.tmp"))


def test_class_cache_not_retried_in_the_background_soon_after_a_failed_build(monkeypatch, tmp_path):
    monkeypatch.setenv(spark_classcache.CACHE_DIR_ENV, str(tmp_path))
    path = spark_classcache.archive_path()
    assert path is not None
    path.parent.mkdir(parents=True)
    failed = path.with_suffix(".failed")
    failed.touch()
    assert spark_classcache.build_in_background() is False
    assert not path.with_suffix(".lock").exists()  # nothing was started
    old = time.time() - spark_classcache.RETRY_FAILED_S - 5
    os.utime(failed, (old, old))
    assert spark_classcache._failed_recently(path) is False


def test_class_cache_is_built_after_a_sweep_used_by_the_next_and_survives_damage(
    monkeypatch, tmp_path
):
    cache = tmp_path / "cache"
    monkeypatch.setenv(spark_classcache.CACHE_DIR_ENV, str(cache))
    path = spark_classcache.archive_path()
    assert path is not None

    first = _sweep(tmp_path, cache)
    assert first["best"] == 3
    assert not any(a.startswith("-XX:SharedArchiveFile") for a in first["java_args"])
    # Trials imported the installed pyspark, through tunefleet's daemon, not Spark's zip.
    assert all(".zip" not in f for f in first["pyspark"]), first["pyspark"]
    assert all(f"-m {DAEMON}" in d for d in first["daemon"]), first["daemon"]
    _wait_for_archive(path)  # built in the background after the sweep closed

    second = _sweep(tmp_path, cache)
    assert second["best"] == 3
    assert f"-XX:SharedArchiveFile={path}" in second["java_args"]

    # A truncated archive crashes the JVM that maps it: the driver starts again without
    # it, the sweep completes, and a whole archive replaces the damaged one.
    size = path.stat().st_size // 3
    data = path.read_bytes()[:size]
    path.unlink()
    path.write_bytes(data)
    third = _sweep(tmp_path, cache)
    assert third["best"] == 3
    assert f"-XX:SharedArchiveFile={path}" not in third["java_args"]
    _wait_for_archive(path, not_size=size)
