"""The non-dominated trials of several objectives (the Pareto front).

Kept here only until ``tunefleet.pareto`` (multi-objective work) exists; the plot uses that
module when it is importable. A point dominates another when it is at least as good in
every objective and better in one. O(n²) pairwise comparison over the trials, which is
what a plot of at most a few thousand points needs.
"""

from __future__ import annotations

from collections.abc import Sequence


def non_dominated(points: Sequence[Sequence[float]], modes: Sequence[str]) -> list[int]:
    """Indices of the points no other point dominates, in input order."""
    for m in modes:
        if m not in ("min", "max"):
            raise ValueError(f"mode: each must be 'min' or 'max', got {m!r}")
    signs = [1.0 if m == "min" else -1.0 for m in modes]
    keyed = [[s * v for s, v in zip(signs, p, strict=True)] for p in points]
    front = []
    for i, p in enumerate(keyed):
        if not any(j != i and _dominates(q, p) for j, q in enumerate(keyed)):
            front.append(i)
    return front


def _dominates(q: list[float], p: list[float]) -> bool:
    """q is no worse than p anywhere and better somewhere (both as minimisation)."""
    return all(a <= b for a, b in zip(q, p, strict=True)) and any(
        a < b for a, b in zip(q, p, strict=True)
    )
