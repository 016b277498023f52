"""Adequacy: each center's served population against its floor area.

A center's **served population** at a level is the population of the villages whose
nearest center of that level (as the coverage step measured it: straight line or along
roads, with the level's radius or the radius of the center's own group) is this center
*and* that are within that radius — the villages :func:`planner.catchment.level_coverage`
marks covered and assigns to it. Distances are not measured again: the step reads the
nearest center and the covered flag the coverage step recorded. Every covered village is
served by exactly one center of the level, so the served populations of a level add up to
its covered population.

A center's size is compared with a population-scaled rule: ``m2_per_1000`` square metres
of floor area (``area_m2``) per 1,000 residents served, per center level. The seeds give
absolute floors only (checked by the standards step); the per-resident figures are set
per level in the scenario (``[adequacy] m2_per_1000``) or the standards profile
(``[adequacy] m2_per_1000``), else :data:`DEFAULT_M2_PER_1000` applies.

Verdicts: ``overloaded`` (the area supports fewer residents than it serves), ``adequate``,
``unknown`` (no ``area_m2`` recorded: never counted as adequate) and ``no_rule`` (no
figure for the center's level).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from planner.catchment import LevelResult

__all__ = [
    "ADEQUACY_COLUMNS",
    "DEFAULT_M2_PER_1000",
    "STATUSES",
    "adequacy",
    "adequacy_rules",
    "adequacy_summary",
    "served_population",
]

#: Floor area per 1,000 residents served when neither the scenario nor the profile sets
#: one: village/community centers 100 m² (the national community-services planning figure
#: of 30 m² per 100 households, at 3 residents per household). Our default, not a seed's.
DEFAULT_M2_PER_1000: dict[str, float] = {"village": 100.0}

#: Verdicts, in the order summaries list them.
STATUSES: tuple[str, ...] = ("overloaded", "adequate", "unknown", "no_rule")

#: Columns of :func:`adequacy`, in order.
ADEQUACY_COLUMNS: tuple[str, ...] = (
    "level", "center_id", "name", "center_level", "township_id", "served_villages",
    "served_population", "floor_area_m2", "m2_per_1000", "required_m2", "shortfall_m2",
    "residents_supported", "residents_over", "area_per_1000", "status",
)  # fmt: skip


def adequacy_rules(
    *layers: Mapping[str, float] | None, default: Mapping[str, float] = DEFAULT_M2_PER_1000
) -> dict[str, float]:
    """``m2_per_1000`` per center level: ``default``, overridden level by level by each of
    ``layers`` in turn (the profile's, then the scenario's)."""
    rules = dict(default)
    for layer in layers:
        rules.update(layer or {})
    return rules


def served_population(res: LevelResult, population: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Villages and population each center of ``res`` serves (its covered villages).

    Returns two arrays aligned on ``res.centers``: the count of villages and their
    population (blank populations count 0)."""
    n = len(res.centers)
    mine = res.covered & (res.nearest.index >= 0)
    index = res.nearest.index[mine]
    pop = np.nan_to_num(np.asarray(population, dtype=float)[mine])
    return (
        np.bincount(index, minlength=n).astype(np.int64),
        np.bincount(index, weights=pop, minlength=n),
    )


def _center_column(centers: pd.DataFrame, column: str, dtype: Any) -> pd.Series:
    if column in centers.columns:
        return centers[column].astype(dtype).reset_index(drop=True)
    return pd.Series(pd.NA, index=range(len(centers)), dtype=dtype)


