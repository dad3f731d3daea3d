"""Pause/resume and PBT exploit on the real local engine (worker processes, real files)."""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import tunefleet as tune
from tunefleet.cli import app
from tunefleet.schedulers import ASHAScheduler, PopulationBasedTraining
from tunefleet.storage import open_store
from tunefleet.storage import records as rk

pytestmark = pytest.mark.timeout(180)


def stepper(config: dict[str, Any]) -> None:
    """Continues from its checkpoint; the checkpoint holds the step and the running value."""
    step, acc = 0, 0.0
    ckpt = tune.get_checkpoint()
    if ckpt is not None:
        state = json.loads(Path(ckpt.path, "state.json").read_text())
        step, acc = state["step"], state["acc"]
    while step < 9:
        time.sleep(config.get("sleep", 0.0))  # PBT needs the population alive together
        step += 1
        acc += config["lr"] * (1 - acc)
        with tempfile.TemporaryDirectory() as d:  # gone however report() ends
            Path(d, "state.json").write_text(json.dumps({"step": step, "acc": acc}))
            tune.report(
                {"acc": acc, "step_seen": step}, checkpoint=tune.Checkpoint.from_directory(d)
            )


def test_asha_promotion_pauses_and_resumes_from_checkpoints(tmp_path: Path) -> None:
    res = tune.run(
        stepper,
        config={"lr": tune.uniform(0.01, 0.5)},
        num_samples=9,
        metric="acc",
        mode="max",
        scheduler=ASHAScheduler(max_t=9, grace_period=1, reduction_factor=3, variant="promotion"),
        storage_path=str(tmp_path),
        name="asha",
        verbose=0,
        seed=3,
    )
    store = open_store(str(tmp_path))
    paused = list(store.read("asha", kinds=(rk.TRIAL_PAUSED,)))
    assert paused, "no trial was ever paused"
    for t in res.trials:
        df = res.trial_dataframes[t.trial_id]
        # Resumed from the checkpoint of the paused result: steps continue, none repeat.
        assert list(df["training_iteration"]) == list(range(1, len(df) + 1))
        assert list(df["step_seen"]) == list(df["training_iteration"])
    assert max(t.last_result["training_iteration"] for t in res.trials) == 9
    starts = [r for r in store.read("asha", kinds=(rk.TRIAL_STARTED,)) if r.data["checkpoint"]]
    assert starts and all(Path(r.data["checkpoint"]).is_dir() for r in starts)


def test_pbt_exploit_copies_donor_checkpoint_and_show_displays_lineage(tmp_path: Path) -> None:
    pbt = PopulationBasedTraining(
        time_attr="training_iteration",
        perturbation_interval=3,
        hyperparam_mutations={"lr": tune.uniform(0.01, 0.5)},
        quantile_fraction=0.5,
        seed=0,
    )
    res = tune.run(
        stepper,
        config={"lr": tune.uniform(0.01, 0.5), "sleep": 0.2},
        num_samples=4,
        metric="acc",
        mode="max",
        scheduler=pbt,
        storage_path=str(tmp_path),
        name="pbt",
        verbose=0,
        seed=0,
        # PBT ranks the live population (as Ray Tune does): all 4 at once, half a CPU each.
        resources_per_trial={"cpu": 0.5},
    )
    store = open_store(str(tmp_path))
    restarts = list(store.read("pbt", kinds=(rk.TRIAL_RESTARTED,)))
    assert restarts, "PBT never exploited"
    for r in restarts:
        donor = r.data["from_trial"]
        assert f"/{donor}/checkpoint_" in r.data["checkpoint"]
        assert r.trial_id != donor
    # The recipient continued from the donor's step, not from its own.
    first = restarts[0]
    df = res.trial_dataframes[first.trial_id]
    after = df[df["timestamp"] >= first.ts]
    assert after["step_seen"].iloc[0] == first.data["iteration"] + 1
    out = CliRunner().invoke(app, ["show", "pbt", "--storage-path", str(tmp_path)])
    assert out.exit_code == 0
    assert "Lineage" in out.output and "exploit" in out.output
    assert first.data["from_trial"] in out.output
