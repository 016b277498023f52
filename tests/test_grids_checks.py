"""Tests of planner.grids.checks: every kind of grid problem is found."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pytest
from grids_helpers import CRS, X0, Y0, villages_gdf, voronoi_region
from shapely.geometry import Polygon, box

from planner.grids import check_grids, generate_grids


def test_check_clean_grids_finds_nothing():
    areas = voronoi_region(12, seed=2)
    issues = check_grids(generate_grids(areas).grids, areas)
    assert issues.empty
    assert list(issues.columns) == [
        "kind",
        "grid_id",
        "village_id",
        "area_m2",
        "message",
        "geometry",
    ]


def test_check_finds_every_kind_of_problem():
    areas = villages_gdf(
        [
            box(X0, Y0, X0 + 2000, Y0 + 1000),
            box(X0 + 2000, Y0, X0 + 4000, Y0 + 1000),
            box(X0 + 5000, Y0, X0 + 6000, Y0 + 1000),
        ],
        [60, 60, 30],
    )
    grids = generate_grids(areas.iloc[:2]).grids  # 2 grids each; village 3 has none
    ids = grids["id"].tolist()
    assert ids == ["150521100001001", "150521100001002", "150521100002001", "150521100002002"]
    geoms = grids.geometry.to_numpy().copy()
    # Grid 1 shrinks by 100 m on its west side: a 100 × 1000 gap.
    geoms[0] = box(X0 + 100, Y0, X0 + 1000, Y0 + 1000)
    # Grid 2 pushes 50 m into village 2: crossing and an overlap with grid 3.
    geoms[1] = box(X0 + 1000, Y0, X0 + 2050, Y0 + 1000)
    bad = grids.assign(geometry=geoms)
    bad.loc[3, "id"] = "150521100002001"  # duplicate
    sliver = {
        "id": "15052110000200",
        "village_id": "150521100002",
        "geometry": box(X0 + 3999, Y0 + 999, X0 + 4000, Y0 + 1000),
    }  # 14 digits, 1 m², overlaps grid 4
    stray = {
        "id": "150521100099001",
        "village_id": "150521100099",
        "geometry": box(X0 + 7000, Y0, X0 + 7100, Y0 + 100),
    }
    wrong = {
        "id": "150521100003001",
        "village_id": "150521100002",
        "geometry": box(X0 + 3000, Y0 + 2000, X0 + 3100, Y0 + 2100),
    }
    bad = pd.concat([bad, gpd.GeoDataFrame([sliver, stray, wrong], crs=CRS)], ignore_index=True)
    issues = check_grids(bad, areas, min_area_m2=0.5)
    by = {k: g for k, g in issues.groupby("kind")}
    assert set(by) == {"gap", "crossing", "overlap", "code", "sliver", "unknown_village", "no_grid"}
    gap = by["gap"]
    assert gap["village_id"].tolist() == ["150521100001"]
    assert gap["area_m2"].iloc[0] == pytest.approx(100 * 1000)
    assert gap.geometry.iloc[0].equals(box(X0, Y0, X0 + 100, Y0 + 1000))
    crossing = by["crossing"].set_index("grid_id")
    assert crossing.loc["150521100001002", "area_m2"] == pytest.approx(50 * 1000)
    assert crossing.loc["150521100003001", "area_m2"] == pytest.approx(100 * 100)
    overlap = by["overlap"]
    assert ("grids 150521100001002 and 150521100002001 overlap by 50,000 m²") in overlap[
        "message"
    ].tolist()
    assert overlap["area_m2"].max() == pytest.approx(50 * 1000)
    codes = dict(zip(by["code"]["grid_id"], by["code"]["message"], strict=True))
    assert "used more than once" in codes["150521100002001"]
    assert "not 15 digits" in codes["15052110000200"]
    assert "does not start with its village code" in codes["150521100003001"]
    assert by["sliver"]["grid_id"].tolist() == ["15052110000200"]  # 1 m²
    assert by["unknown_village"]["village_id"].tolist() == ["150521100099"]
    assert by["no_grid"]["village_id"].tolist() == ["150521100003"]
    assert by["no_grid"]["area_m2"].iloc[0] == pytest.approx(1e6)


def test_check_reports_thin_grids_and_invalid_geometry():
    areas = villages_gdf([box(X0, Y0, X0 + 6000, Y0 + 100)], [30])
    thin = gpd.GeoDataFrame(
        {"id": ["150521100001001", "150521100001002"], "village_id": ["150521100001"] * 2},
        geometry=[
            box(X0, Y0, X0 + 6000, Y0 + 80),
            Polygon([(X0, Y0), (X0 + 10, Y0 + 10), (X0 + 10, Y0), (X0, Y0 + 10)]),
        ],
        crs=CRS,
    )
    issues = check_grids(thin, areas)
    kinds = issues.groupby("kind")["grid_id"].apply(list).to_dict()
    assert "150521100001001" in kinds["sliver"]  # 6000 × 80: compactness ≈ 0.04
    assert kinds["invalid"] == ["150521100001002"]


def test_an_empty_grid_layer_leaves_every_village_without_a_grid():
    areas = voronoi_region(5, seed=4)
    empty = gpd.GeoDataFrame({"id": [], "village_id": []}, geometry=[], crs=areas.crs)
    issues = check_grids(empty, areas)
    assert issues["kind"].tolist() == ["no_grid"] * len(areas)
    assert issues["village_id"].tolist() == areas["id"].astype(str).tolist()
    assert issues["area_m2"].to_numpy() == pytest.approx(areas.area.to_numpy())
