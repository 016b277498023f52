"""Fuzzing layer attribute tables: every bad cell is a row problem, never a traceback.

Hypothesis builds village/center tables cell by cell from known kinds (valid, empty,
duplicate, Chinese, very long ids; populations that are text with units, negative, NaN,
infinite or absurd; levels known, aliased, unknown or empty; coordinates valid, swapped,
out of range, missing or text; yes/no values) and writes them as CSV, XLSX and GeoPackage.
Reading must give frames plus :class:`Problem` rows or a :class:`PlannerError`, nothing
else, and where the kind decides the outcome, the rows reported must be exactly the rows
made bad.
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely.geometry import Point
from typer.testing import CliRunner

from planner.cli import app
from planner.errors import PlannerError, Problem
from planner.layers import collect_layers
from planner.scenario import load_scenario

FORMATS = (".csv", ".xlsx", ".gpkg")
LON0, LAT0 = 122.0, 43.6

ID_KINDS = ("text", "number", "float", "chinese", "long", "empty", "duplicate")
POP_KINDS = ("number", "zero", "negative", "nan", "nan_text", "inf", "huge", "units", "empty")
LEVEL_KINDS = ("known", "alias", "unknown", "empty")
XY_KINDS = ("valid", "valid", "valid", "swapped", "out_of_range", "missing", "text")
BOOL_KINDS = ("yes", "no", "chinese", "unknown", "empty")


@dataclass(frozen=True)
class Cells:
    """The kinds of one generated row."""

    id: str
    pop: str
    level: str
    xy: str
    urban: str
    dx: float
    dy: float


rows_strategy = st.lists(
    st.builds(
        Cells,
        id=st.sampled_from(ID_KINDS),
        pop=st.sampled_from(POP_KINDS),
        level=st.sampled_from(LEVEL_KINDS),
        xy=st.sampled_from(XY_KINDS),
        urban=st.sampled_from(BOOL_KINDS),
        dx=st.floats(-0.2, 0.2),
        dy=st.floats(-0.2, 0.2),
    ),
    min_size=1,
    max_size=12,
)


def id_cell(kind: str, i: int) -> object:
    return {
        "text": f"V{i}",
        "number": 10_000 + i,
        "float": 20_000.0 + i,
        "chinese": f"村{i}号",
        "long": "长" * 300 + str(i),
        "empty": None,
        "duplicate": "DUP",
    }[kind]


def pop_cell(kind: str, i: int) -> object:
    return {
        "number": 100.0 + i,
        "zero": 0.0,
        "negative": -5.0,
        "nan": math.nan,
        "nan_text": "nan",
        "inf": math.inf,
        "huge": 1e300,
        "units": "3000人",
        "empty": None,
    }[kind]


def xy_cells(c: Cells) -> tuple[object, object]:
    lon, lat = LON0 + c.dx, LAT0 + c.dy
    return {
        "valid": (lon, lat),
        "swapped": (lat, lon),
        "out_of_range": (lon + 400.0, lat),
        "missing": (math.nan, lat),
        "text": ("东经122度", lat),
    }[c.xy]


def table_of(cells: list[Cells]) -> pd.DataFrame:
    """The generated rows as a ledger with Chinese headers (a DUP id goes to two rows)."""
    xy = [xy_cells(c) for c in cells]
    table = pd.DataFrame(
        {
            "编码": pd.Series([id_cell(c.id, i) for i, c in enumerate(cells)], dtype=object),
            "名称": [f"{i}村" for i in range(len(cells))],
            "人口": pd.Series([pop_cell(c.pop, i) for i, c in enumerate(cells)], dtype=object),
            "级别": [
                {"known": "township", "alias": "乡镇", "unknown": "居委会", "empty": None}[c.level]
                for c in cells
            ],
            "城乡": [
                {"yes": "true", "no": "0", "chinese": "社区", "unknown": "也许", "empty": None}[
                    c.urban
                ]
                for c in cells
            ],
            "经度": pd.Series([a for a, _ in xy], dtype=object),
            "纬度": pd.Series([b for _, b in xy], dtype=object),
        }
    )
    return table


def write_layer(table: pd.DataFrame, path: Path) -> None:
    if path.suffix == ".csv":
        table.to_csv(path, index=False)
    elif path.suffix == ".xlsx":
        table.to_excel(path, index=False)
    else:
        lon = pd.to_numeric(table["经度"], errors="coerce")
        lat = table["纬度"].astype(float)
        geometry = [
            Point(x, y) if np.isfinite(x) and np.isfinite(y) else None
            for x, y in zip(lon, lat, strict=True)
        ]
        attrs = table.drop(columns=["经度", "纬度"]).copy()
        for column in ("编码", "人口"):
            values = attrs[column]
            if any(isinstance(v, str) for v in values):
                attrs[column] = [None if pd.isna(v) else str(v) for v in values]
        attrs["人口"] = attrs["人口"].where(attrs["人口"].notna(), None)
        gpd.GeoDataFrame(attrs, geometry=geometry, crs="EPSG:4326").to_file(path)


SCENARIO = """
[layers.villages]
path = "villages{suffix}"
[layers.centers]
path = "centers{suffix}"
[levels.village]
radius_m = 2000
"""


def expected_rows(cells: list[Cells], suffix: str) -> dict[tuple[str, str], set[int]]:
    """Rows each decidable problem must be reported for: ``(layer, text) → rows``."""
    base = 1 if suffix == ".gpkg" else 2
    rows = {}

    def add(layer: str, text: str, kinds: set[str], attr: str) -> None:
        rows[layer, text] = {i + base for i, c in enumerate(cells) if getattr(c, attr) in kinds}

    for layer in ("villages", "centers"):
        add(layer, "empty id", {"empty"}, "id")
        add(
            layer,
            "duplicate id",
            {"duplicate"} if sum(c.id == "duplicate" for c in cells) > 1 else set(),
            "id",
        )
        add(layer, "look swapped", {"swapped"}, "xy")
        add(layer, "out of range", {"out_of_range"}, "xy")
        missing = "empty or missing geometry" if suffix == ".gpkg" else "missing or not a number"
        add(layer, missing, {"missing", "text"}, "xy")
    add("villages", "negative value", {"negative"}, "pop")
    add("villages", "not a finite number", {"inf"}, "pop")
    add("villages", "implausibly large", {"huge"}, "pop")
    add("villages", "not a number: ", {"units", "nan_text"}, "pop")
    add("villages", "is empty; counted as 0", {"empty", "nan"}, "pop")  # NaN is written empty
    add("villages", "not a yes/no value", {"unknown"}, "urban")
    add("centers", "unknown level", {"unknown"}, "level")
    add("centers", "empty level", {"empty"}, "level")
    return rows


def check(cells: list[Cells], suffix: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        table = table_of(cells)
        write_layer(table, root / f"villages{suffix}")
        write_layer(table, root / f"centers{suffix}")
        scenario = root / "scenario.toml"
        scenario.write_text(SCENARIO.format(suffix=suffix), encoding="utf-8")
        try:
            layers = collect_layers(load_scenario(scenario))
        except PlannerError:
            return
        problems = layers.problems
        assert all(isinstance(p, Problem) for p in problems)
        base = 1 if suffix == ".gpkg" else 2
        valid_rows = set(range(base, base + len(cells)))
        assert all(p.row is None or p.row in valid_rows for p in problems)
        for (layer, text), want in expected_rows(cells, suffix).items():
            got = {p.row for p in problems if p.layer == layer and text in p.problem}
            assert got == want, (layer, text, [str(p) for p in problems])
        for p in problems:  # every row problem names a column of the user's file
            if p.row is not None:
                assert p.column in set(table.columns) | {"geometry"}, str(p)
        result = CliRunner().invoke(app, ["validate", str(scenario)])
        assert result.exit_code in (0, 2), result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)
        errors = any(p.severity == "error" for p in problems)
        assert result.exit_code == (2 if errors else 0), result.output


FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@pytest.mark.parametrize("suffix", FORMATS)
@FUZZ
@given(cells=rows_strategy)
def test_layer_attributes_fuzz(suffix, cells):
    check(cells, suffix)


@pytest.mark.slow
@pytest.mark.parametrize("suffix", FORMATS)
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cells=rows_strategy)
def test_layer_attributes_fuzz_long(suffix, cells):
    check(cells, suffix)
