"""Checks of a governance grid layer against village polygons, and input checks shared
with :mod:`planner.grids` (metric CRS, codes, polygon repair, overlapping villages)."""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from planner._bisect import group_polygons, polsby_popper
from planner.errors import PlannerError

__all__ = ["check_grids"]


# ---------------------------------------------------------------------------- input


def require_metric(gdf: gpd.GeoDataFrame, what: str) -> None:
    """Raise :class:`PlannerError` unless ``gdf`` is a GeoDataFrame in a projected CRS."""
    if not isinstance(gdf, gpd.GeoDataFrame):
        raise PlannerError(f"{what}: expected a GeoDataFrame, got {type(gdf).__name__}")
    if gdf.crs is None or not gdf.crs.is_projected:
        raise PlannerError(
            f"{what}: grids need a metric (projected) CRS, got {gdf.crs!r}; project first"
        )


def clean_ids(values: pd.Series) -> pd.Series:
    """Codes as stripped strings; missing values become ``""``."""
    return values.astype(object).where(values.notna(), "").astype(str).str.strip()


def repair_polygons(geoms: np.ndarray, ids: np.ndarray, keep: np.ndarray, notes: list[str]):
    """Repair invalid polygons and keep their polygonal parts; empty when unusable."""
    valid = shapely.is_valid(geoms)
    for vid, reason in zip(
        ids[~valid & keep], shapely.is_valid_reason(geoms[~valid & keep]), strict=True
    ):
        notes.append(f"village {vid}: invalid polygon ({reason}); repaired")
    fixed = np.where(valid, geoms, shapely.make_valid(geoms))
    parts, owner = shapely.get_parts(fixed, return_index=True)
    poly = shapely.get_type_id(parts) == shapely.GeometryType.POLYGON
    poly &= shapely.area(parts) > 0
    out = group_polygons(parts[poly], owner[poly], len(geoms))
    lost = keep & shapely.is_empty(out)
    for vid in ids[lost]:
        notes.append(f"village {vid}: no polygon area in its geometry: no grids drawn")
    count = shapely.get_num_geometries(out)
    for vid, n in zip(ids[keep & (count > 1)], count[keep & (count > 1)], strict=True):
        notes.append(f"village {vid} is in {n} separate parts")
    return out


def note_overlaps(table: gpd.GeoDataFrame, notes: list[str]) -> None:
    """Add a note for every pair of village polygons sharing more than noise area."""
    geoms = table.geometry.to_numpy()
    left, right = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    pair = left < right
    left, right = left[pair], right[pair]
    area = shapely.area(shapely.intersection(geoms[left], geoms[right]))
    smaller = np.minimum(shapely.area(geoms[left]), shapely.area(geoms[right]))
    ids = table["id"].to_numpy()
    big = area > np.maximum(1.0, 1e-6 * smaller)
    for a, b, s in zip(left[big], right[big], area[big], strict=True):
        notes.append(f"villages {ids[a]} and {ids[b]} overlap by {s:,.0f} m²")


# ---------------------------------------------------------------------------- checking


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
    gid = clean_ids(grids["id"]) if "id" in grids else pd.Series([""] * len(grids))
    gvid = clean_ids(grids["village_id"]) if "village_id" in grids else pd.Series([""] * len(grids))
    gid, gvid = gid.to_numpy(), gvid.to_numpy()
    geoms = grids.geometry.to_numpy()
    vid = clean_ids(village_areas["id"]).to_numpy()
    vgeom = shapely.make_valid(village_areas.geometry.to_numpy())
    rows: list[tuple[str, str, str, Any, str]] = []
    bad = ~shapely.is_valid(geoms) | shapely.is_empty(geoms) | pd.isna(geoms)
    for i in np.flatnonzero(bad):
        why = (
            "empty"
            if geoms[i] is None or shapely.is_empty(geoms[i])
            else (shapely.is_valid_reason(geoms[i]))
        )
        rows.append(("invalid", gid[i], gvid[i], geoms[i], f"grid {gid[i]!r}: geometry {why}"))
    geoms = np.where(bad, shapely.make_valid(geoms), geoms)
    rows += _code_issues(gid, gvid, geoms)
    known = {v: i for i, v in enumerate(vid)}
    v_of = np.array([known.get(v, -1) for v in gvid])
    for i in np.flatnonzero(v_of < 0):
        rows.append(
            (
                "unknown_village",
                gid[i],
                gvid[i],
                geoms[i],
                f"grid {gid[i]}: village {gvid[i]!r} is not among the village areas",
            )
        )
    rows += _crossings(gid, gvid, geoms, vgeom, v_of, min_area_m2)
    rows += _gaps(vid, vgeom, geoms, v_of, min_area_m2)
    rows += _overlaps(gid, gvid, geoms, min_area_m2)
    pp = polsby_popper(geoms)
    area = shapely.area(geoms)
    for i in np.flatnonzero((area < sliver_area_m2) | (pp < sliver_thinness)):
        rows.append(
            (
                "sliver",
                gid[i],
                gvid[i],
                geoms[i],
                f"grid {gid[i]}: sliver ({area[i]:,.1f} m², compactness {pp[i]:.3f})",
            )
        )
    for i in np.flatnonzero(~np.isin(np.arange(len(vid)), v_of)):
        rows.append(("no_grid", "", vid[i], vgeom[i], f"village {vid[i]} has no grid"))
    columns = ["kind", "grid_id", "village_id", "geometry", "message"]
    issues = pd.DataFrame(rows, columns=columns, dtype=object)
    where = np.asarray(issues.pop("geometry").to_numpy(), dtype=object)
    issues.insert(3, "area_m2", shapely.area(where).astype(float))
    return gpd.GeoDataFrame(issues, geometry=list(where), crs=grids.crs)


def _code_issues(gid, gvid, geoms) -> list[tuple]:
    """Missing, duplicate, malformed codes, and codes not prefixed by the village code."""
    ids = pd.Series(gid)
    missing = (ids == "").to_numpy()
    dup = ids.duplicated(keep=False).to_numpy() & ~missing
    malformed = ~missing & ~dup & ~ids.str.fullmatch(r"\d{15}").to_numpy()
    prefixed = np.array([g.startswith(v) and v != "" for g, v in zip(gid, gvid, strict=True)])
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


def _crossings(gid, gvid, geoms, vgeom, v_of, min_area) -> list[tuple]:
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


def _gaps(vid, vgeom, geoms, v_of, min_area) -> list[tuple]:
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


def _overlaps(gid, gvid, geoms, min_area) -> list[tuple]:
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
