"""``Plan``: everything a run computed, from which every output is written."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import pandas as pd

from planner.catchment import LevelResult
from planner.layers import LayerSet
from planner.scenario import Scenario


@dataclass
class Plan:
    """Everything a run produced; outputs are written from it."""

    scenario: Scenario
    layers: LayerSet
    levels: dict[str, LevelResult]
    villages: gpd.GeoDataFrame
    centers: gpd.GeoDataFrame
    service_areas: gpd.GeoDataFrame
    gaps: gpd.GeoDataFrame
    audit: gpd.GeoDataFrame
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    #: proposed sites: ``kind`` (subcenter|station), ``rank``, ``site_id``, ``name``,
    #: ``new_population_covered``, ``reason``; points in the working CRS
    proposals: gpd.GeoDataFrame | None = None
    #: coverage per level with the proposals built (same shape as ``summary["levels"]``)
    after: dict[str, Any] = field(default_factory=dict)
    #: coverage against the number of new stations: sites, covered_weight, coverage_share,
    #: marginal_gain
    budget_curve: pd.DataFrame | None = None
    #: generated (or checked user) grids: id, name, village_id, households, workers, …
    grids: gpd.GeoDataFrame | None = None
    #: problems found in a user grid layer: kind, grid_id, village_id, message, geometry
    grid_issues: gpd.GeoDataFrame | None = None
    #: per center and rule: center_id, rule, measured, threshold, verdict
    compliance: pd.DataFrame | None = None
