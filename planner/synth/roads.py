"""The road network of a synthetic region (:mod:`planner.synth`).

Roads are hierarchical and always connected: trunk roads join county seats, county roads
join the township seats of a county, and township and village roads form the Euclidean
minimum spanning tree of each township's villages (the township seat is one of them),
plus a few extra links that close loops. A few rural dead ends stop 300–800 m short of
their village, to exercise the snapping warnings of the network builder.
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
from numpy.typing import NDArray

from planner.synth import attrs, geom

# Road classes: OSM highway value, speed (km/h), name prefix (national G, provincial S,
# county X, township Y, village C roads; None = no reference name) and sideways wiggle.
_ROAD_CLASSES = (
    ("trunk", 100, "G", 0.03),
    ("primary", 80, "S", 0.04),
    ("secondary", 60, "X", 0.05),
    ("tertiary", 40, "Y", 0.06),
    ("unclassified", 30, "C", 0.07),
    ("residential", 30, None, 0.02),
    ("track", 15, None, 0.08),
)
_TRUNK, _PRIMARY, _SECONDARY, _TERTIARY, _UNCLASSIFIED, _RESIDENTIAL, _TRACK = range(7)


def build_roads(
    rng: np.random.Generator,
    tri: geom.GroupTriangulation,
    vil: dict[str, Any],
    town: dict[str, Any],
    merged: dict[str, Any],
    per_km: float,
) -> gpd.GeoDataFrame:
    """Trunk roads between county seats, county roads between township seats, township
    and village roads as a minimum spanning tree over each township's villages, a few
    extra links, and a few villages left 300–800 m short of their road."""
    xy = vil["xy"]
    edges, classes = _village_roads(rng, tri, vil)
    seat_edges, seat_classes = _seat_roads(rng, town, vil["first"])
    edges_all = np.concatenate(edges + seat_edges)
    fix = geom.connect_components(xy, edges_all)
    edges_all = np.concatenate([edges_all, fix])
    cls_all = np.concatenate([*classes, *seat_classes, np.full(len(fix), _UNCLASSIFIED)])
    a, b = _off_road(rng, xy, edges_all, vil, merged)
    wiggle = np.array([c[3] for c in _ROAD_CLASSES])[cls_all]
    lines = geom.polylines(rng, a, b, per_km=per_km, wiggle=wiggle)
    highway = np.array([c[0] for c in _ROAD_CLASSES])[cls_all]
    speed = np.array([c[1] for c in _ROAD_CLASSES], dtype=float)[cls_all]
    return gpd.GeoDataFrame(
        {
            "highway": highway,
            "maxspeed": speed,
            "oneway": np.zeros(len(lines), dtype=bool),
            "name": _road_names(rng, cls_all),
        },
        geometry=lines,
    )


def _village_roads(
    rng: np.random.Generator, tri: geom.GroupTriangulation, vil: dict[str, Any]
) -> tuple[list[NDArray[np.int64]], list[NDArray[np.int64]]]:
    """Village and township roads (edges between villages, and their classes): the minimum
    spanning tree of each township's villages and a few extra links."""
    xy = vil["xy"]
    candidates = geom.triangulation_edges(tri, vil["owner"])
    in_tree = geom.minimum_spanning_forest(xy, candidates)
    tree = candidates[in_tree]
    degree = np.bincount(tree.ravel(), minlength=len(xy))
    through = (degree[tree] >= 3).all(axis=1) | vil["seat"][tree].any(axis=1)
    urban = vil["urban"][tree[:, 0]]
    tree_class = np.where(urban, _RESIDENTIAL, np.where(through, _TERTIARY, _UNCLASSIFIED))
    extra = _extra_links(rng, xy, candidates[~in_tree], tree, factor=1.2, share=0.12)
    extra_class = np.where(vil["urban"][extra[:, 0]], _RESIDENTIAL, _TRACK)
    return [tree, extra], [tree_class, extra_class]


