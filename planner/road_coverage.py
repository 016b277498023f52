"""Road distances for the coverage step: the scenario's roads as a network, villages
snapped once per travel mode, and one bounded multi-source search per level."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np

from planner.catchment import NETWORK_SEARCH_FACTOR, LevelResult, Nearest
from planner.errors import warn
from planner.network import (
    RoadNetwork,
    Snap,
    nearest_facility,
    snap,
)
from planner.network.queries import AreaRequest, service_areas_many
from planner.scenario import LevelSpec, NetworkSettings

logger = logging.getLogger(__name__)


def network_options(settings: NetworkSettings) -> dict[str, Any]:
    """Keyword arguments of :func:`~planner.network.graph.build_network` from ``[network]``."""
    return {
        "tolerance_m": settings.tolerance_m,
        "min_component_nodes": settings.min_component_nodes,
        "speeds": settings.speeds or None,
    }


def search_settings(spec: LevelSpec) -> tuple[str, float]:
    """The road search's weight and cutoff for a level: seconds for ``minutes`` levels,
    else metres."""
    if spec.cutoff_s is not None:
        return "time", spec.cutoff_s
    return "length", spec.cutoff_m


def _cost_cutoff(spec: LevelSpec) -> tuple[str, float]:
    """Search weight and cutoff: beyond the radius by :data:`NETWORK_SEARCH_FACTOR` so
    ``<level>_dist_m`` still says how far a nearby gap is."""
    weight, cutoff = search_settings(spec)
    return weight, cutoff * NETWORK_SEARCH_FACTOR


@dataclass
class RoadSearch:
    """Nearest center along roads for every village (a :data:`coverage.NetworkSearch`)."""

    net: RoadNetwork
    villages: gpd.GeoDataFrame
    max_access_m: float
    _snaps: dict[str, Snap] = field(default_factory=dict)

    def village_snap(self, mode: str) -> Snap:
        """Villages joined to the roads usable in ``mode`` (computed once per mode)."""
        if mode not in self._snaps:
            joined = snap(
                self.net, self.villages.geometry, mode=mode, max_access_m=self.max_access_m
            )
            self._warn_far(joined, mode)
            self._snaps[mode] = joined
        return self._snaps[mode]

    def _warn_far(self, joined: Snap, mode: str) -> None:
        far = np.flatnonzero(joined.too_far)
        if far.size:
            names = self.villages["name"] if "name" in self.villages else self.villages["id"]
            listed = ", ".join(f"{names.iat[i]} ({joined.access_m[i]:,.0f} m)" for i in far[:5])
            more = f" and {far.size - 5} more" if far.size > 5 else ""
            warn(
                f"{far.size} village(s) lie more than {self.max_access_m:,.0f} m from a road "
                f"usable by {mode}: {listed}{more}; the access leg is walked"
            )

    def __call__(self, spec: LevelSpec, centers: gpd.GeoSeries) -> Nearest:
        targets = self.village_snap(spec.travel)
        sources = snap(self.net, centers, mode=spec.travel)
        weight, cutoff = _cost_cutoff(spec)
        found = nearest_facility(
            self.net, sources, targets, cutoff=cutoff, weight=weight, mode=spec.travel
        )
        reached = found.source >= 0
        return Nearest(
            index=found.source.astype(np.int64),
            dist_m=np.where(reached, found.length_m, np.nan),
            time_s=np.where(reached, found.time_s, np.nan),
        )

    def service_areas(self, res: LevelResult) -> gpd.GeoDataFrame:
        """Network reach polygons of a level's centers (from the reached road)."""
        return self.service_areas_of([res])[0]

    def service_areas_of(self, groups: Sequence[LevelResult]) -> list[gpd.GeoDataFrame]:
        """:meth:`service_areas` of several groups of centers, their geometry work
        overlapped (see :func:`~planner.network.queries.service_areas_many`)."""
        requests = []
        for res in groups:
            spec = res.spec
            sources = snap(self.net, res.centers.geometry, mode=spec.travel)
            weight, cutoff = search_settings(spec)
            requests.append(AreaRequest(sources, cutoff, weight, spec.travel))
        found = service_areas_many(self.net, requests)
        return [_area_frame(res, areas) for res, areas in zip(groups, found, strict=True)]


def _area_frame(res: LevelResult, areas: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The service areas of a group of centers as a layer: center, level, radius, mode."""
    return gpd.GeoDataFrame(
        {
            "center_id": res.centers["id"].to_numpy(),
            "level": res.level,
            "radius_m": res.spec.cutoff_m,
            "mode": "network",
            "road_m": areas["road_m"].to_numpy(),
        },
        geometry=areas.geometry.to_numpy(),
        crs=res.centers.crs,
    )
