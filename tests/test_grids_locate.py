"""Tests of planner.grids.locate: grids follow the village point, not the ledger code."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pytest
import shapely
from grids_helpers import (
    CRS,
    X0,
    Y0,
    assert_grids_follow_points,
    assert_tiles,
    ledger_villages,
    two_townships,
    villages_gdf,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely.geometry import box

from planner.errors import PlannerError
from planner.grids import generate_grids


def test_grids_follow_the_township_polygon_not_the_ledger_code():
    rng = np.random.default_rng(11)
    towns = two_townships()
    xy = np.vstack(
        [
            rng.uniform([X0, Y0], [X0 + 10_000, Y0 + 8000], (12, 2)),
            rng.uniform([X0 + 10_000, Y0], [X0 + 16_000, Y0 + 8000], (8, 2)),
            [[X0 + 20_000, Y0 + 4000]],  # in no township, 4 km east of 宝龙山镇
        ]
    )
    town = ["150521100"] * 12 + ["150521101"] * 8 + ["150521101"]
    town[2] = "150521101"  # lies in 保康镇, ledger says 宝龙山镇
    town[15] = "150521100"  # lies in 宝龙山镇, ledger says 保康镇
    town[16] = "150521199"  # a code no township polygon has
    villages = ledger_villages(xy, town)
    res = generate_grids(None, villages, townships=towns)
    assert_grids_follow_points(res, villages, towns)
    text = "\n".join(res.warnings)
    assert (
        "village 150521000003 (村3): ledger township_id 150521101 (宝龙山镇), but its point lies "
        "in township 150521100 (保康镇); its grids follow 150521100; correct township_id to "
        "150521100 or check the coordinates (GCJ-02?)" in text
    )
    assert "village 150521000016 (村16): ledger township_id 150521100 (保康镇), but" in text
    assert "ledger township_id 150521199 (not in the township layer), but its point" in text
    assert (
        "village 150521000021 (村21): its point lies in no township polygon (4,000 m from the "
        "nearest, 150521101 (宝龙山镇)): no grids drawn" in text
    )
    table = res.villages.set_index("village_id")
    assert len(table) == 21 and table["grids"].gt(0).sum() == 20
    assert table.loc["150521000021", "grids"] == 0
    assert table.loc["150521000021", "outside_m"] == pytest.approx(4000.0)
    assert "no township polygon" in table.loc["150521000021", "note"]
    conflict = table["township_conflict"]
    assert sorted(conflict.index[conflict.fillna(False).astype(bool)]) == [
        "150521000003",
        "150521000016",
        "150521000017",
    ]
    assert table.loc["150521000003", ["township_id", "township_name"]].tolist() == [
        "150521100",
        "保康镇",
    ]
    assert table.loc["150521000003", ["ledger_township_id", "ledger_township_name"]].tolist() == [
        "150521101",
        "宝龙山镇",
    ]
    assert table.loc["150521000001", "note"] == ""
    assert res.stats["township_conflicts"] == 3
    assert res.stats["villages_without_grids"] == 1
    assert res.stats["villages"] == 20
    json.dumps(res.stats)


def test_many_conflicts_are_summarised_but_all_in_the_table():
    rng = np.random.default_rng(12)
    towns = two_townships()
    xy = rng.uniform([X0, Y0], [X0 + 10_000, Y0 + 8000], (30, 2))
    villages = ledger_villages(xy, ["150521101"] * 30)  # every code wrong
    res = generate_grids(None, villages, townships=towns)
    conflicts = [w for w in res.warnings if "ledger township_id" in w]
    assert len(conflicts) == 20
    assert "… and 10 more township conflicts: see the grids_by_village table" in res.warnings
    assert res.villages["township_conflict"].sum() == 30
    assert_grids_follow_points(res, villages, towns)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    n_towns=st.integers(1, 4),
    n_villages=st.integers(1, 25),
    wrong=st.floats(0, 1),
)
def test_property_grids_lie_at_their_village(seed, n_towns, n_villages, wrong):
    """Townships as Voronoi cells of random seats, villages anywhere (some outside every
    township), ledger codes partly wrong: every gridded village lies in its own grids."""
    rng = np.random.default_rng(seed)
    frame = box(X0, Y0, X0 + 20_000, Y0 + 20_000)
    seats = rng.uniform([X0, Y0], [X0 + 20_000, Y0 + 20_000], (n_towns, 2))
    cells = (
        [frame]
        if n_towns == 1
        else shapely.intersection(
            shapely.get_parts(
                shapely.voronoi_polygons(shapely.multipoints(seats), extend_to=frame, ordered=True)
            ),
            frame,
        )
    )
    ids = [f"150521{100 + t}" for t in range(n_towns)]
    towns = gpd.GeoDataFrame({"id": ids}, geometry=list(cells), crs=CRS)
    xy = rng.uniform([X0 - 2000, Y0 - 2000], [X0 + 22_000, Y0 + 22_000], (n_villages, 2))
    town = [ids[rng.integers(n_towns)] if rng.random() < wrong else "" for _ in xy]
    villages = ledger_villages(xy, town)
    inside = shapely.covers(frame, shapely.points(xy))
    if not inside.any():
        with pytest.raises(PlannerError, match="no village polygon"):
            generate_grids(None, villages, townships=towns)
        return
    res = generate_grids(None, villages, townships=towns)
    assert_grids_follow_points(res, villages, towns)
    gridded = set(res.grids["village_id"])
    assert gridded == set(villages["id"][inside])
    table = res.villages.set_index("village_id")
    assert (table.loc[list(set(villages["id"]) - gridded), "grids"] == 0).all()
    assert table.loc[list(set(villages["id"]) - gridded), "note"].str.contains("no grids").all()


def test_given_areas_report_points_off_their_area():
    areas = villages_gdf(
        [box(X0, Y0, X0 + 1000, Y0 + 1000), box(X0 + 1000, Y0, X0 + 2000, Y0 + 1000)],
        [60, 60],
        ids=["150521100001", "150521100002"],
        names=["甲村", "乙村"],
    )
    villages = gpd.GeoDataFrame(
        {"id": ["150521100001", "150521100002", "150521100003"], "name": ["甲村", "乙村", "丙村"]},
        geometry=gpd.points_from_xy([X0 + 500, X0 + 700, X0 + 300], [Y0 + 500, Y0 + 500, Y0]),
        crs=CRS,
    )
    res = generate_grids(areas, villages)
    text = "\n".join(res.warnings)
    assert (
        "village 150521100002 (乙村): its point lies 300.0 m outside its village area, inside "
        "village area 150521100001 (甲村); its grids follow its own area" in text
    )
    assert "village 150521100003 (丙村): no village area carries its code: no grids" in text
    table = res.villages.set_index("village_id")
    assert table["grids"].tolist() == [2, 2, 0]
    assert table.loc["150521100002", "outside_m"] == pytest.approx(300.0)
    assert table.loc["150521100001", "note"] == ""
    assert res.stats["villages_off_their_polygon"] == 1
    assert res.stats["villages_without_grids"] == 1
    assert_tiles(res.grids, areas)
