"""Validating layers: one test per problem a user can cause in a layer's values,
coordinates or geometry, and between layers."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from conftest import SCENARIO, lonlat, tiny_frames
from geopandas.testing import assert_geodataframe_equal
from layer_helpers import (
    LEDGER_SCENARIO,
    ledger,
    one,
    only,
    problems_of,
    write_ledger,
    write_region,
    write_without_crs,
)
from shapely.geometry import LineString, Point, Polygon

from planner.crs import wgs84_to_gcj02
from planner.errors import ValidationError
from planner.layers import collect_layers, load_layers
from planner.scenario import load_scenario


def test_clean_region_has_no_errors(tiny_region):
    layers = load_layers(load_scenario(tiny_region))
    assert set(layers.frames) >= {"villages", "centers", "townships", "counties"}
    assert layers.crs.to_epsg() == 4550  # CGCS2000 3-degree GK, central meridian 123E
    villages = layers["villages"]
    assert villages["township_id"].tolist() == ["150521100"] * 3 + ["150521101"] * 3
    centers = layers["centers"]
    assert centers["level"].tolist() == ["county", "township", "village", "village"]


def test_no_crs_and_none_declared(tmp_path):
    frames = tiny_frames()
    path = write_region(tmp_path, frames)
    write_without_crs(frames["centers"].to_crs("EPSG:4550"), tmp_path / "centers.gpkg")
    only(problems_of(path), "no CRS")


def test_declared_crs_is_used(tmp_path):
    frames = tiny_frames()
    path = write_region(
        tmp_path,
        frames,
        SCENARIO.replace('path = "centers.gpkg"', 'path = "centers.gpkg"\ncrs = "EPSG:4550"'),
    )
    write_without_crs(frames["centers"].to_crs("EPSG:4550"), tmp_path / "centers.gpkg")
    layers = load_layers(load_scenario(path))
    expected = frames["centers"].to_crs(layers.crs)
    assert np.allclose(layers["centers"].geometry.x, expected.geometry.x)


def test_gauss_kruger_zone_detected_from_8_digit_eastings(tmp_path):
    frames = tiny_frames()
    path = write_region(tmp_path, frames)
    zoned = frames["centers"].to_crs("EPSG:4529")  # 3-degree zone 41 with zone prefix
    assert (zoned.geometry.x > 41_000_000).all()
    write_without_crs(zoned, tmp_path / "centers.gpkg")
    layers = collect_layers(load_scenario(path))
    only([p for p in layers.problems if p.severity == "warning"], "Gauss-Krüger")
    back = layers["centers"].to_crs("EPSG:4326")
    assert np.allclose(back.geometry.x, frames["centers"].geometry.x, atol=1e-7)


def test_invalid_geometry_is_repaired_with_a_warning(tmp_path):
    frames = tiny_frames()
    a, b = lonlat(0, 0), lonlat(10_000, 10_000)
    bowtie = Polygon([a, (b[0], a[1]), (a[0], b[1]), b, a])
    frames["townships"].loc[0, "geometry"] = bowtie
    path = write_region(tmp_path, frames)
    assert not problems_of(path)
    only(problems_of(path, "warning"), "invalid geometry")
    layers = load_layers(load_scenario(path))
    assert layers["townships"].is_valid.all()


def test_empty_geometry(tmp_path):
    frames = tiny_frames()
    frames["villages"].loc[2, "geometry"] = None
    path = write_region(tmp_path, frames)
    problem = only(problems_of(path), "empty or missing geometry")[0]
    assert problem.row == 3 and problem.layer == "villages"


def test_wrong_geometry_type(tmp_path):
    frames = tiny_frames()
    centers = frames["centers"]
    centers = gpd.GeoDataFrame(
        centers.drop(columns="geometry"),
        crs=centers.crs,
        geometry=[LineString([lonlat(0, 0), lonlat(1, 1)])] * 4,
    )
    frames["centers"] = centers
    path = write_region(tmp_path, frames)
    only(problems_of(path), "wrong geometry type LineString")


def test_duplicate_ids(tmp_path):
    frames = tiny_frames()
    frames["villages"].loc[4, "id"] = frames["villages"].loc[1, "id"]
    path = write_region(tmp_path, frames)
    rows = sorted(p.row for p in only(problems_of(path), "duplicate id"))
    assert rows == [2, 5]


def test_missing_required_column(tmp_path):
    frames = tiny_frames()
    frames["villages"] = frames["villages"].drop(columns="population")
    path = write_region(tmp_path, frames)
    problem = only(problems_of(path), "required column 'population' is missing")[0]
    assert problem.column == "population"


def test_mapped_column_not_found(tmp_path):
    path = write_region(
        tmp_path,
        scenario=SCENARIO.replace(
            'path = "villages.gpkg"', 'path = "villages.gpkg"\npopulation = "人口"'
        ),
    )
    only(problems_of(path), "mapped column '人口'")


@pytest.mark.parametrize(
    ("value", "text"), [("many", "not a number: 'many'"), ("-5", "negative value")]
)
def test_bad_population(tmp_path, value, text):
    frames = tiny_frames()
    villages = frames["villages"]
    villages["population"] = villages["population"].astype(object)
    villages.loc[3, "population"] = value
    path = write_region(tmp_path, frames)
    problem = only(problems_of(path), text)[0]
    assert (problem.row, problem.column) == (4, "population")


def test_swapped_lonlat(tmp_path):
    frames = tiny_frames()
    path = write_region(tmp_path, frames, LEDGER_SCENARIO)
    table = ledger(frames)
    lon, lat = float(table.loc[1, "经度"]), float(table.loc[1, "纬度"])
    table.loc[1, "经度"], table.loc[1, "纬度"] = lat, lon
    table.to_csv(tmp_path / "villages.csv", index=False)
    problem = only(problems_of(path), "look swapped")[0]
    assert (problem.row, problem.column) == (3, "经度")  # header is spreadsheet row 1


def test_out_of_range_lonlat(tmp_path):
    frames = tiny_frames()
    path = write_region(tmp_path, frames, LEDGER_SCENARIO)
    table = ledger(frames)
    table.loc[0, "纬度"] = 143.6
    table.to_csv(tmp_path / "villages.csv", index=False)
    only(problems_of(path), "out of range")


def test_xlsx_ledger_in_gcj02(tmp_path):
    frames = tiny_frames()
    path = write_region(
        tmp_path,
        frames,
        SCENARIO.replace('path = "villages.gpkg"', 'path = "villages.xlsx"\ncoords = "gcj02"'),
    )
    table = ledger(frames)
    table["经度"], table["纬度"] = wgs84_to_gcj02(
        table["经度"].to_numpy(), table["纬度"].to_numpy()
    )
    table.to_excel(tmp_path / "villages.xlsx", index=False)
    layers = load_layers(load_scenario(path))
    back = layers["villages"].to_crs("EPSG:4326")
    expected = frames["villages"].to_crs(layers.crs).distance(layers["villages"])
    assert expected.max() < 0.5  # metres
    assert np.allclose(back.geometry.x, frames["villages"].geometry.x, atol=1e-6)


def test_points_outside_region_and_village_in_no_township(tmp_path):
    frames = tiny_frames()
    frames["villages"].loc[5, "geometry"] = Point(lonlat(30_000, 5_000))
    frames["centers"].loc[3, "geometry"] = Point(lonlat(12_000, 25_000))
    path = write_region(tmp_path, frames)
    warnings = problems_of(path, "warning")
    assert only(warnings, "village lies in no township")[0].row == 6
    assert only(warnings, "outside the region")[0].row == 4


def test_unknown_level_value(tmp_path):
    frames = tiny_frames()
    frames["centers"].loc[2, "level"] = "省级"
    path = write_region(tmp_path, frames)
    problem = only(problems_of(path), "unknown level '省级'")[0]
    assert (problem.row, problem.column) == (3, "level")


def test_empty_optional_layer_is_absent(tmp_path):
    """An empty optional layer (a county without merged townships, an empty template) is
    a warning and the run goes on without it; empty villages stay an error."""
    frames = tiny_frames()
    frames["centers"] = frames["centers"].iloc[:0]
    path = write_region(tmp_path, frames)
    assert not problems_of(path)
    only(problems_of(path, "warning"), "the layer is empty")
    layers = collect_layers(load_scenario(path))
    assert "centers" not in layers.frames and len(layers.frames["villages"]) == 6
    frames["villages"] = frames["villages"].iloc[:0]
    path = write_region(tmp_path, frames)
    only(problems_of(path), "the layer is empty")


def test_empty_roads_with_road_levels_is_an_error(tmp_path):
    """Road levels cannot run on an empty road layer: refused by name, not skipped."""
    path = write_region(tmp_path, tiny_frames())
    roads = gpd.GeoDataFrame({"highway": []}, geometry=gpd.GeoSeries([]), crs="EPSG:4326")
    roads.to_file(tmp_path / "roads.gpkg", driver="GPKG")
    text = path.read_text(encoding="utf-8")
    text = text.replace("radius_m = 500", 'radius_m = 500\nmode = "network"')
    path.write_text(text + '\n[layers.roads]\npath = "roads.gpkg"\n', encoding="utf-8")
    problem = only(problems_of(path), "the layer is empty")[0]
    assert problem.layer == "roads"


def test_load_layers_raises_once_with_all_errors(tmp_path):
    frames = tiny_frames()
    frames["centers"].loc[2, "level"] = "省级"
    frames["villages"].loc[4, "id"] = frames["villages"].loc[1, "id"]
    path = write_region(tmp_path, frames)
    with pytest.raises(ValidationError) as err:
        load_layers(load_scenario(path))
    message = str(err.value)
    assert "unknown level" in message and "duplicate id" in message


def test_polygon_villages_use_a_point_inside_each(tmp_path):
    frames = tiny_frames()
    polygons = frames["villages"].to_crs(4550).buffer(300).to_crs(4326)
    frames["villages"] = frames["villages"].set_geometry(polygons)
    path = write_region(tmp_path, frames)
    layers = load_layers(load_scenario(path))
    got = layers["villages"]
    assert (got.geom_type == "Point").all()
    areas = layers["village_areas"]
    assert areas["id"].tolist() == frames["villages"]["id"].tolist()
    assert got.within(areas.geometry.reset_index(drop=True)).all()
    only(layers.warnings, "villages are polygons")


def test_empty_point_is_a_row_problem(tmp_path):
    frames = tiny_frames()
    frames["villages"].loc[2, "geometry"] = Point()
    path = write_region(tmp_path, frames)
    problem = one(problems_of(path), "empty or missing geometry")
    assert (problem.row, problem.column, problem.layer) == (3, "geometry", "villages")


def test_nan_vertex_in_a_polygon_is_a_row_problem(tmp_path):
    frames = tiny_frames()
    a, b = lonlat(0, 0), lonlat(10_000, 10_000)
    with np.errstate(invalid="ignore"):
        hole = Polygon([a, (b[0], a[1]), (np.nan, b[1]), a])
    frames["townships"].loc[1, "geometry"] = hole
    path = write_region(tmp_path, frames)
    problem = one(problems_of(path), "not finite numbers (NaN or infinity)")
    assert (problem.row, problem.column, problem.layer) == (2, "geometry", "townships")


def test_nan_z_is_dropped(tmp_path):
    frames = tiny_frames()
    x, y = frames["villages"].geometry.x.to_numpy(), frames["villages"].geometry.y.to_numpy()
    z = np.where(np.arange(len(x)) == 2, np.nan, 100.0)
    frames["villages"] = frames["villages"].set_geometry(gpd.points_from_xy(x, y, z, crs=4326))
    path = write_region(tmp_path, frames)
    layers = load_layers(load_scenario(path))
    got = layers["villages"].to_crs(4326)
    assert not got.has_z.any()
    assert np.allclose(got.geometry.x, x, atol=1e-9) and np.allclose(got.geometry.y, y, atol=1e-9)


def test_nan_coordinates_in_a_ledger(tmp_path):
    table = ledger(tiny_frames())
    table["经度"] = table["经度"].astype(object)
    table.loc[2, "经度"] = "东经122度"
    table.loc[4, "纬度"] = np.nan
    problems = problems_of(write_ledger(tmp_path, table))
    found = only(problems, "longitude/latitude missing or not a number")
    assert [(p.row, p.column) for p in found] == [(4, "经度"), (6, "经度")]
    assert "lon='东经122度'" in found[0].problem and "lat=empty" in found[1].problem
    assert not [p for p in problems if "empty or missing geometry" in p.problem]


def test_duplicate_column_names(tmp_path):
    table = ledger(tiny_frames())
    table.insert(1, "备注", "a")
    table.insert(2, "备注2", "b")
    text = table.to_csv(index=False).replace("备注2", "备注", 1)
    path = write_ledger(tmp_path, table)
    (tmp_path / "villages.csv").write_text(text.replace("名称", "编码", 1), encoding="utf-8")
    error = one(problems_of(path), "appears 2 times")
    assert error.column == "编码" and "cannot tell which" in error.problem
    warning = one(problems_of(path, "warning"), "appears 2 times")
    assert warning.column == "备注" and "'备注.1'" in warning.problem


def test_empty_population_is_a_warning_per_row(tmp_path):
    table = ledger(tiny_frames())
    table["人口"] = table["人口"].astype(object)
    table.loc[[1, 3], "人口"] = [None, "  "]
    problems = collect_layers(load_scenario(write_ledger(tmp_path, table))).problems
    found = only(problems, "人口 is empty; counted as 0")
    assert [(p.row, p.column, p.severity) for p in found] == [
        (3, "人口", "warning"),
        (5, "人口", "warning"),
    ]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("1e300", "implausibly large: 1e300 (more than 100,000,000)"),
        ("100000001", "implausibly large"),
        ("inf", "not a finite number: inf"),
        ("-inf", "not a finite number: -inf"),
        ("nan", "not a number: 'nan'"),
        ("3000人", "not a number: '3000人'"),
    ],
)
def test_absurd_population(tmp_path, value, text):
    table = ledger(tiny_frames())
    table["人口"] = table["人口"].astype(object)
    table.loc[2, "人口"] = value
    problem = one(problems_of(write_ledger(tmp_path, table)), text)
    assert (problem.row, problem.column) == (4, "人口")


def test_population_at_the_cap_is_accepted(tmp_path):
    table = ledger(tiny_frames())
    table.loc[2, "人口"] = 1e8
    layers = load_layers(load_scenario(write_ledger(tmp_path, table)))
    assert layers["villages"]["population"].iloc[2] == 1e8


def test_infinite_number_in_a_vector_layer(tmp_path):
    frames = tiny_frames()
    frames["centers"].loc[1, "area_m2"] = np.inf
    problem = one(problems_of(write_region(tmp_path, frames)), "not a finite number")
    assert (problem.row, problem.column, problem.layer) == (2, "area_m2", "centers")


@pytest.mark.parametrize("year", ["2020.5", "1e300", "20200"])
def test_bad_built_year(tmp_path, year):
    frames = tiny_frames()
    frames["centers"]["built_year"] = ["2019", year, "2015", ""]
    problem = one(problems_of(write_region(tmp_path, frames)), "not a year")
    assert (problem.row, problem.column) == (2, "built_year")


def test_duplicate_ids_name_the_users_column(tmp_path):
    table = ledger(tiny_frames())
    table.loc[3, "编码"] = table.loc[1, "编码"]
    found = only(problems_of(write_ledger(tmp_path, table)), "duplicate id")
    assert [(p.row, p.column) for p in found] == [(3, "编码"), (5, "编码")]


def test_mapped_column_is_named_in_problems(tmp_path):
    table = ledger(tiny_frames()).rename(columns={"人口": "常住"})
    table["常住"] = table["常住"].astype(object)
    table.loc[0, "常住"] = "many"
    path = write_ledger(tmp_path, table, extra='\npopulation = "常住"')
    layers = collect_layers(load_scenario(path))
    assert one(layers.problems, "not a number").column == "常住"
    assert layers.columns["villages"]["population"] == "常住"
    assert layers.columns["villages"]["id"] == "编码"
    assert layers.columns["villages"]["geometry"] == "经度"


def test_all_points_swapped_keeps_the_row_table(tmp_path):
    table = ledger(tiny_frames())
    table["经度"], table["纬度"] = table["纬度"].copy(), table["经度"].copy()
    table.to_csv(tmp_path / "villages.csv", index=False)
    path = tmp_path / "s.toml"
    path.write_text('[layers.villages]\npath = "villages.csv"\n', encoding="utf-8")
    problems = problems_of(path)
    swapped = only(problems, "look swapped")
    assert [(p.row, p.column) for p in swapped] == [(r, "经度") for r in range(2, 8)]
    last = one(problems, "cannot pick a working CRS")
    assert last.layer == "scenario" and 'crs to a metric CRS such as "EPSG:4549"' in last.fix
    with pytest.raises(ValidationError, match=r"^7 problem"):
        load_layers(load_scenario(path))


def test_village_far_from_all_others_is_an_error(tmp_path):
    frames = tiny_frames()
    table = ledger(frames)
    table.loc[2, "经度"] = 95.0  # ~2,200 km west of the others, still in China
    problem = one(problems_of(write_ledger(tmp_path, table)), "from the middle of the villages")
    assert (problem.row, problem.column) == (4, "经度")
    lon0, lat0 = np.radians(np.median(table["经度"])), np.radians(np.median(table["纬度"]))
    lon, lat = np.radians(95.0), np.radians(table.loc[2, "纬度"])
    cos = np.sin(lat) * np.sin(lat0) + np.cos(lat) * np.cos(lat0) * np.cos(lon - lon0)
    km = 6371.0088 * np.arccos(cos)  # the mean Earth radius (IUGG)
    assert f"lies {km:,.0f} km (lon=95, lat=" in problem.problem


def test_far_center_is_an_error_and_national_spread_is_not(tmp_path):
    frames = tiny_frames()
    frames["centers"].loc[3, "geometry"] = Point(121.0, 31.2)  # Shanghai: ~1,500 km away
    problem = one(problems_of(write_region(tmp_path, frames)), "from the middle of the villages")
    assert (problem.row, problem.layer) == (4, "centers")
    spread = tiny_frames()  # villages across China: Harbin to Kunming to Kashgar
    cities = [
        (126.6, 45.8),
        (102.7, 25.0),
        (76.0, 39.5),
        (116.4, 39.9),
        (113.3, 23.1),
        (104.1, 30.7),
    ]
    spread["villages"]["geometry"] = [Point(c) for c in cities]
    spread["centers"]["geometry"] = [Point(c) for c in cities[:4]]
    spread["townships"]["geometry"] = [Polygon([(70, 20), (140, 20), (140, 50)])] * 2
    (tmp_path / "n").mkdir()
    assert not only_far(problems_of(write_region(tmp_path / "n", spread)))


def only_far(problems: list) -> list:
    return [p for p in problems if "from the middle of the villages" in p.problem]


def test_township_mismatch_names_both_townships(tmp_path):
    frames = tiny_frames()
    frames["villages"]["township_id"] = ["150521100"] * 3 + ["150521101"] * 3
    frames["villages"] = frames["villages"].rename(columns={"township_id": "乡镇编码"})
    frames["villages"].loc[4, "乡镇编码"] = "150521100"  # the point lies in 150521101 乙乡
    warning = one(problems_of(write_region(tmp_path, frames), "warning"), "the point lies in")
    assert warning.row == 5 and warning.column == "乡镇编码"
    assert warning.problem == "乡镇编码 '150521100'; the point lies in 150521101 乙乡"
    assert "correct 乡镇编码" in warning.fix and "gcj02" in warning.fix


def test_summary_rows_count_the_rows_they_stand_for(tmp_path):
    table = pd.concat([ledger(tiny_frames())] * 20, ignore_index=True)  # 120 rows
    table["编码"] = [f"V{i}" for i in range(len(table))]
    table["人口"] = "many"
    path = write_ledger(tmp_path, table)
    errors = problems_of(path)
    assert sum(p.count for p in errors) == 120
    summary = one(errors, "more rows with")
    assert summary.count == 100 and summary.row is None
    with pytest.raises(ValidationError, match=r"^120 problem"):
        load_layers(load_scenario(path))


def test_points_reprojected_like_geopandas():
    from planner.layers.load import _to_crs

    rng = np.random.default_rng(3)
    geoms = list(gpd.points_from_xy(rng.uniform(110, 125, 50), rng.uniform(30, 45, 50)))
    geoms[3], geoms[7] = None, Point()
    frame = gpd.GeoDataFrame({"id": range(50)}, geometry=geoms, crs="EPSG:4490")
    target = gpd.GeoDataFrame(geometry=[], crs="EPSG:4549").crs
    ours, theirs = _to_crs(frame, target), frame.to_crs(target)
    assert_geodataframe_equal(ours, theirs)
    same = shapely.get_coordinates(ours.geometry.values) == shapely.get_coordinates(
        theirs.geometry.values
    )
    assert same.all() and ours.geometry.is_empty.iloc[7] and ours.geometry.iloc[3] is None


def test_feature_lonlat_of_points_and_polygons_like_geopandas():
    from planner.layers.cross_checks import feature_lonlat

    square = Polygon([(500_000, 4_000_000), (501_000, 4_000_000), (501_000, 4_001_000)])
    geoms = [Point(500_100, 4_000_200), square, None, Point(502_000, 4_003_000)]
    frame = gpd.GeoDataFrame(geometry=geoms, crs="EPSG:4549")
    lon, lat = feature_lonlat(frame)
    inner = frame.geometry.dropna().representative_point().to_crs("EPSG:4326")
    assert np.isnan(lon[2]) and np.isnan(lat[2])
    np.testing.assert_array_equal(lon[[0, 1, 3]], inner.x.to_numpy())
    np.testing.assert_array_equal(lat[[0, 1, 3]], inner.y.to_numpy())


def test_village_on_a_township_boundary_lies_in_a_township():
    from planner.layers.cross_checks import cross_checks

    townships = gpd.GeoDataFrame(
        {"id": ["1", "2"]},
        geometry=[
            Polygon([(0, 0), (10, 0), (10, 10), (0, 10)]),
            Polygon([(10, 0), (20, 0), (20, 10), (10, 10)]),
        ],
        crs="EPSG:4549",
    )
    villages = gpd.GeoDataFrame(
        {"_row": [1, 2, 3], "township_id": ["1", "1", "1"]},
        geometry=[Point(10, 5), Point(15, 5), Point(30, 5)],
        crs="EPSG:4549",
    )
    frames = {"villages": villages, "townships": townships}
    found = cross_checks(frames, {"villages": SCENARIO}, {})
    outside = [p.row for p in found if "lies in no township" in p.problem]
    differs = [p.row for p in found if "the point lies in" in p.problem]
    assert outside == [3]  # the boundary point (row 1) intersects both townships
    assert differs == [2]
