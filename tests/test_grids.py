"""Tests for planner.grids: tiling, contiguity, balance, numbering, workers, checks."""

from __future__ import annotations

import json
import os
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.spatial import cKDTree
from shapely.geometry import MultiPolygon, Polygon, box

from planner.errors import PlannerError
from planner.grids import (
    RURAL_HOUSEHOLDS_PER_GRID,
    RURAL_WORKERS_PER_GRID,
    URBAN_HOUSEHOLDS_PER_GRID,
    URBAN_WORKERS_PER_GRID,
    check_grids,
    derive_village_areas,
    generate_grids,
    number_grids,
    polsby_popper,
)

CRS = "EPSG:4550"  # CGCS2000 3-degree Gauss-Krüger CM 123E
DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
X0, Y0 = 500_000.0, 4_800_000.0
C_SHAPE = Polygon(
    [(0, 0), (3000, 0), (3000, 800), (800, 800), (800, 2200), (3000, 2200), (3000, 3000), (0, 3000)]
)


def villages_gdf(geoms, households, *, ids=None, urban=None, names=None) -> gpd.GeoDataFrame:
    n = len(geoms)
    return gpd.GeoDataFrame(
        {
            "id": ids if ids is not None else [f"150521100{i + 1:03d}" for i in range(n)],
            "name": names if names is not None else [f"村{i + 1}" for i in range(n)],
            "households": np.asarray(households, dtype=float),
            "urban": urban if urban is not None else [False] * n,
        },
        geometry=list(geoms),
        crs=CRS,
    )


def voronoi_region(n: int, seed: int, size: float = 30_000.0) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(seed)
    pts = rng.uniform(0, size, (n, 2)) + np.array([X0, Y0])
    frame = box(X0, Y0, X0 + size, Y0 + size)
    cells = shapely.get_parts(
        shapely.voronoi_polygons(shapely.multipoints(pts), extend_to=frame, ordered=True)
    )
    cells = shapely.intersection(cells, frame)
    return villages_gdf(
        cells,
        rng.integers(60, 600, n),
        ids=[f"150521{i + 1:06d}" for i in range(n)],
        urban=list(rng.random(n) < 0.2),
    )


def assert_tiles(grids: gpd.GeoDataFrame, areas: gpd.GeoDataFrame, *, single=True) -> None:
    """Grids of each village cover it exactly, without overlap; one polygon each."""
    for vid, poly in zip(areas["id"], areas.geometry, strict=True):
        own = grids[grids["village_id"] == vid].geometry.to_numpy()
        assert len(own), vid
        tol = 1e-6 * poly.area
        assert abs(shapely.area(own).sum() - poly.area) <= tol, vid  # no overlaps
        union = shapely.union_all(own)
        assert shapely.symmetric_difference(union, poly).area <= tol, vid  # no gaps
    geoms = grids.geometry.to_numpy()
    left, right = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    left, right = left[left < right], right[left < right]
    shared = shapely.area(shapely.intersection(geoms[left], geoms[right]))
    smaller = np.minimum(shapely.area(geoms[left]), shapely.area(geoms[right]))
    assert (shared <= 1e-6 * smaller).all()  # floating-point noise along shared edges only
    if single:
        assert (shapely.get_type_id(grids.geometry.to_numpy()) == 3).all()  # Polygon
        assert shapely.is_valid(grids.geometry.to_numpy()).all()


# ---------------------------------------------------------------------------- generation


def test_region_tiles_balances_and_counts():
    areas = voronoi_region(40, seed=3)
    res = generate_grids(areas)
    assert_tiles(res.grids, areas)
    target = np.where(areas["urban"], URBAN_HOUSEHOLDS_PER_GRID, RURAL_HOUSEHOLDS_PER_GRID)
    want_k = np.maximum(1, np.rint(areas["households"] / target)).astype(int)
    got_k = res.grids.groupby("village_id").size().reindex(areas["id"]).to_numpy()
    np.testing.assert_array_equal(got_k, want_k)
    # Households are whole numbers summing to the village total, balanced by area.
    per_village = res.grids.groupby("village_id")["households"].sum()
    np.testing.assert_array_equal(per_village.reindex(areas["id"]), areas["households"])
    for vid, own in res.grids.groupby("village_id"):
        share = own["households"] / own["households"].sum()
        area_share = own["area_m2"] / own["area_m2"].sum()
        assert (np.abs(share - area_share) * own["households"].sum() <= 1 + 1e-9).all(), vid
    assert res.stats["grids"] == len(res.grids) == int(want_k.sum())
    assert res.stats["balance_ratio_max"] < 1.1
    assert 0.5 < res.stats["compactness_mean"] <= 1
    assert res.warnings == []


