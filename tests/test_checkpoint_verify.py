"""Checkpoint content hashes, verification before a restore, and fallback (issue 4, point 4)."""

from __future__ import annotations

import hashlib
import os
import pickle
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tunefleet
from tunefleet import checkpoint_store as cs
from tunefleet.checkpoint import Checkpoint, persist_checkpoint
from tunefleet.errors import TuneValueError
from tunefleet.executors.local import LocalExecutor
from tunefleet.storage import open_store
from tunefleet.storage import records as rk

pytestmark = pytest.mark.timeout(60)


def _write_tree(root: str, files: dict[str, bytes], reverse: bool = False) -> None:
    for rel in sorted(files, reverse=reverse):
        full = os.path.join(root, *rel.split("/"))
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "wb") as f:
            f.write(files[rel])


# ----------------------------------------------------------------------------- the hash
def test_hash_follows_its_specification(tmp_path: Path) -> None:
    files = {"a.txt": b"hello", "sub/b.bin": bytes(range(256))}
    _write_tree(str(tmp_path), files)
    outer = hashlib.sha256()
    for rel in sorted(files):
        name = rel.encode()
        outer.update(len(name).to_bytes(8, "little") + name)
        outer.update(hashlib.sha256(files[rel]).digest())
    got = cs.hash_directory(tmp_path)
    assert got == f"sha256:{outer.hexdigest()}"
    # Pinned: a change of the format would make every recorded hash fail verification.
    assert got == "sha256:53f582cabe9d10f6f8f68b9fd121d44a4339e90fffc84ba40bb2910e17448067"
    # The manifest and empty directories are not content.
    (tmp_path / cs.MANIFEST).write_text("{}")
    (tmp_path / "empty").mkdir()
    assert cs.hash_directory(tmp_path) == got


_names = st.text(alphabet="abcxyz_.", min_size=1, max_size=6).filter(
    lambda s: s not in (".", "..") and s != cs.MANIFEST
)
_paths = st.lists(_names, min_size=1, max_size=3).map("/".join)
_trees = st.dictionaries(_paths, st.binary(min_size=0, max_size=300), min_size=1, max_size=5)


def _valid_tree(files: dict[str, bytes]) -> bool:
    # No path may be both a file and a directory prefix of another file.
    return not any(b.startswith(a + "/") for a in files for b in files if a != b)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(files=_trees.filter(_valid_tree), data=st.data())
def test_hash_is_stable_and_any_byte_flip_or_rename_changes_it(
    files: dict[str, bytes], data: Any
) -> None:
    with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
        _write_tree(a, files)
        _write_tree(b, files, reverse=True)  # creation order does not matter
        h = cs.hash_directory(a)
        assert h == cs.hash_directory(a) == cs.hash_directory(b)
        copy = os.path.join(b, "copy")
        assert cs.copy_and_hash(a, copy) == h == cs.hash_directory(copy)

        rel = data.draw(st.sampled_from(sorted(files)))
        full = os.path.join(a, *rel.split("/"))
        content = files[rel]
        if content:  # flip one bit of one byte
            i = data.draw(st.integers(0, len(content) - 1))
            bit = data.draw(st.integers(0, 7))
            flipped = bytearray(content)
            flipped[i] ^= 1 << bit
            Path(full).write_bytes(bytes(flipped))
            assert cs.hash_directory(a) != h
            Path(full).write_bytes(content)
            assert cs.hash_directory(a) == h
        else:  # an empty file that gains a byte
            Path(full).write_bytes(b"\0")
            assert cs.hash_directory(a) != h
            Path(full).write_bytes(b"")
        new = rel + "_renamed"
        if new not in files and _valid_tree({**files, new: b""}):
            os.rename(full, os.path.join(a, *new.split("/")))
            assert cs.hash_directory(a) != h


