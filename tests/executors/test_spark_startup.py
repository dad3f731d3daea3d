"""Spark start-up: the driver JVM's class-data archive and the zip-free pyspark daemon.

The end-to-end tests run their sweeps in subprocesses: a driver JVM's options only apply
when it is launched, and Spark allows one driver per process. One real archive is built
per module (the costly part, about 20 s of CPU); the damaged archives are copies of it,
handed to real JVMs that only start (``-version``) or idle (py4j's gateway), so the
"never a crash" cases cost a fraction of a second each.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
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
def _fake_archive(tmp_path: Path, payload: bytes = b"x" * 4096) -> tuple[Path, Path]:
    """A sealed file that is not a JVM archive: enough for the seal's own checks."""
    seal = spark_classcache.seal_path()
    assert seal is not None
    seal.parent.mkdir(parents=True, exist_ok=True)
    tmp = tmp_path / "built.tmp"
    tmp.write_bytes(payload)
    return seal, spark_classcache.publish(seal, tmp, ["java"])


def test_class_cache_switch_and_location(monkeypatch, tmp_path):
    monkeypatch.setenv(spark_classcache.CACHE_DIR_ENV, str(tmp_path))
    monkeypatch.setenv(spark_classcache.SWITCH_ENV, "0")
    assert not spark_classcache.enabled()
    assert spark_classcache.java_options() == ""
    assert spark_classcache.build_in_background() is False
    assert spark_classcache.ensure() is None
    monkeypatch.setenv(spark_classcache.SWITCH_ENV, "1")
    seal = spark_classcache.seal_path()
    assert seal is not None and seal.parent == tmp_path / "spark-cds"
    assert spark_classcache.java_options() == ""  # nothing built yet
    seal, archive = _fake_archive(tmp_path)
    options = spark_classcache.java_options()
    assert f"-XX:SharedArchiveFile={archive} -XX:+VerifySharedSpaces" in options
    assert oct(archive.stat().st_mode & 0o777) == "0o444"
    spark_classcache.discard()
    assert not seal.exists() and not archive.exists()


def test_class_cache_lock_blocks_until_stale(monkeypatch, tmp_path):
    monkeypatch.setenv(spark_classcache.CACHE_DIR_ENV, str(tmp_path))
    seal = spark_classcache.seal_path()
    assert seal is not None
    assert spark_classcache._take_lock(seal)
    assert not spark_classcache._take_lock(seal)  # a build is running
    lock = seal.with_suffix(".lock")
    old = time.time() - spark_classcache.STALE_LOCK_S - 5
    os.utime(lock, (old, old))
    assert spark_classcache._take_lock(seal)  # its builder died: taken over


def test_class_cache_not_retried_in_the_background_soon_after_a_failed_build(monkeypatch, tmp_path):
    monkeypatch.setenv(spark_classcache.CACHE_DIR_ENV, str(tmp_path))
    seal = spark_classcache.seal_path()
    assert seal is not None
    seal.parent.mkdir(parents=True)
    failed = seal.with_suffix(".failed")
    failed.touch()
    assert spark_classcache.build_in_background() is False
    assert not seal.with_suffix(".lock").exists()  # nothing was started
    old = time.time() - spark_classcache.RETRY_FAILED_S - 5
    os.utime(failed, (old, old))
    assert spark_classcache._failed_recently(seal) is False


