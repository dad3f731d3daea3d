"""create_executor: engine names, reserved cluster engines, instances, the registry."""

from __future__ import annotations

from typing import Any

import pytest

from tunefleet import executors
from tunefleet.errors import TuneTypeError, TuneValueError
from tunefleet.executors import (
    LocalExecutor,
    SimulatedExecutor,
    available_engines,
    create_executor,
    register_executor,
)


class AddressExecutor(SimulatedExecutor):
    """A stand-in for a cluster engine that takes an address."""

    def __init__(self, address: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.address = address


def test_default_and_local() -> None:
    assert isinstance(create_executor(None), LocalExecutor)
    ex = create_executor("local", num_cpus=3)
    assert isinstance(ex, LocalExecutor) and ex.num_cpus == 3
    assert isinstance(create_executor(" Local "), LocalExecutor)


def test_simulated_with_arguments() -> None:
    ex = create_executor("simulated", num_workers=7, start_time=5.0)
    assert isinstance(ex, SimulatedExecutor)
    assert ex.num_workers == 7 and ex.now() == 5.0


def test_instance_is_returned_as_is() -> None:
    ex = SimulatedExecutor()
    assert create_executor(ex) is ex
    with pytest.raises(TuneValueError, match="engine"):
        create_executor(ex, num_workers=2)


def test_cluster_engines_are_registered() -> None:
    assert {"local", "simulated", "ray", "dask", "spark"} <= set(available_engines())


def test_unknown_engine_lists_valid_names() -> None:
    with pytest.raises(TuneValueError, match="engine") as info:
        create_executor("kubernetes")
    assert "'local'" in str(info.value) and "'simulated'" in str(info.value)


def test_wrong_type() -> None:
    with pytest.raises(TuneTypeError, match="engine"):
        create_executor(42)  # type: ignore[arg-type]


def test_registry_is_lazy_and_passes_addresses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(executors, "_REGISTRY", dict(executors._REGISTRY))
    register_executor("fake", f"{__name__}:AddressExecutor")
    assert "fake" in available_engines()
    plain = create_executor("fake", num_workers=2)
    assert isinstance(plain, AddressExecutor) and plain.address is None
    remote = create_executor("fake://host:1234")
    assert isinstance(remote, AddressExecutor) and remote.address == "fake://host:1234"
    register_executor("broken", "tunefleet.errors:TuneError")
    with pytest.raises(TuneTypeError, match="not an Executor"):
        create_executor("broken")
    with pytest.raises(TuneValueError, match="target"):
        register_executor("x", "no_colon_here")
    with pytest.raises(TuneValueError, match="name"):
        register_executor("", "a:b")
