"""Which sites reach which villages: the sparse cost blocks of the proposal step.

A maximal-covering solve only ever asks two things of the existing centers (the fixed
sites): which villages they reach together, and, with site capacities, how much each one
serves. Without capacities, the fixed block therefore holds one pair per reached village
(its nearest center, from one multi-source search per group of centers) instead of every
pair; a village within a hair (:data:`TIE_MARGIN`) of the cutoff is decided by the
per-pair search, so the reached set is the one every pair would give.

A candidate can only change a solution through the villages no fixed site reaches. Along
roads, a candidate whose on-road point is farther than the search's straight-line reach
(the cutoff in metres, or in seconds times the mode's top speed: the bound the road
search itself relies on) from the on-road point of every such village reaches none of
them, and is not searched: its column stays empty, as good as one holding villages the
fixed sites reach already. Sites standing exactly at a village reuse the village's join to
the roads.
"""

from __future__ import annotations

import logging
from typing import Protocol

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely
from scipy.spatial import cKDTree

from planner.errors import PlannerError
from planner.network import RoadNetwork, Snap, nearest_facility, sites_within, snap
from planner.road_coverage import search_settings
from planner.scenario import LevelSpec
from planner.siting.sites import ServingGroups, runs

logger = logging.getLogger(__name__)

#: Relative margin around a cutoff within which a village's nearest-center cost is
#: re-checked pair by pair (sums of the same path may differ in the last bits).
TIE_MARGIN = 1e-9


class VillageRoads(Protocol):
    """The villages' access to the roads, e.g. :class:`planner.road_coverage.RoadSearch`."""

    @property
    def net(self) -> RoadNetwork:
        """The routable road network."""
        ...

    def village_snap(self, mode: str) -> Snap:
        """The villages joined to the roads usable in ``mode``."""
        ...


def cover_costs(
    demand: gpd.GeoSeries,
    existing: ServingGroups,
    candidates: gpd.GeoDataFrame,
    spec: LevelSpec,
    *,
    roads: VillageRoads | None,
    every_pair: bool,
) -> sp.csr_matrix:
    """Demand × (existing centers, then candidates) costs of the pairs within each radius.

    With ``every_pair`` (site capacities) every pair of every site is stored; otherwise
    the fixed block keeps each reached village's nearest center and unsearched candidates
    (see the module notes) get empty columns.
    """
    if every_pair:
        blocks = [
            pairs_within(demand, points, s, roads=roads)
            for points, s in runs([*existing, (candidates, spec)], demand.crs)
        ]
        return sp.hstack(blocks, format="csr")
    fixed = [
        fixed_pairs(demand, points, s, roads=roads) for points, s in runs(existing, demand.crs)
    ]
    reached = np.zeros(len(demand), dtype=bool)
    for block in fixed:
        reached |= np.diff(block.indptr) > 0
    open_rows = np.flatnonzero(~reached)
    last = candidate_pairs(demand, candidates.geometry, spec, roads=roads, open_rows=open_rows)
    return sp.hstack([*fixed, last], format="csr")


def pairs_within(
    demand: gpd.GeoSeries, sites: gpd.GeoSeries, spec: LevelSpec, *, roads: VillageRoads | None
) -> sp.csr_matrix:
    """Sparse demand × site costs for the pairs within the level's radius.

    Straight line: metres from one STRtree ``dwithin`` query. Along roads: metres or
    seconds (``minutes`` levels) from bounded searches. Stored zeros are real zero costs.
    """
    if not len(sites):
        return sp.csr_matrix((len(demand), 0))
    if spec.mode == "network":
        roads = _need_roads(spec, roads)
        return _network_pairs(roads, site_snap(roads, sites, spec.travel), spec)
    d, s = shapely.STRtree(sites.values).query(
        demand.values, predicate="dwithin", distance=spec.cutoff_m
    )
    cost = shapely.distance(demand.values[d], sites.values[s])
    return sp.csr_matrix((cost, (d, s)), shape=(len(demand), len(sites)))


def fixed_pairs(
    demand: gpd.GeoSeries, sites: gpd.GeoSeries, spec: LevelSpec, *, roads: VillageRoads | None
) -> sp.csr_matrix:
    """Demand × site costs holding, for each village some site reaches, one such pair:
    its nearest site along roads (every pair on straight lines, which cost little)."""
    if spec.mode != "network" or not len(sites):
        return pairs_within(demand, sites, spec, roads=roads)
    roads = _need_roads(spec, roads)
    sources = site_snap(roads, sites, spec.travel)
    weight, cutoff = search_settings(spec)
    found = nearest_facility(
        roads.net, sources, roads.village_snap(spec.travel), mode=spec.travel, weight=weight,
        cutoff=cutoff * (1 + TIE_MARGIN),
    )  # fmt: skip
    close = np.flatnonzero(np.abs(found.cost - cutoff) <= TIE_MARGIN * cutoff)
    rows = np.setdiff1d(np.flatnonzero(found.cost <= cutoff), close)
    cols, cost = found.source[rows], found.cost[rows]
    if close.size:
        every = _network_pairs(roads, sources, spec)[close].tocoo()
        rows = np.concatenate((rows, close[every.row]))
        cols, cost = np.concatenate((cols, every.col)), np.concatenate((cost, every.data))
    return sp.csr_matrix((cost, (rows, cols)), shape=(len(demand), len(sites)))


