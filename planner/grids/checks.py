"""Checks of a governance grid layer against village polygons: codes, crossings, gaps,
overlaps, slivers and villages without grids."""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from planner.grids.bisect import polsby_popper
from planner.grids.villages import clean_ids, require_metric

__all__ = ["check_grids"]

#: One issue: kind, grid id, village id, geometry, message.
Issue = tuple[str, str, str, Any, str]


def check_grids(
    grids: gpd.GeoDataFrame,
    village_areas: gpd.GeoDataFrame,
    *,
    sliver_area_m2: float = 100.0,
    sliver_thinness: float = 0.05,
    min_area_m2: float = 1.0,
) -> gpd.GeoDataFrame:
    """Check a grid layer against village polygons; one row per issue, with its location.

    Kinds: ``invalid`` (broken or empty grid geometry), ``code`` (missing, duplicate,
    not 15 digits, or not starting with its village code), ``unknown_village``
    (``village_id`` names no village), ``crossing`` (part of a grid outside its
    village), ``gap`` (part of a village none of its grids covers), ``overlap`` (two
    grids share area), ``sliver`` (area under ``sliver_area_m2`` or Polsby-Popper
    compactness under ``sliver_thinness``), ``no_grid`` (a village without grids).

    Parameters
    ----------
    grids
        Grid polygons: ``id``, ``village_id`` (metric CRS).
    village_areas
        Village polygons: ``id`` (same CRS).
    sliver_area_m2, sliver_thinness
        Sliver thresholds (a 1 × 60 rectangle has compactness ≈ 0.05).
    min_area_m2
        Gaps, overlaps and crossings smaller than this are measurement noise.

    Returns
    -------
    GeoDataFrame
        Columns ``kind``, ``grid_id``, ``village_id``, ``area_m2``, ``message`` and the
        geometry of each issue, in the CRS of ``grids``.
    """
    require_metric(grids, "grids")
    require_metric(village_areas, "village_areas")
    if not village_areas.crs.equals(grids.crs):
        village_areas = village_areas.to_crs(grids.crs)
    gid = _column(grids, "id")
    gvid = _column(grids, "village_id")
    geoms = grids.geometry.to_numpy()
    vid = clean_ids(village_areas["id"]).to_numpy()
    vgeom = shapely.make_valid(village_areas.geometry.to_numpy())
    bad = ~shapely.is_valid(geoms) | shapely.is_empty(geoms) | pd.isna(geoms)
    rows = _invalid(gid, gvid, geoms, bad)
    geoms = np.where(bad, shapely.make_valid(geoms), geoms)
    rows += _code_issues(gid, gvid, geoms)
    known = {v: i for i, v in enumerate(vid)}
    v_of = np.array([known.get(v, -1) for v in gvid], dtype=np.int64)
    rows += _unknown_villages(gid, gvid, geoms, v_of)
    rows += _crossings(gid, gvid, geoms, vgeom, v_of, min_area_m2)
    rows += _gaps(vid, vgeom, geoms, v_of, min_area_m2)
    rows += _overlaps(gid, gvid, geoms, min_area_m2)
    rows += _slivers(gid, gvid, geoms, sliver_area_m2, sliver_thinness)
    for i in np.flatnonzero(~np.isin(np.arange(len(vid)), v_of)):
        rows.append(("no_grid", "", vid[i], vgeom[i], f"village {vid[i]} has no grid"))
    return _issue_frame(rows, grids.crs)


def _column(grids: gpd.GeoDataFrame, name: str) -> np.ndarray:
    """Cleaned codes of a column; ``""`` for every grid when the column is missing."""
    values = clean_ids(grids[name]) if name in grids else pd.Series([""] * len(grids))
    return values.to_numpy()


def _issue_frame(rows: list[Issue], crs: Any) -> gpd.GeoDataFrame:
    columns = ["kind", "grid_id", "village_id", "geometry", "message"]
    issues = pd.DataFrame(rows, columns=columns, dtype=object)
    where = np.asarray(issues.pop("geometry").to_numpy(), dtype=object)
    issues.insert(3, "area_m2", shapely.area(where).astype(float))
    return gpd.GeoDataFrame(issues, geometry=list(where), crs=crs)


