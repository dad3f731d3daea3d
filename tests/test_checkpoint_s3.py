"""Checkpoints in S3: a real sweep against a moto S3 server on 127.0.0.1 (issue 4, point 4).

Workers are forked, so they inherit the AWS variables the fixtures set with monkeypatch, and
the flaky filesystem registered below.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import pickle
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

s3fs = pytest.importorskip("s3fs")
boto3 = pytest.importorskip("boto3")
moto_server = pytest.importorskip("moto.server")

import fsspec  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402
from s3fs.errors import translate_boto_error  # noqa: E402

import tunefleet  # noqa: E402
from tunefleet import checkpoint_store as cs  # noqa: E402
from tunefleet.checkpoint import Checkpoint  # noqa: E402
from tunefleet.errors import TuneValueError  # noqa: E402
from tunefleet.executors.local import LocalExecutor  # noqa: E402
from tunefleet.storage import open_store  # noqa: E402
from tunefleet.storage import records as rk  # noqa: E402

pytestmark = pytest.mark.timeout(60)


class FlakyS3FileSystem(s3fs.S3FileSystem):  # type: ignore[misc]
    """S3 whose first upload in each process fails as S3 does under load (503 SlowDown).
    Each injection leaves a file in $TUNEFLEET_TEST_FLAKY_DIR."""

    protocol = ("flakys3",)
    injected = False

    async def _put_file(self, lpath: str, rpath: str, *args: Any, **kwargs: Any) -> Any:
        cls = FlakyS3FileSystem
        marks = os.environ.get("TUNEFLEET_TEST_FLAKY_DIR")
        if marks and not cls.injected:
            cls.injected = True
            Path(marks, f"{os.getpid()}-{uuid.uuid4().hex}").touch()
            err = ClientError(
                {
                    "Error": {"Code": "SlowDown", "Message": "Please reduce your request rate."},
                    "ResponseMetadata": {"HTTPStatusCode": 503},
                },
                "PutObject",
            )
            raise translate_boto_error(err)
        return await super()._put_file(lpath, rpath, *args, **kwargs)


fsspec.register_implementation("flakys3", FlakyS3FileSystem, clobber=True)


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()
        _stop_fsspec_io_thread()


def _stop_fsspec_io_thread() -> None:
    """The driver's s3fs calls started fsspec's IO thread; stop it so that later tests see a
    single-threaded process again (the local executor forks only then)."""
    import fsspec.asyn

    loop, thread = fsspec.asyn.loop[0], fsspec.asyn.iothread[0]
    for cls in (s3fs.S3FileSystem, FlakyS3FileSystem):
        for fs in list(cls._cache.values()):
            client = getattr(fs, "_s3", None)
            if loop is not None and client is not None:  # close its HTTP session
                asyncio.run_coroutine_threadsafe(client.close(), loop).result(5)
        cls.clear_instance_cache()
    if loop is not None and thread is not None:
        # aiohttp resolves host names in the loop's default executor: stop that too.
        asyncio.run_coroutine_threadsafe(loop.shutdown_default_executor(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        assert not thread.is_alive()
        fsspec.asyn.reset_lock()


@pytest.fixture
def bucket(endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh bucket; credentials come from the environment (as in production)."""
    for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    name = f"tf-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=name)
    monkeypatch.setattr(cs, "_OPTIONS", {})
    return name


def _keys(endpoint: str, bucket: str) -> dict[str, bytes]:
    client = boto3.client("s3", endpoint_url=endpoint)
    out = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for obj in page.get("Contents", []):
            key = obj["Key"]
            out[key] = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    return out