def test_persist_returns_path_and_hash_and_leaves_no_temp(tmp_path: Path) -> None:
    src = tmp_path / "src"
    _write_tree(str(src), {"w.bin": b"x" * 3_000_000, "meta/info": b"{}"})
    trial_dir = tmp_path / "trial"
    path, digest = persist_checkpoint(str(src), str(trial_dir), 7)
    assert path == str(trial_dir / "checkpoint_000007")
    assert digest == cs.hash_directory(src) == cs.hash_directory(path)
    assert sorted(os.listdir(trial_dir)) == ["checkpoint_000007"]
    assert cs.verify_checkpoint(path, digest) is None
    # A retried attempt reaching the same iteration gets a new name: the first one may be
    # in use by another trial and is never replaced.
    (src / "w.bin").write_bytes(b"y")
    path2, digest2 = persist_checkpoint(Checkpoint(src), str(trial_dir), 7)
    assert path2 == path + ".1" and digest2 != digest
    assert cs.verify_checkpoint(path, digest) is None
    assert cs.verify_checkpoint(path2, digest2) is None


def test_verify_reports_missing_and_corrupt(tmp_path: Path) -> None:
    src = tmp_path / "src"
    _write_tree(str(src), {"a": b"1234567890", "b": b"zz"})
    path, digest = persist_checkpoint(str(src), str(tmp_path / "t"), 1)
    assert cs.verify_checkpoint(path, digest) is None
    assert cs.verify_checkpoint(path, None) is None  # no hash recorded: existence only
    with open(os.path.join(path, "a"), "r+b") as f:  # truncated: size and mtime change
        f.truncate(4)
    reason = cs.verify_checkpoint(path, digest)
    assert reason is not None and reason.startswith("corrupt")
    shutil.rmtree(path)
    assert cs.verify_checkpoint(path, digest) == "missing"
    assert cs.verify_checkpoint("sim://t/checkpoint_000001", None) is None


# ----------------------------------------------------------------------------- retries
def test_retry_call_retries_transient_errors_only() -> None:
    calls: list[int] = []
    delays: list[float] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionResetError("connection reset by peer")
        return "ok"

    assert cs.retry_call(flaky, sleep=delays.append) == "ok"
    assert len(calls) == 3 and len(delays) == 2
    assert cs.RETRY_BASE_DELAY_S / 2 <= delays[0] <= cs.RETRY_BASE_DELAY_S
    assert delays[1] <= 2 * cs.RETRY_BASE_DELAY_S

    def missing() -> None:
        calls.append(1)
        raise FileNotFoundError("nope")

    calls.clear()
    with pytest.raises(FileNotFoundError):
        cs.retry_call(missing, sleep=delays.append)
    assert len(calls) == 1

    def always_slow() -> None:
        calls.append(1)
        raise OSError(5, "SlowDown: Please reduce your request rate.")

    calls.clear()
    with pytest.raises(OSError, match="SlowDown"):
        cs.retry_call(always_slow, attempts=3, sleep=lambda _: None)
    assert len(calls) == 3


def test_transient_classification() -> None:
    class ClientError(Exception):
        def __init__(self, code: str, status: int) -> None:
            super().__init__(code)
            self.response = {
                "Error": {"Code": code},
                "ResponseMetadata": {"HTTPStatusCode": status},
            }

    assert cs.is_transient(ClientError("SlowDown", 503))
    assert cs.is_transient(ClientError("Whatever", 500))
    assert cs.is_transient(ClientError("TooManyRequestsException", 429))
    assert not cs.is_transient(ClientError("AccessDenied", 403))
    wrapped = OSError(5, "An error occurred")
    wrapped.__cause__ = ClientError("InternalError", 500)
    assert cs.is_transient(wrapped)  # s3fs's translation keeps the ClientError as cause
    assert cs.is_transient(TimeoutError())
    assert not cs.is_transient(PermissionError("Access Denied"))
    assert not cs.is_transient(ValueError("bad"))


# ----------------------------------------------------------------------------- runs
def _records(storage: Path, name: str, kind: str) -> list[Any]:
    return list(open_store(str(storage)).read(name, kinds=[kind]))


