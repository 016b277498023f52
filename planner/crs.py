"""Coordinate systems: Chinese map offsets and the metric working CRS.

Points copied from Amap/Tencent maps are in GCJ-02 and points from Baidu maps in BD-09:
both are deliberate, non-PROJ distortions of WGS84 lon/lat (hundreds of metres). This
module converts them to WGS84 (the forward formulas are the well-known public ones; the
inverses are solved iteratively to sub-centimetre accuracy), recognises CGCS2000
Gauss-Krüger coordinates that arrive without a CRS, and picks a metric working CRS.

CGCS2000 geographic (EPSG:4490) and WGS84 (EPSG:4326) differ by a few centimetres, far
below planning accuracy, so ``coords="cgcs2000"`` is treated as WGS84.
"""

from __future__ import annotations

from collections.abc import Callable

import geopandas as gpd
import numpy as np
import pyproj
import shapely
from numpy.typing import ArrayLike, NDArray

from planner.errors import PlannerError

COORDS = ("wgs84", "cgcs2000", "gcj02", "bd09")

# Krasovsky 1940 ellipsoid, as used by the GCJ-02 formula.
_A = 6378245.0
_EE = 0.00669342162296594323
_X_PI = np.pi * 3000.0 / 180.0
# The rectangle inside which GCJ-02 applies its offset (lon_min, lon_max, lat_min, lat_max).
CHINA_EXTENT = (72.004, 137.8347, 0.8293, 55.8271)

_MAX_ITER = 30
_TOL_DEG = 1e-11  # about 1 micrometre

Pair = tuple[NDArray[np.float64], NDArray[np.float64]]


def _arrays(lon: ArrayLike, lat: ArrayLike) -> Pair:
    return np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)


def _out(x: NDArray[np.float64], y: NDArray[np.float64]) -> Pair:
    """Return numpy scalars for 0-d input, arrays otherwise."""
    return x[()], y[()]


def in_china(lon: ArrayLike, lat: ArrayLike) -> NDArray[np.bool_]:
    """Per point: inside the rectangle where GCJ-02 applies its offset."""
    lon, lat = _arrays(lon, lat)
    x0, x1, y0, y1 = CHINA_EXTENT
    return (lon >= x0) & (lon <= x1) & (lat >= y0) & (lat <= y1)


def _gcj_offset(lon: NDArray[np.float64], lat: NDArray[np.float64]) -> Pair:
    """GCJ-02 offset (degrees) of WGS84 points, zero outside China's rectangle."""
    x, y = lon - 105.0, lat - 35.0
    with np.errstate(invalid="ignore"):
        common = (20 * np.sin(6 * np.pi * x) + 20 * np.sin(2 * np.pi * x)) * 2 / 3
        dlat = -100 + 2 * x + 3 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
        dlat += common + (20 * np.sin(np.pi * y) + 40 * np.sin(np.pi * y / 3)) * 2 / 3
        dlat += (160 * np.sin(np.pi * y / 12) + 320 * np.sin(np.pi * y / 30)) * 2 / 3
        dlon = 300 + x + 2 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
        dlon += common + (20 * np.sin(np.pi * x) + 40 * np.sin(np.pi * x / 3)) * 2 / 3
        dlon += (150 * np.sin(np.pi * x / 12) + 300 * np.sin(np.pi * x / 30)) * 2 / 3
        rad = np.radians(lat)
        w = 1 - _EE * np.sin(rad) ** 2
        dlat = dlat * 180 / (_A * (1 - _EE) / (w * np.sqrt(w)) * np.pi)
        dlon = dlon * 180 / (_A / np.sqrt(w) * np.cos(rad) * np.pi)
    inside = in_china(lon, lat)
    return np.where(inside, dlon, 0.0), np.where(inside, dlat, 0.0)


def _invert(forward: Callable[..., Pair], lon: ArrayLike, lat: ArrayLike) -> Pair:
    """Solve ``forward(x, y) == (lon, lat)`` by fixed-point iteration.

    The offsets vary slowly (their Jacobian is the identity plus ~1e-3), so each step
    gains about three digits; iteration stops at ``_TOL_DEG`` or after ``_MAX_ITER`` steps
    (only near the edge of China's rectangle, where the forward map jumps, may the
    iteration end unconverged).
    """
    tx, ty = _arrays(lon, lat)
    x, y = tx.copy(), ty.copy()
    for _ in range(_MAX_ITER):
        fx, fy = forward(x, y)
        dx, dy = fx - tx, fy - ty
        x, y = x - dx, y - dy
        if not (np.any(np.abs(dx) > _TOL_DEG) or np.any(np.abs(dy) > _TOL_DEG)):
            break
    return _out(x, y)