def s3_trainable(config: dict[str, Any]) -> None:
    """Checkpoints every iteration. With ``break_at``, attempt 1 deletes the manifest of
    that iteration's checkpoint in S3 (leaving it partial), then fails."""
    ctx = tunefleet.get_context()
    ck = tunefleet.get_checkpoint()
    start = 0
    if ck is not None:
        assert ck.path.startswith(config["prefix"]), ck.path
        start = ck.to_dict()["it"]
    for it in range(start + 1, 5):
        with tempfile.TemporaryDirectory() as d:
            with open(os.path.join(d, "data.pkl"), "wb") as f:
                pickle.dump({"it": it, "x": config["x"]}, f)
            os.makedirs(os.path.join(d, "sub"))
            with open(os.path.join(d, "sub", "weights.bin"), "wb") as f:
                f.write(os.urandom(1000))
            tunefleet.report(
                {"score": config["x"] * it, "restored": start}, checkpoint=Checkpoint(d)
            )
        if ctx.attempt == 1 and it == config.get("break_at"):
            fs, root = cs.filesystem(ctx.trial_dir, ctx.storage_options)
            fs.rm(f"{root}/checkpoint_{it:06d}/{cs.MANIFEST}")
            raise RuntimeError("boom after making the checkpoint partial")


def _sweep(
    tmp_path: Path, url: str, endpoint: str, config: dict[str, Any], max_failures: int = 1
) -> Any:
    return tunefleet.run(
        s3_trainable,
        config={**config, "prefix": url},
        metric="score",
        mode="max",
        max_failures=max_failures,
        storage_path=str(tmp_path),
        name="s3exp",
        verbose=0,
        checkpoint_storage=url,
        checkpoint_storage_options={"endpoint_url": endpoint},
        engine=LocalExecutor(num_cpus=2),
    )


def test_sweep_checkpoints_to_s3_with_manifests_and_restores_from_s3(
    tmp_path: Path, endpoint: str, bucket: str
) -> None:
    url = f"s3://{bucket}/runs"
    config = {"x": tunefleet.grid_search([1, 2]), "break_at": 3}
    with pytest.warns(UserWarning) as caught:
        res = _sweep(tmp_path, url, endpoint, config)
    partial = [str(w.message) for w in caught if "is partial" in str(w.message)]
    assert len(partial) == 2, [str(w.message) for w in caught]  # one per trial

    keys = _keys(endpoint, bucket)
    log = "runs/s3exp/experiment.db"  # the mirrored log (tunefleet/log_mirror.py)
    assert log in keys and all(k.startswith("runs/s3exp/trials/") for k in keys if k != log)
    assert not any("/.tmp-" in k for k in keys)  # uploads were moved and cleaned up
    store = open_store(str(tmp_path))
    ckpts = list(store.read("s3exp", kinds=[rk.CHECKPOINT]))
    assert len(ckpts) == 2 * (3 + 2)  # per trial: 1..3, then 3..4 again from 2
    latest = {c.data["path"]: c for c in ckpts}  # attempt 2's iteration 3 got a new name
    assert len(latest) == 2 * 5
    assert sum(p.endswith("checkpoint_000003.1") for p in latest) == 2
    broken = {r.data["path"] for r in store.read("s3exp", kinds=[rk.CHECKPOINT_INVALID])}
    for c in latest.values():
        path = c.data["path"]
        assert path.startswith(f"{url}/s3exp/trials/")
        key = path[len(f"s3://{bucket}/") :]
        if path in broken:  # the test made it partial; it stays so, never reused
            assert f"{key}/{cs.MANIFEST}" not in keys
            continue
        manifest = json.loads(keys[f"{key}/{cs.MANIFEST}"])
        assert manifest["hash"] == c.data["hash"]
        assert sorted(manifest["files"]) == ["data.pkl", "sub/weights.bin"]
        assert cs.verify_checkpoint(path, c.data["hash"], {"endpoint_url": endpoint}) is None

    invalid = list(store.read("s3exp", kinds=[rk.CHECKPOINT_INVALID]))
    assert len(invalid) == 2
    for inv in invalid:
        assert inv.data["path"].endswith("checkpoint_000003")
        assert inv.data["reason"].startswith("partial")
        assert inv.data["fallback"].startswith(url) and inv.data["fallback"].endswith("_000002")
    for trial in res.trials:
        assert trial.status == "TERMINATED"
        assert trial.last_result["restored"] == 2  # restored from S3, from the fallback
        assert trial.last_result["training_iteration"] == 4

    best = res.best_checkpoint
    assert best is not None and best.path.startswith(f"{url}/s3exp/trials/")
    local = best.to_directory(str(tmp_path / "best"))
    assert sorted(os.listdir(local)) == ["data.pkl", "sub"]  # no manifest in the copy
    assert best.to_dict() == {"it": 4, "x": 2}
    (rec,) = [c for c in ckpts if c.data["path"] == best.path]
    assert cs.hash_directory(local) == rec.data["hash"]
    # A fresh object (options: those run() registered for the prefix): a temporary copy.
    with Checkpoint(best.path).as_directory() as d:
        assert os.path.isfile(os.path.join(d, "sub", "weights.bin"))
    assert not os.path.exists(d)
    # to_dict() above downloaded once, lazily; that copy lives as long as the object.
    assert os.path.isdir(os.fspath(best)) and os.fspath(best) == best.local_path()


