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

from planner.catchment import nearest_euclidean

#: unit level → (unit layer kind, attribute on centers that names the unit)
UNITS: dict[str, tuple[str, str]] = {
    "county": ("counties", "county_id"),
    "township": ("townships", "township_id"),
    "village": ("village_areas", "village_id"),
}
STATUSES = ("ok", "outside", "missing")


def _joined(keys: np.ndarray, texts: np.ndarray) -> pd.Series:
    """``;``-joined ``texts`` per distinct key, in input order (index: the keys).

    Vectorised over ranks within a key: one pass per rank, not one per row.
    """
    codes, uniques = pd.factorize(keys)  # missing keys get -1 and are dropped
    keep = codes >= 0
    codes, texts = codes[keep], np.asarray(texts, dtype=object)[keep]
    order = np.argsort(codes, kind="stable")
    codes, texts = codes[order], texts[order]
    starts = np.searchsorted(codes, codes, side="left")
    rank = np.arange(len(codes)) - starts
    out = np.full(len(uniques), "", dtype=object)
    for k in range(int(rank.max()) + 1 if len(rank) else 0):
        at = rank == k
        out[codes[at]] = out[codes[at]] + (";" if k else "") + texts[at]
    return pd.Series(out, index=pd.Index(uniques, dtype=object), dtype=object)


def _text(values: pd.Series) -> np.ndarray:
    """Identifiers as Python strings (missing → None)."""
    out = values.astype("string").to_numpy(dtype=object)
    out[pd.isna(out)] = None
    return out


def _centers_within(centers: np.ndarray, units: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(center, unit)`` index pairs of the centers (points) lying inside a unit, ordered by
    center: the units are the query geometries, prepared once each, rather than the
    centers."""
    polys, pts = shapely.STRtree(centers).query(units, predicate="contains_properly")
    order = np.lexsort((polys, pts))
    return pts[order], polys[order]


def _unit_table(
    units: gpd.GeoDataFrame, centers: gpd.GeoDataFrame, code_column: str, level: str
) -> gpd.GeoDataFrame:
    ids = _text(units["id"])
    center_ids = _text(centers["id"])
    inside = np.full(len(units), "", dtype=object)
    if len(centers):
        pts, polys = _centers_within(centers.geometry.values, units.geometry.values)
        found = _joined(polys, center_ids[pts])
        inside[found.index.to_numpy(dtype=np.int64)] = found.to_numpy()
    has_inside = inside != ""
    named = np.full(len(units), "", dtype=object)
    if code_column in centers.columns:  # read only where no center lies inside
        by_code = _joined(_text(centers[code_column]), center_ids)
        named[~has_inside] = by_code.reindex(ids[~has_inside]).fillna("").to_numpy(dtype=object)
    has_named = named != ""
    status = np.where(has_inside, "ok", np.where(has_named, "outside", "missing"))
    names = units["name"].to_numpy() if "name" in units.columns else np.full(len(units), "")
    return gpd.GeoDataFrame(
        {
            "level": level,
            "unit_id": ids,
            "unit_name": names,
            "status": status,
            "center_ids": np.where(has_inside, inside, named),
        },
        geometry=units.geometry.representative_point().to_numpy(),
        crs=units.crs,
    )


def _villages_without_areas(
    villages: gpd.GeoDataFrame, centers: gpd.GeoDataFrame
) -> gpd.GeoDataFrame:
    """Village audit when no village boundaries are given: a center counts for the village
    it names in ``village_id``, or else for the village nearest to it."""
    ids = _text(villages["id"])
    if "village_id" in centers.columns and centers["village_id"].notna().any():
        owner = _text(centers["village_id"])
    else:
        near = nearest_euclidean(centers.geometry, villages.geometry).index
        owner = ids[np.maximum(near, 0)]
        owner[near < 0] = None
    by_village = _joined(owner, _text(centers["id"]))
    joined = by_village.reindex(ids)
    names = villages["name"].to_numpy() if "name" in villages.columns else ""
    return gpd.GeoDataFrame(
        {
            "level": "village",
            "unit_id": ids,
            "unit_name": names,
            "status": np.where(joined.notna(), "ok", "missing"),
            "center_ids": joined.fillna("").to_numpy(dtype=object),
        },
        geometry=villages.geometry.to_numpy(),
        crs=villages.crs,
    )


def _centers_of(centers: gpd.GeoDataFrame, level: str, code_column: str) -> gpd.GeoDataFrame:
    """Centers of one level, with only the columns the audit reads."""
    keep = [c for c in dict.fromkeys(("id", code_column, "village_id")) if c in centers.columns]
    rows = np.flatnonzero((centers["level"] == level).to_numpy(dtype=bool, na_value=False))
    return gpd.GeoDataFrame(
        centers[keep].iloc[rows].reset_index(drop=True),
        geometry=centers.geometry.to_numpy()[rows],
        crs=centers.crs,
    )


def full_coverage_audit(frames: dict[str, gpd.GeoDataFrame]) -> gpd.GeoDataFrame:
    """Audit every county, township and village/community.

    Parameters
    ----------
    frames
        Canonical layers by kind (``centers`` and whichever unit layers exist). Without
        ``centers`` every unit is ``missing``.

    Returns
    -------
    GeoDataFrame
        One row per unit: ``level``, ``unit_id``, ``unit_name``, ``status`` (ok, outside,
        missing), ``center_ids``; the geometry is a point inside the unit.
    """
    crs = next((f.crs for f in frames.values() if f is not None and f.crs is not None), None)
    centers = frames.get("centers")
    if centers is None:  # no centers layer: every unit lacks its center
        centers = gpd.GeoDataFrame(
            {"id": pd.Series(dtype="string"), "level": pd.Series(dtype="string")},
            geometry=gpd.GeoSeries([], crs=crs),
            crs=crs,
        )
    tables = []
    for level, (kind, code_column) in UNITS.items():
        mine = _centers_of(centers, level, code_column)
        units = frames.get(kind)
        if units is not None and len(units):
            tables.append(_unit_table(units, mine, code_column, level))
        elif level == "village" and frames.get("villages") is not None:
            tables.append(_villages_without_areas(frames["villages"], mine))
    if not tables:
        return gpd.GeoDataFrame(
            {"level": [], "unit_id": [], "unit_name": [], "status": [], "center_ids": []},
            geometry=gpd.GeoSeries([], crs=crs),
            crs=crs,
        )
    return gpd.GeoDataFrame(pd.concat(tables, ignore_index=True), crs=tables[0].crs)


def audit_summary(audit: gpd.GeoDataFrame) -> dict[str, dict[str, int]]:
    """Counts of units per level and status."""
    out: dict[str, dict[str, int]] = {}
    for level, group in audit.groupby("level", sort=False):
        counts = group["status"].value_counts()
        out[str(level)] = {s: int(counts.get(s, 0)) for s in STATUSES} | {"units": len(group)}
    return out
