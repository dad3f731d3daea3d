"""``ScalingConfig``: what a Ray Trainer gets; in a Tune script, a resource request
(``tune.with_resources(fn, ScalingConfig(...))``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tunefleet.compat.placement import add_request
from tunefleet.errors import TuneValueError


@dataclass
class ScalingConfig:
    """Ray's data-parallel shape: ``num_workers`` processes, each ``resources_per_worker``
    (default 1 CPU, or 1 GPU with ``use_gpu``). ``required_resources`` is the total."""

    num_workers: int = 1
    use_gpu: bool = False
    resources_per_worker: dict[str, float] | None = None
    trainer_resources: dict[str, float] | None = None
    placement_strategy: str = "PACK"
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.num_workers, int) or self.num_workers < 1:
            raise TuneValueError(f"num_workers: must be an integer >= 1, got {self.num_workers!r}")

    @property
    def required_resources(self) -> dict[str, float]:
        per = dict(self.resources_per_worker or {"CPU": 1.0})
        if self.use_gpu:
            per.setdefault("GPU", 1.0)
        total: dict[str, float] = {}
        for key, value in per.items():
            add_request(total, key, value * self.num_workers)
        for key, value in (self.trainer_resources or {}).items():
            add_request(total, key, value)
        return total