@pytest.mark.parametrize("damage", ["truncated", "bit_flipped", "seal_garbled", "missing"])
def test_class_cache_archive_that_differs_from_its_seal_is_never_used(
    monkeypatch, tmp_path, damage
):
    monkeypatch.setenv(spark_classcache.CACHE_DIR_ENV, str(tmp_path))
    seal, archive = _fake_archive(tmp_path)
    data = archive.read_bytes()
    archive.unlink()  # a foreign writer; tunefleet itself never rewrites a published name
    if damage == "truncated":
        archive.write_bytes(data[: len(data) // 3])
    elif damage == "bit_flipped":
        archive.write_bytes(data[:100] + bytes([data[100] ^ 1]) + data[101:])
    elif damage == "seal_garbled":
        archive.write_bytes(data)
        seal.write_text('{"format": 1, "file": "../../etc/passwd", "size": 1, "sha256": "0"}')
    assert spark_classcache.java_options() == ""
    assert not seal.exists() and not archive.exists()  # removed: the next sweep rebuilds it


def test_class_cache_publishing_never_rewrites_an_archive_in_place(monkeypatch, tmp_path):
    monkeypatch.setenv(spark_classcache.CACHE_DIR_ENV, str(tmp_path))
    legacy = tmp_path / "spark-cds" / f"{spark_classcache.seal_path().stem}.jsa"
    legacy.parent.mkdir(parents=True)
    legacy.write_bytes(b"unsealed, from an earlier version")
    seal, first = _fake_archive(tmp_path, b"a" * 8192)
    assert not legacy.exists()
    with open(first, "rb") as held:  # stands for a JVM that maps the first archive
        _, second = _fake_archive(tmp_path, b"b" * 100)
        assert second != first and not first.exists()
        assert os.pread(held.fileno(), 8192, 0) == b"a" * 8192
        assert os.fstat(held.fileno()).st_size == 8192
    assert f"SharedArchiveFile={second} " in spark_classcache.java_options()
    assert json.loads(seal.read_text())["file"] == second.name


# ---------------------------------------------------------------- with a real archive
@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict:
    """A real archive, built once by ``ensure()`` (the build ``tunefleet bench`` runs)."""
    cache = tmp_path_factory.mktemp("cds")
    saved = os.environ.get(spark_classcache.CACHE_DIR_ENV)
    os.environ[spark_classcache.CACHE_DIR_ENV] = str(cache)
    try:
        archive = spark_classcache.ensure(timeout=240)
        seal = spark_classcache.seal_path()
    finally:
        if saved is None:
            os.environ.pop(spark_classcache.CACHE_DIR_ENV)
        else:
            os.environ[spark_classcache.CACHE_DIR_ENV] = saved
    assert archive is not None and seal is not None, "the archive was not built"
    assert archive.stat().st_size > 1_000_000
    record = json.loads(seal.read_text())
    return {"cache": cache, "archive": archive, "seal": seal, "java": record["java"]}


def _plant(monkeypatch, tmp_path: Path, built: dict, data: bytes) -> Path:
    """``data`` sealed as the archive of a fresh cache dir (as if it passed the check)."""
    cache = tmp_path / "cache"
    monkeypatch.setenv(spark_classcache.CACHE_DIR_ENV, str(cache))
    seal = spark_classcache.seal_path()
    assert seal is not None
    seal.parent.mkdir(parents=True)
    tmp = tmp_path / "planted.tmp"
    tmp.write_bytes(data)
    return spark_classcache.publish(seal, tmp, built["java"])


def _java(built: dict, options: str, *args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*built["java"], *options.split(), *args], capture_output=True, timeout=60, **kw
    )


def _crash_reports(*dirs: Path) -> list[Path]:
    return [p for d in dirs for p in d.rglob("hs_err_pid*.log")]


def test_class_cache_real_archive_damaged_after_its_check_never_crashes_a_jvm(
    monkeypatch, tmp_path, built
):
    data = built["archive"].read_bytes()
    # Sealed and whole: the JVM maps it.
    _plant(monkeypatch, tmp_path / "whole", built, data)
    options = spark_classcache.java_options()
    assert "-XX:+VerifySharedSpaces" in options
    assert _java(built, options, "-Xshare:on", "-version").returncode == 0
    # Bits flipped after the seal was checked: the JVM's own CRC check refuses it, and
    # the JVM starts without it.
    flipped = bytearray(data)
    for at in (len(data) // 5, len(data) // 2):
        flipped[at] ^= 0xFF
    _plant(monkeypatch, tmp_path / "flipped", built, bytes(flipped))
    options = spark_classcache.java_options()
    assert "SharedArchiveFile" in options
    assert _java(built, options, "-Xshare:on", "-version").returncode != 0  # refused...
    assert _java(built, options, "-version").returncode == 0  # ...and no crash
    # An archive of another JVM build (its header names another version): refused too.
    other = bytearray(data)
    at = other.find(b" VM (", 0, 4096)  # "OpenJDK 64-Bit Server VM (17.0.15+6-..."
    assert at >= 0, "no JVM version in the archive's header"
    other[at + 5 : at + 7] = b"99"
    _plant(monkeypatch, tmp_path / "other", built, bytes(other))
    options = spark_classcache.java_options()
    assert _java(built, options, "-Xshare:on", "-version").returncode != 0
    assert _java(built, options, "-version").returncode == 0
    # Truncated (the archive that crashed a JVM with SIGBUS): caught by the seal, never
    # handed to a JVM.
    _plant(monkeypatch, tmp_path / "cut", built, data)
    seal = spark_classcache.seal_path()
    assert seal is not None
    archive = seal.parent / json.loads(seal.read_text())["file"]
    archive.unlink()
    archive.write_bytes(data[: len(data) // 3])
    assert spark_classcache.java_options() == ""
    assert _java(built, "", "-version").returncode == 0
    assert not _crash_reports(tmp_path)


def test_class_cache_archive_replaced_while_a_jvm_maps_it(monkeypatch, tmp_path, built):
    data = built["archive"].read_bytes()
    first = _plant(monkeypatch, tmp_path, built, data)
    options = spark_classcache.java_options()
    assert f"SharedArchiveFile={first} " in options
    # py4j's gateway: a JVM with Spark's class path that idles until its stdin closes.
    jvm = subprocess.Popen(
        [*built["java"], *options.split(), "py4j.GatewayServer", "--die-on-broken-pipe", "0"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert jvm.stdout is not None and jvm.stdout.readline().strip().isdigit()  # up
        maps = Path(f"/proc/{jvm.pid}/maps").read_text()
        assert str(first) in maps  # the archive is mapped
        # A rebuild publishes another archive, a failed start discards one, a bad seal
        # removes one: each only renames or unlinks.
        tmp = tmp_path / "rebuilt.tmp"
        tmp.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
        seal = spark_classcache.seal_path()
        assert seal is not None
        second = spark_classcache.publish(seal, tmp, built["java"])
        assert second != first and not first.exists()
        spark_classcache.discard()
        assert not second.exists()
        time.sleep(0.5)
        assert jvm.poll() is None  # still running on its mapping
        out, err = jvm.communicate(b"", timeout=60)
    finally:
        if jvm.poll() is None:
            jvm.kill()
            jvm.wait()
    assert jvm.returncode == 0, err[-2000:]
    assert not _crash_reports(tmp_path)


def test_class_cache_used_by_a_sweep_and_a_damaged_one_is_skipped(monkeypatch, tmp_path, built):
    cache = tmp_path / "cache"
    shutil.copytree(built["cache"] / "spark-cds", cache / "spark-cds")
    monkeypatch.setenv(spark_classcache.CACHE_DIR_ENV, str(cache))
    seal = spark_classcache.seal_path()
    assert seal is not None
    archive = seal.parent / json.loads(seal.read_text())["file"]

    first = _sweep(tmp_path, cache)
    assert first["best"] == 3
    assert f"-XX:SharedArchiveFile={archive}" in first["java_args"]
    assert "-XX:+VerifySharedSpaces" in first["java_args"]
    # Trials imported the installed pyspark, through tunefleet's daemon, not Spark's zip.
    assert all(".zip" not in f for f in first["pyspark"]), first["pyspark"]
    assert all(f"-m {DAEMON}" in d for d in first["daemon"]), first["daemon"]

    # Truncated by someone else: the sweep runs without it, no JVM crashes, and a new
    # archive is built after the sweep (stopped here: the build itself is tested above).
    data = archive.read_bytes()
    archive.unlink()
    archive.write_bytes(data[: len(data) // 3])
    second = _sweep(tmp_path, cache)
    assert second["best"] == 3
    assert not any("SharedArchiveFile" in a for a in second["java_args"])
    assert not archive.exists() and not _crash_reports(tmp_path)
    lock = seal.with_suffix(".lock")
    deadline = time.monotonic() + 30
    while not lock.exists() and not seal.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert lock.exists() or seal.exists(), "no rebuild was started after the sweep"
    with contextlib.suppress(FileNotFoundError, ValueError, ProcessLookupError):
        os.killpg(int(lock.read_text()), signal.SIGKILL)  # the builder's whole session
