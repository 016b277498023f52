"""Tests for planner.export: round trips through every format, atomicity, real clients."""

from __future__ import annotations

import json
import shutil
import subprocess
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from openpyxl import load_workbook
from shapely.geometry import MultiPolygon, Polygon, box

from planner.errors import PlannerError
from planner.outputs import files as export
from planner.outputs.files import (
    FORMATS,
    atomic_path,
    shapefile_field_names,
    write_csv,
    write_gpkg,
    write_json,
    write_png,
    write_vector,
    write_xlsx,
)

WORK_CRS = "EPSG:4550"  # CGCS2000 3-degree Gauss-Krüger CM 123E (Tongliao)
# Columns whose names a DBF cannot hold as they are.
LONG_NAMES = ["households_per_worker", "households_per_grid", "户数", "人口数"]


@pytest.fixture
def layer() -> gpd.GeoDataFrame:
    x0, y0 = 500_000.0, 4_800_000.0
    geoms = [
        box(x0, y0, x0 + 1000, y0 + 800),
        Polygon(
            [(x0 + 2000, y0), (x0 + 3000, y0), (x0 + 3000, y0 + 900), (x0 + 2000, y0)],
            [[(x0 + 2700, y0 + 100), (x0 + 2900, y0 + 100), (x0 + 2900, y0 + 300)]],
        ),
        MultiPolygon(
            [box(x0, y0 + 2000, x0 + 500, y0 + 2500), box(x0 + 600, y0 + 2000, x0 + 900, y0 + 2300)]
        ),
        box(x0 + 5000, y0 + 5000, x0 + 5001.5, y0 + 5003.25),
    ]
    return gpd.GeoDataFrame(
        {
            "id": ["150521100001", "150521100002", "150521100003", "150521100004"],
            "name": ["保康镇第一村", "Alpha village", "嘎查·东", "社区"],
            "households": [120.5, 80.0, np.nan, 3.0],
            "population": np.array([400, 250, 0, 10], dtype=np.int64),
            "urban": [False, False, True, True],
            "demo": [True, None, False, None],
            "note": ["备注", None, "x", ""],
            "households_per_worker": [50.0, 60.0, 70.0, 80.0],
            "households_per_grid": [1, 2, 3, 4],
            "户数": [10, 20, 30, 40],
            "人口数": [1.5, 2.5, 3.5, 4.5],
        },
        geometry=geoms,
        crs=WORK_CRS,
    )


def _null(v) -> bool:
    return v is None or (not isinstance(v, str) and pd.isna(v))


def _norm(v):
    """Compare values across drivers: ints, floats and booleans as numbers, text as text."""
    if _null(v):
        return None
    if isinstance(v, str):
        return v
    return float(v)


def assert_same_layer(got: gpd.GeoDataFrame, want: gpd.GeoDataFrame, *, tol: float) -> None:
    assert len(got) == len(want)
    for col in want.columns:
        if col == want.geometry.name:
            continue
        assert col in got.columns, f"{col} missing; got {list(got.columns)}"
        a = [_norm(v) for v in got[col].tolist()]
        b = [_norm(v) for v in want[col].tolist()]
        # Empty text and missing text are one thing in some formats (DBF, KML).
        a = [None if x == "" else x for x in a]
        b = [None if x == "" else x for x in b]
        assert a == b, col
    # Some drivers store every polygon as a multipolygon when the layer mixes both.
    g1 = shapely.normalize(_multi(got.geometry.values))
    g2 = shapely.normalize(_multi(want.geometry.values))
    assert shapely.equals_exact(g1, g2, tolerance=tol).all()


def _multi(geoms: np.ndarray) -> np.ndarray:
    single = shapely.get_type_id(geoms) == shapely.GeometryType.POLYGON
    out = geoms.copy()
    out[single] = [MultiPolygon([g]) for g in geoms[single]]
    return out


