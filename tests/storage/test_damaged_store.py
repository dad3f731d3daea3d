"""Damaged, empty and foreign-writable stores (issue 17 points 3 and 5), on real files."""

from __future__ import annotations

import os
import socket
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path
from subprocess import PIPE

import pytest

import tunefleet as tf
from tunefleet.storage import DamagedStoreError, Record, SQLiteStore, replay
from tunefleet.storage.lock import DriverLock
from tunefleet.storage.salvage import salvage
from tunefleet.storage.state_log import StateWriter, read_state
from tunefleet.storage.trust import UntrustedStorageError

SPEC = {"metric": "score", "mode": "max", "space": {}}


def filled(root: Path, n_trials: int = 40, n_results: int = 30) -> SQLiteStore:
    """An experiment with enough records to span many pages, one commit per trial."""
    store = SQLiteStore(root)
    store.create_experiment("exp", SPEC)
    store.append("exp", [Record("experiment_started", None, {"run": 0}, 1.0)])
    for i in range(n_trials):
        tid = f"t{i:03d}"
        recs = [
            Record("trial_created", tid, {"config": {"x": i, "pad": "p" * 200}, "index": i}, 1.0),
            Record("trial_started", tid, {"attempt": 1}, 1.0),
        ]
        recs += [
            Record("result", tid, {"score": float(i + j), "training_iteration": j + 1}, 1.0)
            for j in range(n_results)
        ]
        recs.append(Record("trial_completed", tid, {"status": "TERMINATED"}, 2.0))
        store.append("exp", recs)
    store.close()
    return store


def db(root: Path) -> Path:
    return root / "exp" / "experiment.db"


def one_line(e: BaseException, root: Path) -> str:
    text = str(e)
    assert "\n" not in text
    assert str(db(root)) in text and "tunefleet doctor exp" in text
    return text


