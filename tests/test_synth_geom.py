"""Tests of planner.synth.geom: spanning trees, Voronoi cells, components and polylines."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import pdist, squareform

from planner.synth import geom


@st.composite
def _groups(draw):
    sizes = draw(st.lists(st.integers(1, 12), min_size=1, max_size=8))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    anchor = rng.uniform(-1e4, 1e4, (len(sizes), 2))
    group = np.repeat(np.arange(len(sizes)), sizes)
    xy = anchor[group] + rng.uniform(-500, 500, (group.size, 2))
    return xy, group, anchor


@settings(max_examples=30, deadline=None)
@given(_groups(), st.sampled_from([3, 10, 1000]))
def test_group_spanning_trees_are_minimum_per_group(data, chunk):
    xy, group, anchor = data
    reach = np.full(len(anchor), 800.0)
    tri = geom.group_triangulation(xy, group, anchor, reach, chunk=chunk)
    edges = geom.triangulation_edges(tri, group)
    tree = edges[geom.minimum_spanning_forest(xy, edges)]
    assert (group[tree[:, 0]] == group[tree[:, 1]]).all()
    assert len(tree) == len(xy) - len(anchor)  # a spanning tree in every group
    for g in range(len(anchor)):
        members = np.flatnonzero(group == g)
        complete = nx.from_numpy_array(squareform(pdist(xy[members])))
        expected = nx.minimum_spanning_tree(complete).size(weight="weight")
        mine = tree[group[tree[:, 0]] == g]
        got = np.hypot(*(xy[mine[:, 0]] - xy[mine[:, 1]]).T).sum()
        assert got == pytest.approx(expected, rel=1e-9, abs=1e-6)


@settings(max_examples=20, deadline=None)
@given(_groups(), st.sampled_from([4, 1000]))
def test_group_voronoi_cells_match_shapely(data, chunk):
    xy, group, anchor = data
    square = shapely.box(-600, -600, 600, 600)
    boxes = np.array([shapely.affinity.translate(square, *a) for a in anchor])
    tri = geom.group_triangulation(xy, group, anchor, np.full(len(anchor), 900.0), chunk=chunk)
    cells = geom.clip_cells(geom.voronoi_cells(tri), boxes, group)
    for g in range(len(anchor)):
        members = np.flatnonzero(group == g)
        if members.size == 1:
            expected = [boxes[g]]
        else:
            diagram = shapely.voronoi_polygons(
                shapely.multipoints(xy[members]), extend_to=boxes[g], ordered=True
            )
            expected = shapely.intersection(shapely.get_parts(diagram), boxes[g])
        for got, want in zip(cells[members], expected, strict=True):
            assert got.symmetric_difference(want).area <= 1e-6 * boxes[g].area


def test_connect_components_joins_islands():
    xy = np.array([[0.0, 0], [1, 0], [10, 0], [11, 0], [30, 0]])
    edges = np.array([[0, 1], [2, 3]])
    extra = geom.connect_components(xy, edges)
    graph = nx.Graph([*map(tuple, edges), *map(tuple, extra)])
    graph.add_nodes_from(range(len(xy)))
    assert nx.is_connected(graph) and len(extra) == 2


def test_polylines_keep_exact_end_points():
    rng = np.random.default_rng(0)
    a, b = rng.uniform(0, 1e4, (50, 2)), rng.uniform(0, 1e4, (50, 2))
    lines = geom.polylines(rng, a, b, per_km=3.0, wiggle=np.full(50, 0.1))
    starts = shapely.get_coordinates(shapely.get_point(lines, 0))
    ends = shapely.get_coordinates(shapely.get_point(lines, -1))
    assert np.array_equal(starts, a) and np.array_equal(ends, b)
    assert shapely.is_simple(lines).mean() > 0.9