def test_equal_areas_without_points():
    village = villages_gdf([box(X0, Y0, X0 + 5000, Y0 + 1200)], [300])
    grids = generate_grids(village).grids
    assert len(grids) == 10
    np.testing.assert_allclose(shapely.area(grids.geometry.to_numpy()), 600_000.0, rtol=1e-9)
    assert (grids["households"] == 30).all()


def test_concave_village_gets_contiguous_compact_grids():
    village = villages_gdf([shapely.affinity.translate(C_SHAPE, X0, Y0)], [300])
    res = generate_grids(village)
    assert_tiles(res.grids, village)
    # No thin tails along the inner edges of the C.
    assert res.grids["compactness"].min() > 0.4
    np.testing.assert_allclose(
        res.grids["compactness"], polsby_popper(res.grids.geometry.to_numpy())
    )


def test_points_balance_households():
    rng = np.random.default_rng(7)
    village = villages_gdf([box(X0, Y0, X0 + 4000, Y0 + 3000)], [np.nan])
    xy = np.vstack(
        [
            rng.normal([X0 + 1000, Y0 + 1000], 300, (300, 2)),
            rng.uniform([X0, Y0], [X0 + 4000, Y0 + 3000], (100, 2)),
        ]
    )
    xy = xy[(xy[:, 0] > X0) & (xy[:, 0] < X0 + 4000) & (xy[:, 1] > Y0) & (xy[:, 1] < Y0 + 3000)]
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=CRS)
    res = generate_grids(village, points=pts)
    assert_tiles(res.grids, village)
    k = round(len(xy) / RURAL_HOUSEHOLDS_PER_GRID)
    assert len(res.grids) == k
    # Independent count of the points in each grid.
    joined = gpd.sjoin(pts, res.grids[["id", "geometry"]], predicate="within")
    counts = joined.groupby("id").size().reindex(res.grids["id"], fill_value=0)
    np.testing.assert_array_equal(counts.to_numpy(), res.grids["households"].to_numpy())
    assert counts.max() - counts.min() <= 2
    assert "counted from points" in " ".join(res.warnings)
    # The dense cluster gets small grids.
    assert res.grids.area.max() / res.grids.area.min() > 5


def test_population_target_and_weights():
    village = villages_gdf([box(X0, Y0, X0 + 2000, Y0 + 2000)], [np.nan])
    village["population"] = 1000.0
    res = generate_grids(village, population_per_grid=250)
    assert len(res.grids) == 4
    assert res.grids["population"].sum() == 1000
    assert res.grids["households"].sum() == round(1000 / 2.62)


def test_deterministic_and_independent_of_row_order():
    areas = voronoi_region(25, seed=11)
    a = generate_grids(areas).grids
    b = generate_grids(areas.iloc[::-1].reset_index(drop=True)).grids
    assert a["id"].tolist() == b["id"].tolist()
    assert a["id"].is_unique
    assert shapely.equals_exact(
        shapely.normalize(a.geometry.to_numpy()), shapely.normalize(b.geometry.to_numpy()), 1e-6
    ).all()
    pd.testing.assert_frame_equal(
        a.drop(columns="geometry"), generate_grids(areas).grids.drop(columns="geometry")
    )


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


def test_workers_follow_tongliao_ratios():
    villages = villages_gdf(
        [box(X0, Y0, X0 + 3000, Y0 + 3000), box(X0 + 4000, Y0, X0 + 5000, Y0 + 1000)],
        [300, 2500],
        urban=[False, True],
    )
    res = generate_grids(villages)
    table = res.villages.set_index("village_id")
    rural, urban = table.iloc[0], table.iloc[1]
    assert rural["grids"] == 10 and urban["grids"] == 10
    assert rural["workers"] == round(RURAL_WORKERS_PER_GRID * 300 / 30)  # 16
    assert urban["workers"] == round(URBAN_WORKERS_PER_GRID * 2500 / 250)  # 22
    assert (res.grids["workers"] >= 1).all()
    assert res.grids["workers"].max() <= 3
    sums = res.grids.groupby("village_id")[["workers", "households"]].sum()
    np.testing.assert_array_equal(sums["workers"], table["workers"])
    np.testing.assert_array_equal(sums["households"], table["households"])
    assert RURAL_WORKERS_PER_GRID == pytest.approx(1.65, abs=0.01)
    assert URBAN_WORKERS_PER_GRID == pytest.approx(2.2, abs=0.01)


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


