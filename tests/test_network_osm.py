"""Tests of planner.network.osm: reading OSM, GraphML and Geofabrik roads, bounded and
refused reads."""

from __future__ import annotations

import os

import geopandas as gpd
import networkx as nx
import pytest
from network_helpers import CRS, line, osm_file, read_helsinki

from planner.errors import PlannerError
from planner.network import build_network, network_from_graphml, read_road_lines


@pytest.fixture(scope="module")
def helsinki():
    return read_helsinki()


def test_helsinki_reads_tags(helsinki):
    lines, net, _ = helsinki
    assert len(lines) > 2000 and lines["oneway"].sum() > 100
    assert lines["maxspeed"].dropna().between(5, 130).all()
    assert net.report["edges"] > 4000
    assert (lines["layer"] > 0).sum() >= 5 and (lines["layer"] < 0).sum() > 100


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
