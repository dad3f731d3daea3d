"""``PlacementGroupFactory``: Ray's per-trial resource request as bundles. tunefleet's
request is the bundles' sum (``required_resources``); the placement strategy is Ray's
affair and is kept only for the Ray engine's information."""

from __future__ import annotations

from typing import Any

from tunefleet.errors import TuneTypeError


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
                total[key.lower()] = total.get(key.lower(), 0.0) + float(value)
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
