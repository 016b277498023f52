"""Private checks of road lines before noding: a metric CRS, line geometries with finite
coordinates, and the canonical attributes of every line part."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from planner.errors import PlannerError
from planner.network.osm import parse_maxspeed, parse_oneway


def check_metric(crs: object, what: str) -> None:
    """Raise :class:`PlannerError` unless ``crs`` is a projected CRS in metres."""
    if crs is None:
        raise PlannerError(f"{what} have no CRS; set the CRS they were drawn in")
    crs = pyproj.CRS.from_user_input(crs)
    if crs.is_geographic:
        raise PlannerError(
            f"{what} are in a geographic CRS ({crs.name}, degrees); "
            "project them to a metric CRS first"
        )
    unit = crs.axis_info[0].unit_name if crs.axis_info else "unknown"
    if unit not in ("metre", "meter"):
        raise PlannerError(f"{what} use CRS units {unit!r}; a CRS in metres is needed")


def prepare_lines(
    lines: gpd.GeoDataFrame, tolerance_m: float
) -> tuple[np.ndarray, pd.DataFrame, dict[str, int]]:
    """Check the input; explode to LineStrings with canonical attributes per part."""
    if not isinstance(lines, gpd.GeoDataFrame):
        raise PlannerError(f"road lines must be a GeoDataFrame, got {type(lines).__name__}")
    if not (np.isfinite(tolerance_m) and tolerance_m >= 0):
        raise PlannerError(f"tolerance_m must be a distance >= 0, got {tolerance_m!r}")
    if lines.empty:
        raise PlannerError("no road lines: the roads layer is empty")
    check_metric(lines.crs, "road lines")
    geoms = np.asarray(lines.geometry.values)
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    _check_geometries(geoms, missing)
    frame = lines[~missing]
    attrs, reverse = _line_attributes(frame)
    geoms = geoms[~missing]
    geoms[reverse] = shapely.reverse(geoms[reverse])
    if (shapely.get_type_id(geoms) == 5).any():
        parts, part_of = shapely.get_parts(geoms, return_index=True)
    else:
        parts, part_of = geoms, np.arange(len(geoms))
    report = {"input_lines": len(lines), "empty_geometries": int(missing.sum())}
    return parts, attrs.iloc[part_of].reset_index(drop=True), report


def _check_geometries(geoms: np.ndarray, missing: np.ndarray) -> None:
    """Refuse non-line geometries, all-empty input and non-finite coordinates."""
    kind = shapely.get_type_id(geoms)
    bad = np.flatnonzero(~missing & ~np.isin(kind, [1, 2, 5]))
    if len(bad):
        types = sorted({g.geom_type for g in geoms[bad]})
        raise PlannerError(
            f"road lines must be LineString or MultiLineString; {len(bad)} row(s) are "
            f"{', '.join(types)} (first: row {bad[0] + 1})"
        )
    if missing.all():
        raise PlannerError(f"no road lines: all {len(geoms)} geometries are empty")
    xy, index = shapely.get_coordinates(geoms[~missing], return_index=True)
    nonfinite = np.flatnonzero(~missing)[np.unique(index[~np.isfinite(xy).all(axis=1)])]
    if len(nonfinite):
        raise PlannerError(
            f"road lines have NaN or infinite coordinates in {len(nonfinite)} row(s) "
            f"(first: row {nonfinite[0] + 1}); fix or delete those lines"
        )


def _line_attributes(frame: gpd.GeoDataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """Canonical attributes per line (``highway``, ``maxspeed``, ``oneway``, ``name``,
    ``layer``, ``line``) and the mask of lines to reverse (one-way against the geometry)."""
    n = len(frame)
    oneway, reverse = (
        parse_oneway(frame["oneway"]) if "oneway" in frame else (np.zeros(n, bool),) * 2
    )
    empty = pd.Series(pd.NA, index=frame.index, dtype="string")
    attrs = pd.DataFrame(
        {
            "highway": frame.get("highway", empty).astype("string").fillna("").to_numpy(),
            "maxspeed": parse_maxspeed(frame.get("maxspeed", empty)).to_numpy(),
            "oneway": oneway,
            "name": frame.get("name", empty).astype("string").to_numpy(),
            "layer": _layers(frame),
            "line": frame.index.to_numpy(),
        }
    )
    return attrs, reverse


def _layers(frame: gpd.GeoDataFrame) -> np.ndarray:
    """The ``layer`` column as integers (0 where missing or not a number)."""
    if "layer" not in frame:
        return np.zeros(len(frame), dtype=int)
    return pd.to_numeric(frame["layer"], errors="coerce").fillna(0).to_numpy(dtype=int)
