"""Tests of planner.outputs.tables: JSON, CSV and the guard against spreadsheet formulas."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import box

from planner.errors import PlannerError
from planner.outputs.tables import write_csv, write_json


@pytest.fixture
def layer() -> gpd.GeoDataFrame:
    """Polygons with numeric text ids and Chinese names."""
    x0, y0 = 500_000.0, 4_800_000.0
    return gpd.GeoDataFrame(
        {
            "id": ["150521100001", "150521100002", "150521100003"],
            "name": ["保康镇第一村", "Alpha village", "嘎查·东"],
            "households": [120.5, 80.0, np.nan],
        },
        geometry=[box(x0, y0, x0 + 1000, y0 + 800), box(x0, y0, x0 + 10, y0 + 10), box(0, 0, 1, 1)],
        crs="EPSG:4550",
    )


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
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.reader(f))


@pytest.mark.parametrize("dtype", [object, "string", "str", "string[pyarrow]", "category"])
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