def test_grids_export_and_read_back(tmp_path):
    import pyogrio

    from planner.outputs.vector import write_vector

    res = generate_grids(voronoi_region(4, seed=9))
    for fmt in ("shp", "gpkg"):
        paths = write_vector(res.grids, tmp_path / f"grids.{fmt}")
        got = pyogrio.read_dataframe(paths[0])
        assert len(got) == len(res.grids)
        assert got.iloc[:, 0].tolist() == res.grids["id"].tolist()


def test_summary_json_ready():
    res = generate_grids(voronoi_region(5, seed=1))
    json.dumps(res.stats)  # plain Python numbers only
    assert set(res.villages.columns) >= {"village_id", "grids", "workers", "balance_ratio"}


# ---------------------------------------------------------------------------- bad input


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


def test_unusable_input_raises():
    village = villages_gdf([box(0, 0, 1, 1)], [30]).set_crs(4490, allow_override=True)
    with pytest.raises(PlannerError, match="metric"):
        generate_grids(village)
    nothing = villages_gdf([Polygon()], [30])
    with pytest.raises(PlannerError, match="no village polygon"):
        generate_grids(nothing)
    with pytest.raises(PlannerError, match="not both"):
        generate_grids(nothing, households_per_grid=10, population_per_grid=10)
    with pytest.raises(PlannerError, match="999"):
        generate_grids(villages_gdf([box(0, 0, 100, 100)], [1e6]), households_per_grid=1)


# ---------------------------------------------------------------------------- derived areas


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


# ---------------------------------------------------------------------------- township conflicts


def two_townships() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"id": ["150521100", "150521101"], "name": ["保康镇", "宝龙山镇"]},
        geometry=[
            box(X0, Y0, X0 + 10_000, Y0 + 8000),
            box(X0 + 10_000, Y0, X0 + 16_000, Y0 + 8000),
        ],
        crs=CRS,
    )


def ledger_villages(xy: np.ndarray, town: list[str]) -> gpd.GeoDataFrame:
    n = len(xy)
    return gpd.GeoDataFrame(
        {
            "id": [f"150521{i + 1:06d}" for i in range(n)],
            "name": [f"村{i + 1}" for i in range(n)],
            "households": 90.0,
            "township_id": town,
        },
        geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]),
        crs=CRS,
    )


def assert_grids_follow_points(res, villages: gpd.GeoDataFrame, towns: gpd.GeoDataFrame) -> None:
    """Each gridded village: its point lies in the union of its grids; its grids tile its
    polygon; that polygon lies in the township polygon holding the point and is the
    Voronoi cell of the point among the villages of that polygon (brute force)."""
    xy = shapely.get_coordinates(villages.geometry.to_numpy())
    t_geom = towns.geometry.to_numpy()
    holder = np.array(
        [np.flatnonzero(shapely.covers(t_geom, shapely.Point(p)))[:1] for p in xy], dtype=object
    )
    home = np.array([h[0] if len(h) else -1 for h in holder])
    areas = res.areas.set_index("id")
    assert_tiles(res.grids, res.areas, single=False)
    rng = np.random.default_rng(0)
    for i, vid in enumerate(villages["id"]):
        own = res.grids[res.grids["village_id"] == vid].geometry.to_numpy()
        if not len(own):
            continue
        assert home[i] >= 0, vid
        union = shapely.union_all(own)
        assert union.covers(shapely.Point(xy[i])), vid  # the village is in its own grids
        assert shapely.distance(own, t_geom[home[i]]).max() == 0, vid
        assert shapely.difference(union, t_geom[home[i]]).area <= 1e-6 * union.area, vid
        # Probes inside the cell are nearer to this village than to any other village whose
        # point lies in the same township polygon.
        cell = areas.geometry[vid]
        xmin, ymin, xmax, ymax = cell.bounds
        probe = rng.uniform([xmin, ymin], [xmax, ymax], (40, 2))
        probe = probe[shapely.contains_xy(cell, *probe.T)]
        mates = np.flatnonzero(home == home[i])
        d = np.hypot(*(probe[:, None, :] - xy[mates][None, :, :]).transpose(2, 0, 1))
        assert (d.min(axis=1) >= d[:, mates == i].ravel() - 1e-6).all(), vid


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


# ---------------------------------------------------------------------------- arithmetic