def corrupt_then_fail(config: dict[str, Any]) -> None:
    """Checkpoints every iteration; attempt 1 truncates its iteration-3 checkpoint on disk,
    then fails. Attempt 2 reports which iteration it restored."""
    ctx = tunefleet.get_context()
    ck = tunefleet.get_checkpoint()
    start = ck.to_dict()["it"] if ck is not None else 0
    for it in range(start + 1, 6):
        with tempfile.TemporaryDirectory() as d:
            with open(os.path.join(d, "data.pkl"), "wb") as f:
                pickle.dump({"it": it, "pad": "x" * 2000}, f)
            tunefleet.report({"score": float(it), "restored": start}, checkpoint=Checkpoint(d))
        if ctx.attempt == 1 and it == config["break_at"]:
            if config["how"] == "truncate":
                data = os.path.join(ctx.trial_dir, f"checkpoint_{it:06d}", "data.pkl")
                with open(data, "r+b") as f:
                    f.truncate(100)
            else:  # every checkpoint of the trial vanishes
                for name in os.listdir(ctx.trial_dir):
                    shutil.rmtree(os.path.join(ctx.trial_dir, name))
            raise RuntimeError("boom after breaking the checkpoint")


def _run(tmp_path: Path, name: str, trainable: Any, **config: Any) -> Any:
    return tunefleet.run(
        trainable,
        config=config,
        metric="score",
        mode="max",
        max_failures=1,
        storage_path=str(tmp_path),
        name=name,
        verbose=0,
        engine=LocalExecutor(num_cpus=1),
    )


def test_corrupt_checkpoint_falls_back_to_the_previous_one(tmp_path: Path) -> None:
    with pytest.warns(UserWarning) as caught:
        res = _run(tmp_path, "corrupt", corrupt_then_fail, break_at=3, how="truncate")
    bad = [w for w in caught if "is corrupt" in str(w.message)]
    assert len(bad) == 1, [str(w.message) for w in caught]
    (trial,) = res.trials
    assert trial.status == "TERMINATED"
    assert trial.last_result["training_iteration"] == 5
    assert trial.last_result["restored"] == 2  # not 3: that one was corrupt
    message = str(bad[0].message)
    assert trial.trial_id in message and "checkpoint_000003" in message
    assert "checkpoint_000002" in message

    (inv,) = _records(tmp_path, "corrupt", rk.CHECKPOINT_INVALID)
    assert inv.data["path"].endswith("checkpoint_000003")
    assert inv.data["fallback"].endswith("checkpoint_000002")
    assert inv.data["iteration"] == 2 and inv.data["reason"].startswith("corrupt")
    started = _records(tmp_path, "corrupt", rk.TRIAL_STARTED)
    assert [s.data["attempt"] for s in started] == [1, 2]
    assert started[1].data["checkpoint"] == inv.data["fallback"]  # what was restored
    assert started[1].seq > inv.seq

    ckpts = _records(tmp_path, "corrupt", rk.CHECKPOINT)
    assert [c.data["iteration"] for c in ckpts] == [1, 2, 3, 3, 4, 5]
    # The corrupt iteration-3 checkpoint is left as it is (never replaced under a reader);
    # attempt 2's iteration 3 has its own name and verifies, as does every other one.
    assert ckpts[3].data["path"].endswith("checkpoint_000003.1")
    for i, c in enumerate(ckpts):
        assert c.data["hash"].startswith("sha256:")
        problem = cs.verify_checkpoint(c.data["path"], c.data["hash"])
        assert (problem is not None) == (i == 2), (c.data["path"], problem)


def test_missing_checkpoints_restart_from_scratch(tmp_path: Path) -> None:
    with pytest.warns(UserWarning, match="starting it from scratch") as caught:
        res = _run(tmp_path, "missing", corrupt_then_fail, break_at=2, how="delete")
    assert len([w for w in caught if "is missing" in str(w.message)]) == 1
    (trial,) = res.trials
    assert trial.last_result["restored"] == 0
    assert trial.last_result["training_iteration"] == 5
    (inv,) = _records(tmp_path, "missing", rk.CHECKPOINT_INVALID)
    assert inv.data["reason"] == "missing" and inv.data["fallback"] is None


def crash_before_rename(config: dict[str, Any]) -> None:
    """Attempt 1 dies (worker lost) inside persist_checkpoint of iteration 3, after the copy
    under the temporary name and before the rename."""
    ctx = tunefleet.get_context()
    ck = tunefleet.get_checkpoint()
    start = ck.to_dict()["it"] if ck is not None else 0
    if ctx.attempt == 1:
        import tunefleet.checkpoint as tc

        real = tc._commit

        def commit(tmp: str, final: str) -> None:
            if final.endswith("checkpoint_000003"):
                os._exit(1)
            real(tmp, final)

        tc._commit = commit  # type: ignore[assignment]  # this worker dies anyway
    for it in range(start + 1, 5):
        with tempfile.TemporaryDirectory() as d:
            with open(os.path.join(d, "data.pkl"), "wb") as f:
                pickle.dump({"it": it}, f)
            tunefleet.report({"score": float(it), "restored": start}, checkpoint=Checkpoint(d))


