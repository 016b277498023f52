"""Tests of planner.grids.villages: village attributes, bad polygons, codes and counts."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely
from grids_helpers import CRS, X0, Y0, assert_tiles, villages_gdf
from shapely.geometry import MultiPolygon, Polygon, box

from planner.grids import generate_grids


def test_attributes_come_from_village_points():
    areas = gpd.GeoDataFrame(
        {"id": ["150521100001", "150521100002"]},
        geometry=[box(X0, Y0, X0 + 1000, Y0 + 1000), box(X0 + 1000, Y0, X0 + 2000, Y0 + 1000)],
        crs=CRS,
    )
    points = gpd.GeoDataFrame(
        {
            "id": ["150521100002", "150521100001"],
            "name": ["西社区", "东村"],
            "households": [500.0, 90.0],
            "urban": [True, False],
        },
        geometry=gpd.points_from_xy([X0 + 1500, X0 + 500], [Y0 + 500, Y0 + 500]),
        crs=CRS,
    )
    res = generate_grids(areas, points)
    table = res.villages.set_index("village_id")
    assert table.loc["150521100001", "grids"] == 3  # 90 / 30
    assert table.loc["150521100002", "grids"] == 2  # 500 / 250, urban
    assert table.loc["150521100002", "name"] == "西社区"
    assert res.grids["name"].iloc[0] == "东村第1网格"


def test_bad_villages_are_reported_and_the_rest_goes_on():
    bowtie = Polygon([(0, 0), (1000, 1000), (1000, 0), (0, 1000)])
    two_parts = MultiPolygon([box(0, 0, 1000, 1000), box(3000, 0, 3500, 500)])
    geoms = [
        shapely.affinity.translate(g, X0, Y0)
        for g in [
            bowtie,
            two_parts,
            box(5000, 0, 6000, 1000),  # zero households
            box(7000, 0, 8000, 1000),  # no code
            box(7500, 500, 8500, 1500),  # overlaps the one before
            box(9000, 0, 10000, 1000),  # duplicate code
        ]
    ]
    ids = ["150521100001", "150521100002", "150521100003", None, "150521100005", "150521100005"]
    villages = villages_gdf(geoms, [120, 300, 0, 90, 90, 90], ids=ids)
    res = generate_grids(villages)
    text = "\n".join(res.warnings)
    assert "150521100001: invalid polygon (Self-intersection" in text
    assert "150521100002 is in 2 separate parts" in text
    assert "150521100003 has no households or population: one grid covers it" in text
    assert "row 4 (村4) has no code" in text
    assert "150521100005 appears more than once" in text
    assert set(res.grids["village_id"]) == {
        "150521100001",
        "150521100002",
        "150521100003",
        "150521100005",
    }
    assert (res.grids["village_id"] == "150521100003").sum() == 1
    repaired = shapely.make_valid(geoms[0])
    assert_tiles(
        res.grids[res.grids["village_id"] == "150521100001"],
        villages_gdf([repaired], [120], ids=["150521100001"]),
        single=False,
    )
    assert_tiles(
        res.grids[res.grids["village_id"] == "150521100002"],
        villages.iloc[[1]],
        single=False,
    )


def test_overlapping_villages_are_named():
    villages = villages_gdf(
        [box(X0, Y0, X0 + 1000, Y0 + 1000), box(X0 + 500, Y0, X0 + 1500, Y0 + 1000)], [60, 60]
    )
    res = generate_grids(villages)
    assert "villages 150521100001 and 150521100002 overlap by 500,000 m²" in res.warnings


def test_negative_and_infinite_counts_are_unknown():
    village = villages_gdf(
        [box(X0, Y0, X0 + 100, Y0 + 100), box(X0 + 100, Y0, X0 + 200, Y0 + 100)], [-300, np.inf]
    )
    res = generate_grids(village)
    assert (
        "village 150521100001: households -300 is not a count: treated as unknown" in res.warnings
    )
    assert "village 150521100002: households inf is not a count: treated as unknown" in res.warnings
    assert len(res.grids) == 2 and res.grids["households"].isna().all()
    assert (res.grids["workers"] == 1).all()


def test_touching_villages_are_not_overlaps_but_a_village_inside_another_is():
    outer = box(X0, Y0, X0 + 1000, Y0 + 1000)
    neighbour = box(X0 + 1000, Y0, X0 + 2000, Y0 + 1000)  # shares an edge only
    inner = box(X0 + 100, Y0 + 100, X0 + 300, Y0 + 300)  # inside `outer`
    res = generate_grids(villages_gdf([outer, neighbour, inner], [60, 60, 60]))
    overlaps = [w for w in res.warnings if "overlap" in w]
    assert overlaps == ["villages 150521100001 and 150521100003 overlap by 40,000 m²"]