def _read_back(paths: list[Path], fmt: str) -> gpd.GeoDataFrame:
    main = paths[0]
    assert main.suffix == FORMATS[fmt].suffix
    if fmt == "parquet":
        return gpd.read_parquet(main)
    got = pyogrio.read_dataframe(main)
    if fmt == "kml":
        got = got.rename(columns={"Name": "name"})
    if fmt == "shp":
        names = pd.read_csv(main.with_name(main.stem + ".fields.csv"), encoding="utf-8-sig")
        got = got.rename(columns=dict(zip(names["short"], names["original"], strict=True)))
    return got


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_round_trip_every_format(tmp_path, layer, fmt):
    paths = write_vector(layer, tmp_path / f"grids{FORMATS[fmt].suffix}")
    got = _read_back(paths, fmt)
    out_crs = FORMATS[fmt].crs or "EPSG:4490"
    assert got.crs.equals(out_crs)
    # 1e-7 degrees ≈ 1 cm: GeoJSON keeps 7 decimals; the others keep doubles.
    assert_same_layer(got, layer.to_crs(out_crs), tol=1e-7 if fmt == "geojson" else 1e-9)
    assert "保康镇第一村" in got["name"].tolist()


@pytest.mark.parametrize("fmt", ["gpkg", "fgb", "parquet", "shp"])
def test_output_crs_is_selectable(tmp_path, layer, fmt):
    paths = write_vector(layer, tmp_path / "a", fmt=fmt, crs=WORK_CRS)
    got = _read_back(paths, fmt)
    assert got.crs.equals(WORK_CRS)
    assert_same_layer(got, layer, tol=1e-6)


@pytest.mark.parametrize("fmt", ["geojson", "kml"])
def test_geojson_and_kml_are_always_wgs84(tmp_path, layer, fmt):
    paths = write_vector(layer, tmp_path / "a", fmt=fmt, crs=WORK_CRS)
    got = _read_back(paths, fmt)
    assert got.crs.equals("EPSG:4326")
    lon, lat = got.geometry.iloc[0].exterior.coords[0][:2]
    assert 120 < lon < 126 and 40 < lat < 46


def test_gbk_shapefile_stores_gbk_bytes(tmp_path, layer):
    paths = write_vector(layer, tmp_path / "grids.shp", encoding="gbk")
    dbf = (tmp_path / "grids.dbf").read_bytes()
    assert "保康镇第一村".encode("gbk") in dbf
    assert "保康镇第一村".encode() not in dbf
    assert (tmp_path / "grids.cpg").read_text() == "936"
    got = _read_back(paths, "shp")
    assert_same_layer(got, layer.to_crs(4490), tol=1e-9)


def test_gbk_refuses_text_it_cannot_hold(tmp_path, layer):
    layer.loc[1, "name"] = "村 \U0001f600"
    with pytest.raises(PlannerError, match=r"column 'name', row 2"):
        write_vector(layer, tmp_path / "grids.shp", encoding="gbk")
    assert list(tmp_path.iterdir()) == []


def test_shapefile_parts_and_field_map(tmp_path, layer):
    paths = write_vector(layer, tmp_path / "g.shp")
    assert sorted(p.name for p in paths) == sorted(
        ["g.shp", "g.shx", "g.dbf", "g.prj", "g.cpg", "g.fields.csv"]
    )
    assert (tmp_path / "g.cpg").read_text().strip() == "UTF-8"
    fields = pd.read_csv(tmp_path / "g.fields.csv", encoding="utf-8-sig")
    assert fields["original"].tolist() == [c for c in layer.columns if c != "geometry"]
    short = fields["short"].tolist()
    assert len({s.lower() for s in short}) == len(short)
    assert all(len(s.encode()) <= 10 and s.isascii() for s in short)
    info = pyogrio.read_info(tmp_path / "g.shp")
    assert list(info["fields"]) == short


def test_shapefile_field_names_rules():
    got = shapefile_field_names(["id", "name", *LONG_NAMES, "Households", "1st", "a-b"])
    assert got["id"] == "id" and got["name"] == "name"
    assert got["households_per_worker"] == "households"
    assert got["households_per_grid"] == "househol_1"
    assert got["户数"] == "field" and got["人口数"] == "field_1"
    assert got["Households"] == "Househol_2"  # DBF names compare without case
    assert got["1st"] == "f_1st" and got["a-b"] == "a_b"


def test_shapefile_long_text_is_cut_at_a_character(tmp_path, layer):
    layer["note"] = ["长" * 200, "x", None, "y"]  # 600 bytes in UTF-8
    with pytest.warns(UserWarning, match="cut"):
        paths = write_vector(layer, tmp_path / "g.shp")
    got = _read_back(paths, "shp")
    assert got["note"].iloc[0] == "长" * 84  # 252 bytes: the 85th character would not fit


