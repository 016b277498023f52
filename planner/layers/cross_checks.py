"""Checks between layers: points far from the villages, points outside the townships.

:func:`far_outliers` runs before the working CRS is chosen (a stray point would
otherwise pull it away); :func:`cross_checks` runs in the working CRS. Problems name
the user's own columns (``columns``: per layer kind, canonical → user's column).
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from planner import crs as crs_mod
from planner.errors import Problem
from planner.layers.problems import LayerProblems, listed_texts

#: A point farther than this (km) from the middle of the villages is refused (see
#: :func:`far_outliers`; a layer spread wider raises the bar to 10× its median spread).
FAR_KM = 1000.0
#: Point layers checked against the villages and the townships.
_POINT_KINDS = ("villages", "centers", "merged_townships", "candidates")
_WGS84 = pyproj.CRS("EPSG:4326")


def feature_lonlat(frame: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Longitude/latitude of a point inside each feature (NaN where there is none)."""
    geoms = np.asarray(frame.geometry.values)
    ok = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    lon, lat = np.full(len(frame), np.nan), np.full(len(frame), np.nan)
    if ok.any():
        pts = inner_points(geoms[ok])
        with np.errstate(invalid="ignore"):
            x, y = shapely.get_x(pts), shapely.get_y(pts)
        if not frame.crs.is_exact_same(_WGS84):
            x, y = pyproj.Transformer.from_crs(frame.crs, _WGS84, always_xy=True).transform(x, y)
        lon[ok], lat[ok] = x, y
    return lon, lat


def inner_points(geoms: np.ndarray) -> np.ndarray:
    """A point inside each geometry: points stay as they are, others get
    :func:`shapely.point_on_surface`."""
    other = shapely.get_type_id(geoms) != 0
    if not other.any():
        return geoms
    pts = geoms.copy()
    pts[other] = shapely.point_on_surface(geoms[other])
    return pts


def _haversine_km(lon: np.ndarray, lat: np.ndarray, lon0: float, lat0: float) -> np.ndarray:
    lam, phi, lam0, phi0 = np.radians(lon), np.radians(lat), np.radians(lon0), np.radians(lat0)
    a = np.sin((phi - phi0) / 2) ** 2 + np.cos(phi) * np.cos(phi0) * np.sin((lam - lam0) / 2) ** 2
    return 2 * 6371.0088 * np.arcsin(np.sqrt(np.clip(a, 0, 1)))


def far_outliers(
    frames: dict[str, gpd.GeoDataFrame],
    sources: dict[str, Path],
    columns: dict[str, dict[str, str]],
) -> list[Problem]:
    """Points far from all the villages: an error, and their geometry is dropped.

    The middle is the median longitude/latitude of the villages; a point is far when it
    lies more than ``max(FAR_KM, 10 × the villages' median distance from the middle)`` from
    it (great-circle), so a county's stray point is caught while a national layer, whose
    villages spread over thousands of km, is not.
    """
    villages = frames.get("villages")
    if villages is None:
        return []
    vlon, vlat = feature_lonlat(villages)
    ok = np.isfinite(vlon) & np.isfinite(vlat) & ~crs_mod.out_of_range_lonlat(vlon, vlat)
    if not ok.any():
        return []
    middle = float(np.median(vlon[ok])), float(np.median(vlat[ok]))
    spread = float(np.median(_haversine_km(vlon[ok], vlat[ok], *middle)))
    limit = max(FAR_KM, 10 * spread)
    problems: list[Problem] = []
    for kind in _POINT_KINDS:
        frame = frames.get(kind)
        if frame is None:
            continue
        lonlat = (vlon, vlat) if kind == "villages" else feature_lonlat(frame)
        out = LayerProblems(kind, sources[kind])
        _flag_far(frame, lonlat, middle, limit, columns.get(kind, {}), out)
        problems += out.finish()
    return problems


