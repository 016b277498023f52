"""Tests of planner.grids.bisect: equal areas, contiguity and compactness of the cuts."""

from __future__ import annotations

import os

import geopandas as gpd
import numpy as np
import shapely
from grids_helpers import C_SHAPE, CRS, X0, Y0, assert_tiles, villages_gdf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely.geometry import Polygon, box

from planner.grids import generate_grids, polsby_popper


def test_equal_areas_without_points():
    village = villages_gdf([box(X0, Y0, X0 + 5000, Y0 + 1200)], [300])
    grids = generate_grids(village).grids
    assert len(grids) == 10
    np.testing.assert_allclose(shapely.area(grids.geometry.to_numpy()), 600_000.0, rtol=1e-9)
    assert (grids["households"] == 30).all()


def test_concave_village_gets_contiguous_compact_grids():
    village = villages_gdf([shapely.affinity.translate(C_SHAPE, X0, Y0)], [300])
    res = generate_grids(village)
    assert_tiles(res.grids, village)
    # No thin tails along the inner edges of the C.
    assert res.grids["compactness"].min() > 0.4
    np.testing.assert_allclose(
        res.grids["compactness"], polsby_popper(res.grids.geometry.to_numpy())
    )


@st.composite
def village_polygons(draw):
    """Convex hulls of random points, or star-shaped (usually concave) polygons; some
    with a hole."""
    n = draw(st.integers(5, 14))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    if draw(st.booleans()):
        pts = rng.uniform(0, 5000, (n, 2))
        poly = shapely.convex_hull(shapely.multipoints(pts))
    else:
        angles = np.sort(rng.uniform(0, 2 * np.pi, n))
        radius = rng.uniform(300, 3000, n)
        poly = Polygon(np.c_[np.cos(angles) * radius, np.sin(angles) * radius])
    poly = shapely.make_valid(poly)
    parts = [p for p in shapely.get_parts(poly) if p.geom_type == "Polygon"]
    biggest = max(parts, key=lambda p: p.area) if parts else Polygon()
    if draw(st.booleans()):  # a hole (a pond, another village's enclave)
        center = biggest.representative_point() if not biggest.is_empty else None
        if center is not None:
            biggest = biggest.difference(center.buffer(draw(st.floats(20, 400))))
            biggest = max(shapely.get_parts(biggest), key=lambda p: p.area)
    return shapely.affinity.translate(biggest, X0, Y0)


@settings(
    max_examples=int(os.environ.get("GRID_EXAMPLES", 25)),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(poly=village_polygons(), k=st.integers(1, 16), n_points=st.sampled_from([0, 5, 200]))
def test_property_tiling_and_contiguity(poly, k, n_points):
    """Set GRID_EXAMPLES=500 for a deeper search."""
    if poly.is_empty or poly.area < 1000:
        return
    village = villages_gdf([poly], [30 * k])
    rng = np.random.default_rng(k)
    xmin, ymin, xmax, ymax = poly.bounds
    xy = rng.uniform([xmin, ymin], [xmax, ymax], (n_points, 2))
    points = gpd.GeoDataFrame(geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=CRS)
    res = generate_grids(village, points=points)
    assert len(res.grids) == k
    assert_tiles(res.grids, village)
    assert (res.grids["compactness"] > 0).all()
    assert res.grids["households"].sum() == 30 * k


@settings(max_examples=25, deadline=None)
@given(
    xy=st.lists(
        st.tuples(st.floats(0, 5000), st.floats(0, 5000)), min_size=3, max_size=12, unique=True
    ),
    k=st.integers(2, 16),
)
def test_property_convex_villages_split_into_equal_areas(xy, k):
    """A cut never splits a convex piece in two parts, so area balance is exact."""
    poly = shapely.convex_hull(shapely.multipoints(np.array(xy) + np.array([X0, Y0])))
    if poly.geom_type != "Polygon" or poly.area < 10_000 or polsby_popper(poly) < 0.05:
        return
    grids = generate_grids(villages_gdf([poly], [30 * k])).grids
    np.testing.assert_allclose(shapely.area(grids.geometry.to_numpy()), poly.area / k, rtol=1e-6)
    assert (grids["households"] == 30).all()
