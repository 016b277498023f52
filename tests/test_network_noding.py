"""Tests of planner.network.noding: crossings, joins, fragments and refused road lines."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely
from hypothesis import given
from hypothesis import strategies as st
from network_helpers import CRS, SETTINGS, degree, frame, line

from planner.errors import PlannerError
from planner.network import build_network


def test_crossing_lines_share_a_node():
    net = build_network(
        frame([line((0, 0), (10, 10)), line((0, 10), (10, 0))]), min_component_nodes=1
    )
    assert net.report["crossings"] == 1
    assert (net.n_nodes, len(net.edges)) == (5, 4)
    centre = np.flatnonzero(degree(net) == 4)
    np.testing.assert_allclose(net.node_xy[centre], [[5, 5]])
    assert net.edges["length"].sum() == pytest.approx(2 * np.hypot(10, 10))


def test_lines_on_different_layers_do_not_meet():
    lines = frame([line((0, 0), (10, 10)), line((0, 10), (10, 0))], layer=[0, 1])
    net = build_network(lines, min_component_nodes=1)
    assert net.report["crossings"] == 0
    assert (net.n_nodes, len(net.edges)) == (4, 2)
    assert net.edges["layer"].tolist() == [0, 1]


def test_touching_lines_within_tolerance_are_joined():
    lines = [line((0, 0), (10, 0)), line((5, 0.4), (5, 10)), line((10.3, 0.2), (20, 0))]
    net = build_network(frame(lines), tolerance_m=1.0, min_component_nodes=1)
    assert net.report["t_junctions"] == 1 and net.report["snapped_ends"] == 1
    assert (net.n_nodes, len(net.edges)) == (5, 4)
    assert sorted(degree(net)) == [1, 1, 1, 2, 3]


def test_gap_beyond_tolerance_is_not_joined():
    lines = [line((0, 0), (10, 0)), line((5, 2), (5, 10))]
    net = build_network(frame(lines), tolerance_m=1.0, min_component_nodes=1)
    assert (net.n_nodes, len(net.edges)) == (4, 2)


def test_zero_length_and_self_loops_are_reported():
    lines = [
        line((0, 0), (0, 0)),
        line((0, 0), (10, 0), (10, 0), (20, 0)),
        line((20, 0), (30, 0), (30, 10), (20, 10), (20, 0)),
    ]
    net = build_network(frame(lines), min_component_nodes=1)
    assert net.report["zero_length_segments"] == 2
    assert net.report["self_loops"] == 1
    assert (net.edges["u"] != net.edges["v"]).all()
    assert net.edges["length"].sum() == pytest.approx(20 + 40)


def test_small_fragments_are_dropped_and_counted():
    grid = [line((0, y), (30, y)) for y in (0, 10, 20)] + [line((x, 0), (x, 20)) for x in (0, 30)]
    island = [line((100, 100), (110, 100))]
    net = build_network(frame(grid + island), min_component_nodes=3)
    assert net.report["fragments_dropped"] == 1
    assert net.report["fragment_nodes_dropped"] == 2
    assert net.report["fragment_edges_dropped"] == 1
    assert net.node_xy[:, 0].max() == 30


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(2, 12))
def test_noding_property(seed, n):
    """Random segments: length kept, one node per crossing, pieces meet only at nodes."""
    rng = np.random.default_rng(seed)
    segments = shapely.linestrings(rng.uniform(0, 100, (n, 2, 2)))
    net = build_network(frame(segments), tolerance_m=0.0, min_component_nodes=1)
    crossing = sum(
        shapely.intersects(segments[i], segments[j])
        for i, j in zip(*np.triu_indices(n, 1), strict=True)
    )
    assert net.report["crossings"] == crossing
    assert len(net.edges) == n + 2 * crossing
    assert net.edges["length"].sum() == pytest.approx(shapely.length(segments).sum())
    pieces = np.asarray(net.edges.geometry.values)
    nodes = shapely.buffer(shapely.multipoints(net.node_xy), 1e-6)
    for i, j in zip(*np.triu_indices(len(pieces), 1), strict=True):
        meet = shapely.intersection(pieces[i], pieces[j])
        assert shapely.difference(meet, nodes).is_empty


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (gpd.GeoDataFrame(geometry=[line((0, 0), (1, 1))]), "no CRS"),
        (gpd.GeoDataFrame(geometry=[line((0, 0), (1, 1))], crs=4326), "geographic"),
        (gpd.GeoDataFrame(geometry=[line((0, 0), (1, 1))], crs=2227), "metres"),
        (gpd.GeoDataFrame(geometry=[], crs=CRS), "empty"),
        (gpd.GeoDataFrame(geometry=[None, shapely.LineString()], crs=CRS), "empty"),
        (gpd.GeoDataFrame(geometry=[shapely.Point(0, 0)], crs=CRS), "Point"),
        (gpd.GeoDataFrame(geometry=[line((1, 1), (1, 1))], crs=CRS), "zero length"),
    ],
)
def test_bad_lines_raise(lines, message):
    with pytest.raises(PlannerError, match=message):
        build_network(lines, min_component_nodes=1)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_road_coordinates_are_refused(bad):
    with np.errstate(invalid="ignore"):
        roads = frame([line((0, 0), (100, 0)), line((100, 0), (200, bad)), line((0, 0), (0, 50))])
    with pytest.raises(
        PlannerError, match=r"NaN or infinite coordinates in 1 row\(s\) \(first: row 2\)"
    ):
        build_network(roads, min_component_nodes=1)


def test_unchanged_lines_keep_their_geometry_and_changed_ones_are_rebuilt():
    """Pieces equal what the coordinates say, whether noding reused a line or not."""
    whole = line((0, 50), (0, 60))  # meets nothing: its own piece, kept as is
    bent = line((0, 0), (10, 0), (10, 10))  # one piece, several vertices
    crossed = line((100, -10), (100, 10))  # cut by `across`
    across = line((90, 0), (110, 0))
    repeated = line((200, 0), (200, 0), (210, 0))  # repeated vertex dropped
    lifted = shapely.LineString([(300, 0, 5), (310, 0, 5)])  # Z dropped
    ring = shapely.LinearRing([(400, 0), (410, 0), (410, 10), (400, 0)])  # cut into lines
    lines = [whole, bent, crossed, across, repeated, lifted, ring]
    net = build_network(frame(lines), tolerance_m=0.0, min_component_nodes=1)
    pieces = np.asarray(net.edges.geometry.values)
    by_line = {k: pieces[(net.edges["line"] == k).to_numpy()] for k in range(len(lines))}
    assert by_line[0][0] is whole and by_line[1][0] is bent
    assert len(by_line[2]) == len(by_line[3]) == 2
    assert shapely.equals(by_line[4][0], line((200, 0), (210, 0)))
    assert shapely.get_num_coordinates(by_line[4][0]) == 2
    assert not shapely.has_z(by_line[5][0])
    assert shapely.equals(by_line[5][0], line((300, 0), (310, 0)))
    assert (shapely.get_type_id(pieces) == shapely.GeometryType.LINESTRING).all()
    xy, index = shapely.get_coordinates(pieces, return_index=True)
    rebuilt = shapely.linestrings(xy, indices=index)
    assert (shapely.to_wkb(rebuilt) == shapely.to_wkb(pieces)).all()


def test_segments_cut_at_every_vertex_reuse_their_geometry_and_match_polylines():
    """Roads digitised segment by segment give the same network as whole polylines."""
    rng = np.random.default_rng(3)
    paths = [np.cumsum(rng.uniform(-10, 30, (6, 2)), axis=0) + 80 * i for i in range(8)]
    paths += [np.stack([np.full(6, x), np.linspace(-20, 700, 6)], axis=1) for x in (50, 300)]
    polylines = [shapely.LineString(p) for p in paths]
    segments = [shapely.LineString(p[i : i + 2]) for p in paths for i in range(len(p) - 1)]
    a = build_network(frame(polylines), tolerance_m=0.0, min_component_nodes=1)
    b = build_network(frame(segments), tolerance_m=0.0, min_component_nodes=1)
    assert a.report["crossings"] > 0 and b.report["crossings"] == a.report["crossings"]
    assert b.edges["length"].sum() == pytest.approx(a.edges["length"].sum())
    assert set(map(tuple, a.node_xy.tolist())) <= set(map(tuple, b.node_xy.tolist()))
    whole = shapely.buffer(shapely.union_all(a.edges.geometry.values), 1e-6)
    assert shapely.covered_by(b.edges.geometry.values, whole).all()
    kept = [g for g in b.edges.geometry.values if any(g is s for s in segments)]
    assert 0 < len(kept) < len(segments)
