"""A class-data archive for the Spark driver JVM, built once, used by every later start.

The driver JVM of a new SparkContext loads and verifies several thousand classes from
Spark's jars; on this project's 2-core machine that is most of the 6 s its start takes.
Java's dynamic application class-data sharing (JEP 350, JDK 13+) writes those classes,
already parsed and verified, into an archive that later JVMs map instead. The archive
depends on the JDK and on Spark's jars, so its key carries both.

A JVM maps the archive without checking its length: a truncated archive (or one cut short
while a JVM has it mapped) kills that JVM with SIGBUS. So an archive is only ever used
after it was proven whole, and never changes once published:

* **Sealed when built.** The builder's JVM writes a temporary file; after that JVM exited
  0, a second JVM must load the file with ``-Xshare:on`` (it refuses to start otherwise);
  only then is it renamed to ``driver-<key>-<sha256 prefix>.jsa`` (a name it will always
  keep: a rebuild writes another name) and a seal, ``driver-<key>.json`` with the file's
  name, size and SHA-256, is renamed into place last. The seal's rename is the one commit
  point: a reader sees the old archive or the new one, whole.
* **Verified before every use.** :func:`java_options` checks the size and SHA-256 against
  the seal (0.1 s for 70 MB) and hands the JVM ``-XX:+VerifySharedSpaces`` as well, so a
  bit flipped after the check makes the JVM refuse the archive (its own CRC) instead of
  running on it. An archive that fails is unlinked with its seal (never truncated or
  rewritten: a JVM that maps it keeps its pages) and a new one is built after the sweep.
* **A JVM of another build** refuses an archive by itself (its header names the JVM).

The archive is built in a separate low-priority process after the first sweep that
started its own SparkContext has finished (:func:`build_in_background`), so no sweep waits
for it; ``tunefleet bench`` builds it before timing anything (:func:`ensure`). Set
``TUNEFLEET_SPARK_CLASS_CACHE=0`` to never build or use one; ``TUNEFLEET_CACHE_DIR``
moves the cache (default ``$XDG_CACHE_HOME/tunefleet`` or ``~/.cache/tunefleet``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
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
#: Format of the seal file; a seal of another format is not trusted.
_SEAL_FORMAT = 1


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


def seal_path() -> Path | None:
    """The seal of this JDK's and this Spark's archive (None: no Java or Spark found).

    Its siblings share its stem: ``.lock`` (a build is running), ``.failed`` (the last
    build failed) and the archives ``<stem>-<sha256 prefix>.jsa``."""
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
    return cache_dir() / "spark-cds" / f"driver-{key}.json"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _read_seal(seal: Path) -> dict | None:
    try:
        data = json.loads(seal.read_text())
    except (OSError, ValueError):
        return None
    ok = (
        isinstance(data, dict)
        and data.get("format") == _SEAL_FORMAT
        and isinstance(data.get("file"), str)
        and os.path.basename(data["file"]) == data["file"]  # a name beside the seal, no path
        and isinstance(data.get("size"), int)
        and isinstance(data.get("sha256"), str)
    )
    return data if ok else None


def verified_archive() -> Path | None:
    """The sealed archive if its size and SHA-256 match its seal, else None.

    A seal that does not match its archive is removed with the archives (unlinked: a JVM
    that maps one keeps its pages), so the next sweep builds a new one."""
    seal = seal_path()
    if seal is None or not seal.exists():
        return None
    data = _read_seal(seal)
    archive = seal.parent / data["file"] if data is not None else None
    try:
        if (
            data is not None
            and archive is not None
            and archive.stat().st_size == data["size"]
            and _sha256(archive) == data["sha256"]
        ):
            return archive
    except OSError:
        pass
    _remove(seal)
    return None


def _remove(seal: Path) -> None:
    """Unlink the seal and every archive of its key (the one it named, and any orphan)."""
    for path in [seal, *seal.parent.glob(f"{seal.stem}-*.jsa")]:
        with contextlib.suppress(OSError):
            path.unlink()


def java_options() -> str:
    """Driver JVM options that use the archive, or "" when there is none (or it is off)."""
    if not enabled():
        return ""
    archive = verified_archive()
    if archive is None:
        return ""
    # A JVM that still fails on the archive writes its report here, not into the cwd.
    report = archive.parent / "hs_err_pid%p.log"
    return (
        f"-XX:SharedArchiveFile={archive} -XX:+VerifySharedSpaces {_QUIET} -XX:ErrorFile={report}"
    )


def discard() -> None:
    """Remove the archive and its seal (after a driver failed to start with it)."""
    seal = seal_path()
    if seal is not None:
        _remove(seal)


def _take_lock(seal: Path) -> bool:
    lock = seal.with_suffix(".lock")
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


def _failed_recently(seal: Path) -> bool:
    try:
        return time.time() - seal.with_suffix(".failed").stat().st_mtime < RETRY_FAILED_S
    except OSError:
        return False


def _command(seal: Path) -> list[str]:
    return [sys.executable, "-m", "tunefleet.executors.spark_classcache", str(seal)]


def build_in_background() -> bool:
    """Start building the archive in a detached, low-priority process if none exists and
    no build is running. Returns whether a build was started."""
    if not enabled():
        return False
    seal = seal_path()
    if seal is None or seal.exists() or _failed_recently(seal) or not _take_lock(seal):
        return False
    builder = subprocess.Popen(
        [*_command(seal), "--nice"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    with contextlib.suppress(OSError):
        seal.with_suffix(".lock").write_text(str(builder.pid))  # whose build it is
    return True


def ensure(timeout: float = 300.0) -> Path | None:
    """Build the archive now unless a verified one exists (waits for a running build).

    Returns its path, or None when it is off or could not be built."""
    if not enabled():
        return None
    seal = seal_path()
    if seal is None:
        return None
    deadline = time.monotonic() + timeout
    while verified_archive() is None and time.monotonic() < deadline:
        if _take_lock(seal):
            subprocess.run(
                _command(seal),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=max(1.0, deadline - time.monotonic()),
                check=False,
            )
            break
        time.sleep(0.5)  # another process is building it
    return verified_archive()


def loads_with(java_command: list[str], archive: Path) -> bool:
    """Whether a JVM started as ``java_command`` (java and its class path) maps ``archive``:
    with ``-Xshare:on`` a JVM that cannot use the archive exits non-zero instead."""
    check = [
        *java_command,
        "-Xshare:on",
        f"-XX:SharedArchiveFile={archive}",
        "-XX:+VerifySharedSpaces",
        *_QUIET.split(),
        f"-XX:ErrorFile={archive.parent / 'hs_err_pid%p.log'}",
        "-version",
    ]
    try:
        done = subprocess.run(check, capture_output=True, timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def _java_and_class_path(pid: int) -> list[str] | None:
    """The java binary and ``-cp`` of a running JVM (Linux: from /proc)."""
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
    except OSError:
        return None
    if "-cp" not in args or args.index("-cp") + 1 >= len(args):
        return None
    at = args.index("-cp")
    return [args[0], "-cp", args[at + 1]]


def publish(seal: Path, tmp: Path, java_command: list[str]) -> Path:
    """Move a checked archive under its final name, then commit its seal (both renames).

    The seal also records the JVM command (java and class path) that the archive fits."""
    digest = _sha256(tmp)
    size = tmp.stat().st_size
    archive = seal.with_name(f"{seal.stem}-{digest[:16]}.jsa")
    os.chmod(tmp, 0o444)
    os.replace(tmp, archive)  # same content if a file of this name was there
    record = {
        "format": _SEAL_FORMAT,
        "file": archive.name,
        "size": size,
        "sha256": digest,
        "java": java_command,
    }
    pending = seal.with_name(f"{seal.name}.{os.getpid()}.tmp")
    pending.write_text(json.dumps(record))
    os.replace(pending, seal)
    legacy = seal.with_suffix(".jsa")  # the unsealed archive of earlier versions
    for stale in [legacy, *seal.parent.glob(f"{seal.stem}-*.jsa")]:
        if stale.name != archive.name:
            with contextlib.suppress(OSError):
                stale.unlink()  # unlinked, never truncated: a JVM mapping it keeps its pages
    return archive


def _dump(seal: Path) -> int:
    """Start a driver JVM that records its classes, run one Python job, exit, publish."""
    from pyspark import SparkConf, SparkContext

    from tunefleet.executors.base import Resources
    from tunefleet.executors.spark import session_settings

    lock = seal.with_suffix(".lock")
    tmp = seal.with_name(f"{seal.stem}.{os.getpid()}.tmp")
    failed = seal.with_suffix(".failed")
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
        gateway = SparkContext._gateway
        proc = getattr(gateway, "proc", None)
        java = _java_and_class_path(proc.pid) if proc is not None else None
        sc.stop()
        if gateway is None or proc is None or java is None:
            return 1
        gateway.shutdown()
        if proc.stdin is not None:
            proc.stdin.close()  # the gateway JVM exits at end of input, writing the archive
        code = proc.wait(timeout=120)
        if code != 0 or not tmp.is_file() or tmp.stat().st_size == 0:
            return 1
        if not loads_with(java, tmp):
            return 1
        publish(seal, tmp, java)
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