def test_flatgeobuf_keeps_row_order(tmp_path):
    rng = np.random.default_rng(1)
    xy = rng.uniform(0, 1e5, size=(300, 2))
    gdf = gpd.GeoDataFrame(
        {"k": np.arange(300)}, geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=WORK_CRS
    )
    paths = write_vector(gdf, tmp_path / "p.fgb", crs=None)
    got = pyogrio.read_dataframe(paths[0])
    assert got["k"].tolist() == list(range(300))


def test_suffix_rules(tmp_path, layer):
    assert write_vector(layer, tmp_path / "a.json")[0] == tmp_path / "a.json"
    assert pyogrio.read_info(tmp_path / "a.json")["driver"] == "GeoJSON"
    assert write_vector(layer, tmp_path / "b.dat", fmt="fgb")[0] == tmp_path / "b.fgb"


def test_unknown_format_and_suffix(tmp_path, layer):
    with pytest.raises(PlannerError, match="unknown vector format"):
        write_vector(layer, tmp_path / "a.gpkg", fmt="dwg")
    with pytest.raises(PlannerError, match="suffix"):
        write_vector(layer, tmp_path / "a.dwg")
    with pytest.raises(PlannerError, match="encoding"):
        write_vector(layer, tmp_path / "a.shp", encoding="latin-1")


def test_write_gpkg_many_layers(tmp_path, layer):
    pts = gpd.GeoDataFrame({"id": ["a"]}, geometry=gpd.points_from_xy([5e5], [4.8e6]), crs=WORK_CRS)
    path = write_gpkg(tmp_path / "coverage.gpkg", {"villages": pts, "grids": layer})
    assert sorted(pyogrio.list_layers(path)[:, 0]) == ["grids", "villages"]
    got = pyogrio.read_dataframe(path, layer="grids")
    assert got.crs.equals(WORK_CRS)
    assert_same_layer(got, layer, tol=0)


# ---------------------------------------------------------------------------- atomicity


def _failing_writer(real):
    """Write a partial file, then fail as a driver might half-way through."""

    def write(df, path, **kwargs):
        real(df.iloc[:1], path, **kwargs)
        raise RuntimeError("disk full")

    return write


@pytest.mark.parametrize("fmt", ["gpkg", "geojson", "shp", "kml", "fgb"])
def test_failed_write_keeps_previous_file(tmp_path, layer, monkeypatch, fmt):
    target = tmp_path / f"grids{FORMATS[fmt].suffix}"
    write_vector(layer, target)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    monkeypatch.setattr(pyogrio, "write_dataframe", _failing_writer(pyogrio.write_dataframe))
    with pytest.raises(RuntimeError, match="disk full"):
        write_vector(layer.iloc[::-1], target)
    after = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert after == before  # same files, same bytes, no temporaries
    assert len(pyogrio.read_dataframe(target)) == len(layer)


def test_failed_gpkg_second_layer_keeps_previous(tmp_path, layer, monkeypatch):
    target = write_gpkg(tmp_path / "c.gpkg", {"a": layer})
    before = target.read_bytes()
    real = pyogrio.write_dataframe
    calls = []

    def second_fails(df, path, **kwargs):
        calls.append(kwargs["layer"])
        if len(calls) == 2:
            raise RuntimeError("boom")
        real(df, path, **kwargs)

    monkeypatch.setattr(pyogrio, "write_dataframe", second_fails)
    with pytest.raises(RuntimeError):
        write_gpkg(target, {"x": layer, "y": layer})
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["c.gpkg"]


def test_failed_parquet_keeps_previous(tmp_path, layer, monkeypatch):
    target = tmp_path / "g.parquet"
    write_vector(layer, target)
    before = target.read_bytes()

    def fail(self, path, **kwargs):
        Path(path).write_bytes(b"partial")
        raise RuntimeError("boom")

    monkeypatch.setattr(gpd.GeoDataFrame, "to_parquet", fail)
    with pytest.raises(RuntimeError):
        write_vector(layer, target)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["g.parquet"]


def test_shapefile_move_failure_restores_old_set(tmp_path, layer, monkeypatch):
    target = tmp_path / "g.shp"
    write_vector(layer, target)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    real = export.os.replace
    moves = []

    def third_move_fails(src, dst):
        moves.append(Path(dst).name)
        if len(moves) == 3:
            raise OSError("device gone")
        return real(src, dst)

    monkeypatch.setattr(export.os, "replace", third_move_fails)
    with pytest.raises(OSError, match="device gone"):
        write_vector(layer.iloc[:2], target)
    monkeypatch.setattr(export.os, "replace", real)
    after = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert after == before
    assert len(pyogrio.read_dataframe(target)) == len(layer)


