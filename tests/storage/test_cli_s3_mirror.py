"""``tunefleet ls``, ``show`` and ``export`` read the experiment logs mirrored at an S3 URL
(issue 17), without writing there and without leaving their temporary copies behind; and
``log_mirror_interval_s`` is acted on (a snapshot is there long before the default 30 s).
Against a moto S3 server on 127.0.0.1."""

from __future__ import annotations

import json
import os
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

boto3 = pytest.importorskip("boto3")
moto_server = pytest.importorskip("moto.server")
pytest.importorskip("s3fs")

from typer.testing import CliRunner  # noqa: E402

import tunefleet as tune  # noqa: E402
from tunefleet.callbacks import Callback  # noqa: E402
from tunefleet.cli import app  # noqa: E402

pytestmark = pytest.mark.timeout(90)


def train(config: dict[str, Any]) -> None:
    for i in range(3):
        time.sleep(0.02)
        tune.report({"score": config["x"] * (i + 1)})


class SeesMirror(Callback):
    """At the first result, waits (a while, not forever) for the first mirrored snapshot."""

    def __init__(self, endpoint: str, bucket: str) -> None:
        self.client = boto3.client("s3", endpoint_url=endpoint)
        self.bucket = bucket
        self.seen: bool | None = None

    def on_trial_result(self, iteration: int, trials: Any, trial: Any, result: Any) -> None:
        if self.seen is not None:
            return
        deadline = time.monotonic() + 10  # a third of the default interval
        while time.monotonic() < deadline:
            listed = self.client.list_objects_v2(Bucket=self.bucket, Prefix="runs/exp/")
            if any(o["Key"] == "runs/exp/experiment.db" for o in listed.get("Contents", [])):
                self.seen = True
                return
            time.sleep(0.05)
        self.seen = False


def objects(endpoint: str, bucket: str) -> dict[str, str]:
    listed = boto3.client("s3", endpoint_url=endpoint).list_objects_v2(Bucket=bucket)
    return {o["Key"]: o["ETag"] for o in listed.get("Contents", [])}


def leftovers() -> set[str]:
    return {n for n in os.listdir(tempfile.gettempdir()) if n.startswith("tunefleet-mirror-")}


def test_ls_and_show_read_the_mirrored_log(
    tmp_path: Path, endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket = f"tf-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=bucket)
    url = f"s3://{bucket}/runs"
    monkeypatch.chdir(tmp_path)  # the log's local copy goes to ./tunefleet_runs
    seen = SeesMirror(endpoint, bucket)
    tune.run(
        train,
        config={"x": tune.grid_search([1, 2, 3])},
        name="exp",
        storage_path=url,
        checkpoint_storage_options={"endpoint_url": endpoint},
        metric="score",
        mode="max",
        log_mirror_interval_s=0.2,
        callbacks=[seen],
        verbose=0,
    )
    assert seen.seen is True  # a snapshot within 10 s: the argument, not the 30 s default
    before, temp_before = objects(endpoint, bucket), leftovers()
    runner = CliRunner()
    opt = ["--storage-path", url, "--storage-option", f"endpoint_url={endpoint}"]

    out = runner.invoke(app, ["ls", *opt])
    assert out.exit_code == 0, out.output
    assert f"Experiments in {url}" in out.output
    row = next(line for line in out.output.splitlines() if line.strip("│ ").startswith("exp"))
    assert "completed" in row and "score=9" in row, out.output

    out = runner.invoke(app, ["show", "exp", *opt])
    assert out.exit_code == 0, out.output
    assert "status: completed  trials: 3  terminated: 3" in out.output, out.output
    assert "score=9 (max)" in out.output
    assert f"Results stored in: {url}/exp" in out.output

    exported = tmp_path / "exp.json"
    out = runner.invoke(app, ["export", "exp", *opt, "--format", "json", "--out", str(exported)])
    assert out.exit_code == 0, out.output
    rows = json.loads(exported.read_text())
    assert sorted(r["score"] for r in rows) == [3, 6, 9]

    out = runner.invoke(app, ["show", "nope", *opt])
    assert out.exit_code == 1 and "Existing experiments: exp" in out.output, out.output

    assert objects(endpoint, bucket) == before  # nothing written there
    assert leftovers() == temp_before  # the temporary copies are gone


def test_a_url_without_logs_and_a_missing_bucket(endpoint: str) -> None:
    bucket = f"tf-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=bucket)
    runner = CliRunner()
    opt = ["--storage-option", f"endpoint_url={endpoint}"]
    out = runner.invoke(app, ["ls", "--storage-path", f"s3://{bucket}/empty", *opt])
    assert out.exit_code == 0 and f"No experiments in s3://{bucket}/empty" in out.output
    out = runner.invoke(app, ["ls", "--storage-path", "s3://tf-no-such-bucket-here/x", *opt])
    assert out.exit_code == 1 and "cannot read the logs mirrored at" in out.output, out.output
    assert len(out.output.strip().splitlines()) <= 2  # one message, no traceback
    out = runner.invoke(app, ["ls", "--storage-path", f"s3://{bucket}/x", "-o", "novalue"])
    assert out.exit_code == 1 and "expected KEY=VALUE" in out.output
    out = runner.invoke(app, ["doctor", "exp", "--storage-path", f"s3://{bucket}/x"])
    assert out.exit_code == 1 and "not the logs mirrored at" in out.output, out.output
