"""Reading and validating layers: one test per problem a user can cause."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from conftest import SCENARIO, SHARED_DATA, lonlat, tiny_frames
from shapely.geometry import LineString, Point, Polygon

from planner.crs import gcj02_to_wgs84, wgs84_to_gcj02
from planner.errors import ValidationError
from planner.layers import collect_layers, load_layers
from planner.scenario import load_scenario


def write_region(tmp_path: Path, frames: dict | None = None, scenario: str = SCENARIO) -> Path:
    frames = tiny_frames() if frames is None else frames
    for kind, frame in frames.items():
        frame.to_file(tmp_path / f"{kind}.gpkg", driver="GPKG")
    path = tmp_path / "scenario.toml"
    path.write_text(scenario, encoding="utf-8")
    return path


def write_without_crs(frame: gpd.GeoDataFrame, path: Path) -> None:
    with pytest.warns(UserWarning, match="'crs' was not provided"):
        frame.set_crs(None, allow_override=True).to_file(path, driver="GPKG")


def problems_of(path: Path, severity: str = "error") -> list:
    layers = collect_layers(load_scenario(path))
    return [p for p in layers.problems if p.severity == severity]


def only(problems: list, text: str):
    found = [p for p in problems if text in p.problem]
    assert found, f"no problem mentions {text!r}: {[str(p) for p in problems]}"
    return found


def test_clean_region_has_no_errors(tiny_region):
    layers = load_layers(load_scenario(tiny_region))
    assert set(layers.frames) >= {"villages", "centers", "townships", "counties"}
    assert layers.crs.to_epsg() == 4550  # CGCS2000 3-degree GK, central meridian 123E
    villages = layers["villages"]
    assert villages["township_id"].tolist() == ["150521100"] * 3 + ["150521101"] * 3
    centers = layers["centers"]
    assert centers["level"].tolist() == ["county", "township", "village", "village"]


def test_missing_file(tmp_path):
    path = write_region(tmp_path)
    (tmp_path / "centers.gpkg").unlink()
    problem = only(problems_of(path), "file not found")[0]
    assert problem.layer == "centers" and problem.file.endswith("centers.gpkg")


def test_unreadable_file(tmp_path):
    path = write_region(tmp_path)
    (tmp_path / "centers.gpkg").write_bytes(b"this is not a geopackage")
    only(problems_of(path), "cannot read")


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


def ledger(frames: dict) -> pd.DataFrame:
    villages = frames["villages"]
    return pd.DataFrame(
        {
            "编码": villages["id"],
            "名称": villages["name"],
            "经度": villages.geometry.x,
            "纬度": villages.geometry.y,
            "人口": villages["population"],
        }
    )


LEDGER_SCENARIO = SCENARIO.replace('path = "villages.gpkg"', 'path = "villages.csv"')


def test_csv_ledger_with_chinese_headers(tmp_path):
    frames = tiny_frames()
    path = write_region(tmp_path, frames, LEDGER_SCENARIO)
    ledger(frames).to_csv(tmp_path / "villages.csv", index=False, encoding="gbk")
    layers = load_layers(load_scenario(path))
    assert layers["villages"]["name"].tolist() == frames["villages"]["name"].tolist()
    assert layers["villages"]["id"].tolist() == frames["villages"]["id"].tolist()


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


def test_empty_layer(tmp_path):
    frames = tiny_frames()
    frames["centers"] = frames["centers"].iloc[:0]
    path = write_region(tmp_path, frames)
    only(problems_of(path), "the layer is empty")


def test_load_layers_raises_once_with_all_errors(tmp_path):
    frames = tiny_frames()
    frames["centers"].loc[2, "level"] = "省级"
    frames["villages"].loc[4, "id"] = frames["villages"].loc[1, "id"]
    path = write_region(tmp_path, frames)
    with pytest.raises(ValidationError) as err:
        load_layers(load_scenario(path))
    message = str(err.value)
    assert "unknown level" in message and "duplicate id" in message


@pytest.mark.parametrize("suffix", [".geojson", ".fgb", ".parquet", ".shp"])
def test_other_vector_formats(tmp_path, suffix):
    frames = tiny_frames()
    path = write_region(
        tmp_path, frames, SCENARIO.replace('path = "villages.gpkg"', f'path = "villages{suffix}"')
    )
    if suffix == ".parquet":
        frames["villages"].to_parquet(tmp_path / f"villages{suffix}")
    else:
        frames["villages"].to_file(tmp_path / f"villages{suffix}")
    layers = load_layers(load_scenario(path))
    got = layers["villages"].sort_values("id")  # FlatGeobuf files are spatially ordered
    assert got["name"].tolist() == frames["villages"]["name"].tolist()


@pytest.mark.parametrize("with_cpg", [True, False])
def test_gbk_shapefile_is_never_garbled(tmp_path, with_cpg):
    frames = tiny_frames()
    path = write_region(
        tmp_path, frames, SCENARIO.replace('path = "villages.gpkg"', 'path = "villages.shp"')
    )
    frames["villages"].to_file(tmp_path / "villages.shp", encoding="gbk")
    cpg = tmp_path / "villages.cpg"
    if with_cpg:
        cpg.write_text("GBK")
    elif cpg.exists():
        cpg.unlink()
    raw = (tmp_path / "villages.dbf").read_bytes()
    assert "二村".encode("gbk") in raw  # really GBK on disk
    layers = load_layers(load_scenario(path))
    assert layers["villages"]["name"].tolist() == frames["villages"]["name"].tolist()


ADCODE = SHARED_DATA / "cn_admin" / "adcode_2016" / "150521.csv"
ADCODE_COLUMNS = [
    "code",
    "parent",
    "name",
    "level",
    "rank",
    "adcode",
    "post_code",
    "area_code",
    "ur_code",
    "municipality",
    "virtual",
    "dummy",
    "longitude",
    "latitude",
    "center",
    "province",
    "city",
    "county",
    "town",
    "village",
]


@pytest.mark.skipif(not ADCODE.exists(), reason="shared reference data absent")
def test_real_gcj02_village_ledger(tmp_path):
    table = pd.read_csv(ADCODE, header=None, names=ADCODE_COLUMNS, dtype=str)
    table = table[(table["level"] == "village") & table["longitude"].notna()]
    table[["code", "name", "longitude", "latitude"]].assign(population=100).to_excel(
        tmp_path / "v.xlsx", index=False
    )
    scenario = tmp_path / "s.toml"
    scenario.write_text(
        '[layers.villages]\npath = "v.xlsx"\ncoords = "gcj02"\nid = "code"\n', encoding="utf-8"
    )
    layers = load_layers(load_scenario(scenario))
    got = layers["villages"].to_crs("EPSG:4326")
    lon, lat = gcj02_to_wgs84(
        table["longitude"].astype(float).to_numpy(), table["latitude"].astype(float).to_numpy()
    )
    assert len(got) == len(table)
    assert np.allclose(got.geometry.x, lon, atol=1e-7)
    assert np.allclose(got.geometry.y, lat, atol=1e-7)
    assert got["name"].str.contains("嘎查|村").mean() > 0.9
    assert layers.crs.to_epsg() == 4550  # the 3-degree CM nearest 122.xE is 123E


def test_wrong_cpg_gives_a_clear_error(tmp_path):
    frames = tiny_frames()
    path = write_region(
        tmp_path, frames, SCENARIO.replace('path = "villages.gpkg"', 'path = "villages.shp"')
    )
    frames["villages"].to_file(tmp_path / "villages.shp", encoding="gbk")
    (tmp_path / "villages.cpg").write_text("UTF-8")
    problem = only(problems_of(path), "attribute text is not utf-8")[0]
    assert 'encoding = "gbk"' in problem.problem and problem.file.endswith("villages.shp")