def _flag_far(
    frame: gpd.GeoDataFrame,
    lonlat: tuple[np.ndarray, np.ndarray],
    middle: tuple[float, float],
    limit: float,
    names: dict[str, str],
    out: LayerProblems,
) -> None:
    """Report the features of one layer farther than ``limit`` km from ``middle`` and drop
    their geometry."""
    lon, lat = lonlat
    lon0, lat0 = middle
    with np.errstate(invalid="ignore"):
        km = _haversine_km(lon, lat, lon0, lat0)
        far = np.isfinite(km) & (km > limit)
    text = listed_texts(lambda i: f"{km[i]:,.0f} km (lon={lon[i]:.6g}, lat={lat[i]:.6g})", far)
    out.rows(
        "error",
        far,
        frame["_row"].to_numpy(),
        f"lies {{value}} from the middle of the villages (lon={lon0:.4f}, "
        f"lat={lat0:.4f}); more than {limit:,.0f} km",
        column=names.get("geometry", "geometry"),
        values=text,
        fix="check the coordinates: a typing error, swapped digits or a point from another region",
    )
    frame.loc[far, frame.geometry.name] = None


def cross_checks(
    frames: dict[str, gpd.GeoDataFrame],
    sources: dict[str, Path],
    columns: dict[str, dict[str, str]],
) -> list[Problem]:
    """Points outside every township, and villages whose stated township is not the one
    they lie in; done in the working CRS."""
    problems: list[Problem] = []
    townships = frames.get("townships")
    if townships is None or townships.empty:
        return problems
    tree = shapely.STRtree(townships.geometry.values)
    for kind in _POINT_KINDS:
        frame = frames.get(kind)
        if frame is None or frame.empty:
            continue
        names = columns.get(kind, {})
        out = LayerProblems(kind, sources[kind])
        pts = inner_points(np.asarray(frame.geometry.values))
        within = tree.query(pts, predicate="within")
        inside = shapely.is_missing(pts) | shapely.is_empty(pts)
        inside[within[0]] = True
        rest = np.flatnonzero(~inside)  # on a boundary, or outside every township
        inside[rest[tree.query(pts[rest], predicate="intersects")[0]]] = True
        what = (
            "village lies in no township"
            if kind == "villages"
            else "point lies outside the region's township boundaries"
        )
        out.rows(
            "warning",
            ~inside,
            frame["_row"].to_numpy(),
            what,
            column=names.get("geometry", "geometry"),
            fix="check its coordinates and coordinate system",
        )
        if kind == "villages" and "township_id" in frame.columns:
            _township_mismatch(frame, townships, within, names, out)
        problems += out.finish()
    return problems


def _township_mismatch(
    frame: gpd.GeoDataFrame,
    townships: gpd.GeoDataFrame,
    within: np.ndarray,
    names: dict[str, str],
    out: LayerProblems,
) -> None:
    """Villages whose stated township is not the township polygon their point lies in
    (``within``: the point/township pairs of :meth:`shapely.STRtree.query`)."""
    hit_point, hit_poly = within
    found = pd.Series(pd.NA, index=range(len(frame)), dtype="string")
    found.iloc[hit_point] = townships["id"].to_numpy()[hit_poly]
    label = townships["id"].astype("string")
    if "name" in townships.columns:
        label = label + " " + townships["name"].astype("string").fillna("")
    found_label = pd.Series("", index=range(len(frame)), dtype=object)
    found_label.iloc[hit_point] = label.str.strip().to_numpy()[hit_poly]
    stated = frame["township_id"].reset_index(drop=True)
    differs = (stated.notna() & found.notna() & (stated != found)).to_numpy()
    text = listed_texts(
        lambda i: f"{stated.iloc[i]!r}; the point lies in {found_label.iloc[i]}", differs
    )
    where = names.get("township_id", "township_id")
    out.rows(
        "warning",
        differs,
        frame["_row"].to_numpy(),
        f"{where} {{value}}",
        column=where,
        values=text,
        fix=f"correct {where} to the township the point lies in, or the point's coordinates "
        '(points copied from Amap/Baidu need coords = "gcj02"/"bd09"); '
        "grids follow the polygon the point lies in",
    )
