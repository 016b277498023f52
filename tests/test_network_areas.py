"""Tests of planner.network.areas: chains of edges, substrings and service-area shapes."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from hypothesis import given
from hypothesis import strategies as st
from network_helpers import (
    SETTINGS,
    WALK_MPS,
    cut_at_vertices,
    frame,
    line,
    planar_cases,
    points,
)
from shapely.ops import substring

from planner.network import areas as _areas
from planner.network import build_network, service_areas, snap
from planner.network import search as _search


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
    # the reached road is simplified by 0.8 % of it
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


def _wiggly_grid(side: int, spacing: float) -> list[shapely.LineString]:
    """Streets of a grid drawn with a vertex every 5 m, each swaying by a few metres."""
    t = np.arange(0.0, side * spacing + 1e-9, 5.0)
    sway = 4.0 * np.sin(t / 37.0) + 1.5 * np.sin(t / 11.0)
    streets = []
    for k in range(side + 1):
        streets.append(shapely.LineString(np.c_[t, k * spacing + sway]))
        streets.append(shapely.LineString(np.c_[k * spacing + sway, t]))
    return streets


def _region_hausdorff(a: shapely.Geometry, b: shapely.Geometry) -> float:
    """Largest distance from a point of one area to the other area (densified outlines)."""

    def directed(p: shapely.Geometry, q: shapely.Geometry) -> float:
        xy = shapely.get_coordinates(shapely.segmentize(p.boundary, 1.0))
        return float(shapely.distance(shapely.points(xy), q).max())

    return max(directed(a, b), directed(b, a))


@pytest.mark.parametrize("buffer", [20.0, 50.0])
def test_service_areas_stay_within_the_drawing_tolerance(buffer):
    # against the unsimplified reach: the same stretches of road, each buffered on its
    # own by shapely (four segments per quarter circle) and united
    streets = frame(_wiggly_grid(6, 200.0))
    net = build_network(streets, min_component_nodes=1)
    sites = snap(net, points([(130.0, 410.0), (880.0, 990.0), (600.0, 200.0)]), mode="walk")
    cutoff = 700.0
    areas = service_areas(net, sites, cutoff=cutoff, mode="walk", buffer_m=buffer)
    aug = _search.augment(net, "walk", "length", sites, [])
    dist, _, source = _search.search(aug, cutoff)
    host, a, b, label = _areas.reached_parts(
        net, aug, dist, source, cutoff=cutoff, weight="length", mode="walk"
    )
    geoms = net.edges.geometry.to_numpy()
    for k in range(len(sites)):
        mine = label == k
        reach = zip(host[mine], a[mine], b[mine], strict=True)
        parts = [substring(geoms[h], s, e) for h, s, e in reach]
        parts.append(line(sites.point[k].coords[0], sites.on_road[k].coords[0]))
        want = shapely.union_all(shapely.buffer(np.array(parts), buffer, quad_segs=4))
        got = areas.geometry.iloc[k]
        assert shapely.symmetric_difference(got, want).area < 0.005 * want.area
        assert _region_hausdorff(got, want) < 0.03 * buffer
        assert shapely.get_num_coordinates(got) < shapely.get_num_coordinates(want)
