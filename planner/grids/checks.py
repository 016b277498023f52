"""Checks of a governance grid layer against village polygons, and input checks shared
with :mod:`planner.grids` (metric CRS, codes, polygon repair, overlapping villages)."""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from planner.errors import PlannerError
from planner.grids.bisect import group_polygons, polsby_popper

__all__ = ["check_grids", "locate_villages"]


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


# ---------------------------------------------------------------------------- village location

#: Notes of one kind listed one by one before the rest is summarised in one line.
MAX_NOTES = 20


def label(code: str, name: str) -> str:
    """``"150521100 (保康镇)"``, or the bare code when the name is unknown."""
    return f"{code} ({name})" if name else code


def locate_villages(villages: gpd.GeoDataFrame, townships: gpd.GeoDataFrame) -> pd.DataFrame:
    """The township polygon each village point lies in, against the ledger's ``township_id``.

    Parameters
    ----------
    villages
        Village points (``id``; optional ``name``, ``township_id``), metric CRS.
    townships
        Township polygons (``id``; optional ``name``), any CRS.

    Returns
    -------
    DataFrame
        One row per village, in its order: ``village_id``, ``village_name``,
        ``township_id`` and ``township_name`` (the polygon holding the point, ``""`` when
        none; the ledger's township when it is one of several overlapping polygons),
        ``ledger_township_id``, ``ledger_township_name`` (``""`` when not given or not in
        the township layer), ``town`` (row of the township polygon, -1 when none),
        ``conflict`` (ledger and polygon disagree), ``outside_m`` (distance to the nearest
        township when the point lies in none, else NaN) and ``note`` (the problem and its
        fix, ``""`` when none).
    """
    if not townships.crs.equals(villages.crs):
        townships = townships.to_crs(villages.crs)
    t_ids = clean_ids(townships["id"]).to_numpy()
    t_names = _names(townships)
    t_geom = shapely.make_valid(townships.geometry.to_numpy())
    points = villages.geometry.to_numpy()
    points = np.where(shapely.get_type_id(points) == 0, points, shapely.point_on_surface(points))
    n = len(points)
    ledger = (
        clean_ids(villages["township_id"]).to_numpy()
        if "township_id" in villages
        else np.full(n, "", dtype=object)
    )
    town = _containing(points, t_geom, t_ids, ledger)
    known = dict(zip(t_ids, t_names, strict=True))
    out = pd.DataFrame(
        {
            "village_id": clean_ids(villages["id"]).to_numpy(),
            "village_name": _names(villages),
            "township_id": np.where(town >= 0, t_ids[town], ""),
            "township_name": np.where(town >= 0, t_names[town], ""),
            "ledger_township_id": ledger,
            "ledger_township_name": [known.get(t, "") for t in ledger],
            "town": town,
        }
    )
    out["conflict"] = (town >= 0) & (ledger != "") & (out["township_id"] != ledger)
    out["outside_m"] = np.nan
    out["note"] = ""
    _note_conflicts(out, known)
    _note_outside(out, points, t_geom, t_ids, t_names)
    return out


def _names(frame: pd.DataFrame) -> np.ndarray:
    if "name" not in frame:
        return np.full(len(frame), "", dtype=object)
    return clean_ids(frame["name"]).to_numpy()


def _containing(points, t_geom, t_ids, ledger) -> np.ndarray:
    """Row of the township polygon holding each point (-1 when none); among overlapping
    polygons the ledger's township wins, else the first."""
    hit_pt, hit_t = shapely.STRtree(t_geom).query(points, predicate="intersects")
    stated = t_ids[hit_t] == ledger[hit_pt]
    order = np.lexsort((hit_t, ~stated, hit_pt))
    hit_pt, hit_t = hit_pt[order], hit_t[order]
    first = np.unique(hit_pt, return_index=True)[1]
    town = np.full(len(points), -1, dtype=np.int64)
    town[hit_pt[first]] = hit_t[first]
    return town


def _note_conflicts(out: pd.DataFrame, known: dict[str, str]) -> None:
    for i in np.flatnonzero(out["conflict"].to_numpy()):
        row = out.iloc[i]
        stated = row["ledger_township_id"]
        stated_text = (
            label(stated, known[stated])
            if stated in known
            else (f"{stated} (not in the township layer)")
        )
        found = label(row["township_id"], row["township_name"])
        out.iloc[i, out.columns.get_loc("note")] = (
            f"village {label(row['village_id'], row['village_name'])}: ledger township_id "
            f"{stated_text}, but its point lies in township {found}; its grids follow "
            f"{row['township_id']}; correct township_id to {row['township_id']} or check "
            "the coordinates (GCJ-02?)"
        )


