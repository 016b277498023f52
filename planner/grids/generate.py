"""Governance grids (网格): generation, numbering, worker counts and checks.

Generation
    Each village/community polygon is cut into ``k`` grids, ``k = round(households /
    households_per_grid)`` (at least 1), by recursive bisection: a piece that must hold
    ``k`` grids is cut by a line perpendicular to the long side of its minimum rotated
    rectangle, at the weighted quantile ``⌊k/2⌋ / k`` of its households (household,
    building or population points when given, otherwise area, i.e. households spread
    uniformly), and the two sides get ``⌊k/2⌋`` and ``⌈k/2⌉`` grids. The cross cut
    (along the long axis) is taken instead when its sides are clearly more compact, as in
    a C-shaped village; a cut within 2 % of a boundary edge parallel to it moves onto that
    edge rather than leave a thin strip. Points steer a cut only where a piece holds at
    least as many points as grids to make. Both sides of a cut come from one half-plane
    (intersection and difference), so grids tile the village exactly. When a cut leaves
    a side in several parts (concave villages), every part but the largest is merged into
    the grid it shares the longest border with, so each grid is one polygon (except where
    the village itself is in several parts). All pieces of a recursion level are cut
    together with vectorised shapely/numpy calls.

Defaults (scenario settings override them)
    Tongliao (seed 003) counts ≈ 8.7 grids per rural village with ≈ 1.65 workers per
    grid, and ≈ 10.3 grids per urban community with ≈ 2.2 workers per grid. Assuming a
    rural administrative village of ≈ 260 households (about one villager group, 村民小组,
    per grid) and an urban community of ≈ 2,600 households, this gives
    :data:`RURAL_HOUSEHOLDS_PER_GRID` = 30 and :data:`URBAN_HOUSEHOLDS_PER_GRID` = 250
    (inside the 200–500 households common in city grid rules). Workers: a village gets
    ``round(workers_per_grid × households / households_per_grid)`` workers, at least one
    per grid, spread over its grids by households (largest remainder); with the defaults
    that is one worker per ≈ 18 rural or ≈ 114 urban households. When only population is
    known, households = population / :data:`HOUSEHOLD_SIZE` (2.62, China's 2020 census).

Village polygons and points
    Without village areas, village polygons are Voronoi cells of the village points,
    clipped to the township polygon each point lies in, whatever the ledger's
    ``township_id`` says: every village lies in its own grids. Conflicts (ledger township
    vs polygon, both named, with a fix) and villages that get no grid (point in no
    township, same point as another village) are noted and listed per village. With
    village areas, each area is gridded under its own code; a village point outside its
    area is noted with the area it lies in.

Arithmetic
    Households, population and workers are apportioned in float64 (exact whole numbers up
    to 2**53, never negative); negative or infinite counts are treated as unknown.

Numbering (编号管理)
    Grid code = 12-digit village code + 3-digit sequence. The sequence follows reading
    order inside the village: rows of height √(village area / grids) from the north, each
    row west to east, by grid centroid. Names: ``"<village>第3网格"`` (zh) or
    ``"<village> grid 3"`` (en). The method is deterministic, so re-running on the same
    input gives the same codes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from planner.errors import PlannerError
from planner.grids.bisect import household_shares, merge_strays, partition, polsby_popper
from planner.grids.checks import (
    check_grids,
    clean_ids,
    label,
    locate_villages,
    note_overlaps,
    points_in_areas,
    repair_polygons,
    require_metric,
    summarise_notes,
)

__all__ = [
    "HOUSEHOLD_SIZE",
    "RURAL_HOUSEHOLDS_PER_GRID",
    "RURAL_WORKERS_PER_GRID",
    "URBAN_HOUSEHOLDS_PER_GRID",
    "URBAN_WORKERS_PER_GRID",
    "GridResult",
    "check_grids",
    "derive_village_areas",
    "generate_grids",
    "number_grids",
    "polsby_popper",
]

RURAL_HOUSEHOLDS_PER_GRID = 30.0
URBAN_HOUSEHOLDS_PER_GRID = 250.0
RURAL_WORKERS_PER_GRID = 30_241 / 18_332  # Tongliao: 30,241 workers for 18,332 grids
URBAN_WORKERS_PER_GRID = 5_044 / 2_292  # Tongliao: 5,044 workers for 2,292 grids
HOUSEHOLD_SIZE = 2.62
MAX_GRIDS_PER_VILLAGE = 999  # three-digit sequence
_GRID_COLUMNS = [
    "id",
    "name",
    "village_id",
    "village_name",
    "seq",
    "urban",
    "households",
    "population",
    "workers",
    "area_m2",
    "compactness",
]


@dataclass
class GridResult:
    """What :func:`generate_grids` returns.

    Attributes
    ----------
    grids
        One row per grid: ``id`` (15 digits), ``name``, ``village_id``, ``village_name``,
        ``seq``, ``urban``, ``households``, ``population``, ``workers``, ``area_m2``,
        ``compactness`` (Polsby-Popper, 1 for a disc, ≈ 0.785 for a square), geometry.
    villages
        One row per gridded village: ``village_id``, ``name``, ``urban``,
        ``households``, ``population``, ``grids``, ``workers``, ``balance_ratio``
        (max/min households of its grids, NaN when a grid has none), ``spread``
        (coefficient of variation of households per grid), ``compactness``. When village
        points are given, also ``outside_m`` (how far the point lies outside the polygon
        it should lie in: its village area, or any township) and ``note`` (the problem
        and its fix), plus, for derived areas, ``township_id``/``township_name`` (the
        polygon the point lies in), ``ledger_township_id``/``ledger_township_name`` and
        ``township_conflict``; and one row with 0 grids for each village that got none,
        its ``note`` saying why.
    stats
        Run totals and quality figures, with ``villages_without_grids``,
        ``township_conflicts`` and ``villages_off_their_polygon``.
    warnings
        Readable notes on input problems that were worked around.
    derived_areas
        True when village polygons were derived from village points.
    areas
        The village polygons that were gridded, after repair (``id``, ``name``,
        ``urban``, ``households``, ``population``); worth showing on a map when derived.
    """

    grids: gpd.GeoDataFrame
    villages: pd.DataFrame
    stats: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    derived_areas: bool = False
    areas: gpd.GeoDataFrame | None = None


# ---------------------------------------------------------------------------- generation


def generate_grids(
    village_areas: gpd.GeoDataFrame | None,
    villages: gpd.GeoDataFrame | None = None,
    *,
    townships: gpd.GeoDataFrame | None = None,
    households_per_grid: float | None = None,
    population_per_grid: float | None = None,
    rural_households_per_grid: float = RURAL_HOUSEHOLDS_PER_GRID,
    urban_households_per_grid: float = URBAN_HOUSEHOLDS_PER_GRID,
    rural_workers_per_grid: float = RURAL_WORKERS_PER_GRID,
    urban_workers_per_grid: float = URBAN_WORKERS_PER_GRID,
    points: gpd.GeoDataFrame | None = None,
    lang: str = "zh",
) -> GridResult:
    """Split every village polygon into balanced, compact, numbered grids.

    Parameters
    ----------
    village_areas
        Village polygons (``id``, ``name``; optional ``households``, ``population``,
        ``urban``) in a metric CRS. ``None`` derives them from ``villages`` and
        ``townships`` (see :func:`derive_village_areas`).
    villages
        Village points; supply ``households``, ``population``, ``urban`` and ``name``
        where ``village_areas`` lacks them (joined on ``id``).
    townships
        Township polygons, needed only when ``village_areas`` is ``None``.
    households_per_grid, population_per_grid
        One target for all villages (give at most one). By default the rural and urban
        household targets apply.
    rural_households_per_grid, urban_households_per_grid
        Default household targets for villages and urban communities.
    rural_workers_per_grid, urban_workers_per_grid
        Grid workers per grid of target size (see module notes).
    points
        Household, building or population points; weighted by their ``households`` or
        ``population`` column (the one matching the target), else 1 each. They steer
        where the cuts go; the village totals still come from the village attributes
        when those are known.
    lang
        ``"zh"`` or ``"en"`` grid names.

    Returns
    -------
    GridResult

    Raises
    ------
    PlannerError
        For unusable input as a whole (no village left, geographic CRS, both targets).
    """
    if households_per_grid is not None and population_per_grid is not None:
        raise PlannerError("give households_per_grid or population_per_grid, not both")
    notes: list[str] = []
    located: pd.DataFrame | None = None
    derived = village_areas is None
    if derived:
        if villages is None or townships is None:
            raise PlannerError("village boundaries are missing: give villages and townships")
        require_metric(villages, "villages")
        require_metric(townships, "townships")
        located = locate_villages(villages, townships)
        village_areas, derive_notes = _derive(villages, townships, located)
        notes += derive_notes
        notes.append(
            "village boundaries were not given: they were derived as Voronoi cells of the "
            "village points clipped to the township polygon each point lies in"
        )
    require_metric(village_areas, "village_areas")
    if not derived and villages is not None:
        located = points_in_areas(_same_crs(villages, village_areas.crs), village_areas)
        notes += summarise_notes(
            located["note"][located["note"] != ""].tolist(), "villages off their area"
        )
    table = _village_table(village_areas, villages, notes)
    by_population = population_per_grid is not None
    pts_xy, pts_w, pts_vil = _point_weights(points, table, by_population, notes)
    _fill_totals(table, pts_w, pts_vil, "population" if by_population else "households", notes)
    if by_population:
        target = np.full(len(table), float(population_per_grid))
        hh_target = target / HOUSEHOLD_SIZE
    else:
        rural = rural_households_per_grid if households_per_grid is None else households_per_grid
        urban = urban_households_per_grid if households_per_grid is None else households_per_grid
        hh_target = target = np.where(table["urban"], urban, rural).astype(float)
    measure = table["population" if by_population else "households"].to_numpy(float)
    k = _grid_counts(table["id"].to_numpy(), measure, target, notes)
    geoms, vil = partition(table.geometry.to_numpy(), k, pts_xy, pts_w, pts_vil)
    geoms = merge_strays(geoms, vil)
    split = shapely.get_num_geometries(geoms) > 1
    if split.any():
        notes.append(
            f"{int(split.sum())} grid(s) are in several parts because their village is: "
            + ", ".join(sorted(set(table["id"].to_numpy()[vil[split]])))
        )
    share = household_shares(geoms, vil, pts_xy, pts_w, pts_vil, len(table))
    wpg = np.where(table["urban"], urban_workers_per_grid, rural_workers_per_grid)
    grids = _assemble(table, geoms, vil, share, k, hh_target, wpg, lang)
    per_village = _village_summary(grids, table)
    if located is not None:
        per_village = _with_ledger(per_village, located)
    return GridResult(grids, per_village, _stats(grids, per_village), notes, derived, table)


def _same_crs(frame: gpd.GeoDataFrame, crs: Any) -> gpd.GeoDataFrame:
    return frame if frame.crs is None or frame.crs.equals(crs) else frame.to_crs(crs)


def _with_ledger(per_village: pd.DataFrame, located: pd.DataFrame) -> pd.DataFrame:
    """Per-village table with where each ledger village lies, its note, and a row with
    zero grids for every ledger village that got none (the note says why)."""
    ledger = located[located["village_id"] != ""].drop_duplicates("village_id")
    ledger = ledger.drop(columns=["town"], errors="ignore").rename(
        columns={"conflict": "township_conflict"}
    )
    gridded = ledger["village_id"].isin(per_village["village_id"]).to_numpy()
    out = per_village.merge(
        ledger.drop(columns="village_name"), on="village_id", how="left", validate="1:1"
    )
    out["note"] = out["note"].fillna("")
    missing = ledger[~gridded]
    if missing.empty:
        return out
    why = "no usable village polygon: no grids drawn (see the warnings)"
    missing = missing.assign(
        name=missing["village_name"],
        urban=False,
        grids=0,
        workers=0,
        note=missing["note"].where(missing["note"] != "", why),
    ).drop(columns="village_name")
    return pd.concat([out, missing[[c for c in out.columns if c in missing]]], ignore_index=True)


def _village_table(
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
    for col in ("households", "population"):
        value = out[col].to_numpy(float)
        bad = np.isinf(value) | (value < 0)
        for vid, v in zip(out["id"][bad], value[bad], strict=True):
            notes.append(f"village {vid}: {col} {v:g} is not a count: treated as unknown")
        out.loc[bad, col] = np.nan
    out["name"] = clean_ids(out["name"])
    out["urban"] = out["urban"].fillna(False).astype(bool)
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
    out.geometry = repair_polygons(out.geometry.to_numpy(), out["id"].to_numpy(), keep, notes)
    keep &= ~shapely.is_empty(out.geometry.to_numpy())
    out = out[keep].reset_index(drop=True)
    if out.empty:
        raise PlannerError("no village polygon can be gridded: " + "; ".join(notes[-5:]))
    note_overlaps(out, notes)
    return out


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


def _fill_totals(table, pts_w, pts_vil, column: str, notes: list[str]) -> None:
    """Fill unknown village totals from points, and households from population."""
    if len(pts_vil):
        from_points = np.bincount(pts_vil, weights=pts_w, minlength=len(table))
        fill = table[column].isna().to_numpy() & (from_points > 0)
        if fill.any():
            table.loc[fill, column] = from_points[fill]
            notes.append(f"{int(fill.sum())} village(s) without {column}: counted from points")
    guess = table["households"].isna() & table["population"].notna()
    if guess.any():
        table.loc[guess, "households"] = table.loc[guess, "population"] / HOUSEHOLD_SIZE
        notes.append(
            f"{int(guess.sum())} village(s) have population but no households: "
            f"households = population / {HOUSEHOLD_SIZE}"
        )


def _grid_counts(ids: np.ndarray, measure: np.ndarray, target: np.ndarray, notes: list[str]):
    """Grids per village: ``round(measure / target)``, at least 1."""
    empty = ~(measure > 0)
    for vid in ids[empty]:
        notes.append(f"village {vid} has no households or population: one grid covers it")
    k = np.maximum(1.0, np.rint(np.where(empty, 0, measure) / target))
    if (k > MAX_GRIDS_PER_VILLAGE).any():
        raise PlannerError(
            f"village {ids[np.argmax(k)]} would get {k.max():,.4g} grids, more than the "
            f"{MAX_GRIDS_PER_VILLAGE} a 3-digit grid sequence allows; raise households_per_grid"
        )
    return k.astype(np.int64)


def _point_weights(points, table, by_population: bool, notes: list[str]):
    """Point coordinates, weights and village index (points outside villages dropped)."""
    if points is None or len(points) == 0:
        return np.empty((0, 2)), np.empty(0), np.empty(0, dtype=np.int64)
    if points.crs is not None and not points.crs.equals(table.crs):
        points = points.to_crs(table.crs)
    geoms = points.geometry.to_numpy()
    col = "population" if by_population else "households"
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


# ---------------------------------------------------------------------------- attributes


def _assemble(table, geoms, vil, share, k, hh_target, wpg, lang) -> gpd.GeoDataFrame:
    """Build the grid layer: numbering, households, population, workers, shape figures."""
    single = shapely.get_num_geometries(geoms) == 1
    geoms = np.where(single, shapely.get_geometry(geoms, 0), geoms)
    raw = gpd.GeoDataFrame(
        {
            "village_id": table["id"].to_numpy()[vil],
            "village_name": table["name"].to_numpy()[vil],
            "urban": table["urban"].to_numpy()[vil],
            "_vil": vil,
            "_share": share,
        },
        geometry=geoms,
        crs=table.crs,
    )
    grids = number_grids(raw, lang=lang)
    vil, share = grids["_vil"].to_numpy(), grids["_share"].to_numpy()
    n = len(table)
    households = table["households"].to_numpy(float)
    population = table["population"].to_numpy(float)
    grids["households"] = _apportion_or_nan(share, vil, households)
    grids["population"] = _apportion_or_nan(share, vil, population)
    known = np.nan_to_num(households)
    total_workers = np.maximum(k, np.rint(wpg * known / hh_target))
    extra = _apportion(share, vil, total_workers - np.bincount(vil, minlength=n))
    grids["workers"] = _whole(1 + extra)
    grids["area_m2"] = shapely.area(grids.geometry.to_numpy())
    grids["compactness"] = polsby_popper(grids.geometry.to_numpy())
    return grids[[*_GRID_COLUMNS, "geometry"]]


def _apportion_or_nan(share: np.ndarray, group: np.ndarray, totals: np.ndarray) -> np.ndarray:
    """Whole numbers per item summing to each group's rounded total; NaN when unknown."""
    known = ~np.isnan(totals)
    out = _apportion(share, group, np.rint(np.nan_to_num(totals)))
    return np.where(known[group], out, np.nan)


