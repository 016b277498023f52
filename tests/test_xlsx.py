"""Tests of planner.outputs.xlsx: Excel workbooks read back by openpyxl, pandas and GDAL."""

from __future__ import annotations

import zipfile

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from openpyxl import load_workbook
from shapely.geometry import box

from planner.outputs.xlsx import write_xlsx

#: Text a spreadsheet would run as a formula (and text that only looks like one).
FORMULA_TEXTS = [
    '=HYPERLINK("http://x","click")',
    "=cmd|' /C calc'!A0",
    "+1",
    "@SUM(A1)",
    "-2+3",
    "\tTAB",
    "-",
    "-5",
    "-0.25",
    "a=b",
    "通辽=1",
    "line\n@SUM(A1)",
]


def test_xlsx_stores_formula_text_as_strings(tmp_path):
    raw = FORMULA_TEXTS  # no carriage return: XML reads it as a line feed
    table = pd.DataFrame({"=cmd|' /C calc'!A0": raw, "n": range(-len(raw), 0)})
    path = write_xlsx(tmp_path / "f.xlsx", {"s": table})
    sheet = load_workbook(path)["s"]
    header = sheet["A1"]
    assert header.value == "=cmd|' /C calc'!A0" and header.data_type == "s"
    cells = sheet["A"][1:]
    assert [c.value for c in cells] == raw
    assert all(c.data_type == "s" for c in cells)  # text, never a formula ("f")
    assert all(c.data_type == "n" and c.value < 0 for c in sheet["B"][1:])
    with zipfile.ZipFile(path) as book:
        assert "<f>" not in book.read("xl/worksheets/sheet1.xml").decode()


def test_write_xlsx_sheets_header_widths(tmp_path):
    table = pd.DataFrame(
        {
            "id": ["150521100001", "150521100002", "150521100003"],
            "name": ["保康镇第一村", "Alpha village", "嘎查·东"],
            "population": np.array([400, 250, 0], dtype=np.int64),
        }
    )
    long_name = "Per-village grid table: households/workers [2024]"
    path = write_xlsx(tmp_path / "s.xlsx", {long_name: table, "村": table.head(1)})
    book = load_workbook(path)
    assert book.sheetnames == ["Per-village grid table_ househo", "村"]
    assert all(len(n) <= 31 for n in book.sheetnames)
    sheet = book[book.sheetnames[0]]
    assert sheet.freeze_panes == "A2"
    assert all(c.font.bold for c in sheet[1])
    assert [c.value for c in sheet[1]] == list(table.columns)
    assert sheet["B2"].value == "保康镇第一村"
    assert sheet.column_dimensions["B"].width == len("Alpha village") + 2
    # A CJK character counts as two columns: 6 characters → 12, plus 2 of padding.
    assert book["村"].column_dimensions["B"].width == 14
    assert all(6 <= d.width <= 60 for d in sheet.column_dimensions.values())
    got = pd.read_excel(path, sheet_name=None, dtype={"id": str})
    pd.testing.assert_series_equal(got[book.sheetnames[0]]["id"], table["id"], check_dtype=False)


def test_xlsx_cuts_text_excel_cannot_hold(tmp_path):
    ring = shapely.Point(5e5, 4.8e6).buffer(1000, quad_segs=2000)  # WKT of ~300k characters
    gdf = gpd.GeoDataFrame({"id": ["a", "b"]}, geometry=[ring, box(0, 0, 1, 1)], crs="EPSG:4550")
    path = write_xlsx(tmp_path / "g.xlsx", {"grids": gdf})
    cells = [c.value for c in load_workbook(path)["grids"]["B"]]
    assert cells[0] == "geometry"
    assert len(cells[1]) == 32_767 and cells[1].endswith("…")
    assert cells[1].startswith("POLYGON ((")
    assert cells[2] == "POLYGON ((1 0, 1 1, 0 1, 0 0, 1 0))"


def test_xlsx_duplicate_sheet_names(tmp_path):
    df = pd.DataFrame({"a": [1]})
    path = write_xlsx(tmp_path / "d.xlsx", {"a" * 40: df, "a" * 35: df, "x?": df})
    names = load_workbook(path).sheetnames
    assert names == ["a" * 31, "a" * 27 + " (2)", "x_"]


def test_xlsx_values_round_trip_through_openpyxl_pandas_and_gdal(tmp_path):
    stamp = pd.Timestamp("2024-05-01 08:30:15")
    table = pd.DataFrame(
        {
            "text": ["a & b < c > d", "  padded  ", "行\n二", "bell\x07gone", None],
            "int": np.array([1, -2, 3, 10**12, 0], dtype=np.int64),
            "float": [0.1, np.nan, 1e-5, np.inf, -np.inf],
            "flag": pd.array([True, False, None, True, False], dtype="boolean"),
            "when": [stamp, pd.NaT, stamp, stamp, stamp],
            "zone": pd.date_range("2024-01-01", periods=5, tz="Asia/Shanghai"),
            "mixed": [1, "two", 3.5, False, None],
        }
    )
    wide = pd.DataFrame({f"c{i}": [i] for i in range(30)})  # columns past Z: AA, AB, …
    path = write_xlsx(tmp_path / "t.xlsx", {"t": table, "wide": wide, "empty": table.head(0)})
    book = load_workbook(path)
    cells = [[c.value for c in row] for row in book["t"].iter_rows(min_row=2)]
    assert [r[0] for r in cells] == ["a & b < c > d", "  padded  ", "行\n二", "bellgone", None]
    assert [r[1] for r in cells] == [1, -2, 3, 10**12, 0]
    assert [r[2] for r in cells] == [0.1, None, 1e-5, "inf", "-inf"]
    assert [r[3] for r in cells] == [True, False, None, True, False]
    assert [r[4] for r in cells] == [stamp.to_pydatetime(), None, *[stamp.to_pydatetime()] * 3]
    assert cells[0][5] == pd.Timestamp("2024-01-01").to_pydatetime()  # zone dropped
    assert [r[6] for r in cells] == [1, "two", 3.5, False, None]
    assert [c.value for c in book["wide"][1]] == list(wide.columns)
    assert book["wide"]["AD2"].value == 29
    assert [c.value for c in book["empty"][1]] == list(table.columns)
    assert book["empty"].max_row == 1
    back = pd.read_excel(path, sheet_name="wide")
    pd.testing.assert_frame_equal(back, wide)
    gdal = pyogrio.read_dataframe(path, layer="t")
    assert gdal["int"].tolist() == [1, -2, 3, 10**12, 0]
