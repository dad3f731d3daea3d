"""The RUN frame local and Spark workers receive: what it carries and its bad-config error."""

from __future__ import annotations

import pickle
import threading

import pytest

from tunefleet.errors import TuneValueError
from tunefleet.executors.base import Launch
from tunefleet.worker import wire


def _launch(config: dict) -> Launch:
    return Launch(
        trial_id="t_0007",
        config=config,
        attempt=2,
        trial_dir="/tmp/exp/t_0007",
        checkpoint="/tmp/exp/t_0007/checkpoint_000003",
        start_iteration=3,
        stop_criteria={"training_iteration": 9},
    )


def test_run_frame_carries_the_launch_fields_in_order():
    launch = _launch({"lr": 0.1, "layers": [64, 32]})
    msg = pickle.loads(wire.encode_run(41, launch, "a worker"))
    assert msg[:2] == (wire.RUN, 41)
    assert msg[2:] == launch.run_fields()
    assert msg[2] == "t_0007" and msg[3] == 2 and msg[4] == {"lr": 0.1, "layers": [64, 32]}


def test_config_with_a_lambda_travels_by_cloudpickle():
    msg = pickle.loads(wire.encode_run(1, _launch({"act": lambda x: 2 * x}), "a worker"))
    assert msg[4]["act"](21) == 42


def test_config_that_cannot_be_pickled_names_the_trial_and_the_destination():
    launch = _launch({"lock": threading.Lock()})
    with pytest.raises(TuneValueError, match=r"config of trial t_0007 cannot be sent to slot 3"):
        wire.encode_run(1, launch, "slot 3")