def candidate_pairs(
    demand: gpd.GeoSeries,
    sites: gpd.GeoSeries,
    spec: LevelSpec,
    *,
    roads: VillageRoads | None,
    open_rows: np.ndarray,
) -> sp.csr_matrix:
    """Demand × candidate costs within the radius; along roads only candidates within
    the search's reach of a village of ``open_rows`` are searched (the others' columns
    stay empty)."""
    if spec.mode != "network" or not len(sites):
        return pairs_within(demand, sites, spec, roads=roads)
    roads = _need_roads(spec, roads)
    joined = site_snap(roads, sites, spec.travel)
    searched = _within_reach(
        joined, roads.village_snap(spec.travel), open_rows, reach_m(roads.net, spec)
    )
    logger.debug(f"road searches from {searched.size:,} of {len(sites):,} candidates")
    found = _network_pairs(roads, _take(joined, searched), spec).tocoo()
    return sp.csr_matrix(
        (found.data, (found.row, searched[found.col])), shape=(len(demand), len(sites))
    )


def site_snap(roads: VillageRoads, sites: gpd.GeoSeries, mode: str) -> Snap:
    """Sites joined to the roads usable in ``mode``.

    A site at exactly the position of a village takes the village's join (the nearest-edge
    query answers per point, so it would give the same); the others are snapped.
    """
    net = roads.net
    if sites.crs != net.crs:
        return snap(net, sites, mode=mode)
    villages = roads.village_snap(mode)
    at = _same_position(villages.point, np.asarray(sites.values))
    known, fresh = np.flatnonzero(at >= 0), np.flatnonzero(at < 0)
    edge = np.full(len(at), -1, dtype=np.int64)
    offset, access = np.full(len(at), np.nan), np.full(len(at), np.nan)
    on_road = np.full(len(at), None, dtype=object)
    for rows, joined in (
        (known, _take(villages, at[known])),
        (fresh, snap(net, sites.iloc[fresh], mode=mode)),
    ):
        edge[rows], offset[rows], access[rows] = joined.edge, joined.offset, joined.access_m
        on_road[rows] = joined.on_road
    return Snap(sites.index, edge, offset, access, np.asarray(sites.values), on_road, mode)


def reach_m(net: RoadNetwork, spec: LevelSpec) -> float:
    """Farthest straight-line distance a search within the level's cutoff can get along
    roads: the cutoff in metres, or in seconds times the mode's top speed."""
    weight, cutoff = search_settings(spec)
    if weight == "length":
        return cutoff
    return cutoff * float(net.speed_kph(spec.travel).max(initial=0.0)) / 3.6


def _need_roads(spec: LevelSpec, roads: VillageRoads | None) -> VillageRoads:
    if roads is None:
        raise PlannerError(
            f'a level with mode = "network" ({spec.cutoff_m:,.0f} m, {spec.travel}) '
            "needs roads; got roads=None"
        )
    return roads


def _network_pairs(roads: VillageRoads, sources: Snap, spec: LevelSpec) -> sp.csr_matrix:
    """Every village × ``sources`` pair within the level's cutoff along roads."""
    weight, cutoff = search_settings(spec)
    demand = roads.village_snap(spec.travel)
    if not len(sources):
        return sp.csr_matrix((len(demand), 0))
    return sites_within(
        roads.net, demand, sources, cutoff=cutoff, weight=weight, mode=spec.travel
    ).tocsr()


def _within_reach(sites: Snap, demand: Snap, rows: np.ndarray, reach: float) -> np.ndarray:
    """Positions of the joined ``sites`` whose on-road point lies within ``reach`` (with
    a margin) of the on-road point of a joined demand of ``rows``."""
    rows = rows[demand.ok[rows]]
    ok = np.flatnonzero(sites.ok)
    if not (rows.size and ok.size):
        return np.empty(0, dtype=np.int64)
    tree = cKDTree(shapely.get_coordinates(demand.on_road[rows]))
    dist, _ = tree.query(
        shapely.get_coordinates(sites.on_road[ok]), distance_upper_bound=reach * 1.000001 + 1.0
    )
    return ok[np.isfinite(dist)]


def _take(joined: Snap, rows: np.ndarray) -> Snap:
    """The ``rows`` of a snap."""
    return Snap(
        joined.index[rows], joined.edge[rows], joined.offset[rows], joined.access_m[rows],
        joined.point[rows], joined.on_road[rows], joined.mode, joined.max_access_m,
    )  # fmt: skip


def _same_position(known: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Position of the first point of ``known`` at exactly each point's x and y; -1 where
    none is (or the point has no finite coordinates)."""
    known_key, known_ok = _xy_key(known)
    first = pd.Series(np.flatnonzero(known_ok), index=known_key[known_ok])
    first = first[~first.index.duplicated()]
    key, ok = _xy_key(points)
    at = np.full(len(points), -1, dtype=np.int64)
    at[ok] = first.reindex(key[ok]).fillna(-1).to_numpy(dtype=np.int64)
    return at


def _xy_key(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``x + iy`` of each non-empty point (NaN for anything else), and where it is finite."""
    key = np.full(len(geoms), np.nan, dtype=complex)
    point = np.flatnonzero((shapely.get_type_id(geoms) == 0) & ~shapely.is_empty(geoms))
    key.real[point], key.imag[point] = shapely.get_x(geoms[point]), shapely.get_y(geoms[point])
    return key, np.isfinite(key)
