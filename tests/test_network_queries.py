"""Tests of planner.network.queries: nearest facility, node costs, sites within a cutoff and
service areas, checked against networkx on an independently built graph."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import given
from network_helpers import (
    SETTINGS,
    WALK_MPS,
    access,
    frame,
    line,
    planar_cases,
    points,
    read_helsinki,
    reference_nearest,
)

from planner.errors import PlannerError
from planner.network import (
    build_network,
    nearest_facility,
    node_costs,
    service_areas,
    sites_within,
    snap,
)
from planner.network.queries import AreaRequest, service_areas_many


@pytest.fixture(scope="module")
def helsinki():
    return read_helsinki()


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


def test_service_areas_many_gives_each_request_its_own_areas():
    net = build_network(frame([line((0, 0), (1000, 0))]), min_component_nodes=1)
    one = snap(net, points([(300, 0)]))
    two = snap(net, points([(200, 0), (600, 30)]))
    requests = [AreaRequest(one, 200), AreaRequest(two, 600, "time", "walk")]
    found = service_areas_many(net, requests, buffer_m=50)
    expected = shapely.buffer(line((100, 0), (500, 0)), 50, quad_segs=4)
    assert shapely.symmetric_difference(found[0].geometry.iloc[0], expected).area < 1e-3
    for got, request in zip(found, requests, strict=True):
        alone = service_areas(
            net, request.sources, cutoff=request.cutoff, weight=request.weight, buffer_m=50
        )
        assert (shapely.to_wkb(got.geometry.values) == shapely.to_wkb(alone.geometry.values)).all()
        np.testing.assert_array_equal(got["road_m"], alone["road_m"])
    with pytest.raises(PlannerError, match="cutoff must be >= 0"):
        service_areas_many(net, [requests[0], AreaRequest(two, -1)])


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
