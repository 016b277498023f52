"""Tests of planner.network.graph: speed tables, one-way roads and the networkx model."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from network_helpers import frame, line

from planner.errors import PlannerError
from planner.network import build_network, to_networkx
from planner.network.noding import spatial_order


def test_bad_speeds_raise():
    lines = frame([line((0, 0), (10, 0))])
    with pytest.raises(PlannerError, match="fly"):
        build_network(lines, speeds={"fly": {"default": 5}})
    with pytest.raises(PlannerError, match="km/h"):
        build_network(lines, speeds={"walk": {"path": -1}})


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


def test_morton_order_matches_bit_by_bit_interleave():
    rng = np.random.default_rng(5)
    xy = np.round(rng.uniform(0, 5000, (500, 2)), -2)  # many ties
    span = np.maximum(np.ptp(xy, axis=0), 1e-9)
    cell = ((xy - xy.min(axis=0)) / span * 65535).astype(np.int64)
    code = [
        sum(((int(c[axis]) >> bit) & 1) << (2 * bit + axis) for bit in range(16) for axis in (0, 1))
        for c in cell
    ]
    assert spatial_order(xy).tolist() == sorted(range(len(xy)), key=lambda i: code[i])


def test_modes_using_every_edge_share_one_spatial_index():
    roads = frame([line((0, 0), (100, 0)), line((100, 0), (100, 100))], highway=["residential"] * 2)
    net = build_network(roads, min_component_nodes=1)
    assert net._tree("walk")[0] is net._tree("drive")[0] is net._tree(None)[0]
    paths = frame(
        [line((0, 0), (100, 0)), line((100, 0), (100, 100))], highway=["residential", "footway"]
    )
    net = build_network(paths, min_component_nodes=1)
    assert net._tree("drive")[1].tolist() == [0] and net._tree("walk")[0] is net._tree(None)[0]


def test_importing_the_network_and_siting_loads_no_networkx_or_highspy():
    code = (
        "import sys, planner.network, planner.siting, planner.pipeline; "
        "print(sorted({'networkx', 'highspy'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