def _whole(values: np.ndarray) -> np.ndarray:
    """Whole float64 numbers as int64 when every one fits exactly, else as they are."""
    return values.astype(np.int64) if (np.abs(values) < 2.0**53).all() else values


def _apportion(share: np.ndarray, group: np.ndarray, totals: np.ndarray) -> np.ndarray:
    """Largest-remainder split of whole, non-negative ``totals[g]`` over the items of
    group ``g``, in float64 (exact up to 2**53; beyond, within float precision and never
    negative)."""
    n = len(totals)
    norm = np.bincount(group, weights=share, minlength=n)
    count = np.bincount(group, minlength=n)
    frac = np.where(norm[group] > 0, share / np.where(norm > 0, norm, 1)[group], 1 / count[group])
    quota = frac * totals[group].astype(float)
    base = np.floor(quota + 1e-9)
    deficit = totals - np.bincount(group, weights=base, minlength=n)
    deficit = np.clip(np.rint(deficit), 0, count)
    order = np.lexsort((np.arange(len(group)), -(quota - base), group))
    start = np.searchsorted(group[order], np.arange(n))
    rank = np.arange(len(order)) - start[group[order]]
    base[order[rank < deficit[group[order]]]] += 1
    return base


def _village_summary(grids: gpd.GeoDataFrame, table: gpd.GeoDataFrame) -> pd.DataFrame:
    """Per-village grids, workers and balance, in the order of ``table``."""
    vil = pd.Index(table["id"]).get_indexer(grids["village_id"])
    n = len(table)
    count = np.bincount(vil, minlength=n)
    hh = grids["households"].to_numpy(float)
    top = np.full(n, -np.inf)
    low = np.full(n, np.inf)
    mean = np.bincount(vil, weights=hh, minlength=n) / count
    with np.errstate(divide="ignore", invalid="ignore"):  # NaN: households unknown
        np.maximum.at(top, vil, hh)
        np.minimum.at(low, vil, hh)
        relative = hh / mean[vil] - 1  # scaled first: squares of huge counts overflow
        square = np.bincount(vil, weights=relative**2, minlength=n)
        ratio = np.where(low > 0, top / low, np.nan)
        spread = np.where(mean > 0, np.sqrt(square / np.maximum(count - 1, 1)), np.nan)
    return pd.DataFrame(
        {
            "village_id": table["id"].to_numpy(),
            "name": table["name"].to_numpy(),
            "urban": table["urban"].to_numpy(),
            "households": np.bincount(vil, weights=hh, minlength=n),
            "population": np.bincount(vil, weights=grids["population"], minlength=n),
            "grids": count,
            "workers": _whole(np.bincount(vil, weights=grids["workers"], minlength=n)),
            "balance_ratio": ratio,
            "spread": spread,
            "compactness": np.bincount(vil, weights=grids["compactness"], minlength=n) / count,
        }
    )


