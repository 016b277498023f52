"""Reading layers by format: vector files, GeoParquet, CSV and Excel ledgers, encodings;
one test per problem a user can cause with a file."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
from conftest import SCENARIO, SHARED_DATA, tiny_frames
from layer_helpers import (
    LEDGER_SCENARIO,
    ledger,
    one,
    only,
    problems_of,
    write_ledger,
    write_region,
)

from planner.crs import gcj02_to_wgs84
from planner.errors import PlannerError
from planner.layers import collect_layers, load_layers, readers, workbooks
from planner.scenario import load_scenario


def test_missing_file(tmp_path):
    path = write_region(tmp_path)
    (tmp_path / "centers.gpkg").unlink()
    problem = only(problems_of(path), "file not found")[0]
    assert problem.layer == "centers" and problem.file.endswith("centers.gpkg")


def test_unreadable_file(tmp_path):
    path = write_region(tmp_path)
    (tmp_path / "centers.gpkg").write_bytes(b"this is not a geopackage")
    only(problems_of(path), "cannot read")


def test_csv_ledger_with_chinese_headers(tmp_path):
    frames = tiny_frames()
    path = write_region(tmp_path, frames, LEDGER_SCENARIO)
    ledger(frames).to_csv(tmp_path / "villages.csv", index=False, encoding="gbk")
    layers = load_layers(load_scenario(path))
    assert layers["villages"]["name"].tolist() == frames["villages"]["name"].tolist()
    assert layers["villages"]["id"].tolist() == frames["villages"]["id"].tolist()


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


def test_truncated_parquet(tmp_path):
    frames = tiny_frames()
    path = write_ledger(tmp_path, ledger(frames), ".parquet")
    frames["villages"].to_parquet(tmp_path / "villages.parquet")
    data = (tmp_path / "villages.parquet").read_bytes()
    (tmp_path / "villages.parquet").write_bytes(data[: len(data) // 2])
    problem = one(problems_of(path), "cannot read Parquet")
    assert problem.file.endswith("villages.parquet") and "export it again" in problem.fix


def test_plain_parquet_with_lonlat_is_a_ledger(tmp_path):
    frames = tiny_frames()
    path = write_ledger(tmp_path, ledger(frames), ".parquet")
    layers = load_layers(load_scenario(path))
    got = layers["villages"].to_crs(4326)
    assert got["id"].tolist() == frames["villages"]["id"].tolist()
    assert np.allclose(got.geometry.x, frames["villages"].geometry.x, atol=1e-9)


def test_plain_parquet_without_lonlat_is_refused(tmp_path):
    path = write_ledger(tmp_path, ledger(tiny_frames()).drop(columns=["经度", "纬度"]), ".parquet")
    problem = one(problems_of(path), "a plain Parquet table")
    assert "编码" in problem.problem and "GeoParquet" in problem.fix


@pytest.mark.parametrize("damage", ["truncated", "not a zip"])
def test_broken_xlsx(tmp_path, damage):
    path = write_ledger(tmp_path, ledger(tiny_frames()), ".xlsx")
    book = tmp_path / "villages.xlsx"
    data = book.read_bytes()
    book.write_bytes(data[: len(data) // 2] if damage == "truncated" else b"id,pop\n1,2\n")
    problem = one(problems_of(path), "not an Excel workbook")
    assert "save it again as .xlsx" in problem.fix


def rewrite_part(book: Path, part: str, edit) -> None:
    """Rewrite one XML part of an .xlsx file in place."""
    with zipfile.ZipFile(book) as src:
        parts = {info.filename: src.read(info) for info in src.infolist()}
    parts[part] = edit(parts[part])
    with zipfile.ZipFile(book, "w", zipfile.ZIP_DEFLATED) as dst:
        for name, data in parts.items():
            dst.writestr(name, data)


def test_xlsx_with_an_entity_bomb_is_refused_unparsed(tmp_path, monkeypatch):
    path = write_ledger(tmp_path, ledger(tiny_frames()), ".xlsx")
    bomb = (
        b'<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">'
        b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>\n'
    )
    rewrite_part(
        tmp_path / "villages.xlsx",
        "xl/worksheets/sheet1.xml",
        lambda xml: bomb + xml.replace(b"<v>800</v>", b"<v>&lol2;</v>"),
    )
    opened = []
    monkeypatch.setattr(pd, "ExcelFile", lambda *a, **k: opened.append(a))
    problem = one(problems_of(path), "declares a DTD or entities")
    assert "xl/worksheets/sheet1.xml" in problem.problem and not opened


def test_xlsx_larger_than_the_cap_is_refused(tmp_path, monkeypatch):
    path = write_ledger(tmp_path, ledger(tiny_frames()), ".xlsx")
    with zipfile.ZipFile(tmp_path / "villages.xlsx") as book:
        total = sum(info.file_size for info in book.infolist())
    monkeypatch.setattr(workbooks, "MAX_XLSX_BYTES", total - 1)
    one(problems_of(path), "the workbook unpacks to")
    monkeypatch.setattr(workbooks, "MAX_XLSX_BYTES", total)
    assert not problems_of(path)


def test_csv_larger_than_the_cap_is_refused(tmp_path, monkeypatch):
    path = write_ledger(tmp_path, ledger(tiny_frames()))
    monkeypatch.setattr(readers, "MAX_TEXT_BYTES", (tmp_path / "villages.csv").stat().st_size - 1)
    problem = one(problems_of(path), "a text ledger may have")
    assert "GeoPackage" in problem.fix


def test_formula_without_a_saved_result_is_named(tmp_path):
    frames = tiny_frames()
    path = write_ledger(tmp_path, ledger(frames), ".xlsx")
    book = openpyxl.load_workbook(tmp_path / "villages.xlsx")
    book.active["E4"] = "=E2+E3"  # 人口 of the third village: openpyxl stores no result
    book.save(tmp_path / "villages.xlsx")
    warnings = problems_of(path, "warning")
    problem = one(warnings, "has no saved result")
    assert (problem.row, problem.column) == (4, "人口") and "=E2+E3" in problem.problem
    assert one(warnings, "is empty; counted as 0").row == 4


def test_formula_with_a_saved_result_is_read(tmp_path):
    path = write_ledger(tmp_path, ledger(tiny_frames()), ".xlsx")
    rewrite_part(
        tmp_path / "villages.xlsx",
        "xl/worksheets/sheet1.xml",
        lambda xml: xml.replace(
            b'<c r="E4" t="n"><v>5000</v>', b'<c r="E4"><f>2500*2</f><v>5000</v>'
        ),
    )
    assert b"<f>" in zipfile.ZipFile(tmp_path / "villages.xlsx").read("xl/worksheets/sheet1.xml")
    layers = collect_layers(load_scenario(path))
    assert not layers.problems
    assert layers["villages"]["population"].tolist()[2] == 5000.0


def test_encoding_that_is_not_a_text_encoding(tmp_path):
    frames = tiny_frames()
    ledger(frames).to_csv(tmp_path / "v.csv", index=False)
    with pytest.raises(PlannerError, match='encoding = "rot13" is not a known text encoding'):
        readers.read_any(tmp_path / "v.csv", encoding="rot13")
    frames["villages"].to_file(tmp_path / "v.shp")
    with pytest.raises(PlannerError, match='"no-such-codec" is not a known'):
        readers.read_any(tmp_path / "v.shp", encoding="no-such-codec")


def test_ledger_column_named_geometry(tmp_path):
    path = write_ledger(tmp_path, ledger(tiny_frames()).assign(geometry="POINT (1 2)"))
    problem = one(problems_of(path), "a column is named 'geometry'")
    assert problem.column == "geometry" and problem.fix == "rename that column"


def test_header_only_ledger(tmp_path):
    path = write_ledger(tmp_path, ledger(tiny_frames()).iloc[:0])
    one(problems_of(path), "the layer is empty")


def test_blank_rows_keep_spreadsheet_row_numbers(tmp_path):
    table = ledger(tiny_frames())
    path = write_ledger(tmp_path, table)
    lines = (tmp_path / "villages.csv").read_text(encoding="utf-8").splitlines()
    lines.insert(3, ",,,,")  # a blank row 4; the third village moves to row 5
    lines[4] = lines[4].replace(str(table.loc[2, "编码"]), "")
    (tmp_path / "villages.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    problem = one(problems_of(path), "empty id")
    assert (problem.row, problem.column) == (5, "编码")


def test_sheet_that_does_not_exist(tmp_path):
    path = write_ledger(tmp_path, ledger(tiny_frames()), ".xlsx", '\nsheet = "村庄"')
    problem = one(problems_of(path), "sheet '村庄' not found")
    assert "the workbook has: Sheet1" in problem.problem


@pytest.mark.parametrize("kind", ["fifo", "folder"])
def test_fifo_or_folder_as_a_layer_is_refused_unopened(tmp_path, kind):
    path = write_ledger(tmp_path, ledger(tiny_frames()))
    (tmp_path / "villages.csv").unlink()
    if kind == "fifo":
        os.mkfifo(tmp_path / "villages.csv")  # opening it for reading would block forever
    else:
        (tmp_path / "villages.csv").mkdir()
    text = "not a regular file" if kind == "fifo" else "is a folder"
    problem = one(problems_of(path), text)
    assert problem.layer == "villages"


def test_xlsx_renamed_xls_is_checked_and_old_xls_explained(tmp_path):
    path = write_ledger(tmp_path, ledger(tiny_frames()), ".xlsx")
    rewrite_part(
        tmp_path / "villages.xlsx",
        "xl/worksheets/sheet1.xml",
        lambda xml: b'<!DOCTYPE x [<!ENTITY a "b">]>' + xml,
    )
    (tmp_path / "villages.xlsx").rename(tmp_path / "villages.xls")
    scenario = path.read_text(encoding="utf-8").replace("villages.xlsx", "villages.xls")
    path.write_text(scenario, encoding="utf-8")
    one(problems_of(path), "declares a DTD or entities")
    (tmp_path / "villages.xls").write_bytes(bytes.fromhex("d0cf11e0a1b11ae1") + bytes(504))
    problem = one(problems_of(path), "old Excel 97-2003 workbooks (.xls) cannot be read")
    assert problem.fix == "save it as .xlsx in Excel or WPS"


def test_arrow_read_keeps_binary_columns_as_bytes(tmp_path):
    # the WKB column stays in Arrow on its way to pandas; an attribute of binary type
    # must still come out as the row reader gives it: bytes objects, None when missing
    import geopandas as gpd
    import pyarrow
    import pyogrio
    import shapely

    lines = [shapely.LineString([(0, 0), (1, 1)]), shapely.LineString([(2, 0), (3, 1), (4, 0)])]
    blob = pd.array([b"\x00\x01", None], dtype=pd.ArrowDtype(pyarrow.binary()))
    frame = gpd.GeoDataFrame({"name": ["a", None], "blob": blob}, geometry=lines, crs="EPSG:4326")
    path = tmp_path / "roads.gpkg"
    pyogrio.write_dataframe(frame, path, use_arrow=True)
    assert pyogrio.read_info(path)["dtypes"].tolist() == ["object", "object"]
    got = readers.read_vector(path).frame
    want = pyogrio.read_dataframe(path, use_arrow=False)
    assert got["blob"].tolist() == [b"\x00\x01", None]
    assert got["blob"].tolist() == want["blob"].tolist()
    assert got["name"].isna().tolist() == [False, True]
    assert shapely.equals_exact(got.geometry.values, want.geometry.values, 0).all()
    assert got.crs == want.crs