def _seat_roads(
    rng: np.random.Generator, town: dict[str, Any], first: NDArray[np.int64]
) -> tuple[list[NDArray[np.int64]], list[NDArray[np.int64]]]:
    """County roads between the township seats of each county and trunk roads between
    county seats (edges between the seat villages ``first``, and their classes)."""
    seats = town["county_seat"]
    edges, classes = [], []
    for members, group, cls, extra_cls, factor, share in (
        (np.arange(len(first)), town["county"], _SECONDARY, _SECONDARY, 1.3, 0.15),
        (seats, np.zeros(seats.size, dtype=np.int64), _TRUNK, _PRIMARY, 1.6, 0.35),
    ):
        tree, extra = _seat_links(rng, town["xy"][members], group, factor=factor, share=share)
        edges += [first[members[tree]], first[members[extra]]]
        classes += [np.full(len(tree), cls), np.full(len(extra), extra_cls)]
    return edges, classes


def _extra_links(
    rng: np.random.Generator,
    xy: NDArray[np.float64],
    candidates: NDArray[np.int64],
    tree: NDArray[np.int64],
    *,
    factor: float,
    share: float,
) -> NDArray[np.int64]:
    """A random ``share`` of the non-tree triangulation edges that are not too long."""
    if len(tree) == 0 or len(candidates) == 0:
        return np.empty((0, 2), dtype=np.int64)
    limit = factor * np.median(np.hypot(*(xy[tree[:, 0]] - xy[tree[:, 1]]).T))
    length = np.hypot(*(xy[candidates[:, 0]] - xy[candidates[:, 1]]).T)
    return candidates[(length <= limit) & (rng.random(len(candidates)) < share)]


def _seat_links(
    rng: np.random.Generator,
    xy: NDArray[np.float64],
    group: NDArray[np.int64],
    *,
    factor: float,
    share: float,
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Minimum spanning tree of the seats within each group, and extra links."""
    n_groups = int(group.max()) + 1
    sums = np.stack([np.bincount(group, xy[:, d]) for d in (0, 1)], axis=1)
    anchor = sums / np.bincount(group)[:, None]
    reach = np.zeros(n_groups)
    np.maximum.at(reach, group, np.hypot(*(xy - anchor[group]).T))
    tri = geom.group_triangulation(xy, group, anchor, reach + 1.0)
    candidates = geom.triangulation_edges(tri, group)
    in_tree = geom.minimum_spanning_forest(xy, candidates)
    tree = candidates[in_tree]
    return tree, _extra_links(rng, xy, candidates[~in_tree], tree, factor=factor, share=share)


def _off_road(
    rng: np.random.Generator,
    xy: NDArray[np.float64],
    edges: NDArray[np.int64],
    vil: dict[str, Any],
    merged: dict[str, Any],
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """End points of every road, with a few rural dead ends stopped 300–800 m short of
    their village (to exercise snapping warnings)."""
    a, b = xy[edges[:, 0]].copy(), xy[edges[:, 1]].copy()
    length = np.hypot(*(b - a).T)
    degree = np.bincount(edges.ravel(), minlength=len(xy))
    leaf = (degree == 1) & ~vil["urban"] & ~vil["seat"]
    leaf[merged["village"]] = False
    ends = np.r_[edges[:, 0], edges[:, 1]]
    edge = np.r_[np.arange(len(edges)), np.arange(len(edges))]
    pool = np.flatnonzero(leaf[ends] & (length[edge] >= 1500.0))
    rural = int((~vil["urban"]).sum())
    n = min(pool.size, max(1, round(0.004 * rural))) if rural >= 50 else 0
    chosen = rng.choice(pool, n, replace=False)
    e = edge[chosen]
    step = (b[e] - a[e]) * (rng.uniform(300.0, 800.0, n) / length[e])[:, None]
    at_a = chosen < len(edges)
    a[e[at_a]] += step[at_a]
    b[e[~at_a]] -= step[~at_a]
    return a, b


def _road_names(rng: np.random.Generator, cls: NDArray[np.int64]) -> NDArray[np.object_]:
    """Reference codes (G/S/X/Y/C + number) or street names; tracks have none."""
    out = np.full(cls.size, None, dtype=object)
    for i, (_, _, prefix, _) in enumerate(_ROAD_CLASSES):
        mask = cls == i
        if prefix is not None:
            out[mask] = attrs.numbered(prefix, np.arange(mask.sum()) % 999 + 1, 3)
    residential = cls == _RESIDENTIAL
    out[residential] = attrs.street_names(rng, int(residential.sum()))
    return out