def _stats(grids: gpd.GeoDataFrame, villages: pd.DataFrame) -> dict[str, Any]:
    several = villages[villages["grids"] > 1]
    ratio = several["balance_ratio"]
    gridded = int((villages["grids"] > 0).sum())
    conflict = villages.get("township_conflict", pd.Series(dtype=bool)).fillna(False)
    outside = villages.get("outside_m", pd.Series(dtype=float)) > 0

    def _num(value: Any) -> float | None:
        return None if pd.isna(value) or not np.isfinite(value) else float(value)

    return {
        "villages": gridded,
        "villages_without_grids": len(villages) - gridded,
        "township_conflicts": int(conflict.astype(bool).sum()),
        "villages_off_their_polygon": int(outside.sum()),
        "grids": len(grids),
        "workers": int(grids["workers"].sum()),
        "households": _num(grids["households"].sum(min_count=1)),
        "grids_per_village": _num(len(grids) / max(gridded, 1)),
        "workers_per_grid": _num(grids["workers"].mean()),
        "balance_ratio_median": _num(ratio.median()),
        "balance_ratio_max": _num(ratio.max()),
        "spread_mean": _num(several["spread"].mean()),
        "compactness_mean": _num(grids["compactness"].mean()),
        "compactness_min": _num(grids["compactness"].min()),
        "multipart_grids": int((shapely.get_num_geometries(grids.geometry.to_numpy()) > 1).sum()),
    }


