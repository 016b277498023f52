"""What a worker does for one region of the coverage step (see
:mod:`planner.distributed.coverage`): make the region once — its villages and, for road
levels, its road network with the villages joined to it — and keep it in memory, then
measure the coverage of any set of centers near it."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import Any

import geopandas as gpd
import numpy as np

from planner.catchment import Nearest, level_coverage, nearest_points
from planner.errors import PlannerError
from planner.network import Snap, build_network
from planner.road_coverage import RoadSearch, network_options
from planner.scenario import LevelSpec, NetworkSettings

#: Centers of one region per group: positions in the group's layer and coordinates
Centers = dict[str, tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class Settings:
    """The groups of centers measured in one call (``<level>/<group number>``) and the
    working CRS."""

    groups: dict[str, LevelSpec]
    crs: Any


@dataclass(frozen=True)
class Found:
    """Coverage of one group in one region, centers as positions in the whole layer."""

    index: np.ndarray
    dist_m: np.ndarray
    time_s: np.ndarray
    covered: np.ndarray | None  # None for straight-line levels
    straight_covered: np.ndarray | None


@dataclass
class RegionRoads(RoadSearch):
    """Road search of one region; counts far villages instead of logging them."""

    far: dict[str, int] = field(default_factory=dict)

    def _warn_far(self, joined: Snap, mode: str) -> None:
        self.far[mode] = int(joined.too_far.sum())


@dataclass(frozen=True)
class Region:
    """One region on a worker: positions (in the whole layer) and coordinates of its
    villages, the villages as points (for road levels) and its road search (``None``
    when no road near it is routable)."""

    villages: np.ndarray
    village_xy: np.ndarray
    points: gpd.GeoDataFrame | None
    roads: RegionRoads | None


def points(xy: np.ndarray, crs: Any) -> gpd.GeoDataFrame:
    """Points by position (``id`` is the row number)."""
    geometry = gpd.points_from_xy(xy[:, 0], xy[:, 1])
    return gpd.GeoDataFrame({"id": np.arange(len(xy))}, geometry=geometry, crs=crs)


def make_region(
    villages: np.ndarray,
    village_xy: np.ndarray,
    roads: gpd.GeoDataFrame | None,
    *,
    network: NetworkSettings,
    crs: Any,
) -> Region:
    """The task making a region; ``roads`` is ``None`` when no level runs along roads."""
    if roads is None:
        return Region(villages, village_xy, None, None)
    village_points = points(village_xy, crs)
    search = None
    if not roads.empty:
        try:
            net = build_network(roads, **network_options(network))
            search = RegionRoads(net, village_points, network.max_access_m)
        except PlannerError:  # nothing routable near this region
            search = None
    return Region(villages, village_xy, village_points, search)


def _unreached(spec: LevelSpec, centers: gpd.GeoSeries, *, n: int) -> Nearest:
    """No center reachable along roads (no roads or no centers near the region)."""
    return Nearest(np.full(n, -1, dtype=np.int64), np.full(n, np.nan), np.full(n, np.nan))


def cover_region(
    region: Region, centers: Centers, settings: Settings
) -> tuple[np.ndarray, dict[str, Found], dict[str, int]]:
    """The task measuring one region: its village positions, coverage per group, and per
    travel mode the villages too far from a road (counted once the mode is joined)."""
    n = len(region.villages)
    found = {}
    for key, spec in settings.groups.items():
        positions, xy = centers[key]
        if spec.mode == "network":
            roads = region.roads
            network = roads if roads is not None and len(xy) else partial(_unreached, n=n)
            res = level_coverage(
                region.points, points(xy, settings.crs), key, spec, network=network
            )
            nearest, covered, straight = res.nearest, res.covered, res.straight_covered
        else:  # straight lines: from coordinates (covered is settled when assembling)
            nearest, covered, straight = nearest_points(region.village_xy, xy), None, None
        local = nearest.index
        index = np.where(local >= 0, positions[np.maximum(local, 0)], -1) if len(xy) else local
        found[key] = Found(index, nearest.dist_m, nearest.time_s, covered, straight)
    far = dict(region.roads.far) if region.roads is not None else {}
    return region.villages, found, far