def _invalid(gid, gvid, geoms, bad) -> list[Issue]:
    rows: list[Issue] = []
    for i in np.flatnonzero(bad):
        why = (
            "empty"
            if geoms[i] is None or shapely.is_empty(geoms[i])
            else (shapely.is_valid_reason(geoms[i]))
        )
        rows.append(("invalid", gid[i], gvid[i], geoms[i], f"grid {gid[i]!r}: geometry {why}"))
    return rows


def _unknown_villages(gid, gvid, geoms, v_of) -> list[Issue]:
    return [
        (
            "unknown_village",
            gid[i],
            gvid[i],
            geoms[i],
            f"grid {gid[i]}: village {gvid[i]!r} is not among the village areas",
        )
        for i in np.flatnonzero(v_of < 0)
    ]


def _slivers(gid, gvid, geoms, min_area, min_thinness) -> list[Issue]:
    pp = polsby_popper(geoms)
    area = shapely.area(geoms)
    return [
        (
            "sliver",
            gid[i],
            gvid[i],
            geoms[i],
            f"grid {gid[i]}: sliver ({area[i]:,.1f} m², compactness {pp[i]:.3f})",
        )
        for i in np.flatnonzero((area < min_area) | (pp < min_thinness))
    ]


def _code_issues(gid, gvid, geoms) -> list[Issue]:
    """Missing, duplicate, malformed codes, and codes not prefixed by the village code."""
    ids = pd.Series(gid)
    missing = (ids == "").to_numpy()
    dup = ids.duplicated(keep=False).to_numpy() & ~missing
    malformed = ~missing & ~dup & ~ids.str.fullmatch(r"\d{15}").to_numpy()
    prefixed = np.array(
        [g.startswith(v) and v != "" for g, v in zip(gid, gvid, strict=True)], dtype=bool
    )
    foreign = ~missing & ~dup & ~malformed & ~prefixed
    messages = {
        "has no code": missing,
        "is used more than once": dup,
        "is not 15 digits": malformed,
        "does not start with its village code": foreign,
    }
    return [
        ("code", gid[i], gvid[i], geoms[i], f"grid code {gid[i]!r} (village {gvid[i]!r}) {text}")
        for text, mask in messages.items()
        for i in np.flatnonzero(mask)
    ]


def _crossings(gid, gvid, geoms, vgeom, v_of, min_area) -> list[Issue]:
    have = np.flatnonzero(v_of >= 0)
    outside = shapely.difference(geoms[have], vgeom[v_of[have]])
    area = shapely.area(outside)
    return [
        (
            "crossing",
            gid[i],
            gvid[i],
            g,
            f"grid {gid[i]}: {a:,.0f} m² lie outside its village {gvid[i]}",
        )
        for i, g, a in zip(have, outside, area, strict=True)
        if a >= min_area
    ]


def _gaps(vid, vgeom, geoms, v_of, min_area) -> list[Issue]:
    have = v_of >= 0
    covered = gpd.GeoSeries(geoms[have]).groupby(v_of[have]).agg(lambda s: s.union_all())
    idx = covered.index.to_numpy()
    holes = shapely.difference(vgeom[idx], covered.to_numpy())
    parts, owner = shapely.get_parts(holes, return_index=True)
    area = shapely.area(parts)
    return [
        ("gap", "", vid[idx[o]], p, f"village {vid[idx[o]]}: {a:,.0f} m² covered by no grid")
        for p, o, a in zip(parts, owner, area, strict=True)
        if a >= min_area
    ]


def _overlaps(gid, gvid, geoms, min_area) -> list[Issue]:
    left, right = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    pair = left < right
    left, right = left[pair], right[pair]
    shared = shapely.intersection(geoms[left], geoms[right])
    area = shapely.area(shared)
    return [
        ("overlap", gid[a], gvid[a], s, f"grids {gid[a]} and {gid[b]} overlap by {x:,.0f} m²")
        for a, b, s, x in zip(left, right, shared, area, strict=True)
        if x >= min_area
    ]
