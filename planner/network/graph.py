"""Road network model: road lines → topology → CSR arrays, and travel speeds.

:func:`build_network` nodes road lines (see :mod:`planner.network.noding`) into a
:class:`RoadNetwork`: node coordinates plus one row per physical road piece (``u``, ``v``,
``length``, ``highway``, ``maxspeed``, ``oneway``, geometry). The networkx model
(:attr:`RoadNetwork.graph`, OSMnx-compatible attributes, :func:`to_networkx`) is built only
on demand; searches (:mod:`planner.network.queries`) run on ``scipy.sparse`` CSR matrices
with :func:`scipy.sparse.csgraph.dijkstra`.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from scipy.sparse import csr_matrix

from planner.errors import PlannerError
from planner.network.lines import prepare_lines
from planner.network.noding import (
    drop_fragments,
    group_starts,
    node_lines,
    point_ids,
    spatial_order,
)
from planner.network.osm import read_road_lines

if TYPE_CHECKING:
    import networkx as nx

T = TypeVar("T")

MODES = ("walk", "bike", "drive")
WEIGHTS = ("length", "time")
_NOT_DRIVABLE = "path footway cycleway pedestrian steps bridleway trail sidewalk crossing corridor"

#: Speed (km/h) per travel mode and OSM ``highway`` class. A class is looked up as is, then
#: without its ``_link`` suffix, then as ``"default"``; 0 means the mode may not use it.
#: Driving speeds are capped by ``maxspeed``; ``oneway`` binds driving only. The walking
#: ``default`` also prices access legs.
DEFAULT_SPEEDS: Mapping[str, Mapping[str, float]] = {
    "walk": {"default": 5.0, "motorway": 0.0},
    "bike": {"default": 15.0, "motorway": 0.0},
    "drive": {
        "default": 30.0,
        "motorway": 100.0,
        "trunk": 80.0,
        "primary": 60.0,
        "secondary": 50.0,
        "tertiary": 40.0,
        "unclassified": 30.0,
        "residential": 30.0,
        "living_street": 10.0,
        "service": 20.0,
        "track": 20.0,
        **dict.fromkeys(_NOT_DRIVABLE.split(), 0.0),
    },
}


@dataclass(eq=False)
class RoadNetwork:
    """A noded road network.

    Attributes
    ----------
    node_xy
        ``(n_nodes, 2)`` node coordinates in the network CRS; nodes are numbered in
        Z-order (Morton code), which keeps the CSR searches cache-friendly.
    edges
        One row per physical road piece: ``u``, ``v`` (node positions; the geometry runs
        from ``u`` to ``v``), ``length`` (m), ``highway``, ``maxspeed`` (km/h or NaN),
        ``oneway`` (drive only along the geometry), ``name``, ``layer``, ``line`` (label of
        the input row), geometry.
    speeds
        The speed table in use, ``{mode: {class: km/h}}``.
    report
        Counts of what building changed: ``input_lines``, ``empty_geometries``,
        ``zero_length_segments``, ``self_loops`` (cut in two at their middle vertex),
        ``snapped_ends``, ``t_junctions``, ``crossings``, ``fragments_dropped``,
        ``fragment_nodes_dropped``, ``fragment_edges_dropped``, ``nodes``, ``edges``.
    """

    node_xy: np.ndarray
    edges: gpd.GeoDataFrame
    speeds: dict[str, dict[str, float]]
    report: dict[str, int]
    _cache: dict = field(default_factory=dict, init=False, repr=False)

    @property
    def crs(self) -> pyproj.CRS:
        """CRS of nodes and edges (metric)."""
        return self.edges.crs

    @property
    def n_nodes(self) -> int:
        """Number of nodes."""
        return len(self.node_xy)

    @property
    def access_speed_kph(self) -> float:
        """Walking speed of access legs (the walking ``default``), km/h."""
        return self.speeds["walk"]["default"]

    @property
    def graph(self) -> nx.MultiDiGraph:
        """The networkx model, built on first use (see :func:`to_networkx`)."""
        if "graph" not in self._cache:
            self._cache["graph"] = to_networkx(self)
        return self._cache["graph"]

    def speed_kph(self, mode: str) -> np.ndarray:
        """Speed of each edge for a travel mode, km/h; 0 where the mode may not use it."""
        check_choice(mode, MODES, "mode")
        if ("speed", mode) not in self._cache:
            self._cache["speed", mode] = _edge_speeds(self.edges, self.speeds[mode], mode)
        return self._cache["speed", mode]

    def directions(self, mode: str) -> tuple[np.ndarray, np.ndarray]:
        """Masks of edges a mode may travel along (u→v) and against (v→u) their geometry."""
        forward = self.speed_kph(mode) > 0
        if mode != "drive":
            return forward, forward
        return forward, forward & ~self.edges["oneway"].to_numpy(dtype=bool)

    def edge_cost(self, mode: str, weight: str) -> np.ndarray:
        """Cost of traversing each edge: metres or seconds (inf where not allowed)."""
        check_choice(weight, WEIGHTS, "weight")
        length = self.edges["length"].to_numpy(dtype=float)
        mps = self.speed_kph(mode) / 3.6
        if weight == "length":
            return np.where(mps > 0, length, np.inf)
        return np.divide(length, mps, out=np.full(len(length), np.inf), where=mps > 0)

    def csr(self, mode: str, weight: str) -> csr_matrix:
        """``n_nodes × n_nodes`` matrix of the cheapest directed edge between node pairs."""
        base = self._base(mode, weight)
        return csr_matrix((base.data, base.indices, base.indptr), shape=(self.n_nodes,) * 2)

    def cached(self, key: Hashable, build: Callable[[], T]) -> T:
        """``build()``, computed on first use of ``key`` and kept (the network does not
        change)."""
        if key not in self._cache:
            self._cache[key] = build()
        return self._cache[key]

    def _base(self, mode: str, weight: str) -> Base:
        return self.cached(("base", mode, weight), lambda: build_base(self, mode, weight))

    def _tree(self, mode: str | None) -> tuple[shapely.STRtree, np.ndarray]:
        """STRtree of the edges ``mode`` may use (all edges: one tree for every mode)."""
        if mode is not None and np.count_nonzero(self.speed_kph(mode)) == len(self.edges):
            mode = None
        key = ("tree", mode)
        if key not in self._cache:
            ids = (
                np.arange(len(self.edges)) if mode is None else np.flatnonzero(self.speed_kph(mode))
            )
            geoms = np.asarray(self.edges.geometry.values)[ids]
            self._cache[key] = (shapely.STRtree(geoms), ids)
        return self._cache[key]


@dataclass(frozen=True)
class Base:
    """Directed edges of one (mode, weight), deduplicated to the cheapest, in CSR order."""

    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray
    other: np.ndarray
    rows: np.ndarray
    keys: np.ndarray


def build_base(net: RoadNetwork, mode: str, weight: str) -> Base:
    """Directed edges a mode may use, cheapest of parallel ones, as CSR arrays."""
    forward, backward = net.directions(mode)
    u = net.edges["u"].to_numpy()
    v = net.edges["v"].to_numpy()
    cost = net.edge_cost(mode, weight)
    other = net.edge_cost(mode, "time" if weight == "length" else "length")
    rows = np.concatenate([u[forward], v[backward]])
    cols = np.concatenate([v[forward], u[backward]])
    w = np.concatenate([cost[forward], cost[backward]])
    o = np.concatenate([other[forward], other[backward]])
    keys = rows.astype(np.int64) * net.n_nodes + cols
    order = np.argsort(keys, kind="stable")
    start = group_starts(keys[order])
    if not start.all():  # parallel edges: keep the cheapest (then the shortest other way)
        order = order[np.lexsort((o[order], w[order], np.cumsum(start)))]
    first = order[start]
    rows, cols = rows[first].astype(np.int32), cols[first].astype(np.int32)
    indptr = np.r_[0, np.cumsum(np.bincount(rows, minlength=net.n_nodes))].astype(np.int32)
    return Base(indptr, cols, w[first], o[first], rows, keys[first])


def network_from_graphml(
    path: str | Path,
    *,
    crs: str | int | pyproj.CRS,
    tolerance_m: float = 1.0,
    min_component_nodes: int = 10,
    speeds: Mapping[str, Mapping[str, float]] | None = None,
) -> RoadNetwork:
    """Build a :class:`RoadNetwork` from an OSMnx GraphML file.

    Parameters
    ----------
    path
        GraphML written by OSMnx (graph ``crs`` attribute, EPSG:4326 when absent).
    crs
        Metric working CRS to project to.
    tolerance_m, min_component_nodes, speeds
        As for :func:`build_network`.
    """
    lines = read_road_lines(path)
    if lines.empty:
        raise PlannerError(f"{path}: the GraphML file has no edges")
    return build_network(
        lines.to_crs(crs),
        tolerance_m=tolerance_m,
        min_component_nodes=min_component_nodes,
        speeds=speeds,
    )


# ---------------------------------------------------------------------------- building


def build_network(
    lines: gpd.GeoDataFrame,
    *,
    tolerance_m: float = 1.0,
    min_component_nodes: int = 10,
    speeds: Mapping[str, Mapping[str, float]] | None = None,
) -> RoadNetwork:
    """Node road lines into a :class:`RoadNetwork`.

    Parameters
    ----------
    lines
        LineStrings/MultiLineStrings in a metric CRS; optional columns ``highway``,
        ``maxspeed`` (km/h or OSM text), ``oneway`` (bool or OSM text, ``-1`` reverses),
        ``name``, ``layer`` (int; lines on different layers, such as a bridge and the road
        below, are not joined where they cross).
    tolerance_m
        Dangling line ends this close to another line are joined to it.
    min_component_nodes
        Connected parts with fewer nodes are dropped (counted in ``report``).
    speeds
        Overrides of :data:`DEFAULT_SPEEDS`, ``{mode: {class: km/h}}``.

    Returns
    -------
    RoadNetwork

    Raises
    ------
    PlannerError
        Empty input, no or a non-metric CRS, non-line geometries, bad speeds.
    """
    table = _speed_table(speeds)
    parts, attrs, report = prepare_lines(lines, tolerance_m)
    noded = node_lines(parts, tolerance=tolerance_m, layer=attrs["layer"].to_numpy())
    report.update(noded.counts)
    if len(noded.pieces) == 0:
        raise PlannerError(f"no road lines: all {len(lines)} lines have zero length")
    ends = noded.ends.reshape(-1, 2)
    ids, n_points = point_ids(ends)
    u, v = ids[: len(noded.pieces)], ids[len(noded.pieces) :]
    keep = drop_fragments(u, v, n_points, min_component_nodes, report)
    xy = np.empty((n_points, 2))
    xy[ids] = ends
    old_id, new_id = _renumber(xy, u[keep], v[keep])
    pieces = noded.pieces[keep]
    edges = attrs.iloc[noded.line[keep]].reset_index(drop=True)
    edges.insert(0, "u", new_id[u[keep]])
    edges.insert(1, "v", new_id[v[keep]])
    edges.insert(2, "length", shapely.length(pieces))
    report.update(nodes=len(old_id), edges=int(keep.sum()))
    frame = gpd.GeoDataFrame(edges, geometry=pieces, crs=lines.crs)
    return RoadNetwork(node_xy=xy[old_id], edges=frame, speeds=table, report=report)


def _renumber(xy: np.ndarray, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Number the points edges use in Z-order → (old id of each new node, new id of
    each old point; unused points keep an arbitrary value)."""
    used = np.zeros(len(xy), dtype=bool)
    used[u] = used[v] = True
    old_id = np.flatnonzero(used)[spatial_order(xy[used])]
    new_id = np.empty(len(xy), dtype=np.int64)
    new_id[old_id] = np.arange(len(old_id))
    return old_id, new_id


