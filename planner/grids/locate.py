"""Where village points lie: the township polygon holding each point (against the ledger's
``township_id``) or the village area carrying its code, with a readable note and fix for
every problem."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from planner.grids.villages import clean_ids

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
        out.loc[i, "note"] = (
            f"village {label(row['village_id'], row['village_name'])}: ledger township_id "
            f"{stated_text}, but its point lies in township {found}; its grids follow "
            f"{row['township_id']}; correct township_id to {row['township_id']} or check "
            "the coordinates (GCJ-02?)"
        )


def _note_outside(out: pd.DataFrame, points, t_geom, t_ids, t_names) -> None:
    lost = np.flatnonzero(out["town"].to_numpy() < 0)
    blank = pd.isna(points[lost]) | shapely.is_empty(points[lost])
    for i in lost[blank]:
        out.loc[i, "note"] = (
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
        out.loc[i, "note"] = (
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