def test_transient_s3_error_is_retried(
    tmp_path: Path, endpoint: str, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    marks = tmp_path / "injected"
    marks.mkdir()
    monkeypatch.setenv("TUNEFLEET_TEST_FLAKY_DIR", str(marks))
    # No trial retries: only the upload's own retry can get this run through.
    res = _sweep(tmp_path / "log", f"flakys3://{bucket}/runs", endpoint, {"x": 3}, 0)
    assert len(os.listdir(marks)) >= 1  # the worker's first upload failed with SlowDown
    (trial,) = res.trials
    assert trial.status == "TERMINATED" and trial.last_result["training_iteration"] == 4
    store = open_store(str(tmp_path / "log"))
    assert not list(store.read("s3exp", kinds=[rk.TRIAL_FAILED]))
    ckpts = list(store.read("s3exp", kinds=[rk.CHECKPOINT]))
    assert [c.data["iteration"] for c in ckpts] == [1, 2, 3, 4]
    keys = _keys(endpoint, bucket)
    for c in ckpts:
        key = c.data["path"][len(f"flakys3://{bucket}/") :]
        assert json.loads(keys[f"{key}/{cs.MANIFEST}"])["hash"] == c.data["hash"]


def test_download_detects_content_that_does_not_match_the_manifest(
    tmp_path: Path, endpoint: str, bucket: str
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.bin").write_bytes(b"a" * 100)
    opts = {"endpoint_url": endpoint}
    path, digest = cs.upload_checkpoint(str(src), f"s3://{bucket}/t", 1, opts)
    assert cs.verify_checkpoint(path, digest, opts) is None
    client = boto3.client("s3", endpoint_url=endpoint)
    client.put_object(Bucket=bucket, Key="t/checkpoint_000001/a.bin", Body=b"b" * 100)
    reason = cs.verify_checkpoint(path, digest, opts)  # same size, other bytes
    assert reason is not None and reason.startswith("corrupt")
    with pytest.raises(cs.CheckpointError, match="does not match its manifest"):
        Checkpoint(path, opts).to_directory(str(tmp_path / "out"))
    client.delete_object(Bucket=bucket, Key="t/checkpoint_000001/a.bin")
    assert (cs.verify_checkpoint(path, digest, opts) or "").startswith("partial")
    cs.remove_checkpoint(path, opts)
    assert cs.verify_checkpoint(path, digest, opts) == "missing"


def test_missing_s3fs_is_reported_before_anything_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    imported = sys.modules["fsspec.registry"]._registry  # classes fsspec already imported
    monkeypatch.delitem(imported, "s3", raising=False)
    monkeypatch.setitem(sys.modules, "s3fs", None)
    with pytest.raises(TuneValueError, match=r"checkpoint_storage: .*tunefleet\[s3\]"):
        tunefleet.run(
            s3_trainable, storage_path=str(tmp_path), verbose=0, checkpoint_storage="s3://b/x"
        )
    assert open_store(str(tmp_path)).experiment_names() == []
