"""The coverage step partitioned by county on Dask.

Counties are joined into a few compact regions (:func:`_regions`, a few per worker
thread); every region is one partition: its villages and, for every level, the centers
serving that level within a *halo* around the region's villages — the service radius for
straight-line levels, the reach of the road search (twice the radius, or the time budget
at the fastest speed) for road levels. Road levels get the roads within twice that reach,
so that every center that can reach a village of the region snaps to the same road as in
one piece; each region builds its own network from them.

A :class:`CoverageSession` makes the regions on the workers once and keeps them there
(:mod:`planner.distributed.regions`): the coverage after the proposals ships only the
proposed sites and reuses each region's road network and village snaps, as one process
reuses its one network.

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

Each region is one task; its inputs are plain arrays, scattered to the workers (the
centers to the worker holding the region) before the tasks run.
"""

from __future__ import annotations

import logging
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
    nearest_euclidean,
)
from planner.distributed.cluster import dask_client
from planner.distributed.regions import Found, Settings, cover_region, make_region
from planner.errors import PlannerError, warn
from planner.network import DEFAULT_SPEEDS
from planner.progress import progress
from planner.scenario import LevelSpec, NetworkSettings

if TYPE_CHECKING:
    from distributed import Client, Future

logger = logging.getLogger(__name__)

#: Tasks per worker thread: enough to balance uneven counties, few enough to keep the
#: scheduling overhead small.
TASKS_PER_THREAD = 4

#: Scheduling priority of the coverage tasks: ahead of the grid tasks, which nothing
#: waits for until the tables.
PRIORITY = 10

#: What one region's task returns: village positions, coverage per group, far villages
Covered = tuple[np.ndarray, dict[str, Found], dict[str, int]]


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


# ---------------------------------------------------------------------------- regions


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


# ---------------------------------------------------------------------------- driver