def wgs84_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> Pair:
    """WGS84 → GCJ-02 (Amap/Tencent); points outside China's rectangle are unchanged."""
    lon, lat = _arrays(lon, lat)
    dlon, dlat = _gcj_offset(lon, lat)
    return _out(lon + dlon, lat + dlat)


def gcj02_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> Pair:
    """GCJ-02 → WGS84, the exact inverse of :func:`wgs84_to_gcj02` (iterative, < 1 mm)."""
    return _invert(wgs84_to_gcj02, lon, lat)


def gcj02_to_bd09(lon: ArrayLike, lat: ArrayLike) -> Pair:
    """GCJ-02 → BD-09 (Baidu). Applied everywhere, as Baidu does."""
    lon, lat = _arrays(lon, lat)
    z = np.hypot(lon, lat) + 0.00002 * np.sin(lat * _X_PI)
    theta = np.arctan2(lat, lon) + 0.000003 * np.cos(lon * _X_PI)
    return _out(z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006)


def bd09_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> Pair:
    """BD-09 → GCJ-02, the exact inverse of :func:`gcj02_to_bd09` (iterative)."""
    return _invert(gcj02_to_bd09, lon, lat)


def wgs84_to_bd09(lon: ArrayLike, lat: ArrayLike) -> Pair:
    """WGS84 → BD-09."""
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def bd09_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> Pair:
    """BD-09 → WGS84."""
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


def _identity(lon: ArrayLike, lat: ArrayLike) -> Pair:
    return _out(*_arrays(lon, lat))


_TO_WGS84: dict[str, Callable[..., Pair]] = {
    "wgs84": _identity,
    "cgcs2000": _identity,
    "gcj02": gcj02_to_wgs84,
    "bd09": bd09_to_wgs84,
}


def to_wgs84(gdf: gpd.GeoDataFrame, coords: str) -> gpd.GeoDataFrame:
    """Return a copy of ``gdf`` in EPSG:4326, undoing a GCJ-02/BD-09 offset.

    Parameters
    ----------
    gdf
        Any geometry types (Z is kept), with lon/lat coordinates; its CRS must be unset
        or geographic (a geographic CRS label is replaced, not transformed).
    coords
        One of :data:`COORDS` (case-insensitive). ``"cgcs2000"`` is taken as WGS84 (they
        differ by centimetres).

    Raises
    ------
    PlannerError
        For an unknown ``coords`` name or a projected ``gdf``.
    """
    key = str(coords).strip().lower()
    if key not in _TO_WGS84:
        raise PlannerError(f"unknown coords {coords!r}; use one of {', '.join(COORDS)}")
    if gdf.crs is not None and not gdf.crs.is_geographic:
        raise PlannerError(
            f"coords={coords!r} means longitude/latitude, but the layer's CRS is projected "
            f"({gdf.crs.name}); drop the coords setting or reproject the layer"
        )
    convert = _TO_WGS84[key]

    def _xy(coords_nd: NDArray[np.float64]) -> NDArray[np.float64]:
        out = coords_nd.copy()
        out[:, 0], out[:, 1] = convert(coords_nd[:, 0], coords_nd[:, 1])
        return out

    out = gdf.copy()
    # include_z=None (keep z where a geometry has one) is shapely>=2.1; types-shapely says bool
    geoms = shapely.transform(out.geometry.values, _xy, include_z=None)  # type: ignore[call-overload]
    return out.set_geometry(gpd.GeoSeries(geoms, index=out.index), crs=4326)


def out_of_range_lonlat(x: ArrayLike, y: ArrayLike) -> NDArray[np.bool_]:
    """Per point: not a valid lon/lat (|lon| > 180, |lat| > 90 or not finite)."""
    x, y = _arrays(x, y)
    return ~((np.abs(x) <= 180) & (np.abs(y) <= 90))


