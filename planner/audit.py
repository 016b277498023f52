"""Full-coverage audit (全覆盖): does every unit have a center of its own level inside it?

Units are counties, townships and villages/communities. A unit is ``ok`` when a center of
its level lies inside it, ``outside`` when a center is attributed to it by code
(``county_id``/``township_id``/``village_id``) but lies outside its boundary, and
``missing`` otherwise.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .coverage import nearest_euclidean

#: unit level → (unit layer kind, attribute on centers that names the unit)
UNITS: dict[str, tuple[str, str]] = {
    "county": ("counties", "county_id"),
    "township": ("townships", "township_id"),
    "village": ("village_areas", "village_id"),
}
STATUSES = ("ok", "outside", "missing")


def _unit_table(
    units: gpd.GeoDataFrame, centers: gpd.GeoDataFrame, code_column: str, level: str
) -> gpd.GeoDataFrame:
    ids = units["id"].astype("string").to_numpy()
    inside: dict[int, list[str]] = {}
    if len(centers):
        pts, polys = shapely.STRtree(units.geometry.values).query(
            centers.geometry.values, predicate="within"
        )
        for p, u in zip(pts, polys, strict=True):
            inside.setdefault(int(u), []).append(str(centers["id"].iat[p]))
    named: dict[str, list[str]] = {}
    if code_column in centers.columns:
        for cid, code in zip(centers["id"], centers[code_column], strict=True):
            if pd.notna(code):
                named.setdefault(str(code), []).append(str(cid))
    status, center_ids = [], []
    for i, uid in enumerate(ids):
        if i in inside:
            status.append("ok")
            center_ids.append(";".join(inside[i]))
        elif uid in named:
            status.append("outside")
            center_ids.append(";".join(named[uid]))
        else:
            status.append("missing")
            center_ids.append("")
    names = units["name"].to_numpy() if "name" in units.columns else np.full(len(units), "")
    return gpd.GeoDataFrame(
        {
            "level": level,
            "unit_id": ids,
            "unit_name": names,
            "status": status,
            "center_ids": center_ids,
        },
        geometry=units.geometry.representative_point().to_numpy(),
        crs=units.crs,
    )


def _villages_without_areas(
    villages: gpd.GeoDataFrame, centers: gpd.GeoDataFrame
) -> gpd.GeoDataFrame:
    """Village audit when no village boundaries are given: a center counts for the village
    it names in ``village_id``, or else for the village nearest to it."""
    ids = villages["id"].astype("string").to_numpy()
    if "village_id" in centers.columns and centers["village_id"].notna().any():
        served = set(centers["village_id"].dropna().astype(str))
        owner = centers["village_id"].astype("string").to_numpy()
    else:
        near = nearest_euclidean(centers.geometry, villages.geometry).index
        owner = np.where(near >= 0, ids[np.maximum(near, 0)], None)
        served = {str(o) for o in owner if o is not None}
    by_village: dict[str, list[str]] = {}
    for cid, vid in zip(centers["id"], owner, strict=True):
        if vid is not None and pd.notna(vid):
            by_village.setdefault(str(vid), []).append(str(cid))
    status = np.where(np.isin(ids, list(served)), "ok", "missing")
    names = villages["name"].to_numpy() if "name" in villages.columns else ""
    return gpd.GeoDataFrame(
        {
            "level": "village",
            "unit_id": ids,
            "unit_name": names,
            "status": status,
            "center_ids": [";".join(by_village.get(v, [])) for v in ids],
        },
        geometry=villages.geometry.to_numpy(),
        crs=villages.crs,
    )


def full_coverage_audit(frames: dict[str, gpd.GeoDataFrame]) -> gpd.GeoDataFrame:
    """Audit every county, township and village/community.

    Parameters
    ----------
    frames
        Canonical layers by kind (``centers`` and whichever unit layers exist).

    Returns
    -------
    GeoDataFrame
        One row per unit: ``level``, ``unit_id``, ``unit_name``, ``status`` (ok, outside,
        missing), ``center_ids``; the geometry is a point inside the unit.
    """
    centers = frames.get("centers")
    tables = []
    for level, (kind, code_column) in UNITS.items():
        mine = centers[centers["level"] == level] if centers is not None else None
        if mine is None:
            continue
        units = frames.get(kind)
        if units is not None and len(units):
            tables.append(_unit_table(units, mine, code_column, level))
        elif level == "village" and frames.get("villages") is not None:
            tables.append(_villages_without_areas(frames["villages"], mine))
    if not tables:
        return gpd.GeoDataFrame(
            {"level": [], "unit_id": [], "unit_name": [], "status": [], "center_ids": []},
            geometry=[],
            crs=None,
        )
    return gpd.GeoDataFrame(pd.concat(tables, ignore_index=True), crs=tables[0].crs)


def audit_summary(audit: gpd.GeoDataFrame) -> dict[str, dict[str, int]]:
    """Counts of units per level and status."""
    out: dict[str, dict[str, int]] = {}
    for level, group in audit.groupby("level", sort=False):
        counts = group["status"].value_counts()
        out[str(level)] = {s: int(counts.get(s, 0)) for s in STATUSES} | {"units": len(group)}
    return out
