"""A lost driver machine loses nothing (issue 17 pt 6): with storage_path at an S3 URL the
log is mirrored beside the checkpoints; after kill -9 of the driver and the deletion of its
local folder, the sweep resumes elsewhere (another working directory) from the URL alone.
Against a moto S3 server on 127.0.0.1."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

boto3 = pytest.importorskip("boto3")
moto_server = pytest.importorskip("moto.server")
pytest.importorskip("s3fs")

from typer.testing import CliRunner  # noqa: E402

import tunefleet  # noqa: E402
from tunefleet.cli import app  # noqa: E402
from tunefleet.tuner import Tuner  # noqa: E402

pytestmark = pytest.mark.timeout(90)

DRIVER = textwrap.dedent(
    """
    import os, sys
    sys.path.insert(0, os.environ["TF_TEST_DIR"])
    import tunefleet
    from mirror_trainable import train

    tunefleet.run(train, config={"x": tunefleet.grid_search([1, 2])}, name="exp",
                  storage_path=sys.argv[1], checkpoint_storage_options={"endpoint_url": sys.argv[2]},
                  metric="score", mode="max", verbose=0)
    """
)

TRAINABLE = textwrap.dedent(
    """
    import json, os, tempfile, time
    from pathlib import Path
    import tunefleet

    def train(config):
        ck = tunefleet.get_checkpoint()
        step = 0
        if ck is not None:
            with ck.as_directory() as d:
                step = json.loads(Path(d, "s.json").read_text())["s"]
        marks = Path(os.environ["TF_TEST_DIR"], "starts")
        with open(marks, "a") as f:
            f.write(f"{config['x']}:{step}\\n")
        while step < 12:
            time.sleep(0.08)
            step += 1
            with tempfile.TemporaryDirectory() as d:
                Path(d, "s.json").write_text(json.dumps({"s": step}))
                tunefleet.report({"score": step * config["x"]},
                                 checkpoint=tunefleet.Checkpoint.from_directory(d))
    """
)


def mirrored_results(endpoint: str, bucket: str, tmp: Path) -> int:
    """How many results the mirrored log in S3 holds now (0 if none yet)."""
    import sqlite3

    client = boto3.client("s3", endpoint_url=endpoint)
    try:
        body = client.get_object(Bucket=bucket, Key="runs/exp/experiment.db")["Body"].read()
    except client.exceptions.NoSuchKey:
        return 0
    copy = tmp / "peek.db"
    copy.write_bytes(body)
    con = sqlite3.connect(copy)
    try:
        return int(con.execute("select count(*) from events where kind='result'").fetchone()[0])
    finally:
        con.close()


def test_resume_elsewhere_from_the_url_alone(
    tmp_path: Path, endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket = f"tf-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=bucket)
    url = f"s3://{bucket}/runs"
    (tmp_path / "mirror_trainable.py").write_text(TRAINABLE)
    (tmp_path / "driver.py").write_text(DRIVER)
    first, second = tmp_path / "machine1", tmp_path / "machine2"
    first.mkdir()
    second.mkdir()
    env = {**os.environ, "TF_TEST_DIR": str(tmp_path), "TUNEFLEET_LOG_MIRROR_S": "0.3"}
    driver = subprocess.Popen(
        [sys.executable, str(tmp_path / "driver.py"), url, endpoint],
        cwd=first,
        env=env,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while mirrored_results(endpoint, bucket, tmp_path) < 4:
            assert driver.poll() is None, "the driver ended early"
            assert time.monotonic() < deadline, "no mirrored results"
            time.sleep(0.2)
        os.killpg(driver.pid, signal.SIGKILL)  # the machine is gone: driver and workers
        driver.wait()
    finally:
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)
            driver.wait()
    shutil.rmtree(first / "tunefleet_runs")  # its disk too
    monkeypatch.chdir(second)
    monkeypatch.setenv("TF_TEST_DIR", str(tmp_path))
    sys.path.insert(0, str(tmp_path))
    try:
        resume_twice(tmp_path, url, endpoint, bucket, second, monkeypatch)
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("mirror_trainable", None)


def resume_twice(
    tmp_path: Path, url: str, endpoint: str, bucket: str, second: Path, monkeypatch: Any
) -> None:
    from mirror_trainable import train  # type: ignore[import-not-found]

    options = {"endpoint_url": endpoint}
    results = tunefleet.resume("exp", train, storage_path=url, checkpoint_storage_options=options)
    assert sorted(t.status for t in results.trials) == ["TERMINATED", "TERMINATED"]
    assert sorted(t.last_result["training_iteration"] for t in results.trials) == [12, 12]
    starts = (tmp_path / "starts").read_text().split()
    assert any(not s.endswith(":0") for s in starts), starts  # continued from a checkpoint
    best = results.get_best_checkpoint(results.trials[0])
    assert best is not None and best.path.startswith(url)
    assert (second / "tunefleet_runs" / "exp" / "experiment.db").exists()
    assert mirrored_results(endpoint, bucket, tmp_path) >= 24  # the final snapshot, pushed
    third = tmp_path / "machine3"  # Tuner.restore from the URL alone, on a third machine
    third.mkdir()
    monkeypatch.chdir(third)
    grid = Tuner.restore(f"{url}/exp", train, checkpoint_storage_options=options).fit()
    assert len(grid) == 2 and not grid.errors
    assert (third / "tunefleet_runs" / "exp" / "experiment.db").exists()
    fourth = tmp_path / "machine4"  # the CLI; the endpoint from the environment (botocore)
    fourth.mkdir()
    monkeypatch.chdir(fourth)
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    out = CliRunner().invoke(
        app, ["resume", "exp", "--storage-path", url, "-t", "mirror_trainable:train", "-q"]
    )
    assert out.exit_code == 0, out.output
    assert "exp resumed: 2 trials" in out.output
    assert (fourth / "tunefleet_runs" / "exp" / "experiment.db").exists()