def looks_geographic(x: ArrayLike, y: ArrayLike) -> bool:
    """Whether every finite coordinate pair is a valid lon/lat (and there is at least one)."""
    x, y = _arrays(x, y)
    finite = np.isfinite(x) & np.isfinite(y)
    return bool(finite.any() and not out_of_range_lonlat(x[finite], y[finite]).any())


def looks_swapped_lonlat(x: ArrayLike, y: ArrayLike) -> NDArray[np.bool_]:
    """Per point: the pair is a point in China's extent given as (lat, lon)."""
    x, y = _arrays(x, y)
    return in_china(y, x)


def detect_gauss_kruger(x: ArrayLike, y: ArrayLike) -> int | None:
    """EPSG code of the CGCS2000 Gauss-Krüger zone of CRS-less projected coordinates.

    Eastings (``x``) must be 8-digit with the zone number as prefix: zones 25–45 are
    3° zones (EPSG:4513–4533), zones 13–23 are 6° zones (EPSG:4491–4501). Returns None
    for lon/lat, for 6-digit eastings (no zone), mixed zones, or when the coordinates do
    not project back into China's extent.
    """
    x, y = _arrays(x, y)
    finite = np.isfinite(x) & np.isfinite(y)
    x, y = x[finite].ravel(), y[finite].ravel()
    if x.size == 0 or looks_geographic(x, y):
        return None
    zones = np.unique(np.floor(x / 1e6))
    if zones.size != 1 or not 10_000_000 <= x.min() <= x.max() < 100_000_000:
        return None
    zone = int(zones[0])
    if 25 <= zone <= 45:
        epsg = 4513 + zone - 25
    elif 13 <= zone <= 23:
        epsg = 4491 + zone - 13
    else:
        return None
    to_geo = pyproj.Transformer.from_crs(epsg, 4490, always_xy=True)
    lon, lat = to_geo.transform(x, y, errcheck=False)
    return epsg if bool(np.all(in_china(lon, lat))) else None


def _centroid(lon: ArrayLike, lat: ArrayLike) -> tuple[float, float]:
    lon, lat = _arrays(lon, lat)
    ok = np.isfinite(lon) & np.isfinite(lat) & ~out_of_range_lonlat(lon, lat)
    if not ok.any():
        raise PlannerError("cannot pick a working CRS: no valid longitude/latitude given")
    return float(np.median(lon[ok])), float(np.median(lat[ok]))


def auto_working_crs(lon: ArrayLike, lat: ArrayLike) -> pyproj.CRS:
    """Metric working CRS for WGS84 points, chosen from their median position (a few
    stray points do not move it).

    In China's extent: the CGCS2000 3° Gauss-Krüger zone without zone prefix whose
    central meridian (75°E … 135°E by 3°) is nearest (EPSG:4534–4554). Elsewhere: the
    WGS84 UTM zone (EPSG:326xx north, 327xx south; the Norway/Svalbard exceptions are
    ignored).
    """
    clon, clat = _centroid(lon, lat)
    if bool(in_china(clon, clat)):
        cm = min(max(3 * int(np.floor(clon / 3 + 0.5)), 75), 135)
        return pyproj.CRS.from_epsg(4534 + (cm - 75) // 3)
    zone = min(int(np.floor((clon + 180) / 6)) + 1, 60)
    return pyproj.CRS.from_epsg((32600 if clat >= 0 else 32700) + zone)


def working_crs(setting: str | int | pyproj.CRS, lon: ArrayLike, lat: ArrayLike) -> pyproj.CRS:
    """The scenario's working CRS: ``"auto"``, an EPSG code, or any pyproj CRS input.

    Raises
    ------
    PlannerError
        If the CRS is unknown, or not projected in metres.
    """
    if isinstance(setting, str) and setting.strip().lower() == "auto":
        return auto_working_crs(lon, lat)
    try:
        crs = pyproj.CRS.from_user_input(setting)
    except pyproj.exceptions.CRSError as exc:
        raise PlannerError(f"unknown working CRS {setting!r}: use 'auto' or 'EPSG:<code>'") from exc
    units = {axis.unit_name for axis in crs.axis_info}
    if not crs.is_projected or units != {"metre"}:
        raise PlannerError(
            f"working CRS {setting!r} ({crs.name}) is not a projected CRS in metres; "
            "use 'auto' or a metric projection such as a CGCS2000 Gauss-Krüger zone"
        )
    return crs
