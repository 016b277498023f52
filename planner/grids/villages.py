"""Village polygons ready to grid: input checks, codes, repair, attributes and points.

Shared by :mod:`planner.grids.generate` and :mod:`planner.grids.checks`.
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from planner.errors import PlannerError
from planner.grids.bisect import group_polygons

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
    inner = ~shapely.touches(geoms[left], geoms[right])  # touching pairs share no area
    left, right = left[inner], right[inner]
    area = shapely.area(shapely.intersection(geoms[left], geoms[right]))
    smaller = np.minimum(shapely.area(geoms[left]), shapely.area(geoms[right]))
    ids = table["id"].to_numpy()
    big = area > np.maximum(1.0, 1e-6 * smaller)
    for a, b, s in zip(left[big], right[big], area[big], strict=True):
        notes.append(f"villages {ids[a]} and {ids[b]} overlap by {s:,.0f} m²")


# ---------------------------------------------------------------------------- village table


def village_table(
    areas: gpd.GeoDataFrame, villages: gpd.GeoDataFrame | None, notes: list[str]
) -> gpd.GeoDataFrame:
    """Clean village polygons and gather id, name, urban, households, population."""
    out = gpd.GeoDataFrame(
        {"id": clean_ids(areas["id"]) if "id" in areas else pd.Series([""] * len(areas))},
        geometry=areas.geometry.to_numpy(),
        crs=areas.crs,
    )
    extra = villages.drop(columns=villages.geometry.name) if villages is not None else None
    if extra is not None:
        extra = extra.assign(id=clean_ids(extra["id"])).drop_duplicates("id").set_index("id")
    for col, default in (("name", ""), ("urban", False), ("households", np.nan)):
        out[col] = _attribute(areas, extra, out["id"], col, default)
    out["population"] = _attribute(areas, extra, out["id"], "population", np.nan)
    _drop_bad_counts(out, notes)
    out["name"] = clean_ids(out["name"])
    out["urban"] = out["urban"].fillna(False).astype(bool)
    keep = _usable_codes(out, notes)
    out.geometry = repair_polygons(out.geometry.to_numpy(), out["id"].to_numpy(), keep, notes)
    keep &= ~shapely.is_empty(out.geometry.to_numpy())
    out = out[keep].reset_index(drop=True)
    if out.empty:
        raise PlannerError("no village polygon can be gridded: " + "; ".join(notes[-5:]))
    note_overlaps(out, notes)
    return out


def _drop_bad_counts(out: gpd.GeoDataFrame, notes: list[str]) -> None:
    """Negative or infinite households and population become unknown (NaN)."""
    for col in ("households", "population"):
        value = out[col].to_numpy(float)
        bad = np.isinf(value) | (value < 0)
        for vid, v in zip(out["id"][bad], value[bad], strict=True):
            notes.append(f"village {vid}: {col} {v:g} is not a count: treated as unknown")
        out.loc[bad, col] = np.nan


def _usable_codes(out: gpd.GeoDataFrame, notes: list[str]) -> np.ndarray:
    """Mask of villages with a code, first of their code; notes on codes not 12 digits."""
    rows = pd.Series(np.arange(1, len(out) + 1), index=out.index)
    label = rows.astype(str).radd("row ") + out["name"].map(lambda n: f" ({n})" if n else "")
    keep = np.ones(len(out), dtype=bool)
    no_id = (out["id"] == "").to_numpy()
    for text in label[no_id]:
        notes.append(f"village {text} has no code: no grids drawn; give it its 12-digit code")
    keep &= ~no_id
    dup = out["id"].duplicated() & keep
    for vid in sorted(set(out["id"][dup])):
        notes.append(f"village {vid} appears more than once: only its first polygon is gridded")
    keep &= ~dup.to_numpy()
    odd = keep & ~out["id"].str.fullmatch(r"\d{12}").to_numpy()
    for vid in out["id"][odd]:
        notes.append(f"village {vid!r} is not a 12-digit code: its grid codes are not 15 digits")
    return keep


def _attribute(areas, extra, ids: pd.Series, col: str, default: Any) -> pd.Series:
    values = pd.Series([default] * len(ids), index=ids.index, dtype=object)
    if extra is not None and col in extra:
        values = ids.map(extra[col]).astype(object).where(lambda s: s.notna(), values)
    if col in areas:
        own = pd.Series(areas[col].to_numpy(), index=ids.index).astype(object)
        values = own.where(own.notna(), values)
    if col in ("households", "population"):
        return pd.to_numeric(values, errors="coerce").astype(float)
    return values


def point_weights(points, table, by_population: bool, notes: list[str]):
    """Point coordinates, weights and village index (points outside villages dropped)."""
    if points is None or len(points) == 0:
        return np.empty((0, 2)), np.empty(0), np.empty(0, dtype=np.int64)
    if points.crs is not None and not points.crs.equals(table.crs):
        points = points.to_crs(table.crs)
    geoms = points.geometry.to_numpy()
    col: str | None = "population" if by_population else "households"
    col = col if col in points else ("households" if "households" in points else None)
    weight = np.ones(len(points)) if col is None else points[col].to_numpy(float)
    weight = np.nan_to_num(weight, nan=0.0)
    inside, village = shapely.STRtree(table.geometry.to_numpy()).query(
        geoms, predicate="intersects"
    )
    first = np.unique(inside, return_index=True)[1]
    inside, village = inside[first], village[first]
    lost = len(points) - len(inside)
    if lost:
        notes.append(f"{lost} of {len(points)} point(s) lie outside every village: ignored")
    xy = shapely.get_coordinates(shapely.point_on_surface(geoms[inside]))
    return xy, weight[inside], village
