"""Tests of planner.grids.derive: village areas as Voronoi cells within townships."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from grids_helpers import CRS, DATA, X0, Y0, assert_tiles
from scipy.spatial import cKDTree
from shapely.geometry import box

from planner.grids import check_grids, derive_village_areas, generate_grids


def test_derive_village_areas_is_voronoi_within_townships():
    rng = np.random.default_rng(5)
    towns = gpd.GeoDataFrame(
        {"id": ["150521100", "150521101"]},
        geometry=[
            box(X0, Y0, X0 + 10_000, Y0 + 8000),
            box(X0 + 10_000, Y0, X0 + 16_000, Y0 + 8000),
        ],
        crs=CRS,
    )
    xy = np.vstack(
        [
            rng.uniform([X0, Y0], [X0 + 10_000, Y0 + 8000], (15, 2)),
            rng.uniform([X0 + 10_000, Y0], [X0 + 16_000, Y0 + 8000], (9, 2)),
        ]
    )
    town = ["150521100"] * 15 + ["150521101"] * 9
    town[3] = ""  # falls back to the township it lies in
    villages = gpd.GeoDataFrame(
        {
            "id": [f"150521{i + 1:06d}" for i in range(24)],
            "households": 90.0,
            "township_id": town,
        },
        geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]),
        crs=CRS,
    )
    areas = derive_village_areas(villages, towns)
    assert areas["id"].tolist() == villages["id"].tolist()
    assert areas.attrs["warnings"] == []
    for t, poly in zip(towns["id"], towns.geometry, strict=True):
        own = areas[villages["township_id"].replace("", "150521100") == t].geometry.to_numpy()
        assert abs(shapely.area(own).sum() - poly.area) < 1e-6 * poly.area
        assert shapely.union_all(own).symmetric_difference(poly).area < 1e-6 * poly.area
    # Sample locations belong to the cell of their nearest village of the same township.
    probe = rng.uniform([X0, Y0], [X0 + 16_000, Y0 + 8000], (500, 2))
    in_town = (probe[:, 0] >= X0 + 10_000).astype(int)
    for t in (0, 1):
        members = np.flatnonzero(np.r_[np.zeros(15), np.ones(9)] == t)
        nearest = members[cKDTree(xy[members]).query(probe[in_town == t])[1]]
        cells = areas.geometry.to_numpy()[nearest]
        assert shapely.contains_xy(cells, *probe[in_town == t].T).all()
    res = generate_grids(None, villages, townships=towns)
    assert res.derived_areas
    assert any("Voronoi" in w for w in res.warnings)
    assert_tiles(res.grids, areas)


def test_derive_reports_lost_villages():
    towns = gpd.GeoDataFrame({"id": ["150521100"]}, geometry=[box(0, 0, 100, 100)], crs=CRS)
    villages = gpd.GeoDataFrame(
        {"id": ["150521100001", "150521100002", "150521100003"]},
        geometry=gpd.points_from_xy([10, 10, 500], [10, 10, 500]),
        crs=CRS,
    )
    areas = derive_village_areas(villages, towns)
    assert areas["id"].tolist() == ["150521100001"]
    assert areas.geometry.iloc[0].equals(box(0, 0, 100, 100))
    text = " ".join(areas.attrs["warnings"])
    assert "village 150521100002: same location as village 150521100001" in text
    assert (
        "village 150521100003: its point lies in no township polygon (566 m from the nearest, "
        "150521100): no grids drawn; check the coordinates (GCJ-02?)" in text
    )


@pytest.mark.skipif(not (DATA / "cn_admin").exists(), reason="shared reference data absent")
def test_real_county_outline_and_villages():
    """科尔沁左翼中旗 (150521): its outline and 354 village points (Vonng/adcode, CC BY 4.0).

    Coordinates are GCJ-02; the offset of a few hundred metres does not matter here.
    Households are made up (200 each); the geometry is real.
    """
    outline = shapely.from_geojson((DATA / "cn_admin/fences_gcj02/150521.json").read_text())
    rows = pd.read_csv(DATA / "cn_admin/adcode_2016/150521.csv", header=None, dtype=str)
    rows = rows[(rows[3] == "village") & rows[12].notna()]
    towns = gpd.GeoDataFrame({"id": ["150521"]}, geometry=[outline], crs="EPSG:4326").to_crs(CRS)
    villages = gpd.GeoDataFrame(
        {"id": rows[0].to_numpy(), "name": rows[2].to_numpy(), "households": 200.0},
        geometry=gpd.points_from_xy(rows[12].astype(float), rows[13].astype(float)),
        crs="EPSG:4326",
    ).to_crs(CRS)
    villages = villages[villages.within(towns.geometry.iloc[0])]
    assert len(villages) > 300
    res = generate_grids(None, villages, townships=towns)
    areas = res.areas
    # The data place 5 pairs of same-named villages on one point; the second of each
    # pair gets no area, and says so.
    xy = pd.DataFrame(shapely.get_coordinates(villages.geometry.to_numpy()))
    lost = villages["id"][xy.duplicated().to_numpy()]
    assert len(lost) == 5
    assert sorted(areas["id"]) == sorted(set(villages["id"]) - set(lost))
    for vid in lost:
        assert any(
            w.startswith(f"village {vid} (") and ": same location" in w for w in res.warnings
        )
    assert res.derived_areas
    assert_tiles(res.grids, areas, single=False)
    # A grid is in several parts only where its derived village is (the outline is ragged).
    multi = res.grids[shapely.get_num_geometries(res.grids.geometry.to_numpy()) > 1]
    parts = areas.set_index("id").geometry.reindex(multi["village_id"]).to_numpy()
    assert (shapely.get_num_geometries(parts) > 1).all()
    assert res.grids["id"].str.fullmatch(r"\d{15}").all() and res.grids["id"].is_unique
    assert check_grids(res.grids, areas, sliver_area_m2=0, sliver_thinness=0).empty