def _note_outside(out: pd.DataFrame, points, t_geom, t_ids, t_names) -> None:
    lost = np.flatnonzero(out["town"].to_numpy() < 0)
    blank = pd.isna(points[lost]) | shapely.is_empty(points[lost])
    for i in lost[blank]:
        out.iloc[i, out.columns.get_loc("note")] = (
            f"village {label(out['village_id'].iloc[i], out['village_name'].iloc[i])}: "
            "no location: no grids drawn; give its coordinates"
        )
    located = lost[~blank]
    if not len(located):
        return
    pt, near, dist = _nearest(points[located], t_geom)
    out.loc[located[pt], "outside_m"] = dist
    for i, t, d in zip(located[pt], near, dist, strict=True):
        row = out.iloc[i]
        out.iloc[i, out.columns.get_loc("note")] = (
            f"village {label(row['village_id'], row['village_name'])}: its point lies in "
            f"no township polygon ({d:,.0f} m from the nearest, {label(t_ids[t], t_names[t])})"
            ": no grids drawn; check the coordinates (GCJ-02?) or the township layer"
        )


def _nearest(points, polygons):
    """Nearest polygon and distance per point (the first when tied)."""
    (pt, poly), dist = shapely.STRtree(polygons).query_nearest(
        points, return_distance=True, all_matches=False
    )
    return pt, poly, dist


def summarise_notes(notes: list[str], what: str) -> list[str]:
    """At most :data:`MAX_NOTES` notes, then one line counting the rest."""
    if len(notes) <= MAX_NOTES:
        return notes
    rest = len(notes) - MAX_NOTES
    return [*notes[:MAX_NOTES], f"… and {rest} more {what}: see the grids_by_village table"]


def points_in_areas(villages: gpd.GeoDataFrame, areas: gpd.GeoDataFrame) -> pd.DataFrame:
    """Each village point against the village area that carries its code.

    Parameters
    ----------
    villages
        Village points (``id``; optional ``name``).
    areas
        Village polygons (``id``; optional ``name``), same CRS.

    Returns
    -------
    DataFrame
        One row per village, in its order: ``village_id``, ``village_name``, ``outside_m``
        (distance from the point to its own area; NaN when it has none) and ``note`` (the
        problem and its fix, ``""`` when the point lies in its own area).
    """
    v_ids = clean_ids(villages["id"]).to_numpy()
    v_names = _names(villages)
    points = villages.geometry.to_numpy()
    points = np.where(shapely.get_type_id(points) == 0, points, shapely.point_on_surface(points))
    a_ids = clean_ids(areas["id"]).to_numpy()
    a_names = _names(areas)
    a_geom = shapely.make_valid(areas.geometry.to_numpy())
    first = pd.Series(np.arange(len(a_ids))).groupby(a_ids).first()
    own = first.reindex(v_ids).to_numpy()
    has = ~np.isnan(own)
    dist = np.full(len(v_ids), np.nan)
    dist[has] = shapely.distance(points[has], a_geom[own[has].astype(np.int64)])
    host = _containing(points, a_geom, a_ids, v_ids)
    notes = np.full(len(v_ids), "", dtype=object)
    for i in np.flatnonzero(~has):
        notes[i] = (
            f"village {label(v_ids[i], v_names[i])}: no village area carries its code: no "
            "grids drawn; add its polygon to village_areas or correct the area's code"
        )
    for i in np.flatnonzero(has & (dist > 0)):
        where = (
            f", inside village area {label(a_ids[host[i]], a_names[host[i]])}"
            if host[i] >= 0
            else ""
        )
        notes[i] = (
            f"village {label(v_ids[i], v_names[i])}: its point lies {dist[i]:,.1f} m outside "
            f"its village area{where}; its grids follow its own area; check the coordinates "
            "(GCJ-02?) or the area's code"
        )
    return pd.DataFrame(
        {"village_id": v_ids, "village_name": v_names, "outside_m": dist, "note": notes}
    )
