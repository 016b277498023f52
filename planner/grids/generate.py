"""Grid generation: :func:`generate_grids` and its defaults (method: :mod:`planner.grids`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from planner.errors import PlannerError
from planner.grids.attributes import assemble, grid_stats, village_summary
from planner.grids.bisect import household_shares, merge_strays, partition
from planner.grids.derive import derive
from planner.grids.locate import locate_villages, points_in_areas, summarise_notes
from planner.grids.numbering import MAX_GRIDS_PER_VILLAGE
from planner.grids.villages import point_weights, require_metric, village_table

__all__ = [
    "HOUSEHOLD_SIZE",
    "RURAL_HOUSEHOLDS_PER_GRID",
    "RURAL_WORKERS_PER_GRID",
    "URBAN_HOUSEHOLDS_PER_GRID",
    "URBAN_WORKERS_PER_GRID",
    "GridResult",
    "generate_grids",
]

RURAL_HOUSEHOLDS_PER_GRID = 30.0
URBAN_HOUSEHOLDS_PER_GRID = 250.0
RURAL_WORKERS_PER_GRID = 30_241 / 18_332  # Tongliao: 30,241 workers for 18,332 grids
URBAN_WORKERS_PER_GRID = 5_044 / 2_292  # Tongliao: 5,044 workers for 2,292 grids
HOUSEHOLD_SIZE = 2.62


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
    derived = village_areas is None
    village_areas, located = _village_polygons(village_areas, villages, townships, notes)
    table = village_table(village_areas, villages, notes)
    by_population = population_per_grid is not None
    column = "population" if by_population else "households"
    pts_xy, pts_w, pts_vil = point_weights(points, table, by_population, notes)
    _fill_totals(table, pts_w, pts_vil, column, notes)
    if population_per_grid is not None:
        target = np.full(len(table), float(population_per_grid))
        hh_target = target / HOUSEHOLD_SIZE
    else:
        rural = rural_households_per_grid if households_per_grid is None else households_per_grid
        urban = urban_households_per_grid if households_per_grid is None else households_per_grid
        hh_target = target = np.where(table["urban"], urban, rural).astype(float)
    k = _grid_counts(table["id"].to_numpy(), table[column].to_numpy(float), target, notes)
    geoms, vil = _cut(table, k, pts_xy, pts_w, pts_vil, notes)
    share = household_shares(geoms, vil, pts_xy, pts_w, pts_vil, len(table))
    wpg = np.where(table["urban"], urban_workers_per_grid, rural_workers_per_grid)
    grids = assemble(table, geoms, vil, share, k, hh_target, wpg, lang)
    per_village = village_summary(grids, table)
    if located is not None:
        per_village = _with_ledger(per_village, located)
    return GridResult(grids, per_village, grid_stats(grids, per_village), notes, derived, table)


def _village_polygons(
    village_areas: gpd.GeoDataFrame | None,
    villages: gpd.GeoDataFrame | None,
    townships: gpd.GeoDataFrame | None,
    notes: list[str],
) -> tuple[gpd.GeoDataFrame, pd.DataFrame | None]:
    """The village polygons to grid (derived when ``village_areas`` is ``None``) and where
    each village point lies (``None`` without village points)."""
    if village_areas is None:
        if villages is None or townships is None:
            raise PlannerError("village boundaries are missing: give villages and townships")
        require_metric(villages, "villages")
        require_metric(townships, "townships")
        located = locate_villages(villages, townships)
        village_areas, derive_notes = derive(villages, townships, located)
        notes += derive_notes
        notes.append(
            "village boundaries were not given: they were derived as Voronoi cells of the "
            "village points clipped to the township polygon each point lies in"
        )
        require_metric(village_areas, "village_areas")
        return village_areas, located
    require_metric(village_areas, "village_areas")
    if villages is None:
        return village_areas, None
    located = points_in_areas(_same_crs(villages, village_areas.crs), village_areas)
    notes += summarise_notes(
        located["note"][located["note"] != ""].tolist(), "villages off their area"
    )
    return village_areas, located


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


def _cut(table, k, pts_xy, pts_w, pts_vil, notes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Grid polygons of every village (``k`` each) and the village of each grid."""
    geoms, vil = partition(table.geometry.to_numpy(), k, pts_xy, pts_w, pts_vil)
    geoms = merge_strays(geoms, vil)
    split = shapely.get_num_geometries(geoms) > 1
    if split.any():
        notes.append(
            f"{int(split.sum())} grid(s) are in several parts because their village is: "
            + ", ".join(sorted(set(table["id"].to_numpy()[vil[split]])))
        )
    return geoms, vil


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