@pytest.mark.parametrize("damage", ["empty", "garbage", "truncated"])
def test_damage_is_one_line_naming_the_file_and_the_fix(tmp_path: Path, damage: str) -> None:
    root = tmp_path / "runs"
    store = filled(root, n_trials=10)
    if damage == "empty":
        db(root).write_bytes(b"")
    elif damage == "garbage":
        db(root).write_bytes(os.urandom(9000))
    else:
        os.truncate(db(root), db(root).stat().st_size // 2)
    with pytest.raises(DamagedStoreError) as info:
        store.experiment_exists("exp")
    text = one_line(info.value, root)
    if damage == "empty":
        assert "empty (0 bytes)" in text
    (summary,) = store.list_experiments()
    assert summary.status == "damaged" and summary.problem == text


def test_auto_resume_never_overwrites_an_empty_experiment_file(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    filled(root, n_trials=1)
    db(root).write_bytes(b"")

    def train(config: dict[str, float]) -> None:
        tf.report({"score": 1.0})

    with pytest.raises(DamagedStoreError, match="empty"):
        tf.run(train, config={}, name="exp", storage_path=str(root), resume="AUTO", verbose=0)
    assert db(root).stat().st_size == 0
    assert sorted(os.listdir(root)) == ["exp"]  # no exp_2 made beside it either


def test_a_damaged_record_is_named_by_its_seq(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    store = filled(root, n_trials=2, n_results=2)
    conn = sqlite3.connect(db(root))
    conn.execute("UPDATE events SET data = '{\"score\": 1.0' WHERE seq = 5")
    conn.commit()
    conn.close()
    with pytest.raises(DamagedStoreError, match="record 5 is not valid JSON") as info:
        list(store.read("exp"))
    one_line(info.value, root)
    # JSON of the wrong shape for its kind: replay names the record instead of a traceback
    with pytest.raises(DamagedStoreError, match=r"record 7 \(trial_created\)"):
        replay([Record("trial_created", "t", {"config": {}, "index": "one"}, 1.0, seq=7)])


def test_doctor_salvages_a_truncated_file_and_keeps_the_damaged_one(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    store = filled(root)
    total = sum(1 for _ in store.read("exp"))
    before = db(root).read_bytes()
    os.truncate(db(root), len(before) * 2 // 3)
    damaged = db(root).read_bytes()
    report = salvage(store, "exp")
    assert not report.intact and report.kept_aside is not None
    assert Path(report.kept_aside).read_bytes() == damaged  # kept aside, byte for byte
    recs = list(store.read("exp"))
    assert 0 < len(recs) < total and report.salvaged == len(recs)
    assert [r.seq for r in recs] == sorted({r.seq for r in recs})
    if not report.tail_unknown:
        assert report.lost == total - len(recs)
    assert str(report.lost if report.lost else "unknown") in report.message()
    exp = replay(recs)  # what survived replays, and holds only what was written
    created = [snap for snap in exp.trials.values() if snap.config]
    assert created and all(snap.config["x"] == int(snap.trial_id[1:]) for snap in created)
    for snap in exp.trials.values():
        if snap.last_result is not None:  # each trial's results, never another's
            assert snap.last_result["score"] - snap.iteration + 1 == int(snap.trial_id[1:])
    assert store.get_spec("exp") == SPEC
    again = salvage(store, "exp")
    assert again.intact and "nothing to do" in again.message()


def test_doctor_on_an_empty_file_frees_the_name(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    store = filled(root, n_trials=1)
    db(root).write_bytes(b"")
    report = salvage(store, "exp")
    assert report.salvaged == 0 and report.spec_lost and "free for a new run" in report.message()
    assert not store.experiment_exists("exp")
    assert Path(report.kept_aside or "").stat().st_size == 0


def test_doctor_drops_state_deltas_whose_base_was_lost(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    store = SQLiteStore(root)
    store.create_experiment("exp", SPEC)
    writer = StateWriter(ratio=100.0)
    for i in range(5):
        store.append("exp", [writer.record({"n": i, "seen": list(range(i))}, 1.0)])
    conn = sqlite3.connect(db(root))
    conn.execute("UPDATE events SET data = 'garbage' WHERE seq = 3")
    conn.commit()
    conn.close()
    report = salvage(store, "exp")
    assert report.lost == 3  # record 3, and the deltas 4 and 5 that patched it
    assert read_state(store, "exp") == {"n": 1, "seen": [0]}  # older, never wrong


def test_doctor_drops_a_record_that_does_not_replay(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    store = filled(root, n_trials=3, n_results=2)
    conn = sqlite3.connect(db(root))
    conn.execute("""UPDATE events SET data = '{"config": {}, "index": "one"}' WHERE seq = 7""")
    conn.commit()
    conn.close()
    with pytest.raises(DamagedStoreError, match="record 7"):
        replay(store.read("exp"))
    report = salvage(store, "exp")
    assert report.lost == 1 and report.salvaged == 3 * 5  # 1 + 3 x (2 + 2 results + 1) - 1
    assert sorted(replay(store.read("exp")).trials) == ["t000", "t001", "t002"]


def test_doctor_refuses_while_a_driver_holds_the_lock(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    store = filled(root, n_trials=1)
    with DriverLock(store.experiment_dir("exp"), "exp"), pytest.raises(ValueError, match="driver"):
        salvage(store, "exp")


def test_ls_tells_running_from_crashed(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    store = SQLiteStore(root)
    store.create_experiment("exp", SPEC)
    store.append("exp", [Record("experiment_started", None, {"run": 0}, time.time())])
    assert store.summary("exp").status == "crashed"  # started, never finished, no driver
    with DriverLock(store.experiment_dir("exp"), "exp"):
        assert store.summary("exp").status == "running"
    store.append("exp", [Record("experiment_finished", None, {"status": "interrupted"}, 2.0)])
    assert store.summary("exp").status == "interrupted"


def modes(root: Path) -> dict[str, int]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for entry in dirnames + filenames:
            path = os.path.join(dirpath, entry)
            out[os.path.relpath(path, root)] = stat.S_IMODE(os.stat(path).st_mode)
    return out


def test_storage_is_private_by_default_and_honours_the_umask_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TUNEFLEET_STORAGE_UMASK", raising=False)
    old = os.umask(0o022)  # a usual process umask: the store must not rely on it
    try:
        store = filled(tmp_path / "private", n_trials=1)
        store.append("exp", [Record("experiment_started", None, {}, 1.0)])  # opens the WAL
        with DriverLock(store.experiment_dir("exp"), "exp"):
            private = modes(tmp_path / "private")
        store.close()
        monkeypatch.setenv("TUNEFLEET_STORAGE_UMASK", "027")
        shared = SQLiteStore(tmp_path / "shared")
        shared.create_experiment("exp", SPEC)
        shared.append("exp", [Record("experiment_started", None, {}, 1.0)])
        with DriverLock(shared.experiment_dir("exp"), "exp"):
            group = modes(tmp_path / "shared")
        shared.close()
    finally:
        os.umask(old)
    files = {"exp/experiment.db", "exp/experiment.db-wal", "exp/experiment.db-shm"}
    assert files | {"exp/driver.lock"} <= set(private)
    assert private == {p: 0o700 if p in ("exp", "exp/trials") else 0o600 for p in private}
    assert stat.S_IMODE((tmp_path / "private").stat().st_mode) == 0o700
    assert group == {p: 0o750 if p in ("exp", "exp/trials") else 0o640 for p in group}
    monkeypatch.setenv("TUNEFLEET_STORAGE_UMASK", "rw")
    with pytest.raises(ValueError, match="TUNEFLEET_STORAGE_UMASK"):
        SQLiteStore(tmp_path / "x")


def test_resume_refuses_a_storage_path_others_can_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TUNEFLEET_TRUST_STORAGE", raising=False)
    root = tmp_path / "runs"
    store = filled(root, n_trials=1)
    store.check_trusted("exp")  # private: fine
    os.chmod(root, 0o777)
    with pytest.raises(UntrustedStorageError, match="writable by its group and others") as info:
        store.check_trusted("exp")
    assert str(root) in str(info.value) and "TUNEFLEET_TRUST_STORAGE" in str(info.value)
    with pytest.raises(UntrustedStorageError, match="storage_path"):
        tf.resume("exp", lambda config: None, storage_path=str(root), verbose=0)
    with pytest.raises(UntrustedStorageError, match="storage_path"):
        tf.run(lambda config: None, name="exp", storage_path=str(root), resume=True, verbose=0)
    os.chmod(root, 0o1777)  # sticky, like /tmp: others cannot replace what is ours
    store.check_trusted("exp")
    os.chmod(root, 0o700)
    os.chmod(db(root), 0o620)
    with pytest.raises(UntrustedStorageError, match="writable by its group"):
        store.check_trusted("exp")
    store.check_trusted("exp", trusted=True)
    monkeypatch.setenv("TUNEFLEET_TRUST_STORAGE", "1")
    store.check_trusted("exp")


def test_files_of_creators_killed_mid_way_are_removed(tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], stdout=PIPE)
    host = socket.gethostname()
    folder = tmp_path / "runs" / "exp"
    folder.mkdir(parents=True)
    stem = f".experiment-{host}-{int(dead.stdout)}-ab_1.db"
    leftovers = [stem, stem + "-wal"]
    alive = folder / f".experiment-{host}-{os.getpid()}-cd_2.db"  # a creator at work
    for name in leftovers:
        (folder / name).write_bytes(b"")
    alive.write_bytes(b"")
    store = SQLiteStore(tmp_path / "runs")
    store.create_experiment("exp", SPEC)
    store.close()
    assert [p.name for p in folder.iterdir() if p.name.startswith(".")] == [alive.name]
    assert store.experiment_exists("exp")