def _speed_table(speeds: Mapping[str, Mapping[str, float]] | None) -> dict[str, dict[str, float]]:
    table = {mode: dict(classes) for mode, classes in DEFAULT_SPEEDS.items()}
    for mode, classes in (speeds or {}).items():
        check_choice(mode, MODES, "speeds mode")
        for name, kph in classes.items():
            try:
                value = float(kph)
            except (TypeError, ValueError):
                value = np.nan
            if not (np.isfinite(value) and value >= 0):
                raise PlannerError(f"speeds[{mode!r}][{name!r}] must be km/h >= 0, got {kph!r}")
            table[mode][str(name)] = value
    if table["walk"]["default"] <= 0:
        raise PlannerError("speeds['walk']['default'] must be > 0: it prices access legs")
    return table


def _edge_speeds(edges: gpd.GeoDataFrame, table: Mapping[str, float], mode: str) -> np.ndarray:
    inverse, classes = pd.factorize(edges["highway"].fillna(""))
    default = table.get("default", 0.0)
    lookup = [table.get(c, table.get(c.removesuffix("_link"), default)) for c in classes]
    speed = np.asarray(lookup, dtype=float)[inverse]
    if mode == "drive":
        cap = edges["maxspeed"].to_numpy(dtype=float)
        speed = np.where(cap > 0, np.minimum(speed, cap), speed)
    return speed


