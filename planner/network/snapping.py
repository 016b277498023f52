"""Snapping: points (centers, villages) join the network at the nearest point of the
nearest edge (STRtree nearest query); the straight access leg is kept for the searches."""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from planner.errors import PlannerError
from planner.network.graph import MODES, RoadNetwork, check_choice


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
        check_choice(mode, MODES, "mode")
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