# ---------------------------------------------------------------------------- numbering


def number_grids(
    grids: gpd.GeoDataFrame,
    *,
    village_names: Mapping[str, str] | None = None,
    lang: str = "zh",
) -> gpd.GeoDataFrame:
    """Give grids their sequence, 15-digit code and name, in reading order per village.

    Parameters
    ----------
    grids
        Grid polygons with ``village_id`` (metric CRS).
    village_names
        Village id → name; by default the ``village_name`` column, else the id.
    lang
        ``"zh"`` gives ``"<village>第3网格"``, ``"en"`` gives ``"<village> grid 3"``.

    Returns
    -------
    GeoDataFrame
        A copy sorted by the new ``id`` with ``seq``, ``id`` and ``name`` (re)set.
    """
    if lang not in ("zh", "en"):
        raise PlannerError(f"lang must be 'zh' or 'en', got {lang!r}")
    out = grids.copy()
    vid = clean_ids(out["village_id"]).to_numpy()
    codes, village = np.unique(vid, return_inverse=True)
    geoms = out.geometry.to_numpy()
    center = shapely.get_coordinates(shapely.centroid(geoms))
    area = np.bincount(village, weights=shapely.area(geoms), minlength=len(codes))
    count = np.bincount(village, minlength=len(codes))
    top = np.full(len(codes), -np.inf)
    np.maximum.at(top, village, shapely.bounds(geoms)[:, 3])
    row_height = np.sqrt(area / count)[village]
    row = np.floor((top[village] - center[:, 1]) / np.where(row_height > 0, row_height, 1))
    order = np.lexsort((center[:, 0], row, village))
    seq = np.empty(len(out), dtype=np.int64)
    start = np.searchsorted(village[order], np.arange(len(codes)))
    seq[order] = np.arange(len(out)) - start[village[order]] + 1
    if seq.size and seq.max() > MAX_GRIDS_PER_VILLAGE:
        raise PlannerError(
            f"a village has {seq.max()} grids; codes allow at most {MAX_GRIDS_PER_VILLAGE}"
        )
    if village_names is None:
        given = out["village_name"] if "village_name" in out else pd.Series("", index=out.index)
        names = clean_ids(given).to_numpy()
    else:
        names = np.array([str(village_names.get(v, "")) for v in vid], dtype=object)
    names = np.where(names == "", vid, names)
    out["village_id"] = vid
    out["seq"] = seq
    out["id"] = [f"{v}{s:03d}" for v, s in zip(vid, seq, strict=True)]
    pattern = "{}第{}网格" if lang == "zh" else "{} grid {}"
    out["name"] = [pattern.format(n, s) for n, s in zip(names, seq, strict=True)]
    return out.iloc[np.argsort(out["id"].to_numpy(), kind="stable")].reset_index(drop=True)


