"""Road network engine: road lines → topology → CSR arrays; snapping; bounded searches.

:func:`build_network` nodes road lines (see :mod:`planner._noding`) into a
:class:`RoadNetwork`: node coordinates plus one row per physical road piece (``u``, ``v``,
``length``, ``highway``, ``maxspeed``, ``oneway``, geometry). The networkx model
(:attr:`RoadNetwork.graph`, OSMnx-compatible attributes) is built only on demand; searches
run on ``scipy.sparse`` CSR matrices with :func:`scipy.sparse.csgraph.dijkstra`.

Points (centers, villages) join the network at the nearest point of the nearest edge
(:func:`snap`). For a search, every edge holding snapped points is cut into a chain of
virtual nodes at the points' offsets (the whole edge stays too: same cost, so distances do
not change), and every source gets an access node linked to its on-road node by its access
leg. One multi-source Dijkstra (``min_only=True``, ``limit=cutoff``) then gives each node its
nearest source; a target's cost adds its own access leg. Access legs are straight lines
walked at the walking speed of the table when the weight is time. Paths run from source to
target, which matters for one-way streets when driving.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pyproj
import shapely
from scipy.sparse import csr_matrix

from planner.errors import PlannerError
from planner.network import search as _search
from planner.network.noding import (
    drop_fragments,
    node_lines,
    point_ids,
    prepare_lines,
    spatial_order,
)
from planner.network.osm import read_road_lines, to_networkx

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
        _check_choice(mode, MODES, "mode")
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
        _check_choice(weight, WEIGHTS, "weight")
        length = self.edges["length"].to_numpy(dtype=float)
        mps = self.speed_kph(mode) / 3.6
        if weight == "length":
            return np.where(mps > 0, length, np.inf)
        return np.divide(length, mps, out=np.full(len(length), np.inf), where=mps > 0)

    def csr(self, mode: str, weight: str) -> csr_matrix:
        """``n_nodes × n_nodes`` matrix of the cheapest directed edge between node pairs."""
        base = self._base(mode, weight)
        return csr_matrix((base.data, base.indices, base.indptr), shape=(self.n_nodes,) * 2)

    def _base(self, mode: str, weight: str) -> _search.Base:
        key = ("base", mode, weight)
        if key not in self._cache:
            self._cache[key] = _search.build_base(self, mode, weight)
        return self._cache[key]

    def _chains(self, mode: str) -> _search.Chains:
        key = ("chains", mode)
        if key not in self._cache:
            self._cache[key] = _search.build_chains(self, mode)
        return self._cache[key]

    def _tree(self, mode: str | None) -> tuple[shapely.STRtree, np.ndarray]:
        key = ("tree", mode)
        if key not in self._cache:
            ids = (
                np.arange(len(self.edges)) if mode is None else np.flatnonzero(self.speed_kph(mode))
            )
            geoms = np.asarray(self.edges.geometry.values)[ids]
            self._cache[key] = (shapely.STRtree(geoms), ids)
        return self._cache[key]


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
    used = np.zeros(n_points, dtype=bool)
    used[u[keep]] = used[v[keep]] = True
    xy = np.empty((n_points, 2))
    xy[ids] = ends
    old_id = np.flatnonzero(used)[spatial_order(xy[used])]
    new_id = np.empty(n_points, dtype=np.int64)
    new_id[old_id] = np.arange(len(old_id))
    pieces = noded.pieces[keep]
    edges = attrs.iloc[noded.line[keep]].reset_index(drop=True)
    edges.insert(0, "u", new_id[u[keep]])
    edges.insert(1, "v", new_id[v[keep]])
    edges.insert(2, "length", shapely.length(pieces))
    report.update(nodes=int(used.sum()), edges=int(keep.sum()))
    frame = gpd.GeoDataFrame(edges, geometry=pieces, crs=lines.crs)
    return RoadNetwork(node_xy=xy[old_id], edges=frame, speeds=table, report=report)


def _speed_table(speeds: Mapping[str, Mapping[str, float]] | None) -> dict[str, dict[str, float]]:
    table = {mode: dict(classes) for mode, classes in DEFAULT_SPEEDS.items()}
    for mode, classes in (speeds or {}).items():
        _check_choice(mode, MODES, "speeds mode")
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


def _check_choice(value: object, choices: Sequence[str], what: str) -> None:
    if value not in choices:
        raise PlannerError(f"{what} must be one of {', '.join(choices)}; got {value!r}")


# ---------------------------------------------------------------------------- snapping


@dataclass(frozen=True, eq=False)
class Snap:
    """Points joined to the network at the nearest point of the nearest edge.

    Attributes
    ----------
    index
        Labels of the input points.
    edge
        Edge row of each point; -1 when the point could not be snapped (missing or empty
        geometry, or no edge the mode may use).
    offset
        Distance along the edge geometry from its ``u`` end to the joining point (m).
    access_m
        Straight-line access leg from the point to the road (m; NaN when not snapped).
    point, on_road
        The input points and the joining points (``None`` when not snapped).
    mode
        The travel mode whose edges were eligible (``None``: any edge).
    max_access_m
        Threshold for :attr:`too_far`.
    """

    index: pd.Index
    edge: np.ndarray
    offset: np.ndarray
    access_m: np.ndarray
    point: np.ndarray
    on_road: np.ndarray
    mode: str | None = None
    max_access_m: float | None = None

    def __len__(self) -> int:
        return len(self.edge)

    @property
    def ok(self) -> np.ndarray:
        """Mask of points joined to the network."""
        return self.edge >= 0

    @property
    def too_far(self) -> np.ndarray:
        """Mask of snapped points whose access leg is longer than ``max_access_m``."""
        if self.max_access_m is None:
            return np.zeros(len(self), dtype=bool)
        return self.ok & (np.nan_to_num(self.access_m) > self.max_access_m)


def snap(
    net: RoadNetwork,
    points: gpd.GeoSeries,
    *,
    mode: str | None = None,
    max_access_m: float | None = None,
) -> Snap:
    """Join points to the nearest point of the nearest edge (STRtree nearest query).

    Parameters
    ----------
    net
        The network.
    points
        Points (a GeoSeries or GeoDataFrame); reprojected to the network CRS if needed.
    mode
        Only consider edges this travel mode may use (``None``: any edge). Snap with the
        mode you will search with: a point snapped to a footway cannot be reached by car.
    max_access_m
        Points farther than this from the road are flagged in :attr:`Snap.too_far`
        (still snapped; the caller decides whether to warn or drop them).

    Returns
    -------
    Snap
    """
    if mode is not None:
        _check_choice(mode, MODES, "mode")
    series = _as_points(points, net.crs)
    geoms = np.asarray(series.values)
    n = len(geoms)
    edge = np.full(n, -1, dtype=np.int64)
    offset = np.full(n, np.nan)
    access = np.full(n, np.nan)
    on_road = np.full(n, None, dtype=object)
    valid = np.flatnonzero(~(shapely.is_missing(geoms) | shapely.is_empty(geoms)))
    valid = valid[np.isfinite(shapely.get_coordinates(geoms[valid])).all(axis=1)]
    tree, ids = net._tree(mode)
    if len(valid) and len(ids):
        (which, nearest), dist = tree.query_nearest(
            geoms[valid], return_distance=True, all_matches=False
        )
        at = valid[which]
        edge[at] = ids[nearest]
        lines = np.asarray(net.edges.geometry.values)[edge[at]]
        offset[at] = shapely.line_locate_point(lines, geoms[at])
        on_road[at] = shapely.line_interpolate_point(lines, offset[at])
        access[at] = dist
    return Snap(series.index, edge, offset, access, geoms, on_road, mode, max_access_m)


def _as_points(points: gpd.GeoSeries | gpd.GeoDataFrame, crs: pyproj.CRS) -> gpd.GeoSeries:
    if isinstance(points, gpd.GeoDataFrame):
        points = points.geometry
    if not isinstance(points, gpd.GeoSeries):
        raise PlannerError(f"points must be a GeoSeries, got {type(points).__name__}")
    if points.crs is None:
        raise PlannerError("points have no CRS; set the CRS they were recorded in")
    kinds = points.geom_type.dropna()
    if (kinds != "Point").any():
        raise PlannerError(f"points must be Point geometries; got {sorted(set(kinds))}")
    return points if points.crs == crs else points.to_crs(crs)


# ---------------------------------------------------------------------------- searching


@dataclass(frozen=True)
class NearestResult:
    """Per target: nearest source within the cutoff.

    Attributes
    ----------
    index
        Target labels.
    source
        Position of the nearest source in the sources ``Snap`` (-1: none within cutoff).
    source_id
        Label of that source (missing when none).
    cost
        Cost by the search weight (m or s; inf when unreached), access legs included.
    length_m, time_s
        Length and time of that path (access legs walked); inf when unreached.
    """

    index: pd.Index
    source: np.ndarray
    source_id: pd.Series
    cost: np.ndarray
    length_m: np.ndarray
    time_s: np.ndarray

    def to_frame(self) -> pd.DataFrame:
        """A DataFrame on the target labels: source_id, cost, length_m, time_s."""
        return pd.DataFrame(
            {
                "source_id": self.source_id.to_numpy(),
                "cost": self.cost,
                "length_m": self.length_m,
                "time_s": self.time_s,
            },
            index=self.index,
        )


@dataclass(frozen=True)
class NodeCosts:
    """Per network node: cost from the nearest source (inf beyond cutoff) and its position."""

    cost: np.ndarray
    source: np.ndarray


def _check_search(cutoff: float, weight: str, mode: str, *snaps: Snap) -> None:
    _check_choice(weight, WEIGHTS, "weight")
    _check_choice(mode, MODES, "mode")
    if not (cutoff >= 0):
        raise PlannerError(f"cutoff must be >= 0 (m or s), got {cutoff!r}")
    for s in snaps:
        if s.mode not in (None, mode):
            raise PlannerError(f"points were snapped for mode {s.mode!r}, search is {mode!r}")


def _access_cost(net: RoadNetwork, snap_: Snap, weight: str) -> np.ndarray:
    walk = np.asarray(snap_.access_m, dtype=float)
    return walk if weight == "length" else walk / (net.access_speed_kph / 3.6)


def node_costs(
    net: RoadNetwork, sources: Snap, *, cutoff: float, weight: str = "length", mode: str = "walk"
) -> NodeCosts:
    """Cost from the nearest source to every network node, one bounded Dijkstra.

    Parameters are as for :func:`nearest_facility`.
    """
    _check_search(cutoff, weight, mode, sources)
    aug = _search.augment(net, mode, weight, sources, [])
    dist, _, source = _search.search(aug, cutoff)
    return NodeCosts(dist[: net.n_nodes], source[: net.n_nodes])


def nearest_facility(
    net: RoadNetwork,
    sources: Snap,
    targets: Snap,
    *,
    cutoff: float,
    weight: str = "length",
    mode: str = "walk",
) -> NearestResult:
    """Nearest source of every target within ``cutoff``, by one multi-source Dijkstra.

    Parameters
    ----------
    net
        The network.
    sources, targets
        Snapped points (facilities and demand). Points not snapped, or snapped to an edge
        the mode may not use, are never reached / never reach.
    cutoff
        Largest cost searched: metres for ``weight="length"``, seconds for ``"time"``.
    weight
        ``"length"`` or ``"time"`` (road at the mode's speeds, access legs walked).
    mode
        ``"walk"``, ``"bike"`` or ``"drive"``.

    Returns
    -------
    NearestResult
        Costs include the access legs at both ends; paths run from source to target.

    Notes
    -----
    One ``scipy.sparse.csgraph.dijkstra(min_only=True, limit=cutoff)`` over the network
    plus one virtual node per point: O((E + P) log(V + P)) for the part within the cutoff.
    """
    _check_search(cutoff, weight, mode, sources, targets)
    aug = _search.augment(net, mode, weight, sources, [targets])
    dist, pred, source = _search.search(aug, cutoff)
    node = aug.nodes[1]
    cost = np.full(len(targets), np.inf)
    on = node >= 0
    cost[on] = dist[node[on]] + _access_cost(net, targets, weight)[on]
    within = np.isfinite(cost) & (cost <= cutoff)
    cost[~within] = np.inf
    hit = np.flatnonzero(within)
    other = np.full(len(targets), np.inf)
    other_weight = "time" if weight == "length" else "length"
    other[hit] = (
        _search.path_sums(aug, pred)[node[hit]] + _access_cost(net, targets, other_weight)[hit]
    )
    best = np.full(len(targets), -1, dtype=np.int64)
    best[hit] = source[node[hit]]
    labels = pd.Series(sources.index, dtype=object).reindex(best).to_numpy()
    return NearestResult(
        index=targets.index,
        source=best,
        source_id=pd.Series(labels, index=targets.index, dtype=object),
        cost=cost,
        length_m=cost if weight == "length" else other,
        time_s=other if weight == "length" else cost,
    )


def sites_within(
    net: RoadNetwork,
    demand: Snap,
    sites: Snap,
    *,
    cutoff: float,
    weight: str = "length",
    mode: str = "walk",
) -> csr_matrix:
    """Sparse ``n_demand × n_sites`` costs (site → demand) of the pairs within ``cutoff``.

    Every stored entry is a pair within the cutoff (a zero cost is stored explicitly);
    pairs beyond it are absent. Never dense.

    Notes
    -----
    One bounded Dijkstra per site (``limit=cutoff``), run in batches of nearby sites on
    the part of the graph a batch can reach: the nodes within the straight-line reach of
    the cutoff (the cutoff in metres, or in seconds times the mode's top speed) of the
    box around the batch. Time is O(S·(V_b + E_c log V_c)) for S sites, V_b nodes in a
    batch's box and E_c, V_c the edges and nodes within the cutoff of a site; memory
    O(nnz + batch·V_b), a batch's dense block kept under ~160 MB.
    """
    _check_search(cutoff, weight, mode, demand, sites)
    aug = _search.augment(net, mode, weight, sites, [demand])
    walk = _access_cost(net, demand, weight)
    fastest = float(net.speed_kph(mode).max(initial=0.0)) / 3.6
    reach = cutoff if weight == "length" else cutoff * fastest
    return _search.pairs_within(
        net, aug, walk, cutoff, shape=(len(demand), len(sites)), reach_m=reach
    )


def service_areas(
    net: RoadNetwork,
    sources: Snap,
    *,
    cutoff: float,
    weight: str = "length",
    mode: str = "walk",
    buffer_m: float = 50.0,
) -> gpd.GeoDataFrame:
    """Area each source serves: the road it reaches first, buffered.

    Every stretch of road within ``cutoff`` goes to its nearest source (whole edges and
    edge parts cut at the remaining budget); a source's reached stretches and its access
    leg are buffered by ``buffer_m`` (each side, round ends drawn with four segments per
    quarter circle) and united into one shape. Stretches are joined along chains of edges
    first (roads cut at every vertex cost no more than whole ones), and simplified by
    ``buffer_m / 500`` (the outline moves by at most 0.1 m for 50 m). The geometry work
    grows with the road reached: about 0.6 s for 6,500 km of road (590,000 vertices).

    Returns
    -------
    geopandas.GeoDataFrame
        Indexed like ``sources``: ``road_m`` (metres of road reached) and the polygon
        (empty when the source reaches nothing).
    """
    _check_search(cutoff, weight, mode, sources)
    if not (buffer_m > 0):
        raise PlannerError(f"buffer_m must be > 0, got {buffer_m!r}")
    aug = _search.augment(net, mode, weight, sources, [])
    dist, _, source = _search.search(aug, cutoff)
    host, start, end, label = _search.reached_parts(
        net, aug, dist, source, cutoff=cutoff, weight=weight, mode=mode
    )
    road = np.bincount(label, weights=end - start, minlength=len(sources))
    length = net.edges["length"].to_numpy(dtype=float)
    chains = net._chains(mode)
    chain, start, end, label = _search.chain_runs(chains, length, host, start, end, label)
    parts = _search.substrings(chains.lines, chain, start, end)
    leg = sources.ok & (_access_cost(net, sources, weight) <= cutoff)
    leg &= np.nan_to_num(sources.access_m) > 0
    legs = shapely.shortest_line(sources.point[leg], sources.on_road[leg])
    shapes = _search.buffered_groups(
        np.concatenate([parts, legs]),
        np.concatenate([label, np.flatnonzero(leg)]),
        len(sources),
        buffer_m,
    )
    return gpd.GeoDataFrame({"road_m": road}, geometry=shapes, index=sources.index, crs=net.crs)
