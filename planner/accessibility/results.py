"""Accessibility scores of a run on its layers and in its summary: ``<level>_access`` on
the villages, ``<level>_supply_ratio`` on the centers, ``summary.json`` ``access``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from planner.accessibility.geo import LevelAccess
from planner.accessibility.stats import access_summary
from planner.scenario.access import AccessSettings


def villages_with_access(
    villages: gpd.GeoDataFrame, access: Mapping[str, LevelAccess]
) -> gpd.GeoDataFrame:
    """``villages`` (positions 0…n-1 as scored) with ``<level>_access`` per level."""
    if not access:
        return villages
    columns = {f"{level}_access": scores.access for level, scores in access.items()}
    return villages.assign(**columns)


def centers_with_ratios(
    centers: gpd.GeoDataFrame, access: Mapping[str, LevelAccess]
) -> gpd.GeoDataFrame:
    """``centers`` with ``<level>_supply_ratio`` per level (empty for centers that do not
    serve the level)."""
    if not access or "id" not in centers.columns:
        return centers
    ids = centers["id"].astype("string")
    columns = {}
    for level, scores in access.items():
        ratio = pd.Series(scores.supply_ratio, index=pd.Index(scores.center_ids, dtype="string"))
        ratio = ratio[~ratio.index.duplicated()]
        columns[f"{level}_supply_ratio"] = ids.map(ratio).astype(float).to_numpy()
    return centers.assign(**columns)


def access_summaries(
    villages: gpd.GeoDataFrame, access: Mapping[str, LevelAccess], settings: AccessSettings
) -> dict[str, Any]:
    """``summary.json`` ``access``: per level the method and supply, then ``mean``,
    ``p10``, ``p50``, ``p90`` and ``gini`` over residents, and the centers scored."""
    pop = villages["population"].fillna(0).clip(lower=0).to_numpy(dtype=float)
    out: dict[str, Any] = {}
    for level, scores in access.items():
        reached = np.isfinite(scores.supply_ratio)
        out[level] = {
            "method": settings.method,
            "decay": settings.decay if settings.method == "e2sfca" else None,
            "supply": settings.supply,
            **access_summary(scores.access, pop),
            "population_without_access": float(pop[scores.access <= 0].sum()),
            "centers": len(scores.supply_ratio),
            "centers_reaching_nobody": int((~reached).sum()),
        }
    return out
