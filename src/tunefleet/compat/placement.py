"""``PlacementGroupFactory``: Ray's per-trial resource request as bundles. tunefleet's
request is the bundles' sum (``required_resources``); the placement strategy is Ray's
affair and is kept only for the Ray engine's information."""

from __future__ import annotations

from typing import Any

from tunefleet.errors import TuneTypeError

#: Ray's built-in resource names, which tunefleet spells in lower case. Custom resources
#: ("TPU", "accelerator_type:A100") keep their spelling: a cluster matches them exactly.
_BUILT_IN = frozenset({"cpu", "gpu", "memory", "object_store_memory"})


def resource_key(key: str) -> str:
    """``key`` as tunefleet's requests spell it: built-in names lower-cased, custom as given."""
    return key.lower() if key.lower() in _BUILT_IN else key


def add_request(total: dict[str, float], key: str, amount: float) -> None:
    """Add ``amount`` of resource ``key`` to the summed request ``total``."""
    name = resource_key(key)
    total[name] = total.get(name, 0.0) + float(amount)


class PlacementGroupFactory:
    def __init__(
        self, bundles: list[dict[str, float]], strategy: str = "PACK", *args: Any, **kwargs: Any
    ) -> None:
        if not isinstance(bundles, list) or not all(isinstance(b, dict) for b in bundles):
            raise TuneTypeError(f"bundles: expected a list of dicts, got {bundles!r:.60}")
        self.bundles = [dict(b) for b in bundles]
        self.strategy = strategy

    @property
    def required_resources(self) -> dict[str, float]:
        total: dict[str, float] = {}
        for bundle in self.bundles:
            for key, value in bundle.items():
                add_request(total, key, value)
        return total

    @property
    def head_bundle_is_empty(self) -> bool:
        return not self.bundles or not any(self.bundles[0].values())

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, PlacementGroupFactory)
            and self.bundles == other.bundles
            and self.strategy == other.strategy
        )

    def __hash__(self) -> int:
        return hash((repr(self.bundles), self.strategy))

    def __repr__(self) -> str:
        return f"PlacementGroupFactory({self.bundles!r}, strategy={self.strategy!r})"