def test_shapefile_rewrite_drops_stale_sidecars(tmp_path, layer):
    target = tmp_path / "g.shp"
    write_vector(layer, target)
    (tmp_path / "g.qix").write_bytes(b"old index")
    write_vector(layer.iloc[:2], target)
    assert not (tmp_path / "g.qix").exists()
    assert len(pyogrio.read_dataframe(target)) == 2


def test_atomic_path_success_and_failure(tmp_path):
    target = tmp_path / "a.txt"
    target.write_text("old")
    with atomic_path(target) as tmp:
        assert tmp.name == "a.txt" and tmp.parent.parent == tmp_path and tmp != target
        tmp.write_text("new")
        assert target.read_text() == "old"
    assert target.read_text() == "new"
    with pytest.raises(KeyError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise KeyError("x")
    assert target.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_atomic_path_missing_folder(tmp_path):
    with pytest.raises(PlannerError, match="does not exist"), atomic_path(tmp_path / "no" / "a"):
        pass


# ---------------------------------------------------------------------------- tables


def test_write_json_converts_numpy_and_pandas(tmp_path):
    obj = {
        "名称": "通辽",
        "n": np.int64(3),
        "x": np.float32(0.5),
        "nan": float("nan"),
        "na": pd.NA,
        "arr": np.array([1, 2]),
        "flag": np.bool_(True),
        "when": pd.Timestamp("2024-05-01T08:00"),
        "nat": pd.NaT,
        "path": Path("out/map.html"),
        "nested": [{"v": np.float64(np.inf)}],
    }
    path = write_json(tmp_path / "summary.json", obj)
    text = path.read_text(encoding="utf-8")
    assert "通辽" in text  # not \u escaped
    assert json.loads(text) == {
        "名称": "通辽",
        "n": 3,
        "x": 0.5,
        "nan": None,
        "na": None,
        "arr": [1, 2],
        "flag": True,
        "when": "2024-05-01T08:00:00",
        "nat": None,
        "path": "out/map.html",
        "nested": [{"v": None}],
    }
    with pytest.raises(PlannerError, match="cannot write a object"):
        write_json(tmp_path / "bad.json", {"a": object()})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["summary.json"]


def test_write_csv_has_bom_and_round_trips(tmp_path, layer):
    path = write_csv(tmp_path / "t.csv", layer)
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    got = pd.read_csv(path, encoding="utf-8-sig", dtype={"id": str})
    assert got["name"].tolist() == layer["name"].tolist()
    assert got["id"].tolist() == layer["id"].tolist()
    assert shapely.from_wkt(got["geometry"].to_numpy())[0].equals(layer.geometry.iloc[0])


#: Text cells a spreadsheet would run as formulas, and what the CSV must hold instead.
FORMULAS = {
    '=HYPERLINK("http://x","click")': '\'=HYPERLINK("http://x","click")',
    "=cmd|' /C calc'!A0": "'=cmd|' /C calc'!A0",
    "+1": "'+1",
    "@SUM(A1)": "'@SUM(A1)",
    "-2+3": "'-2+3",
    "\tTAB": "'\tTAB",
    "\r=1": "'\r=1",
    "-": "'-",
    "-5": "-5",  # a negative number as text: read as that number, nothing runs
    "-0.25": "-0.25",
    "a=b": "a=b",
    "": "",
    "通辽=1": "通辽=1",
    "note\r=1+1": "note\r=1+1",  # quoted: the formula cannot start a row of its own
    "line\n@SUM(A1)": "line\n@SUM(A1)",
}


def _read_csv_text(path: Path) -> list[list[str]]:
    """Every cell of a CSV as the text a spreadsheet gets (no type guessing)."""
    import csv

    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.reader(f))


@pytest.mark.parametrize("dtype", [object, "string", "category"])
def test_csv_neutralises_formula_cells_but_not_numbers(tmp_path, dtype):
    raw = list(FORMULAS)
    n = len(raw)
    table = pd.DataFrame(
        {
            "text": pd.Series(raw, dtype=dtype),
            "negative": np.linspace(-3, 3, n),  # real numbers stay numbers
            "ints": np.arange(-n, 0, dtype=np.int64),
            "mixed": [-7, "=1+1", None, 2.5] + ["@x"] * (n - 4),
        }
    )
    path = write_csv(tmp_path / "t.csv", table)
    rows = _read_csv_text(path)
    assert rows[0] == ["text", "negative", "ints", "mixed"]
    cells = list(zip(*rows[1:], strict=True))
    assert list(cells[0]) == [FORMULAS[v] for v in raw]
    assert [float(v) for v in cells[1]] == pytest.approx(np.linspace(-3, 3, n).tolist())
    assert [int(v) for v in cells[2]] == list(range(-n, 0))
    assert list(cells[3]) == ["-7", "'=1+1", "", "2.5"] + ["'@x"] * (n - 4)
    assert table["text"].tolist() == pd.Series(raw, dtype=dtype).tolist()  # input untouched