@settings(max_examples=60, deadline=None)
@given(
    exponent=st.floats(0, 305),
    mantissa=st.floats(1, 9.99),
    k=st.integers(1, 12),
    by_population=st.booleans(),
)
def test_property_huge_counts_never_go_negative(exponent, mantissa, k, by_population):
    total = mantissa * 10.0**exponent
    village = villages_gdf([shapely.affinity.translate(C_SHAPE, X0, Y0)], [np.nan])
    village["population"] = total
    village["households"] = total / 2.5
    target = (
        {"population_per_grid": total / k}
        if by_population
        else {"households_per_grid": total / 2.5 / k}
    )
    res = generate_grids(village, **target)
    grids = res.grids
    assert len(grids) == k
    for col, want in (("population", np.rint(total)), ("households", np.rint(total / 2.5))):
        values = grids[col].to_numpy(float)
        assert np.isfinite(values).all() and (values >= 0).all(), col
        assert (values == np.floor(values)).all(), col
        assert values.sum() == pytest.approx(want, rel=1e-9, abs=k), col
    workers = grids["workers"].to_numpy(float)
    assert np.isfinite(workers).all() and (workers >= 1).all()
    assert (res.villages[["households", "population", "workers"]].to_numpy(float) >= 0).all()
    json.dumps(res.stats)


def test_population_1e300_with_default_targets_is_refused_readably():
    village = villages_gdf([box(X0, Y0, X0 + 100, Y0 + 100)], [np.nan])
    village["population"] = 1e300
    with pytest.raises(PlannerError, match=r"village 150521100001 would get 1\.272e\+298 grids"):
        generate_grids(village)


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


# ---------------------------------------------------------------------------- checking


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


# ---------------------------------------------------------------------------- properties


@st.composite
def village_polygons(draw):
    """Convex hulls of random points, or star-shaped (usually concave) polygons; some
    with a hole."""
    n = draw(st.integers(5, 14))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    if draw(st.booleans()):
        pts = rng.uniform(0, 5000, (n, 2))
        poly = shapely.convex_hull(shapely.multipoints(pts))
    else:
        angles = np.sort(rng.uniform(0, 2 * np.pi, n))
        radius = rng.uniform(300, 3000, n)
        poly = Polygon(np.c_[np.cos(angles) * radius, np.sin(angles) * radius])
    poly = shapely.make_valid(poly)
    parts = [p for p in shapely.get_parts(poly) if p.geom_type == "Polygon"]
    biggest = max(parts, key=lambda p: p.area) if parts else Polygon()
    if draw(st.booleans()):  # a hole (a pond, another village's enclave)
        center = biggest.representative_point() if not biggest.is_empty else None
        if center is not None:
            biggest = biggest.difference(center.buffer(draw(st.floats(20, 400))))
            biggest = max(shapely.get_parts(biggest), key=lambda p: p.area)
    return shapely.affinity.translate(biggest, X0, Y0)


@settings(
    max_examples=int(os.environ.get("GRID_EXAMPLES", 25)),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(poly=village_polygons(), k=st.integers(1, 16), n_points=st.sampled_from([0, 5, 200]))
def test_property_tiling_and_contiguity(poly, k, n_points):
    """Set GRID_EXAMPLES=500 for a deeper search."""
    if poly.is_empty or poly.area < 1000:
        return
    village = villages_gdf([poly], [30 * k])
    rng = np.random.default_rng(k)
    xmin, ymin, xmax, ymax = poly.bounds
    xy = rng.uniform([xmin, ymin], [xmax, ymax], (n_points, 2))
    points = gpd.GeoDataFrame(geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=CRS)
    res = generate_grids(village, points=points)
    assert len(res.grids) == k
    assert_tiles(res.grids, village)
    assert (res.grids["compactness"] > 0).all()
    assert res.grids["households"].sum() == 30 * k


@settings(max_examples=25, deadline=None)
@given(
    xy=st.lists(
        st.tuples(st.floats(0, 5000), st.floats(0, 5000)), min_size=3, max_size=12, unique=True
    ),
    k=st.integers(2, 16),
)
def test_property_convex_villages_split_into_equal_areas(xy, k):
    """A cut never splits a convex piece in two parts, so area balance is exact."""
    poly = shapely.convex_hull(shapely.multipoints(np.array(xy) + np.array([X0, Y0])))
    if poly.geom_type != "Polygon" or poly.area < 10_000 or polsby_popper(poly) < 0.05:
        return
    grids = generate_grids(villages_gdf([poly], [30 * k])).grids
    np.testing.assert_allclose(shapely.area(grids.geometry.to_numpy()), poly.area / k, rtol=1e-6)
    assert (grids["households"] == 30).all()


# ---------------------------------------------------------------------------- real data


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
