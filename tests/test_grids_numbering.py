"""Tests of planner.grids.numbering: reading order, codes and names."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely
from grids_helpers import CRS, X0, Y0, villages_gdf
from shapely.geometry import box

from planner.errors import PlannerError
from planner.grids import generate_grids, number_grids


def test_numbering_reads_north_to_south_west_to_east():
    cells = [
        box(X0 + c * 100, Y0 + 200 - r * 100, X0 + (c + 1) * 100, Y0 + 300 - r * 100)
        for r in range(3)
        for c in range(3)
    ]  # row-major from the north-west
    order = np.random.default_rng(0).permutation(9)
    grids = gpd.GeoDataFrame(
        {"village_id": ["150521100001"] * 9, "village_name": "保康村"},
        geometry=[cells[i] for i in order],
        crs=CRS,
    )
    out = number_grids(grids)
    assert out["id"].tolist() == [f"150521100001{i:03d}" for i in range(1, 10)]
    assert all(a.equals(b) for a, b in zip(out.geometry, cells, strict=True))
    assert out["name"].iloc[2] == "保康村第3网格"
    assert number_grids(grids, lang="en")["name"].iloc[2] == "保康村 grid 3"


def test_generated_numbering_starts_north_west():
    village = villages_gdf([box(X0, Y0, X0 + 3000, Y0 + 2000)], [270], names=["保康村"])
    grids = generate_grids(village).grids
    assert grids["id"].tolist() == [f"150521100001{i:03d}" for i in range(1, 10)]
    assert grids.geometry.iloc[0].intersects(shapely.Point(X0, Y0 + 2000))
    assert grids.geometry.iloc[-1].intersects(shapely.Point(X0 + 3000, Y0))
    assert grids["name"].tolist()[:2] == ["保康村第1网格", "保康村第2网格"]


def test_number_grids_renumbers_user_grids():
    cells = [box(X0 + i * 100, Y0, X0 + (i + 1) * 100, Y0 + 100) for i in (2, 0, 1)]
    grids = gpd.GeoDataFrame({"village_id": ["150521100001"] * 3}, geometry=cells, crs=CRS)
    out = number_grids(grids, village_names={"150521100001": "东村"})
    assert out["id"].tolist() == ["150521100001001", "150521100001002", "150521100001003"]
    assert shapely.get_coordinates(out.geometry.centroid.to_numpy())[:, 0].tolist() == [
        X0 + 50,
        X0 + 150,
        X0 + 250,
    ]
    assert out["name"].tolist() == ["东村第1网格", "东村第2网格", "东村第3网格"]
    with pytest.raises(PlannerError, match="lang"):
        number_grids(grids, lang="fr")