# ---------------------------------------------------------------------------- derived areas


def derive_village_areas(
    villages: gpd.GeoDataFrame, townships: gpd.GeoDataFrame
) -> gpd.GeoDataFrame:
    """Village polygons from village points: Voronoi cells clipped to the township polygon
    each point lies in.

    Each township is split among the villages whose points lie in it, whatever their
    ``township_id`` says: a village's cell always holds its point, so its grids never lie
    away from it. Villages whose ledger township differs from that polygon, and villages
    whose point lies in no township (they get no area), are named with a fix. Cells are
    approximations of the real boundaries and should be labelled as such.

    Parameters
    ----------
    villages
        Village points (``id``; optional ``name``, ``township_id``), metric CRS.
    townships
        Township polygons (``id``; optional ``name``), same CRS.

    Returns
    -------
    GeoDataFrame
        The village attributes with polygon geometry, plus ``derived`` = True. Notes on
        conflicts and skipped villages are in ``.attrs["warnings"]``.
    """
    require_metric(villages, "villages")
    require_metric(townships, "townships")
    located = locate_villages(villages, townships)
    areas, notes = _derive(villages, townships, located)
    areas.attrs["warnings"] = notes
    return areas


def _derive(
    villages: gpd.GeoDataFrame, townships: gpd.GeoDataFrame, located: pd.DataFrame
) -> tuple[gpd.GeoDataFrame, list[str]]:
    """Voronoi cells of the points of each township, clipped to it (see
    :func:`derive_village_areas`); ``located`` gains notes for villages left without."""
    if not townships.crs.equals(villages.crs):
        townships = townships.to_crs(villages.crs)
    t_geom = shapely.make_valid(townships.geometry.to_numpy())
    points = shapely.get_coordinates(
        shapely.point_on_surface(villages.geometry.to_numpy()), return_index=True
    )
    town = located["town"].to_numpy()
    xy = np.full((len(villages), 2), np.nan)
    xy[points[1]] = points[0]
    cells = np.array([None] * len(villages), dtype=object)
    twin = np.full(len(villages), -1)
    for t in np.unique(town[town >= 0]):
        members = np.flatnonzero(town == t)
        _, keep, inverse = np.unique(xy[members], axis=0, return_index=True, return_inverse=True)
        twin[members] = members[keep[inverse.ravel()]]
        keep = np.sort(keep)
        if len(keep) == 1:
            cells[members[keep]] = t_geom[t]
        else:
            diagram = shapely.voronoi_polygons(
                shapely.multipoints(xy[members[keep]]), extend_to=t_geom[t], ordered=True
            )
            cells[members[keep]] = shapely.intersection(shapely.get_parts(diagram), t_geom[t])
    _note_twins(located, twin, cells)
    conflicts = located["note"][located["conflict"]].tolist()
    lost = located["note"][pd.isna(cells) & (located["note"] != "")].tolist()
    notes = summarise_notes(conflicts, "township conflicts") + summarise_notes(
        lost, "villages without grids"
    )
    ok = ~pd.isna(cells)
    out = gpd.GeoDataFrame(
        villages.drop(columns=villages.geometry.name)[ok].reset_index(drop=True),
        geometry=list(cells[ok]),
        crs=villages.crs,
    )
    out["derived"] = True
    return out, notes


def _note_twins(located: pd.DataFrame, twin: np.ndarray, cells: np.ndarray) -> None:
    """Note villages sharing their point with an earlier village of the same township."""
    col = located.columns.get_loc("note")
    for i in np.flatnonzero(pd.isna(cells) & (twin >= 0)):
        first = located.iloc[twin[i]]
        located.iloc[i, col] = (
            f"village {label(located['village_id'].iloc[i], located['village_name'].iloc[i])}"
            f": same location as village {label(first['village_id'], first['village_name'])}"
            ": no area, no grids drawn; give it its own coordinates or a village area"
        )
