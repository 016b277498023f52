"""Tests of planner.synth.roads: a connected network reaching the villages, vertex density."""

from __future__ import annotations

import geopandas as gpd
import networkx as nx
import pytest
import shapely
from synth_helpers import small_region

from planner.synth import Region, generate_region


@pytest.fixture(scope="module")
def region() -> Region:
    """A small region in the metric CRS it is built in."""
    return small_region()


def _road_graph(roads: gpd.GeoDataFrame) -> nx.Graph:
    graph = nx.Graph()
    for line in roads.geometry.values:
        xy = shapely.get_coordinates(line)
        nx.add_path(graph, [tuple(p) for p in xy])
    return graph


def test_roads_are_connected_and_reach_every_village(region):
    roads = region.roads
    graph = _road_graph(roads)
    assert nx.is_connected(graph)
    dist = roads.sindex.nearest(region.villages.geometry, return_distance=True, return_all=False)[1]
    assert dist.max() <= 1000.0
    assert (dist > 250.0).sum() >= 1  # a few villages are left off the road on purpose
    assert (dist < 1e-6).mean() > 0.98
    assert set(roads["highway"]) <= {
        "trunk",
        "primary",
        "secondary",
        "tertiary",
        "unclassified",
        "residential",
        "track",
    }
    assert {"trunk", "secondary", "tertiary", "unclassified", "residential"} <= set(
        roads["highway"]
    )
    assert not roads["oneway"].any() and (roads["maxspeed"] > 0).all()


def test_road_detail_sets_the_vertex_density():
    coarse = generate_region(villages=200, townships=10, seed=2, road_detail=0.5, crs=None)
    fine = generate_region(villages=200, townships=10, seed=2, road_detail=20.0, crs=None)
    km = fine.roads.length.sum() / 1000
    vertices = shapely.get_num_coordinates(fine.roads.geometry.values).sum()
    assert vertices == pytest.approx(20.0 * km, rel=0.1)
    assert vertices > 5 * shapely.get_num_coordinates(coarse.roads.geometry.values).sum()
