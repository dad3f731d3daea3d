"""The non-dominated trials of several objectives (the Pareto front).

Kept here only until ``tunefleet.pareto`` (multi-objective work) is the one definition. A
point dominates another when it is at least as good in every objective and better in one.
Sorted lexicographically (as minimisation), a point can only be dominated by one before
it, and then by one already on the front (domination is transitive), so each point is
compared with the front found so far: O(n log n + n·|front|); two objectives take one
scan, O(n log n). This is the sort-then-scan of Kung, Luccio and Preparata, "On finding
the maxima of a set of vectors", J. ACM 22(4), 1975, without their divide and conquer.
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
    order = sorted(range(len(keyed)), key=lambda k: keyed[k])
    if len(signs) == 2:
        return _front_2d(keyed, order)
    front: list[int] = []
    for i in order:
        if not any(_dominates(keyed[j], keyed[i]) for j in front):
            front.append(i)
    return sorted(front)


def _front_2d(keyed: list[list[float]], order: list[int]) -> list[int]:
    """Two objectives in one scan: in lexicographic order, a point is dominated exactly when
    an earlier one has a lower second value, or the same second value and a lower first
    (an equal point does not dominate it)."""
    front: list[int] = []
    best: list[float] | None = None  # the first point with the lowest second value so far
    for i in order:
        p = keyed[i]
        if best is None or p[1] < best[1]:
            best = p
            front.append(i)
        elif p[1] == best[1] and p[0] == best[0]:
            front.append(i)  # a duplicate of a front point
    return sorted(front)


def _dominates(q: list[float], p: list[float]) -> bool:
    """q is no worse than p anywhere and better somewhere (both as minimisation)."""
    return all(a <= b for a, b in zip(q, p, strict=True)) and any(
        a < b for a, b in zip(q, p, strict=True)
    )
