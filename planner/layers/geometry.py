"""Coordinates, coordinate system and geometry of one layer.

In the order :func:`planner.layers.read_layer` applies them: coordinates that are not
finite numbers are dropped (:func:`clean_coordinates`), the layer gets its CRS
(:func:`assign_crs`), swapped or out-of-range longitude/latitude is flagged
(:func:`check_lonlat`), GCJ-02/BD-09 offsets are removed (:func:`remove_offsets`) and
empty, wrong-type and invalid geometries are reported or repaired (:func:`check_geometry`).
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from planner import crs as crs_mod
from planner.errors import PlannerError
from planner.layers.ledgers import is_blank
from planner.layers.problems import LayerProblems, listed_texts
from planner.layers.readers import RawLayer
from planner.schemas import LayerSchema

GEOMETRY_TYPES = {
    "point": {"Point"},
    "polygon": {"Polygon", "MultiPolygon"},
    "line": {"LineString", "MultiLineString"},
}
#: Geometry type names by shapely type id.
_TYPE_NAMES = np.array(
    [
        "Point",
        "LineString",
        "LinearRing",
        "Polygon",
        "MultiPoint",
        "MultiLineString",
        "MultiPolygon",
        "GeometryCollection",
    ]
)


def clean_coordinates(
    frame: gpd.GeoDataFrame, raw: RawLayer, rows: np.ndarray, out: LayerProblems
) -> tuple[gpd.GeoDataFrame, np.ndarray]:
    """Drop Z (planning is 2-D); report ledger cells that give no point and geometries with
    NaN or infinite coordinates (those become missing). Returns the rows reported."""
    geoms = np.asarray(frame.geometry.values)
    if shapely.has_z(geoms).any():
        geoms = shapely.force_2d(geoms)
    xy, index = shapely.get_coordinates(geoms, return_index=True)
    nonfinite = np.zeros(len(geoms), dtype=bool)
    nonfinite[index[~np.isfinite(xy).all(axis=1)]] = True
    out.rows(
        "error",
        nonfinite,
        rows,
        "coordinates are not finite numbers (NaN or infinity)",
        column="geometry",
        fix="fix or delete the feature's coordinates",
    )
    geoms[nonfinite] = None
    reported = nonfinite
    if raw.lon_column is not None:
        missing = _missing_lonlat(frame, geoms, raw.lon_column, raw.lat_column, rows, out)
        reported = reported | missing
    frame = frame.set_geometry(gpd.GeoSeries(geoms, index=frame.index, crs=frame.crs))
    return frame, reported


def _missing_lonlat(
    frame: gpd.GeoDataFrame,
    geoms: np.ndarray,
    lon_column: str,
    lat_column: str | None,
    rows: np.ndarray,
    out: LayerProblems,
) -> np.ndarray:
    """Report the ledger rows whose longitude/latitude cells give no point."""
    missing = shapely.is_missing(geoms)
    lon, lat = frame[lon_column], frame[lat_column]
    text = listed_texts(lambda i: f"lon={_cell(lon.iloc[i])}, lat={_cell(lat.iloc[i])}", missing)
    out.rows(
        "error",
        missing,
        rows,
        "longitude/latitude missing or not a number ({value})",
        column=lon_column,
        values=text,
        fix="give plain decimal degrees, e.g. 122.2613 and 43.6172",
    )
    return missing


def _cell(value: object) -> str:
    """A ledger cell as the user typed it ("empty" when blank)."""
    return "empty" if is_blank(value) else repr(value)


def assign_crs(
    frame: gpd.GeoDataFrame,
    raw: RawLayer,
    out: LayerProblems,
    *,
    crs: str | int | None,
    coords: str | None,
) -> gpd.GeoDataFrame | None:
    """Give the layer its CRS: declared (``crs``), stored, implied by lon/lat columns or
    by ``coords``, or detected; ``None`` when none can be found."""
    if crs is not None:
        return frame.set_crs(_parse_crs(crs, out), allow_override=True)
    if frame.crs is not None:
        return frame
    bounds = frame.geometry.dropna()
    x, y = shapely.get_coordinates(bounds.values).T if len(bounds) else (np.empty(0),) * 2
    if raw.lon_column is not None or (coords and crs_mod.looks_geographic(x, y)):
        return frame.set_crs("EPSG:4326")
    if (zone := crs_mod.detect_gauss_kruger(x, y)) is not None:
        out.add(
            "warning",
            f"no CRS in the file; 8-digit eastings say Gauss-Krüger zone EPSG:{zone}",
            fix=f'declare crs = "EPSG:{zone}" to silence this',
        )
        return frame.set_crs(zone)
    out.add(
        "error",
        "the file has no CRS and none is declared",
        fix='add crs = "EPSG:4490" (or the right code) to the layer\'s table',
    )
    return None


def _parse_crs(value: str | int, out: LayerProblems) -> pyproj.CRS:
    try:
        return pyproj.CRS.from_user_input(value)
    except pyproj.exceptions.CRSError:
        raise PlannerError(f"{out.file}: unknown CRS {value!r}") from None


def check_lonlat(
    frame: gpd.GeoDataFrame, raw: RawLayer, rows: np.ndarray, out: LayerProblems
) -> np.ndarray:
    """Flag swapped and out-of-range longitude/latitude; returns the rows to drop."""
    if not frame.crs.is_geographic or not len(frame):
        return np.zeros(len(frame), dtype=bool)
    pts = frame.geometry.values
    ok = ~(shapely.is_missing(pts) | shapely.is_empty(pts))
    x, y = np.full(len(frame), np.nan), np.full(len(frame), np.nan)
    box = shapely.bounds(pts[ok])  # a point's box is the point itself
    x[ok], y[ok] = (box[:, 0] + box[:, 2]) / 2, (box[:, 1] + box[:, 3]) / 2
    swapped = ok & crs_mod.looks_swapped_lonlat(x, y)
    out_of_range = ok & ~swapped & crs_mod.out_of_range_lonlat(x, y)
    where = raw.lon_column or "geometry"
    coords = listed_texts(lambda i: f"lon={x[i]:.6g}, lat={y[i]:.6g}", swapped, out_of_range)
    out.rows(
        "error",
        swapped,
        rows,
        "longitude and latitude look swapped ({value})",
        column=where,
        values=coords,
        fix="swap the two columns (or the mapping)",
    )
    out.rows(
        "error",
        out_of_range,
        rows,
        "coordinates out of range ({value})",
        column=where,
        values=coords,
        fix="longitude must be in [-180, 180], latitude in [-90, 90]",
    )
    return swapped | out_of_range


def remove_offsets(
    frame: gpd.GeoDataFrame, coords: str | None, out: LayerProblems
) -> gpd.GeoDataFrame | None:
    """Remove GCJ-02/BD-09 offsets when declared (the layer comes back in WGS84); any
    other layer keeps its own CRS, so it is reprojected once, into the working CRS."""
    if coords not in ("gcj02", "bd09"):
        return frame
    if not frame.crs.is_geographic:
        out.add(
            "error",
            f'coords = "{coords}" needs longitude/latitude, but the file '
            f"is in a projected CRS ({frame.crs.name})",
            fix="remove coords",
        )
        return None
    return crs_mod.to_wgs84(frame.to_crs("EPSG:4326"), coords)


def check_geometry(
    frame: gpd.GeoDataFrame,
    schema: LayerSchema,
    raw: RawLayer,
    rows: np.ndarray,
    out: LayerProblems,
    reported: np.ndarray,
) -> gpd.GeoDataFrame:
    """Empty, wrong-type and invalid geometries (rows in ``reported`` are already flagged).

    Invalid geometries are repaired; multi-points of a point layer other than the
    villages become their centroid.
    """
    geoms = frame.geometry.values
    empty = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    out.rows(
        "error",
        empty & ~reported,
        rows,
        "empty or missing geometry",
        column=raw.lon_column or "geometry",
        fix="give every feature a location",
    )
    types = np.asarray(shapely.get_type_id(geoms))
    type_names = np.where(types >= 0, _TYPE_NAMES[np.clip(types, 0, 7)], "")
    wanted = GEOMETRY_TYPES[schema.geometry]
    if schema.kind == "villages":
        wanted = wanted | GEOMETRY_TYPES["polygon"]
    wrong = ~empty & ~np.isin(type_names, list(wanted))
    if wrong.any():
        out.rows(
            "error",
            wrong,
            rows,
            "wrong geometry type {value}",
            column="geometry",
            values=pd.Series(type_names),
            fix=f"a {schema.kind} layer holds {schema.geometry}s",
        )
    invalid = _invalid(geoms, ~empty & ~wrong & (types != 0))
    if invalid.any():
        frame = _repair(frame, invalid, schema, rows, out)
    if schema.geometry == "point" and schema.kind != "villages":
        multi = type_names == "MultiPoint"
        if multi.any():
            frame.loc[multi, frame.geometry.name] = frame.geometry[multi].centroid
    return frame


def _invalid(geoms: np.ndarray, checked: np.ndarray) -> np.ndarray:
    """Which of the ``checked`` geometries are invalid (a point with finite coordinates,
    left unchecked, is always valid)."""
    invalid = np.zeros(len(geoms), dtype=bool)
    invalid[checked] = ~shapely.is_valid(np.asarray(geoms)[checked])
    return invalid


def _repair(
    frame: gpd.GeoDataFrame,
    invalid: np.ndarray,
    schema: LayerSchema,
    rows: np.ndarray,
    out: LayerProblems,
) -> gpd.GeoDataFrame:
    """Repair the ``invalid`` geometries with make_valid, reporting why each was invalid."""
    geoms = frame.geometry.values
    reasons = pd.Series(shapely.is_valid_reason(geoms[invalid]))
    out.rows(
        "warning",
        invalid[invalid],
        rows[invalid],
        "invalid geometry ({value}); repaired with make_valid",
        column="geometry",
        values=reasons,
    )
    fixed = shapely.make_valid(geoms[invalid])
    if schema.geometry == "polygon":
        fixed = _polygonal_part(fixed)
    geoms = geoms.copy()
    geoms[invalid] = fixed
    return frame.set_geometry(gpd.GeoSeries(geoms, index=frame.index, crs=frame.crs))


def _polygonal_part(geoms: np.ndarray) -> np.ndarray:
    """Keep only the polygonal part of repaired geometries (make_valid may add lines)."""
    parts, index = shapely.get_parts(geoms, return_index=True)
    keep = np.isin(shapely.get_type_id(parts), (3, 6))
    collected = shapely.multipolygons(parts[keep], indices=index[keep])
    result = np.full(len(geoms), None, dtype=object)
    result[np.unique(index[keep])] = collected
    return np.array(
        [
            g if g is None or len(shapely.get_parts(g)) > 1 else shapely.get_parts(g)[0]
            for g in result
        ],
        dtype=object,
    )