def test_partial_checkpoint_is_never_referenced(tmp_path: Path) -> None:
    res = _run(tmp_path, "partial", crash_before_rename)
    (trial,) = res.trials
    # Restored from the last checkpoint the driver heard of: 2, or 1 when the dying worker's
    # batched report of iteration 2 had not left it yet (reports are sent within ~1 ms).
    assert trial.status == "TERMINATED" and trial.last_result["restored"] in (1, 2)
    trial_dir = tmp_path / "partial" / "trials" / trial.trial_id
    leftovers = [n for n in os.listdir(trial_dir) if n.startswith(".tmp_checkpoint_")]
    assert leftovers == []  # the crash's copy, never renamed, was removed at the run's end
    store = open_store(str(tmp_path))
    every = list(store.read("partial"))
    assert every and not any(".tmp" in repr(r.data) for r in every)
    assert not _records(tmp_path, "partial", rk.CHECKPOINT_INVALID)
    for c in _records(tmp_path, "partial", rk.CHECKPOINT):
        assert cs.verify_checkpoint(c.data["path"], c.data["hash"]) is None


def sim_trainable(config: dict[str, Any]) -> Any:
    for it in range(1, 3):
        if config["real"]:
            yield {"score": float(it)}, Checkpoint.from_dict({"it": it})
        else:
            yield {"score": float(it)}, True


@pytest.mark.parametrize("real", [True, False])
def test_simulated_executor_records_hashes_of_real_checkpoints_only(
    tmp_path: Path, real: bool
) -> None:
    tunefleet.run(
        sim_trainable,
        config={"real": real},
        storage_path=str(tmp_path),
        name="sim",
        verbose=0,
        engine="simulated",
    )
    ckpts = _records(tmp_path, "sim", rk.CHECKPOINT)
    assert len(ckpts) == 2
    for c in ckpts:
        if real:
            assert cs.verify_checkpoint(c.data["path"], c.data["hash"]) is None
        else:
            assert c.data["path"].startswith("sim://") and "hash" not in c.data


def test_checkpoint_storage_local_path(tmp_path: Path) -> None:
    elsewhere = tmp_path / "ckpts"
    res = tunefleet.run(
        corrupt_then_fail,
        config={"break_at": 0, "how": "none"},
        metric="score",
        mode="max",
        storage_path=str(tmp_path / "log"),
        name="exp",
        verbose=0,
        checkpoint_storage=f"file://{elsewhere}",
        engine=LocalExecutor(num_cpus=1),
    )
    ck = res.best_checkpoint
    assert ck is not None and ck.path.startswith(str(elsewhere / "exp" / "trials"))
    assert ck.to_dict()["it"] == 5
    # nothing of the trials in the log's folder (the store makes its private trials/ folder)
    log_trials = tmp_path / "log" / "exp" / "trials"
    assert not log_trials.exists() or not any(log_trials.iterdir())


def test_checkpoint_storage_is_validated_before_anything_runs(tmp_path: Path) -> None:
    called = tmp_path / "called"

    def trainable(config: dict[str, Any]) -> None:
        called.touch()

    bad: list[tuple[dict[str, Any], str]] = [
        ({"checkpoint_storage": "nosuchproto://bucket/x"}, "unknown protocol 'nosuchproto'"),
        ({"checkpoint_storage": "memory://bucket/x"}, "worker processes"),
        ({"checkpoint_storage": "s3://"}, "names no bucket"),
        ({"checkpoint_storage_options": {"key": "k"}}, "given without checkpoint_storage"),
    ]
    for kwargs, match in bad:
        with pytest.raises(TuneValueError, match="checkpoint_storage") as err:
            tunefleet.run(trainable, storage_path=str(tmp_path), verbose=0, **kwargs)
        assert match in str(err.value)
    assert not called.exists()
    assert open_store(str(tmp_path)).experiment_names() == []
