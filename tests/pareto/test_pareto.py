"""Property tests for tunefleet.pareto against brute-force definitions."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tunefleet.pareto import (
    crowding_distance,
    dominates,
    hypervolume,
    hypervolume_contributions,
    non_dominated_sort,
    pareto_front,
    rank_order,
)

MODES = st.sampled_from(["min", "max"])


@st.composite
def point_sets(draw, max_dim=3, max_n=8):
    d = draw(st.integers(1, max_dim))
    modes = [draw(MODES) for _ in range(d)]
    pts = draw(st.lists(st.lists(st.integers(0, 5), min_size=d, max_size=d), max_size=max_n))
    return pts, modes


def _brute_dom(a, b, modes):
    sa = [x if m == "min" else -x for x, m in zip(a, modes, strict=True)]
    sb = [x if m == "min" else -x for x, m in zip(b, modes, strict=True)]
    return all(x <= y for x, y in zip(sa, sb, strict=True)) and sa != sb


@given(point_sets())
@settings(max_examples=150, deadline=None)
def test_front_is_exactly_the_undominated_points(case):
    pts, modes = case
    brute = [i for i, p in enumerate(pts) if not any(_brute_dom(q, p, modes) for q in pts)]
    assert pareto_front(pts, modes) == brute
    for i, j in itertools.product(range(len(pts)), repeat=2):
        assert dominates(pts[i], pts[j], modes) == _brute_dom(pts[i], pts[j], modes)


@given(point_sets())
@settings(max_examples=150, deadline=None)
def test_sort_partitions_and_each_front_is_dominated_by_the_previous(case):
    pts, modes = case
    fronts = non_dominated_sort(pts, modes)
    assert sorted(i for f in fronts for i in f) == list(range(len(pts)))
    for k, front in enumerate(fronts):
        remaining = [i for f in fronts[k:] for i in f]
        assert front == [
            i for i in remaining if not any(_brute_dom(pts[j], pts[i], modes) for j in remaining)
        ]
        if k:
            assert all(any(_brute_dom(pts[j], pts[i], modes) for j in fronts[k - 1]) for i in front)
    order = rank_order(pts, modes)
    assert sorted(order) == list(range(len(pts)))
    position = {i: r for r, i in enumerate(order)}
    for i, j in itertools.product(range(len(pts)), repeat=2):
        if _brute_dom(pts[i], pts[j], modes):
            assert position[i] < position[j]


@given(point_sets())
@settings(max_examples=150, deadline=None)
def test_hypervolume_equals_counted_grid_cells(case):
    pts, modes = case
    ref = [6 if m == "min" else -1 for m in modes]
    # a unit cell is dominated when some point is at least as good as its best corner
    cells = 0
    for corner in itertools.product(range(-1, 6), repeat=len(modes)):
        worst = [c if m == "min" else c + 1 for c, m in zip(corner, modes, strict=True)]
        if any(
            all(
                (p <= w) if m == "min" else (p >= w)
                for p, w, m in zip(q, worst, modes, strict=True)
            )
            for q in pts
        ):
            cells += 1
    assert hypervolume(pts, ref, modes) == pytest.approx(cells)


@given(point_sets(max_dim=3, max_n=6))
@settings(max_examples=60, deadline=None)
def test_contributions_are_zero_exactly_for_dominated_or_duplicated_points(case):
    pts, modes = case
    ref = [6 if m == "min" else -1 for m in modes]
    contrib = hypervolume_contributions(pts, ref, modes)
    for i, c in enumerate(contrib):
        shadowed = any(
            _brute_dom(q, pts[i], modes) or (q == pts[i] and j != i) for j, q in enumerate(pts)
        )
        assert (c == pytest.approx(0.0)) == shadowed


def test_crowding_boundaries_are_infinite_and_refusals_name_the_parameter():
    d = crowding_distance([[0, 4], [1, 2], [3, 1], [4, 0]], ["min", "min"])
    assert d[0] == d[3] == math.inf and 0 < d[1] < math.inf
    with pytest.raises(ValueError, match="mode"):
        pareto_front([[1, 2]], ["min", "up"])
    with pytest.raises(ValueError, match="points"):
        pareto_front([[1, 2], [1]], ["min", "min"])
    with pytest.raises(ValueError, match="points"):
        hypervolume([[float("nan"), 1]], [2, 2], ["min", "min"])