class CoverageSession:
    """Coverage of one run's villages on Dask, called once per set of centers.

    The first call joins the counties into regions and makes each region on a worker
    (:func:`planner.distributed.regions.make_region`); the regions stay there for later
    calls, which ship only their centers. A call whose road levels reach farther than
    the regions' roads makes them again.

    Parameters
    ----------
    villages
        Village points in the working CRS.
    network
        The ``[network]`` settings (road building, access legs, halos).
    roads
        Road lines, needed when a level is measured along roads.
    townships
        Township polygons with ``county_id``: the county of a village is that of its
        township, else the first six digits of its code.
    client
        A connected Dask client.
    """

    def __init__(
        self,
        villages: gpd.GeoDataFrame,
        *,
        network: NetworkSettings,
        roads: gpd.GeoDataFrame | None = None,
        townships: gpd.GeoDataFrame | None = None,
        client: Client,
    ) -> None:
        villages = villages.reset_index(drop=True)
        geoms = villages.geometry.values
        if not len(villages) or not (shapely.get_type_id(geoms) == 0).all():
            raise PlannerError("the Dask engine needs village points (no missing geometries)")
        self.villages = villages
        self.network = network
        self.client = client
        if roads is not None:
            roads = roads.drop(columns="_row", errors="ignore").reset_index(drop=True)
        self.roads = roads
        self.xy = shapely.get_coordinates(geoms)
        threads = sum(client.nthreads().values()) or 1
        self.counties = _county_groups(county_of(villages, townships))
        #: village positions of each region
        self.groups = _regions(self.counties, self.xy, TASKS_PER_THREAD * threads)
        self.bounds = np.array(
            [[*self.xy[g].min(axis=0), *self.xy[g].max(axis=0)] for g in self.groups]
        )
        #: how many times the regions were made
        self.made = 0
        self._regions: list[Future] = []
        self._where: list[list[str]] = []
        self._reach: float | None = None
        self._warned: set[str] = set()

    def __call__(
        self, centers: gpd.GeoDataFrame | None, levels: CoverageLevels
    ) -> dict[str, LevelResult]:
        """Coverage of every level of ``levels`` by ``centers``, as
        :func:`compute_levels_dask` returns it."""
        if levels.uses_roads and self.roads is None:
            raise PlannerError("levels measured along roads need a [layers.roads] layer")
        serving = _groups(levels, centers)
        for level in levels.order:
            if all(serving[key][0].empty for key in serving if _level_of(key) == level):
                warn(f"level {level}: no centers of this level")
        self._make(serving)
        settings = Settings(
            groups={key: spec for key, (_, spec) in serving.items()}, crs=self.villages.crs
        )
        found = self._cover(serving, settings)
        results = {}
        for level in levels.order:
            level_parts = [
                _assemble(key, level, spec, self.villages, frame, found, self.network)
                for key, (frame, spec) in serving.items()
                if _level_of(key) == level
            ]
            results[level] = (
                level_parts[0]
                if len(level_parts) == 1
                else combine_parts(level, levels.specs[level], level_parts)
            )
        return results

    def _make(self, serving: dict[str, tuple[gpd.GeoDataFrame, LevelSpec]]) -> None:
        """Make the regions on the workers, unless those made reach far enough."""
        from distributed import wait

        reach = [halo_m(spec, self.network) for _, spec in serving.values()
                 if spec.mode == "network"]  # fmt: skip
        need = max(reach) if reach else None
        if self._regions and (need is None or (self._reach is not None and need <= self._reach)):
            return
        roads: list[gpd.GeoDataFrame | None] = [None] * len(self.groups)
        if need is not None and self.roads is not None:
            near = _within(self.bounds, self.roads.geometry.values, 2.0 * need)
            roads = [self.roads.iloc[pos] for pos in near]
        data = self.client.scatter(
            [(g, self.xy[g], r) for g, r in zip(self.groups, roads, strict=True)], hash=False
        )
        self._regions = self.client.map(
            _make_region, data, network=self.network, crs=self.villages.crs,
            pure=False, priority=PRIORITY,
        )  # fmt: skip
        with self.client.as_current():
            wait(self._regions)
        who = self.client.who_has(self._regions)
        self._where = [list(who[f.key])[:1] for f in self._regions]
        self._reach, self.made = need, self.made + 1
        logger.info(
            f"dask: {len(self.counties):,} counties in {len(self.groups)} regions on "
            f"{len(self.client.nthreads())} workers"
        )

    def _cover(
        self, serving: dict[str, tuple[gpd.GeoDataFrame, LevelSpec]], settings: Settings
    ) -> list[Covered]:
        """Coverage of each region, on the worker holding it."""
        from distributed import as_completed

        near, center_xy = {}, {}
        for key, (frame, spec) in serving.items():
            near[key] = _within(self.bounds, frame.geometry.values, halo_m(spec, self.network))
            center_xy[key] = shapely.get_coordinates(frame.geometry.values)
        futures = []
        for i, (region, where) in enumerate(zip(self._regions, self._where, strict=True)):
            centers = {key: (pos[i], center_xy[key][pos[i]]) for key, pos in near.items()}
            [shipped] = self.client.scatter([centers], workers=where or None, hash=False)
            futures.append(self.client.submit(
                cover_region, region, shipped, settings, workers=where or None,
                pure=False, priority=PRIORITY,
            ))  # fmt: skip
        out = []
        with self.client.as_current():
            done = as_completed(futures)
            for future in progress(done, total=len(futures), desc="coverage (dask)"):
                out.append(future.result())
        self._warn_far([counts for _, _, counts in out])
        return out

    def _warn_far(self, counts: list[dict[str, int]]) -> None:
        """Warn once per travel mode of the villages too far from a road."""
        modes = {mode for c in counts for mode in c} - self._warned
        for mode in sorted(modes):
            if count := sum(c.get(mode, 0) for c in counts):
                warn(
                    f"{count} village(s) lie more than {self.network.max_access_m:,.0f} m "
                    f"from a road usable by {mode}; the access leg is walked"
                )
        self._warned |= modes


def _make_region(data: tuple[np.ndarray, np.ndarray, gpd.GeoDataFrame | None], **kw: Any) -> Any:
    """:func:`make_region` on one scattered ``(villages, village_xy, roads)``."""
    return make_region(*data, **kw)


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

    The same answer as :func:`planner.steps.compute_levels` (see the module notes); one
    call of a :class:`CoverageSession`.

    Parameters
    ----------
    villages, centers
        Canonical layers in the working CRS (villages as points).
    levels
        The levels to measure, with the center levels serving each.
    network, roads, townships
        As for :class:`CoverageSession`.
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
                villages, centers, levels, network=network, roads=roads,
                townships=townships, client=own,
            )  # fmt: skip
    if levels.uses_roads and roads is None:
        raise PlannerError("levels measured along roads need a [layers.roads] layer")
    session = CoverageSession(
        villages, network=network, roads=roads, townships=townships, client=client
    )
    return session(centers, levels)


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


def _assemble(
    key: str,
    level: str,
    spec: LevelSpec,
    villages: gpd.GeoDataFrame,
    serving: gpd.GeoDataFrame,
    found: list[Covered],
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
