"""Tests of planner.network.snapping against brute-force shapely."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely
from hypothesis import given
from hypothesis import strategies as st
from network_helpers import CRS, SETTINGS, frame, line, points

from planner.errors import PlannerError
from planner.network import build_network, nearest_facility, snap


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), n_lines=st.integers(1, 8), n_points=st.integers(1, 15))
def test_snap_matches_brute_force(seed, n_lines, n_points):
    rng = np.random.default_rng(seed)
    lines = shapely.linestrings(rng.uniform(0, 100, (n_lines, 3, 2)))
    net = build_network(frame(lines), tolerance_m=0.0, min_component_nodes=1)
    pts = points(rng.uniform(-20, 120, (n_points, 2)))
    result = snap(net, pts, max_access_m=10.0)
    edges = np.asarray(net.edges.geometry.values)
    for k, p in enumerate(pts):
        distances = shapely.distance(edges, p)
        assert result.access_m[k] == pytest.approx(distances.min(), abs=1e-9)
        chosen = edges[result.edge[k]]
        assert distances[result.edge[k]] == pytest.approx(distances.min(), abs=1e-9)
        assert result.offset[k] == pytest.approx(chosen.project(p), abs=1e-9)
        assert result.on_road[k].equals_exact(chosen.interpolate(chosen.project(p)), 1e-9)
    np.testing.assert_array_equal(result.too_far, result.access_m > 10.0)


def test_snap_failures_and_mode():
    lines = frame(
        [line((0, 0), (100, 0)), line((0, 10), (100, 10))], highway=["footway", "primary"]
    )
    net = build_network(lines, min_component_nodes=1)
    pts = points([(50, 1), None, (50, 4)], crs=CRS)
    walk = snap(net, pts)
    np.testing.assert_array_equal(walk.edge, [0, -1, 0])
    drive = snap(net, pts, mode="drive")
    np.testing.assert_array_equal(drive.edge, [1, -1, 1])
    np.testing.assert_allclose(drive.access_m[[0, 2]], [9, 6])
    with pytest.raises(PlannerError, match="snapped for mode"):
        nearest_facility(net, drive, drive, cutoff=100, mode="walk")
    reprojected = snap(net, pts.iloc[[0]].to_crs(4326))
    assert reprojected.access_m[0] == pytest.approx(1.0, abs=1e-6)
    with pytest.raises(PlannerError, match="no CRS"):
        snap(net, gpd.GeoSeries([shapely.Point(0, 0)]))
