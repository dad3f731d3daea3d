"""Where checkpoints live: local disk or any fsspec URL, written atomically and verified.

A checkpoint is a directory. tunefleet identifies its content by a **content hash**:
sha256 over the sorted relative paths of its files, each followed by the sha256 of the
file's bytes (read in chunks, never a whole file in memory). Empty directories and the
manifest itself do not count. The hash travels with the ``checkpoint`` record, so the
driver can tell, before it restores a trial, whether the files are still what the worker
wrote.

Layout at a URL (``checkpoint_storage="s3://bucket/prefix"``)::

    <prefix>/<experiment>/trials/<trial_id>/.tmp-<uuid>/...        upload in progress
    <prefix>/<experiment>/trials/<trial_id>/checkpoint_000003/...  copied from the upload
    <prefix>/<experiment>/trials/<trial_id>/checkpoint_000003/.complete   written LAST

Object stores have no atomic rename, so the ``.complete`` manifest (JSON: the hash, the
iteration and every file's size) is the commit point: a checkpoint without a valid manifest
is partial, and no record ever names one (the worker sends the path only after the
manifest is written). Replacing a checkpoint (a retried attempt reaching the same
iteration) deletes the old manifest first, and retention deletes it first too.

Every remote call goes through :func:`retry_call`: transient errors (connection resets,
timeouts, HTTP 5xx, ``SlowDown``/throttling) are retried with jittered exponential backoff;
anything else (not found, access denied) is raised at once.

Storage options (``endpoint_url``, ``key``, ``secret``, ...) are given to fsspec as they
are; credentials may also come from the environment (``AWS_ACCESS_KEY_ID``,
``AWS_PROFILE``, ``AWS_ENDPOINT_URL``, instance roles ...), which s3fs reads and refreshes
through botocore. ``run()`` registers its options for the ``checkpoint_storage`` prefix in
this process (:func:`register_storage_options`), so ``Results.best_checkpoint`` can be
downloaded afterwards without passing them again.

Why ~580 lines: hashing, the manifest, retries and verification are one protocol (what a
worker writes is exactly what the driver verifies); they share its constants and helpers.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import shutil
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple, TypeVar

from tunefleet.errors import TuneError, TuneTypeError, TuneValueError

MANIFEST = ".complete"
HASH_ALGORITHM = "sha256"
_CHUNK = 1 << 20

# Retries of remote calls (transient errors only): attempts in all, first delay, cap.
RETRY_ATTEMPTS = 4
RETRY_BASE_DELAY_S = 0.2
RETRY_MAX_DELAY_S = 5.0

T = TypeVar("T")


class CheckpointError(TuneError):
    """A checkpoint is missing, partial, or its content does not match its hash."""


class StorageUnavailableError(TuneError):
    """Remote storage kept failing with transient errors after every retry."""


class PersistedCheckpoint(NamedTuple):
    path: str  # local path or URL of the complete checkpoint
    hash: str  # "sha256:<hex>" content hash


def is_url(path: str) -> bool:
    return "://" in path


def is_marker(path: str) -> bool:
    """Simulated checkpoints are markers with nothing behind them."""
    return path.startswith("sim://")


def join(base: str, *parts: str) -> str:
    """Join path parts with '/' for URLs, ``os.path.join`` for local paths."""
    if is_url(base):
        return "/".join([base.rstrip("/"), *(p.strip("/") for p in parts)])
    return os.path.join(base, *parts)


# --------------------------------------------------------------------------- hashing
def combine(entries: Iterable[tuple[str, bytes]]) -> str:
    """The directory hash from (relative POSIX path, sha256 digest of the file) pairs."""
    outer = hashlib.sha256()
    for rel, digest in sorted(entries):
        name = rel.encode("utf-8")
        outer.update(len(name).to_bytes(8, "little"))
        outer.update(name)
        outer.update(digest)
    return f"{HASH_ALGORITHM}:{outer.hexdigest()}"


def _local_files(root: str) -> list[tuple[str, str]]:
    """(relative POSIX path, absolute path) of every file under ``root``, sorted."""
    out: list[tuple[str, str]] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames.sort()
        rel_dir = os.path.relpath(dirpath, root)
        for name in filenames:
            rel = name if rel_dir == "." else f"{rel_dir.replace(os.sep, '/')}/{name}"
            if rel == MANIFEST:
                continue
            out.append((rel, os.path.join(dirpath, name)))
    out.sort()
    return out


def _file_digest(path: str) -> bytes:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, HASH_ALGORITHM).digest()


def hash_directory(path: str | os.PathLike[str]) -> str:
    """Content hash of a local checkpoint directory (streams each file)."""
    root = os.fspath(path)
    return combine((rel, _file_digest(full)) for rel, full in _local_files(root))


def copy_and_hash(source: str, dest: str) -> str:
    """Copy the files of ``source`` into ``dest`` (created) and return their content hash,
    reading each file once."""
    os.makedirs(dest, exist_ok=True)
    for dirpath, dirnames, _ in os.walk(source, followlinks=True):
        for d in dirnames:  # empty directories too, as shutil.copytree would
            rel = os.path.relpath(os.path.join(dirpath, d), source)
            os.makedirs(os.path.join(dest, rel), exist_ok=True)
    entries = []
    for rel, full in _local_files(source):
        target = os.path.join(dest, *rel.split("/"))
        h = hashlib.sha256()
        with open(full, "rb") as src, open(target, "wb") as out:
            while chunk := src.read(_CHUNK):
                h.update(chunk)
                out.write(chunk)
        shutil.copymode(full, target)
        entries.append((rel, h.digest()))
    return combine(entries)


def short(digest: str | None) -> str:
    return "none" if digest is None else digest.split(":")[-1][:12]


# --------------------------------------------------------------------------- retries
_TRANSIENT_NAMES = frozenset(
    (
        "EndpointConnectionError",
        "ConnectionClosedError",
        "ConnectTimeoutError",
        "ReadTimeoutError",
        "IncompleteReadError",
        "ResponseStreamingError",
        "ClientConnectionError",
        "ClientPayloadError",
        "ServerDisconnectedError",
        "ServerTimeoutError",
        "FSTimeoutError",
        "ProtocolError",
    )
)
_TRANSIENT_CODES = frozenset(
    (
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "RequestThrottled",
        "RequestTimeout",
        "RequestTimeoutException",
        "InternalError",
        "ServiceUnavailable",
        "PriorRequestNotComplete",
        "500",
        "502",
        "503",
        "504",
    )
)
_TRANSIENT_TEXT = (
    "SlowDown",
    "Throttl",
    "Too Many Requests",
    "ServiceUnavailable",
    "Service Unavailable",
    "InternalError",
    "RequestTimeout",
    "reduce your request rate",
)
_PERMANENT = (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError)


def is_transient(exc: BaseException) -> bool:
    """Worth retrying: connection trouble, timeouts, 5xx, throttling (also when a library
    translated it into an OSError: its cause chain and message are inspected)."""
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, (ConnectionError, TimeoutError)):
            return True
        if any(cls.__name__ in _TRANSIENT_NAMES for cls in type(e).__mro__):
            return True
        response = getattr(e, "response", None)
        if isinstance(response, dict):
            err = response.get("Error") or {}
            meta = response.get("ResponseMetadata") or {}
            status = meta.get("HTTPStatusCode")
            if str(err.get("Code", "")) in _TRANSIENT_CODES:
                return True
            if isinstance(status, int) and (status >= 500 or status == 429):
                return True
        if not isinstance(e, _PERMANENT) and any(t in str(e) for t in _TRANSIENT_TEXT):
            return True
        e = e.__cause__ or e.__context__
    return False


def retry_call(
    fn: Callable[..., T],
    *args: Any,
    attempts: int | None = None,
    sleep: Callable[[float], None] = time.sleep,
    **kwargs: Any,
) -> T:
    """``fn(*args, **kwargs)``, retried on transient errors with jittered exponential
    backoff (``RETRY_BASE_DELAY_S`` doubling up to ``RETRY_MAX_DELAY_S``; each delay is
    drawn from [d/2, d]). The last error is raised as it is."""
    n = RETRY_ATTEMPTS if attempts is None else max(1, attempts)
    for i in range(n):
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            if i == n - 1 or not is_transient(exc):
                raise
            delay = min(RETRY_MAX_DELAY_S, RETRY_BASE_DELAY_S * (2**i))
            sleep(delay * random.uniform(0.5, 1.0))  # noqa: S311 - jitter, not crypto
    raise AssertionError("unreachable")  # pragma: no cover


# --------------------------------------------------------------------------- filesystems
_OPTIONS: dict[str, dict[str, Any]] = {}


def register_storage_options(prefix: str, options: dict[str, Any] | None) -> None:
    """Use ``options`` for every URL under ``prefix`` in this process (set by ``run()``)."""
    if options:
        _OPTIONS[prefix.rstrip("/")] = dict(options)


def options_for(url: str) -> dict[str, Any]:
    """Options registered for the longest prefix of ``url`` ({} when none)."""
    best = ""
    for prefix in _OPTIONS:
        if len(prefix) > len(best) and (url == prefix or url.startswith(prefix + "/")):
            best = prefix
    return dict(_OPTIONS[best]) if best else {}


def filesystem(url: str, options: dict[str, Any] | None = None) -> tuple[Any, str]:
    """(fsspec filesystem, path without protocol) for ``url``; fsspec caches instances."""
    import fsspec

    opts = options if options is not None else options_for(url)
    fs, path = fsspec.core.url_to_fs(url, **opts)
    return fs, path.rstrip("/")


def validate_storage(
    storage: Any, options: Any, engine_name: str
) -> tuple[str | None, dict[str, Any] | None]:
    """Check ``checkpoint_storage`` and its options before anything runs (no I/O).

    Returns the normalised location (an absolute path, or a URL without a trailing slash)
    and the options. Raises TuneValueError/TuneTypeError naming the parameter."""
    if options is not None and (
        not isinstance(options, dict) or not all(isinstance(k, str) for k in options)
    ):
        raise TuneTypeError(
            "checkpoint_storage_options: expected a dict of fsspec options such as "
            f"{{'endpoint_url': ..., 'key': ..., 'secret': ...}}, got {type(options).__name__}"
        )
    if storage is None:
        if options:
            raise TuneValueError(
                "checkpoint_storage_options: given without checkpoint_storage; pass "
                "checkpoint_storage='s3://bucket/prefix' (or another fsspec URL) as well"
            )
        return None, None
    if not isinstance(storage, (str, os.PathLike)):
        raise TuneTypeError(
            f"checkpoint_storage: expected a path or an fsspec URL, got {type(storage).__name__}"
        )
    text = os.fspath(storage)
    if not isinstance(text, str) or not text.strip():
        raise TuneValueError(f"checkpoint_storage: expected a path or URL, got {storage!r}")
    if text.startswith("file://"):
        text = text[len("file://") :]
    if not is_url(text):
        return os.path.abspath(os.path.expanduser(text)), dict(options) if options else None
    protocol, _, rest = text.partition("://")
    if not rest.strip("/"):
        raise TuneValueError(
            f"checkpoint_storage: {text!r} names no bucket or path (e.g. 's3://bucket/runs')"
        )
    import fsspec

    try:
        fsspec.get_filesystem_class(protocol)
    except ImportError as exc:
        hint = " (pip install 'tunefleet[s3]')" if protocol in ("s3", "s3a") else ""
        raise TuneValueError(
            f"checkpoint_storage: {text!r} needs a package that is not installed{hint}: {exc}"
        ) from exc
    except ValueError as exc:
        raise TuneValueError(
            f"checkpoint_storage: unknown protocol {protocol!r} in {text!r}; use a local path "
            "or an fsspec URL such as 's3://bucket/prefix' or 'gs://bucket/prefix'"
        ) from exc
    if protocol == "memory" and engine_name != "simulated":
        raise TuneValueError(
            f"checkpoint_storage: {text!r} is in this process's memory, which worker processes "
            f"of the {engine_name!r} engine cannot reach; use a path or a shared URL"
        )
    return text.rstrip("/"), dict(options) if options else None


def _rm_quiet(fs: Any, path: str, recursive: bool = False) -> None:
    with contextlib.suppress(FileNotFoundError):
        retry_call(fs.rm, path, recursive=recursive)


def _invalidate(fs: Any, root: str) -> None:
    """Forget cached listings of ``root`` and everything below it: another process may have
    rewritten it (s3fs caches listings, and opens files against the cached ETag)."""
    with contextlib.suppress(Exception):
        fs.invalidate_cache(root)
    cache = getattr(fs, "dircache", None)
    if cache is not None:
        with contextlib.suppress(Exception):
            for key in [k for k in list(cache) if k.startswith(root + "/")]:
                cache.pop(key, None)


def _listing(fs: Any, root: str) -> dict[str, dict[str, Any]]:
    """{relative path: info} of the files under ``root`` (manifest included), fresh."""
    _invalidate(fs, root)
    try:
        found = retry_call(fs.find, root, detail=True)
    except FileNotFoundError:
        return {}
    out: dict[str, dict[str, Any]] = {}
    prefix = root + "/"
    for p, info in found.items():
        p = p.rstrip("/")
        if info.get("type", "file") == "file" and p.startswith(prefix):
            out[p[len(prefix) :]] = info
    return out


def _read_manifest(fs: Any, root: str) -> dict[str, Any] | None:
    """The parsed manifest; None when there is none. Raises CheckpointError if unreadable."""
    try:
        raw = retry_call(fs.cat_file, f"{root}/{MANIFEST}")
    except FileNotFoundError:
        return None
    try:
        manifest = json.loads(raw)
        if not isinstance(manifest, dict) or not isinstance(manifest.get("hash"), str):
            raise ValueError("no hash")
        if not isinstance(manifest.get("files"), dict):
            raise ValueError("no file list")
    except ValueError as exc:
        raise CheckpointError(f"partial (unreadable {MANIFEST} manifest: {exc})") from exc
    return manifest


def _remote_digest(fs: Any, path: str, dest: str | None = None) -> bytes:
    """sha256 of a remote file, streamed; also written to ``dest`` when given."""

    def once() -> bytes:
        h = hashlib.sha256()
        with contextlib.ExitStack() as stack:
            src = stack.enter_context(fs.open(path, "rb"))
            out = stack.enter_context(open(dest, "wb")) if dest is not None else None
            while chunk := src.read(_CHUNK):
                h.update(chunk)
                if out is not None:
                    out.write(chunk)
        return h.digest()

    return retry_call(once)


# --------------------------------------------------------------------------- write
def upload_checkpoint(
    source: str, trial_url: str, iteration: int, options: dict[str, Any] | None = None
) -> PersistedCheckpoint:
    """Upload local directory ``source`` as ``<trial_url>/checkpoint_<iteration>``.

    Upload to ``.tmp-<uuid>``, copy to the final name, then write the manifest last."""
    fs, root = filesystem(trial_url, options)
    name = f"checkpoint_{iteration:06d}"
    import uuid

    final, tmp = f"{root}/{name}", f"{root}/.tmp-{uuid.uuid4().hex}"
    files = _local_files(source)
    entries = [(rel, _file_digest(full)) for rel, full in files]
    digest = combine(entries)
    sizes = {rel: os.path.getsize(full) for rel, full in files}
    try:
        for rel, full in files:
            retry_call(fs.put_file, full, f"{tmp}/{rel}")
        # A checkpoint is never replaced (another trial may be restoring from it): when a
        # retried or exploited attempt reaches the same iteration, use the next free name.
        base, n = name, 0
        while _listing(fs, final):
            n += 1
            name = f"{base}.{n}"
            final = f"{root}/{name}"
        for rel, _ in files:
            retry_call(fs.copy, f"{tmp}/{rel}", f"{final}/{rel}")
        manifest = {"format": 1, "hash": digest, "iteration": iteration, "files": sizes}
        _write_manifest(fs, final, json.dumps(manifest, sort_keys=True).encode())
    finally:
        with contextlib.suppress(Exception):  # best effort: a leftover upload is harmless
            _rm_quiet(fs, tmp, recursive=True)
    return PersistedCheckpoint(join(trial_url, name), digest)


def _write_manifest(fs: Any, final: str, data: bytes) -> None:
    """The commit point of a remote checkpoint (a separate function so tests can crash
    right before it)."""
    retry_call(fs.pipe_file, f"{final}/{MANIFEST}", data)


def remove_checkpoint(path: str, options: dict[str, Any] | None = None) -> None:
    """Delete a checkpoint (retention). Remote: the manifest first, so a half-deleted
    checkpoint is partial, never complete with files missing."""
    if is_marker(path):
        return
    if not is_url(path):
        shutil.rmtree(path, ignore_errors=True)
        return
    fs, root = filesystem(path, options)
    _rm_quiet(fs, f"{root}/{MANIFEST}")
    _rm_quiet(fs, root, recursive=True)


# --------------------------------------------------------------------------- read
def download_checkpoint(url: str, dest: str, options: dict[str, Any] | None = None) -> str:
    """Download the checkpoint at ``url`` into local directory ``dest`` (created).

    When it has a manifest (tunefleet wrote it), the downloaded content must match the
    manifest's hash, else CheckpointError. Directories tunefleet did not write (no
    manifest) are downloaded as they are."""
    fs, root = filesystem(url, options)
    manifest = _read_manifest(fs, root)
    listing = {rel: info for rel, info in _listing(fs, root).items() if rel != MANIFEST}
    if not listing and manifest is None and not retry_call(fs.exists, root):
        raise CheckpointError(f"checkpoint {url} does not exist")
    os.makedirs(dest, exist_ok=True)
    entries = []
    for rel in sorted(listing):
        target = os.path.join(dest, *rel.split("/"))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        entries.append((rel, _remote_digest(fs, f"{root}/{rel}", target)))
    if manifest is not None:
        got = combine(entries)
        if got != manifest["hash"]:
            raise CheckpointError(
                f"checkpoint {url}: downloaded content (hash {short(got)}) does not match its "
                f"manifest ({short(manifest['hash'])}); it is partial or corrupt"
            )
    return dest


# --------------------------------------------------------------------------- verify
_VERIFIED: OrderedDict[str, tuple[str, tuple[Any, ...]]] = OrderedDict()
_VERIFIED_MAX = 4096


def _remember(path: str, digest: str, signature: tuple[Any, ...]) -> None:
    _VERIFIED[path] = (digest, signature)
    _VERIFIED.move_to_end(path)
    while len(_VERIFIED) > _VERIFIED_MAX:
        _VERIFIED.popitem(last=False)


def _known_good(path: str, digest: str, signature: tuple[Any, ...]) -> bool:
    return _VERIFIED.get(path) == (digest, signature)


def verify_checkpoint(
    path: str, expected: str | None, options: dict[str, Any] | None = None
) -> str | None:
    """None when the checkpoint at ``path`` is complete and its content hash is
    ``expected``; otherwise why not ("missing", "partial ...", "corrupt ...").

    Without ``expected`` (a record written before hashes existed), a local checkpoint only
    has to exist and a remote one has to match its own manifest. The full content is read
    once per (path, hash, listing); an unchanged checkpoint restored again (PBT donors)
    costs one directory listing. Raises StorageUnavailableError when remote storage
    cannot be reached after retries: that is no verdict on the checkpoint."""
    if is_marker(path):
        return None
    try:
        if is_url(path):
            return _verify_remote(path, expected, options)
        return _verify_local(path, expected)
    except CheckpointError as exc:
        return str(exc)
    except Exception as exc:
        if is_transient(exc):
            raise StorageUnavailableError(f"cannot verify checkpoint {path}: {exc}") from exc
        return f"unreadable ({type(exc).__name__}: {exc})"


def _verify_local(path: str, expected: str | None) -> str | None:
    if not os.path.isdir(path):
        return "missing"
    if expected is None:
        return None
    files = _local_files(path)
    signature = tuple(
        (rel, st.st_size, st.st_mtime_ns) for rel, full in files for st in (os.stat(full),)
    )
    if _known_good(path, expected, signature):
        return None
    got = combine((rel, _file_digest(full)) for rel, full in files)
    if got != expected:
        return f"corrupt (content hash {short(got)}, recorded {short(expected)})"
    _remember(path, expected, signature)
    return None


def _verify_remote(url: str, expected: str | None, options: dict[str, Any] | None) -> str | None:
    fs, root = filesystem(url, options)
    listing = _listing(fs, root)
    manifest = _read_manifest(fs, root) if MANIFEST in listing else None
    if manifest is None:
        return f"partial (no {MANIFEST} manifest)" if listing else "missing"
    digest = manifest["hash"]
    if expected is not None and digest != expected:
        return f"corrupt (manifest hash {short(digest)}, recorded {short(expected)})"
    files = {rel: info for rel, info in listing.items() if rel != MANIFEST}
    want = {str(k): int(v) for k, v in manifest["files"].items()}
    have = {rel: int(info.get("size") or 0) for rel, info in files.items()}
    if want != have:
        missing = sorted(set(want) - set(have))
        changed = sorted(r for r in want if r in have and want[r] != have[r])
        detail = f"missing {missing[:3]}" if missing else f"size changed {changed[:3]}"
        extra = sorted(set(have) - set(want))
        if not missing and not changed:
            detail = f"unexpected {extra[:3]}"
        return f"partial (files differ from its manifest: {detail})"
    signature = tuple(
        (rel, have[rel], str(info.get("ETag") or info.get("etag") or info.get("mtime") or ""))
        for rel, info in sorted(files.items())
    )
    if _known_good(url, digest, signature):
        return None
    got = combine((rel, _remote_digest(fs, f"{root}/{rel}")) for rel in sorted(files))
    if got != digest:
        return f"corrupt (content hash {short(got)}, manifest {short(digest)})"
    _remember(url, digest, signature)
    return None
