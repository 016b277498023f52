"""The coverage step partitioned by county on Dask.

Counties are joined into a few compact regions (:func:`_regions`, a few per worker
thread); every region is one partition: its villages and, for every level, the centers
serving that level within a *halo* around the region's villages — the service radius for
straight-line levels, the reach of the road search (twice the radius, or the time budget
at the fastest speed) for road levels. Road levels get the roads within twice that reach,
so that every center that can reach a village of the region snaps to the same road as in
one piece; each partition builds its own network from them.

Results equal :func:`planner.steps.compute_levels` in one process:

* within the halo every candidate nearer than the halo distance is present, with its
  relative order kept, so nearest centers, distances and ties (lowest position wins) are
  the same;
* straight-line villages whose nearest center lies beyond the halo (they are uncovered)
  are settled afterwards against every center, so their ``<level>_center_id`` and
  ``<level>_dist_m`` are exact too;
* road distances need the same roads near the county: they can differ only where a road
  fragment near the county joins the rest of the network solely through roads beyond
  the halo, or where two centers are at exactly the same road distance.

Each partition is one task; its inputs are plain arrays, scattered to the workers
before the tasks run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from planner.catchment import (
    NETWORK_SEARCH_FACTOR,
    CoverageLevels,
    LevelResult,
    Nearest,
    centers_serving,
    combine_parts,
    county_of,
    level_coverage,
    nearest_euclidean,
    nearest_points,
)
from planner.distributed.cluster import balanced_batches, dask_client
from planner.errors import PlannerError, warn
from planner.network import DEFAULT_SPEEDS, Snap, build_network
from planner.progress import progress
from planner.road_coverage import RoadSearch, network_options
from planner.scenario import LevelSpec, NetworkSettings

if TYPE_CHECKING:
    from distributed import Client

logger = logging.getLogger(__name__)

#: Tasks per worker thread: enough to balance uneven counties, few enough to keep the
#: scheduling overhead small.
TASKS_PER_THREAD = 4


def halo_m(spec: LevelSpec, network: NetworkSettings) -> float:
    """How far beyond a county its centers are looked for: the radius for straight-line
    levels; for road levels the farthest a path within the search budget can lead (the
    road search's cutoff, in metres, or its time at the fastest speed of the mode)."""
    if spec.mode != "network":
        return spec.cutoff_m
    seconds = spec.cutoff_s
    if seconds is None:
        return max(spec.cutoff_m, spec.cutoff_m * NETWORK_SEARCH_FACTOR)
    speeds = [
        *{**DEFAULT_SPEEDS[spec.travel], **network.speeds.get(spec.travel, {})}.values(),
        {**DEFAULT_SPEEDS["walk"], **network.speeds.get("walk", {})}["default"],
    ]
    reach = seconds * NETWORK_SEARCH_FACTOR * max(speeds) / 3.6
    return max(spec.cutoff_m, reach)


# ---------------------------------------------------------------------------- partitions


@dataclass(frozen=True)
class _Partition:
    """One county: positions (in the whole layer) and coordinates of its villages, of the
    centers of each group (see :func:`_groups`) within the halo, and its roads."""

    villages: np.ndarray
    village_xy: np.ndarray
    centers: dict[str, tuple[np.ndarray, np.ndarray]]
    roads: gpd.GeoDataFrame | None


@dataclass(frozen=True)
class _Settings:
    groups: dict[str, LevelSpec]
    network: NetworkSettings
    crs: Any


@dataclass(frozen=True)
class _Found:
    """Coverage of one group in one partition, centers as positions in the whole layer."""

    index: np.ndarray
    dist_m: np.ndarray
    time_s: np.ndarray
    covered: np.ndarray | None  # None for straight-line levels
    straight_covered: np.ndarray | None


def _points(xy: np.ndarray, crs: Any) -> gpd.GeoDataFrame:
    """Centers of a partition by position (``id`` is the row number)."""
    geometry = gpd.points_from_xy(xy[:, 0], xy[:, 1])
    return gpd.GeoDataFrame({"id": np.arange(len(xy))}, geometry=geometry, crs=crs)


@dataclass
class _PartitionRoads(RoadSearch):
    """Road search of one partition; counts far villages instead of logging them."""

    far: dict[str, int] = field(default_factory=dict)

    def _warn_far(self, joined: Snap, mode: str) -> None:
        self.far[mode] = int(joined.too_far.sum())


def _unreached(spec: LevelSpec, centers: gpd.GeoSeries, *, n: int) -> Nearest:
    """No center reachable along roads (no roads or no centers near the county)."""
    return Nearest(np.full(n, -1, dtype=np.int64), np.full(n, np.nan), np.full(n, np.nan))


def _road_search(
    part: _Partition, villages: gpd.GeoDataFrame | None, settings: _Settings
) -> _PartitionRoads | None:
    if part.roads is None or part.roads.empty:
        return None
    try:
        net = build_network(part.roads, **network_options(settings.network))
    except PlannerError:  # nothing routable near this county
        return None
    return _PartitionRoads(net, villages, settings.network.max_access_m)


def _cover_partition(
    part: _Partition, settings: _Settings
) -> tuple[np.ndarray, dict[str, _Found], dict[str, int]]:
    n = len(part.villages)
    road_groups = [key for key, spec in settings.groups.items() if spec.mode == "network"]
    villages = _points(part.village_xy, settings.crs) if road_groups else None
    roads = _road_search(part, villages, settings) if road_groups else None
    found = {}
    for key, spec in settings.groups.items():
        positions, xy = part.centers[key]
        if spec.mode == "network":
            network = roads if roads is not None and len(xy) else partial(_unreached, n=n)
            res = level_coverage(villages, _points(xy, settings.crs), key, spec, network=network)
            nearest, covered, straight = res.nearest, res.covered, res.straight_covered
        else:  # straight lines: from coordinates (covered is settled when assembling)
            nearest, covered, straight = nearest_points(part.village_xy, xy), None, None
        local = nearest.index
        index = np.where(local >= 0, positions[np.maximum(local, 0)], -1) if len(xy) else local
        found[key] = _Found(index, nearest.dist_m, nearest.time_s, covered, straight)
    return part.villages, found, (roads.far if roads is not None else {})


def _cover_batch(
    parts: list[_Partition], settings: _Settings
) -> list[tuple[np.ndarray, dict[str, _Found], dict[str, int]]]:
    """The task run on a worker: coverage of a few partitions, one after the other."""
    return [_cover_partition(part, settings) for part in parts]


def _county_groups(keys: pd.Series) -> list[np.ndarray]:
    """Village positions per county (counties in code order)."""
    codes, _ = pd.factorize(keys, sort=True)
    order = np.argsort(codes, kind="stable")
    cuts = np.flatnonzero(np.diff(codes[order])) + 1
    return np.split(order, cuts)


def _regions(groups: list[np.ndarray], xy: np.ndarray, n: int) -> list[np.ndarray]:
    """The counties joined into at most ``n`` compact regions of about equal villages:
    the counties' mean points are cut in two along the longer side, at the median village,
    again and again. Fewer, compact partitions build fewer road networks whose halos
    overlap less than one per county would."""
    if n <= 1 or len(groups) <= 1:
        return [np.sort(np.concatenate(groups))] if groups else []
    mid = np.array([xy[g].mean(axis=0) for g in groups])
    axis = int(np.ptp(mid[:, 1]) > np.ptp(mid[:, 0]))
    order = np.argsort(mid[:, axis], kind="stable")
    weight = np.cumsum([len(groups[i]) for i in order])
    cut = int(np.clip(np.searchsorted(weight, weight[-1] / 2), 1, len(groups) - 1))
    low, high = [groups[i] for i in order[:cut]], [groups[i] for i in order[cut:]]
    return _regions(low, xy, n // 2) + _regions(high, xy, n - n // 2)


def _within(bounds: np.ndarray, geoms: np.ndarray, margin: float) -> list[np.ndarray]:
    """Positions of ``geoms`` meeting each box of ``bounds`` (rows of xmin, ymin, xmax,
    ymax) widened by ``margin``, ascending."""
    if not len(geoms):
        return [np.empty(0, dtype=np.int64) for _ in range(len(bounds))]
    wide = shapely.box(*(bounds + np.array([-margin, -margin, margin, margin])).T)
    part, pos = shapely.STRtree(geoms).query(wide, predicate="intersects")
    order = np.lexsort((pos, part))
    part, pos = part[order], pos[order]
    return np.split(pos, np.searchsorted(part, np.arange(1, len(bounds))))


def _partitions(
    network: NetworkSettings,
    village_xy: np.ndarray,
    groups: list[np.ndarray],
    serving: dict[str, tuple[gpd.GeoDataFrame, LevelSpec]],
    roads: gpd.GeoDataFrame | None,
) -> list[_Partition]:
    bounds = np.array([[*village_xy[g].min(axis=0), *village_xy[g].max(axis=0)] for g in groups])
    centers: dict[str, list[np.ndarray]] = {}
    center_xy: dict[str, np.ndarray] = {}
    for key, (frame, spec) in serving.items():
        centers[key] = _within(bounds, frame.geometry.values, halo_m(spec, network))
        center_xy[key] = shapely.get_coordinates(frame.geometry.values)
    reach = [halo_m(spec, network) for _, spec in serving.values() if spec.mode == "network"]
    part_roads: list[gpd.GeoDataFrame | None] = [None] * len(groups)
    if reach and roads is not None:
        road_pos = _within(bounds, roads.geometry.values, 2.0 * max(reach))
        part_roads = [roads.iloc[pos] for pos in road_pos]
    return [
        _Partition(
            villages=g,
            village_xy=village_xy[g],
            centers={key: (pos[i], center_xy[key][pos[i]]) for key, pos in centers.items()},
            roads=part_roads[i],
        )
        for i, g in enumerate(groups)
    ]


def _batches(parts: list[_Partition], n: int) -> list[list[_Partition]]:
    """``n`` batches of about equal work (see :func:`balanced_batches`)."""
    sizes = [len(p.villages) for p in parts]
    return [[parts[i] for i in batch] for batch in balanced_batches(sizes, n)]


# ---------------------------------------------------------------------------- driver


def compute_levels_dask(
    villages: gpd.GeoDataFrame,
    centers: gpd.GeoDataFrame | None,
    levels: CoverageLevels,
    *,
    network: NetworkSettings,
    roads: gpd.GeoDataFrame | None = None,
    townships: gpd.GeoDataFrame | None = None,
    client: Client | None = None,
    scheduler: str | None = None,
) -> dict[str, LevelResult]:
    """Coverage of every configured level, partitioned by county on Dask.

    The same answer as :func:`planner.steps.compute_levels` (see the module notes).

    Parameters
    ----------
    villages, centers
        Canonical layers in the working CRS (villages as points).
    levels
        The levels to measure, with the center levels serving each.
    network
        The ``[network]`` settings (road building, access legs, halos).
    roads
        Road lines, needed when a level is measured along roads.
    townships
        Township polygons with ``county_id``: the county of a village is that of its
        township, else the first six digits of its code.
    client
        A connected Dask client; without one, :func:`dask_client` makes one from
        ``scheduler`` (or a local cluster) for this call.
    scheduler
        Scheduler address used when ``client`` is ``None``.

    Returns
    -------
    dict
        Level → :class:`~planner.catchment.LevelResult`, in the scenario's level order.
    """
    if client is None:
        with dask_client(scheduler) as own:
            return compute_levels_dask(
                villages,
                centers,
                levels,
                network=network,
                roads=roads,
                townships=townships,
                client=own,
            )
    if levels.uses_roads and roads is None:
        raise PlannerError("levels measured along roads need a [layers.roads] layer")
    villages = villages.reset_index(drop=True)
    geoms = villages.geometry.values
    if not len(villages) or not (shapely.get_type_id(geoms) == 0).all():
        raise PlannerError("the Dask engine needs village points (no missing geometries)")
    xy = shapely.get_coordinates(geoms)
    serving = _groups(levels, centers)
    for level in levels.order:
        if all(serving[key][0].empty for key in serving if _level_of(key) == level):
            warn(f"level {level}: no centers of this level")
    if roads is not None:
        roads = roads.drop(columns="_row", errors="ignore").reset_index(drop=True)
    threads = sum(client.nthreads().values()) or 1
    counties = _county_groups(county_of(villages, townships))
    groups = _regions(counties, xy, TASKS_PER_THREAD * threads)
    parts = _partitions(network, xy, groups, serving, roads)
    batches = _batches(parts, min(len(parts), TASKS_PER_THREAD * threads))
    logger.info(
        f"dask: {len(counties):,} counties in {len(parts)} regions, {len(batches)} tasks "
        f"on {threads} threads"
    )
    settings = _Settings(
        groups={key: spec for key, (_, spec) in serving.items()},
        network=network,
        crs=villages.crs,
    )
    found = _gather(client, batches, settings)
    results = {}
    for level in levels.order:
        level_parts = [
            _assemble(key, level, spec, villages, frame, found, network)
            for key, (frame, spec) in serving.items()
            if _level_of(key) == level
        ]
        results[level] = (
            level_parts[0]
            if len(level_parts) == 1
            else combine_parts(level, levels.specs[level], level_parts)
        )
    return results


def _groups(
    levels: CoverageLevels, centers: gpd.GeoDataFrame | None
) -> dict[str, tuple[gpd.GeoDataFrame, LevelSpec]]:
    """Every group of centers serving a level with one set of settings, keyed
    ``<level>/<group number>`` (see :meth:`Scenario.serving_groups`)."""
    return {
        f"{level}/{i}": (centers_serving(centers, serving).reset_index(drop=True), spec)
        for level in levels.order
        for i, (serving, spec) in enumerate(levels.serving[level])
    }


def _level_of(key: str) -> str:
    return key.partition("/")[0]


def _gather(
    client: Client, batches: list[list[_Partition]], settings: _Settings
) -> list[tuple[np.ndarray, dict[str, _Found], dict[str, int]]]:
    from distributed import as_completed

    data = client.scatter(batches)
    futures = client.map(_cover_batch, data, settings=settings, pure=False)
    out = []
    with client.as_current():
        done = as_completed(futures)
        for future in progress(done, total=len(futures), desc="coverage (dask)"):
            out += future.result()
    far: dict[str, int] = {}
    for _, _, counts in out:
        for mode, count in counts.items():
            far[mode] = far.get(mode, 0) + count
    for mode, count in far.items():
        if count:
            warn(
                f"{count} village(s) lie more than {settings.network.max_access_m:,.0f} m from "
                f"a road usable by {mode}; the access leg is walked"
            )
    return out


def _assemble(
    key: str,
    level: str,
    spec: LevelSpec,
    villages: gpd.GeoDataFrame,
    serving: gpd.GeoDataFrame,
    found: list[tuple[np.ndarray, dict[str, _Found], dict[str, int]]],
    network: NetworkSettings,
) -> LevelResult:
    """One group's result over every village, exact beyond the halo of straight lines."""
    n = len(villages)
    index = np.full(n, -1, dtype=np.int64)
    dist, time_s = np.full(n, np.nan), np.full(n, np.nan)
    covered = np.zeros(n, dtype=bool)
    straight = np.zeros(n, dtype=bool) if spec.mode == "network" else None
    for rows, groups, _ in found:
        part = groups[key]
        index[rows], dist[rows], time_s[rows] = part.index, part.dist_m, part.time_s
        if straight is not None:
            covered[rows], straight[rows] = part.covered, part.straight_covered
    if spec.mode != "network":
        far = np.flatnonzero((index < 0) | ~(dist <= halo_m(spec, network)))
        if far.size and len(serving):
            exact = nearest_euclidean(villages.geometry.iloc[far], serving.geometry)
            index[far], dist[far] = exact.index, exact.dist_m
        covered = (dist <= spec.cutoff_m) & (index >= 0)
    return LevelResult(level, spec, serving, Nearest(index, dist, time_s), covered, straight)
