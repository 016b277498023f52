"""Shared pieces of the Dask tests: coverage of one scenario computed in this process and
on Dask, and the per-county datasets the Dask engine writes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from planner.catchment import LevelResult
from planner.distributed import compute_levels_dask
from planner.layers import LayerSet
from planner.road_coverage import RoadSearch
from planner.scenario import Scenario
from planner.steps import compute_levels, coverage_levels, road_network

Levels = dict[str, LevelResult]


def levels_both_ways(scenario: Scenario, layers: LayerSet, client: Any) -> tuple[Levels, Levels]:
    """Coverage of every level of ``scenario``: in this process, then on ``client``."""
    villages, centers = layers["villages"], layers["centers"]
    levels = coverage_levels(scenario)
    roads = RoadSearch(road_network(scenario, layers), villages, scenario.network.max_access_m)
    local = compute_levels(villages, centers, levels, roads=roads)
    spread = compute_levels_dask(
        villages, centers, levels, network=scenario.network, roads=layers["roads"],
        townships=layers["townships"], client=client,
    )  # fmt: skip
    return local, spread


def read_dataset(folder: Path) -> gpd.GeoDataFrame:
    """Every county's share of a ``parts/<layer>`` dataset, in county order."""
    parts = sorted(folder.glob("county=*/part.parquet"))
    return pd.concat([gpd.read_parquet(p) for p in parts], ignore_index=True)
