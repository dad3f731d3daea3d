"""A class-data archive for the Spark driver JVM, built once, used by every later start.

The driver JVM of a new SparkContext loads and verifies several thousand classes from
Spark's jars; on this project's 2-core machine that is most of the 6 s its start takes.
Java's dynamic application class-data sharing (JEP 350, JDK 13+) writes those classes,
already parsed and verified, into an archive that later JVMs map instead: the context
starts in about 4 s instead of 6. The archive depends on the JDK and on Spark's jars, so
its name carries both; the JVM itself refuses (silently, with the logging switched off
here) an archive that does not match its class path.

A JVM given a truncated archive crashes, so an archive only ever appears under its final
name by an atomic rename after the JVM that wrote it exited cleanly; and a driver that
still fails to start with an archive is started again without it (the archive is removed).

The archive is built in a separate low-priority process after the first sweep that
started its own SparkContext has finished (:func:`build_in_background`), so no sweep waits
for it; ``tunefleet bench`` builds it before timing anything (:func:`ensure`). Set
``TUNEFLEET_SPARK_CLASS_CACHE=0`` to never build or use one; ``TUNEFLEET_CACHE_DIR``
moves the cache (default ``$XDG_CACHE_HOME/tunefleet`` or ``~/.cache/tunefleet``).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

#: Environment variable: "0" turns the archive off.
SWITCH_ENV = "TUNEFLEET_SPARK_CLASS_CACHE"
#: Environment variable: the cache directory.
CACHE_DIR_ENV = "TUNEFLEET_CACHE_DIR"
#: A build still holding its lock after this long is taken to have died.
STALE_LOCK_S = 600.0
#: After a failed build, background builds are not tried again for this long (a JDK or
#: disk that cannot produce an archive must not cost 18 s of CPU after every sweep).
RETRY_FAILED_S = 86400.0
#: Logging off: a mismatched archive must not print warnings into the user's output.
_QUIET = "-Xlog:cds=off -Xlog:cds+dynamic=off"


def enabled() -> bool:
    return os.environ.get(SWITCH_ENV, "1").strip().lower() not in {"0", "false", "no", "off"}


def cache_dir() -> Path:
    given = os.environ.get(CACHE_DIR_ENV)
    if given:
        return Path(given)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "tunefleet"


def _java_binary() -> str | None:
    home = os.environ.get("JAVA_HOME")
    if home:
        candidate = os.path.join(home, "bin", "java")
        return candidate if os.path.exists(candidate) else None
    return shutil.which("java")


def _spark_home() -> str | None:
    home = os.environ.get("SPARK_HOME")
    if home:
        return os.path.realpath(home)
    try:
        import pyspark
    except ImportError:
        return None
    return os.path.realpath(os.path.dirname(pyspark.__file__))


def archive_path() -> Path | None:
    """Where the archive for this JDK and this Spark lives (None: no Java or Spark found)."""
    java, spark = _java_binary(), _spark_home()
    if java is None or spark is None:
        return None
    java = os.path.realpath(java)
    jars = os.path.join(spark, "jars")
    try:
        stamp = [java, str(os.stat(java).st_mtime_ns), spark, str(os.stat(jars).st_mtime_ns)]
    except OSError:
        return None
    key = hashlib.sha1("\0".join(stamp).encode()).hexdigest()[:16]
    return cache_dir() / "spark-cds" / f"driver-{key}.jsa"


def java_options() -> str:
    """Driver JVM options that use the archive, or "" when there is none (or it is off)."""
    if not enabled():
        return ""
    path = archive_path()
    if path is None or not path.is_file():
        return ""
    # A JVM that crashes on a damaged archive writes its report here, not into the cwd.
    report = path.parent / "hs_err_pid%p.log"
    return f"-XX:SharedArchiveFile={path} {_QUIET} -XX:ErrorFile={report}"


def discard() -> None:
    """Remove the archive (after a driver failed to start with it)."""
    path = archive_path()
    if path is not None:
        with contextlib.suppress(OSError):
            path.unlink()


def _take_lock(path: Path) -> bool:
    lock = path.with_suffix(".lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(OSError):
        if time.time() - lock.stat().st_mtime > STALE_LOCK_S:
            lock.unlink()
    try:
        fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    os.write(fd, str(os.getpid()).encode())
    os.close(fd)
    return True


def _failed_recently(path: Path) -> bool:
    try:
        return time.time() - path.with_suffix(".failed").stat().st_mtime < RETRY_FAILED_S
    except OSError:
        return False


def _command(path: Path) -> list[str]:
    return [sys.executable, "-m", "tunefleet.executors.spark_classcache", str(path)]


def build_in_background() -> bool:
    """Start building the archive in a detached, low-priority process if none exists and
    no build is running. Returns whether a build was started."""
    if not enabled():
        return False
    path = archive_path()
    if path is None or path.exists() or _failed_recently(path) or not _take_lock(path):
        return False
    subprocess.Popen(
        [*_command(path), "--nice"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    return True


def ensure(timeout: float = 300.0) -> Path | None:
    """Build the archive now unless it exists (waits for a build already running).

    Returns its path, or None when it is off or could not be built."""
    if not enabled():
        return None
    path = archive_path()
    if path is None:
        return None
    deadline = time.monotonic() + timeout
    while not path.exists() and time.monotonic() < deadline:
        if _take_lock(path):
            subprocess.run(
                _command(path),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=max(1.0, deadline - time.monotonic()),
                check=False,
            )
            break
        time.sleep(0.5)  # another process is building it
    return path if path.exists() else None


def _dump(path: Path) -> int:
    """Start a driver JVM that records its classes, run one Python job, exit, publish."""
    from pyspark import SparkConf, SparkContext

    from tunefleet.executors.base import Resources
    from tunefleet.executors.spark import session_settings

    lock = path.with_suffix(".lock")
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp")
    failed = path.with_suffix(".failed")
    published = False
    try:
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        master = "local[1,1]"
        settings = session_settings(master, Resources(cpu=1))
        settings["spark.driver.extraJavaOptions"] += f" -XX:ArchiveClassesAtExit={tmp} {_QUIET}"
        conf = SparkConf().setMaster(master).setAppName("tunefleet-class-cache")
        conf.setAll(list(settings.items()))
        sc = SparkContext.getOrCreate(conf)
        shared = sc.broadcast(b"tunefleet")
        sc.parallelize(range(2), 2).map(lambda i: (i, len(shared.value))).collect()
        sc.stop()
        gateway = SparkContext._gateway
        proc = getattr(gateway, "proc", None)
        if gateway is None or proc is None:
            return 1
        gateway.shutdown()
        if proc.stdin is not None:
            proc.stdin.close()  # the gateway JVM exits at end of input, writing the archive
        code = proc.wait(timeout=120)
        if code != 0 or not tmp.is_file() or tmp.stat().st_size == 0:
            return 1
        os.replace(tmp, path)
        published = True
        return 0
    finally:
        with contextlib.suppress(OSError):
            if published:
                failed.unlink()
            else:
                failed.touch()
        with contextlib.suppress(OSError):
            tmp.unlink()
        with contextlib.suppress(OSError):
            lock.unlink()


if __name__ == "__main__":
    if "--nice" in sys.argv[2:]:
        os.nice(19)  # here, not in a preexec_fn: the parent has threads (py4j's)
    sys.exit(_dump(Path(sys.argv[1])))