def test_csv_neutralises_formula_headers(tmp_path):
    table = pd.DataFrame({"=cmd|' /C calc'!A0": [1], "A: =1+1": ["x"], "@SUM(A1)": [2]})
    rows = _read_csv_text(write_csv(tmp_path / "h.csv", table))
    assert rows == [["'=cmd|' /C calc'!A0", "A: =1+1", "'@SUM(A1)"], ["1", "x", "2"]]


def test_shapefile_field_map_neutralises_formula_names(tmp_path, layer):
    gdf = layer[["id", "geometry"]].assign(**{"=HYPERLINK(1)": 1})
    paths = write_vector(gdf, tmp_path / "g.shp")
    fields = next(p for p in paths if p.name.endswith(".fields.csv"))
    rows = _read_csv_text(fields)
    assert ["'=HYPERLINK(1)", "HYPERLINK_"] in rows


def test_xlsx_stores_formula_text_as_strings(tmp_path):
    raw = [v for v in FORMULAS if v.strip() and "\r" not in v]  # XML reads CR as LF
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


def test_write_xlsx_sheets_header_widths(tmp_path, layer):
    table = pd.DataFrame(layer.drop(columns="geometry"))
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
    gdf = gpd.GeoDataFrame({"id": ["a", "b"]}, geometry=[ring, box(0, 0, 1, 1)], crs=WORK_CRS)
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


def test_write_png(tmp_path):
    from matplotlib.figure import Figure

    fig = Figure()
    fig.add_subplot().plot([0, 1], [0, 1])
    path = write_png(tmp_path / "p.png", fig)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir()] == ["p.png"]


def test_write_png_crops_only_figures_without_a_layout(tmp_path):
    from matplotlib.figure import Figure
    from PIL import Image

    sizes = {}
    for layout in (None, "constrained"):
        fig = Figure(figsize=(4, 3), layout=layout)
        fig.add_subplot().plot([0, 1], [0, 1])
        path = write_png(tmp_path / f"{layout}.png", fig, dpi=50)
        with Image.open(path) as image:
            sizes[layout] = image.size
    assert sizes["constrained"] == (200, 150)  # laid out: saved whole
    assert sizes[None] != (200, 150)  # cropped to the drawing


# ---------------------------------------------------------------------------- real client


@pytest.mark.skipif(shutil.which("ogrinfo") is None, reason="ogrinfo (gdal-bin) not installed")
@pytest.mark.parametrize("fmt", ["gpkg", "geojson", "shp", "kml", "fgb"])
def test_ogrinfo_reads_every_export(tmp_path, layer, fmt):
    paths = write_vector(layer, tmp_path / f"grids{FORMATS[fmt].suffix}", encoding="utf-8")
    main = next(p for p in paths if p.suffix == FORMATS[fmt].suffix)
    run = subprocess.run(
        ["ogrinfo", "-al", "-so", str(main)], capture_output=True, text=True, check=True
    )
    assert f"Feature Count: {len(layer)}" in run.stdout
    if fmt == "shp":
        fields = pd.read_csv(tmp_path / "grids.fields.csv", encoding="utf-8-sig")["short"]
    elif fmt == "kml":  # id and name are the placemark's own id and name
        fields = [c for c in layer.columns if c not in ("geometry", "id", "name")]
    else:
        fields = [c for c in layer.columns if c != "geometry"]
    for field in fields:
        assert f"\n{field}: " in run.stdout, field


@pytest.mark.skipif(shutil.which("ogrinfo") is None, reason="ogrinfo (gdal-bin) not installed")
def test_ogrinfo_reads_gbk_shapefile(tmp_path, layer):
    write_vector(layer, tmp_path / "g.shp", encoding="gbk")
    run = subprocess.run(
        ["ogrinfo", "-al", "-q", str(tmp_path / "g.shp")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "保康镇第一村" in run.stdout