def _level_table(
    level: str, res: LevelResult, population: np.ndarray, rules: Mapping[str, float]
) -> gpd.GeoDataFrame:
    centers = res.centers
    villages, served = served_population(res, population)
    own = _center_column(centers, "level", "string")
    recorded = pd.to_numeric(_center_column(centers, "area_m2", "Float64"), errors="coerce")
    area = recorded.to_numpy(dtype=float, na_value=np.nan)
    rate = own.map(dict(rules)).to_numpy(dtype=float, na_value=np.nan)
    required = rate * served / 1000.0
    with np.errstate(divide="ignore", invalid="ignore"):
        supported = np.where(rate > 0, area / rate * 1000.0, np.where(rate == 0, np.inf, np.nan))
    status = np.select(
        [np.isnan(rate), np.isnan(area), area < required],
        ["no_rule", "unknown", "overloaded"],
        "adequate",
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        per_1000 = np.where(served > 0, area / served * 1000.0, np.nan)
    table = pd.DataFrame(
        {
            "level": level,
            "center_id": centers["id"].astype("string").to_numpy(),
            "name": _center_column(centers, "name", "string").to_numpy(),
            "center_level": own.to_numpy(),
            "township_id": _center_column(centers, "township_id", "string").to_numpy(),
            "served_villages": villages,
            "served_population": served,
            "floor_area_m2": area,
            "m2_per_1000": rate,
            "required_m2": np.round(required, 1),
            "shortfall_m2": np.round(np.maximum(required - area, 0.0), 1),
            "residents_supported": np.round(np.where(np.isinf(supported), np.nan, supported)),
            "residents_over": np.round(np.maximum(served - supported, 0.0)),
            "area_per_1000": np.round(per_1000, 1),
            "status": status,
        }
    )
    return gpd.GeoDataFrame(table, geometry=centers.geometry.to_numpy(), crs=centers.crs)


def adequacy(
    levels: Mapping[str, LevelResult],
    population: np.ndarray,
    rules: Mapping[str, float],
) -> gpd.GeoDataFrame:
    """One row per level and center serving it: served villages and population, floor
    area against ``rules`` and the verdict.

    Parameters
    ----------
    levels
        Coverage per level (:func:`planner.steps.compute_levels`), on the villages whose
        ``population`` is given.
    population
        Residents per village, aligned on the villages of ``levels`` (NaN counts 0).
    rules
        ``m2_per_1000`` per center level (:func:`adequacy_rules`).

    Returns
    -------
    GeoDataFrame
        :data:`ADEQUACY_COLUMNS` and the centers' geometry. ``required_m2`` =
        ``m2_per_1000`` × served population / 1,000; ``shortfall_m2`` = what the area lacks
        of it; ``residents_supported`` = the residents the area serves at the rule;
        ``residents_over`` = served population above that; ``area_per_1000`` = m² per
        1,000 served. Missing where a rule or the area is
        missing (the shortfall and residents over of an ``unknown`` center are unknown too).
        Sorted by level, overloaded first, largest shortfall first.
    """
    tables = [_level_table(lvl, res, population, rules) for lvl, res in levels.items()]
    if not tables:
        return gpd.GeoDataFrame({c: [] for c in ADEQUACY_COLUMNS}, geometry=[])
    table = gpd.GeoDataFrame(pd.concat(tables, ignore_index=True), crs=tables[0].crs)
    rank = table["status"].map({s: i for i, s in enumerate(STATUSES)})
    level_rank = table["level"].map({lvl: i for i, lvl in enumerate(levels)})
    order = np.lexsort((-table["shortfall_m2"].fillna(0).to_numpy(), rank, level_rank))
    return table.iloc[order][[*ADEQUACY_COLUMNS, "geometry"]].reset_index(drop=True)


def adequacy_summary(table: pd.DataFrame, rules: Mapping[str, float]) -> dict[str, Any]:
    """``summary.json`` ``adequacy``: the rules, and per level the centers by verdict, the
    total shortfall (m²) and the residents served above what the areas support."""
    per_level: dict[str, Any] = {}
    for level, rows in table.groupby("level", sort=False):
        counts = rows["status"].value_counts()
        over = rows[rows["status"] == "overloaded"]
        per_level[str(level)] = {
            "centers": len(rows),
            **{status: int(counts.get(status, 0)) for status in STATUSES},
            "shortfall_m2": round(float(over["shortfall_m2"].sum()), 1),
            "residents_over": float(over["residents_over"].sum()),
        }
    return {"m2_per_1000": dict(rules), "levels": per_level}
