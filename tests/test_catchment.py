"""Nearest centers and service circles against brute force and shapely."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from planner.catchment import LevelResult, Nearest, circle_service_areas, nearest_euclidean
from planner.scenario import LevelSpec


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 6), st.integers(0, 6)), min_size=1, max_size=12),
    st.lists(st.tuples(st.integers(0, 6), st.integers(0, 6)), min_size=1, max_size=25),
)
def test_nearest_points_break_ties_to_the_lowest_position(sources, targets):
    """On an integer grid many centers are equally near: brute force decides."""
    s, t = np.array(sources, float), np.array(targets, float)
    found = nearest_euclidean(gpd.GeoSeries(shapely.points(t)), gpd.GeoSeries(shapely.points(s)))
    d = np.sqrt(((t[:, None, :] - s[None, :, :]) ** 2).sum(axis=2))
    assert np.array_equal(found.index, np.argmax(d == d.min(axis=1, keepdims=True), axis=1))
    np.testing.assert_allclose(found.dist_m, d.min(axis=1), rtol=0, atol=1e-12)
    stubs = gpd.GeoSeries(shapely.linestrings(np.stack([s, s], axis=1)))  # the STRtree path
    other = nearest_euclidean(gpd.GeoSeries(shapely.points(t)), stubs)
    assert np.array_equal(other.index, found.index)


def test_circles_equal_shapely_buffers():
    rng = np.random.default_rng(3)
    pts = shapely.points(rng.uniform(0, 1e5, (40, 2)))
    centers = gpd.GeoDataFrame({"id": [f"c{i}" for i in range(40)]}, geometry=pts, crs=4550)
    nearest = Nearest(np.zeros(0, int), np.zeros(0), np.zeros(0))
    res = LevelResult("village", LevelSpec(radius_m=1234.5), centers, nearest, np.zeros(0, bool))
    for quad_segs in (4, 8, 16):
        circles = circle_service_areas(res, quad_segs=quad_segs).geometry.values
        expected = shapely.buffer(pts, 1234.5, quad_segs=quad_segs)
        assert shapely.equals_exact(circles, expected, tolerance=1e-6).all()