def check_choice(value: object, choices: Sequence[str], what: str) -> None:
    """Raise :class:`PlannerError` unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise PlannerError(f"{what} must be one of {', '.join(choices)}; got {value!r}")


def to_networkx(net: RoadNetwork, *, mode: str | None = None) -> nx.MultiDiGraph:
    """The network as an OSMnx-style ``networkx.MultiDiGraph``.

    Parameters
    ----------
    net
        The network.
    mode
        ``None``: every edge in both directions (the reverse copy has ``reversed=True`` and
        reversed geometry); ``speed_kph``/``travel_time`` are for driving (0 km/h and inf
        where driving is not allowed in that direction) and ``travel_time_walk``,
        ``travel_time_bike`` are added. A mode: only the directions that mode may use, with
        its ``speed_kph`` and ``travel_time``.

    Returns
    -------
    networkx.MultiDiGraph
        Nodes ``x``, ``y``; edges ``length``, ``highway``, ``maxspeed``, ``oneway``,
        ``reversed``, ``name``, ``geometry``, ``speed_kph``, ``travel_time``; graph ``crs``.
    """
    import networkx as nx

    graph = nx.MultiDiGraph(crs=net.crs, mode=mode or "all")
    graph.add_nodes_from((i, {"x": x, "y": y}) for i, (x, y) in enumerate(net.node_xy.tolist()))
    e = net.edges
    main = "drive" if mode is None else mode
    extra = [m for m in net.speeds if m != main] if mode is None else []
    allowed = [net.directions(m) for m in (main, *extra)]
    for back in (0, 1):
        ok = np.ones(len(e), bool) if mode is None else allowed[0][back]
        geoms = np.asarray(e.geometry.values)[ok]
        columns = {
            "length": e["length"].to_numpy()[ok],
            "highway": e["highway"].to_numpy(dtype=object)[ok],
            "maxspeed": e["maxspeed"].to_numpy()[ok],
            "oneway": e["oneway"].to_numpy()[ok],
            "name": e["name"].to_numpy(dtype=object)[ok],
            "geometry": shapely.reverse(geoms) if back else geoms,
            "reversed": np.full(ok.sum(), bool(back)),
            "speed_kph": np.where(allowed[0][back], net.speed_kph(main), 0.0)[ok],
            "travel_time": np.where(allowed[0][back], net.edge_cost(main, "time"), np.inf)[ok],
        }
        for m, directions in zip(extra, allowed[1:], strict=True):
            cost = np.where(directions[back], net.edge_cost(m, "time"), np.inf)
            columns[f"travel_time_{m}"] = cost[ok]
        records = pd.DataFrame(columns).to_dict("records")
        u, v = e["u"].to_numpy()[ok], e["v"].to_numpy()[ok]
        ends = zip(v, u, strict=True) if back else zip(u, v, strict=True)
        graph.add_edges_from((a, b, data) for (a, b), data in zip(ends, records, strict=True))
    return graph
