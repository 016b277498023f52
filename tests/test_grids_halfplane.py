"""Tests of planner.grids.halfplane: the numpy split must be bit-for-bit the GEOS overlay
(intersection and difference with the half-plane rectangle) wherever it applies."""

from __future__ import annotations

import numpy as np
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from planner.grids.bisect import (
    _boundary,
    _cut_positions,
    _fixed_sense,
    _half_plane_rings,
    _long_axis,
    _only_polygons,
    _score,
    partition,
)
from planner.grids.halfplane import (
    Rings,
    outer_rings,
    polygons_of,
    ring_area,
    ring_length,
    split_simple,
)

_X0, _Y0 = 500_000.0, 4_500_000.0


def _split_both_ways(geoms, frac):
    u, origin = _long_axis(geoms)
    ring_xy = shapely.get_coordinates(geoms, return_index=True)
    t_all = np.einsum("ij,ij->i", ring_xy[0] - origin[ring_xy[1]], u[ring_xy[1]])
    lo = np.full(len(geoms), np.inf)
    hi = np.full(len(geoms), -np.inf)
    np.minimum.at(lo, ring_xy[1], t_all)
    np.maximum.at(hi, ring_xy[1], t_all)
    cut = lo + frac * (hi - lo)
    ring = _half_plane_rings(geoms, u, origin, cut)
    ok, left, right = split_simple(
        outer_rings(geoms),
        len(geoms),
        lambda xy, i: np.einsum("ij,ij->i", xy - origin[i], u[i]) - cut[i],
        ring[:, 1],
        ring[:, 2],
    )
    half = shapely.polygons(ring)
    ref_left = shapely.intersection(geoms[ok], half[ok])
    ref_right = shapely.difference(geoms[ok], half[ok])
    return ok, left, right, ref_left, ref_right


def _same(ring_set, reference) -> None:
    """Polygons of a ring set, their areas and lengths are the overlay's, bit for bit."""
    built = polygons_of(*ring_set)
    assert (shapely.to_wkb(built) == shapely.to_wkb(reference)).all()
    assert (ring_area(*ring_set) == shapely.area(reference)).all()
    assert (ring_length(*ring_set) == shapely.length(reference)).all()


@st.composite
def _polygons(draw):
    """Random simple polygons (convex hulls and star shapes) of 3 to 12 vertices, in
    either orientation, at projected-coordinate magnitudes."""
    n = draw(st.integers(3, 12))
    angles = np.sort(np.array(draw(st.lists(st.floats(0, 2 * np.pi), min_size=n, max_size=n))))
    radii = np.array(draw(st.lists(st.floats(50, 3000), min_size=n, max_size=n)))
    x = _X0 + draw(st.floats(-1e5, 1e5)) + radii * np.cos(angles)
    y = _Y0 + draw(st.floats(-1e5, 1e5)) + radii * np.sin(angles)
    poly = shapely.Polygon(np.c_[x, y])
    if draw(st.booleans()):
        poly = shapely.convex_hull(poly)
    if not poly.is_valid or poly.area < 1.0 or poly.geom_type != "Polygon":
        poly = shapely.convex_hull(shapely.multipoints(np.c_[x, y]).buffer(10, quad_segs=2))
    return shapely.reverse(poly) if draw(st.booleans()) else poly


@settings(max_examples=60, deadline=None)
@given(st.lists(_polygons(), min_size=1, max_size=8), st.floats(0.05, 0.95))
def test_split_is_the_overlay_bit_for_bit(polys, frac):
    geoms = np.array(polys, dtype=object)
    _, left, right, ref_left, ref_right = _split_both_ways(geoms, frac)
    _same(left, ref_left)
    _same(right, ref_right)


def test_most_convex_pieces_take_the_numpy_route():
    rng = np.random.default_rng(3)
    centres = rng.uniform(-1e5, 1e5, (200, 2)) + np.array([_X0, _Y0])
    geoms = shapely.convex_hull(
        shapely.multipoints(
            np.repeat(centres, 9, axis=0) + rng.uniform(-800, 800, (1800, 2)),
            indices=np.repeat(np.arange(200), 9),
        )
    )
    as_multi = shapely.multipolygons(geoms[:50, None])  # one part each, as villages come
    geoms = np.concatenate([as_multi, geoms[50:]])
    ok, left, right, ref_left, ref_right = _split_both_ways(geoms, 0.37)
    assert ok.all()
    _same(left, ref_left)
    _same(right, ref_right)


def test_pieces_with_holes_or_several_parts_are_left_to_the_overlay():
    ring = shapely.box(_X0, _Y0, _X0 + 1000, _Y0 + 400)
    holed = ring.difference(shapely.box(_X0 + 400, _Y0 + 100, _X0 + 600, _Y0 + 300))
    multi = shapely.MultiPolygon([ring, shapely.box(_X0 + 2000, _Y0, _X0 + 2500, _Y0 + 400)])
    ok, *_ = _split_both_ways(np.array([holed, multi], dtype=object), 0.3)
    assert not ok.any()


_NO_RINGS = Rings(
    np.empty(0, dtype=np.int64),
    np.empty((0, 2)),
    np.empty(0, dtype=np.int64),
    np.empty(0, dtype=bool),
)
_NO_POINTS = (np.empty((0, 2)), np.empty(0), np.empty(0, dtype=np.int64))


def _reference(geom, k: int) -> list:
    """Pieces of one village by plain recursion with GEOS overlays (the route before the
    numpy split): cut across the long or the short axis, whichever is clearly better."""
    if k == 1:
        return [geom]
    g = np.array([geom], dtype=object)
    u_long, origin = _long_axis(g)
    u_short = _fixed_sense(np.stack([-u_long[:, 1], u_long[:, 0]], axis=1))
    shape = (g, _NO_RINGS, _boundary(g, _NO_RINGS), shapely.area(g))
    sides = []
    for u in (u_long, u_short):
        cut = _cut_positions(shape, u, origin, np.array([k]), *_NO_POINTS)
        half = shapely.polygons(_half_plane_rings(g, u, origin, cut))
        left = _only_polygons(shapely.intersection(g, half))
        right = _only_polygons(shapely.difference(g, half))
        sides.append((left[0], right[0], _score(g, left, right)[0]))
    (a_left, a_right, a_score), (b_left, b_right, b_score) = sides
    left, right = (b_left, b_right) if b_score > 1.1 * a_score else (a_left, a_right)
    return _reference(left, k // 2) + _reference(right, k - k // 2)


@settings(max_examples=25, deadline=None)
@given(
    st.lists(_polygons(), min_size=1, max_size=5),
    st.lists(st.integers(1, 12), min_size=5, max_size=5),
)
def test_partition_matches_per_village_recursion(polys, ks):
    geoms = shapely.multipolygons(np.array(polys, dtype=object)[:, None])
    k = np.array(ks[: len(polys)])
    pieces, village = partition(geoms, k, *_NO_POINTS)
    assert np.bincount(village, minlength=len(k)).tolist() == k.tolist()
    for v, geom in enumerate(geoms):
        expected = sorted(shapely.to_wkb(_reference(geom, int(k[v]))))
        assert sorted(shapely.to_wkb(pieces[village == v])) == expected
