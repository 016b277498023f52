"""The notebooks in ``notebooks/`` run cleanly and show the right numbers.

Each notebook is executed with nbclient in a fresh ``python3`` kernel of this environment
(the kernel spec's ``python`` resolves to the running interpreter), with its output
folder pointed at a temporary directory (``PLANNER_NOTEBOOK_OUT``). A notebook fails when
a cell raises or prints a Python warning. The last code cell of every notebook, tagged
``headline``, ends in a dict literal; its values are checked here against computations
that do not go through the planner's own pipeline.
"""

from __future__ import annotations

import ast
import csv
import os
import re
import tomllib
from pathlib import Path
from typing import Any

import geopandas as gpd
import nbformat
import numpy as np
import pandas as pd
import pyogrio
import pyproj
import pytest
from nbclient import NotebookClient

from planner.crs import gcj02_to_wgs84
from planner.levels import normalize_level

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
DEMO = REPO / "layers" / "demo"
ADCODE = Path(__file__).resolve().parents[2] / "shared" / "data" / "cn_admin"
NAMES = ("01_tour", "02_what_if", "03_grids", "04_your_own_data", "05_python_api")
WARNING_LINE = re.compile(r"\b[A-Z]\w*Warning: ")


def execute(name: str, out: Path, *, cwd: Path = NOTEBOOKS, **env: str) -> nbformat.NotebookNode:
    """Run a notebook from ``cwd``; raises ``CellExecutionError`` when a cell fails."""
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    client = NotebookClient(
        nb,
        timeout=1200,  # a guard against a hung kernel, not a speed requirement
        kernel_name="python3",
        resources={"metadata": {"path": str(cwd)}},
    )
    client.execute(env={**os.environ, "PLANNER_NOTEBOOK_OUT": str(out), **env})
    return nb


def assert_clean(nb: nbformat.NotebookNode) -> None:
    """No cell errored and none printed a Python warning."""
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            assert output["output_type"] != "error", f"cell {cell.id}: {output.get('evalue')}"
            if output["output_type"] == "stream" and output["name"] == "stderr":
                assert not WARNING_LINE.search(output["text"]), f"cell {cell.id}: {output['text']}"


def headline(nb: nbformat.NotebookNode) -> dict[str, Any]:
    """The dict shown by the cell tagged ``headline``."""
    cells = [c for c in nb.cells if "headline" in c.metadata.get("tags", [])]
    assert len(cells) == 1
    (result,) = [o for o in cells[0].outputs if o["output_type"] == "execute_result"]
    return ast.literal_eval(result["data"]["text/plain"])


def demo_ledger() -> pd.DataFrame:
    ledger = pd.read_excel(DEMO / "villages.xlsx", dtype=object)
    for col in ("人口", "户数", "经度", "纬度"):
        ledger[col] = pd.to_numeric(ledger[col])
    return ledger


def demo_settings() -> dict[str, Any]:
    return tomllib.loads((REPO / "scenarios" / "demo.toml").read_text(encoding="utf-8"))


# ---------------------------------------------------------------------------- committed form


@pytest.mark.parametrize("name", NAMES)
def test_notebook_is_committed_without_outputs(name):
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code
    assert all(c.outputs == [] and c.execution_count is None for c in code)
    assert sum("headline" in c.metadata.get("tags", []) for c in code) == 1


# ---------------------------------------------------------------------------- 01 tour


def county_population_covered(ledger: pd.DataFrame, crs: str) -> float:
    """Population within the county radius of a county center, by brute force."""
    lon, lat = gcj02_to_wgs84(ledger["经度"].to_numpy(float), ledger["纬度"].to_numpy(float))
    vx, vy = pyproj.Transformer.from_crs(4326, crs, always_xy=True).transform(lon, lat)
    centers = gpd.read_file(DEMO / "centers.gpkg")
    county = centers[centers["level"].map(normalize_level) == "county"].to_crs(4326).to_crs(crs)
    dx = vx[:, None] - county.geometry.x.to_numpy()[None, :]
    dy = vy[:, None] - county.geometry.y.to_numpy()[None, :]
    nearest = np.hypot(dx, dy).min(axis=1)
    radius = demo_settings()["levels"]["county"]["radius_m"]
    return float(ledger["人口"].to_numpy(float)[nearest <= radius].sum())


def test_tour(tmp_path):
    nb = execute("01_tour", tmp_path, cwd=REPO)
    assert_clean(nb)
    head = headline(nb)
    ledger = demo_ledger()
    assert head["villages"] == len(ledger)
    assert head["population_total"] == pytest.approx(ledger["人口"].sum())
    assert head["county_population_covered"] == pytest.approx(
        county_population_covered(ledger, head["crs"])
    )
    assert 0 < head["village_population_covered"] < head["population_total"]
    pages = [
        o["data"]["text/html"]
        for c in nb.cells
        for o in c.get("outputs", [])
        if "text/html" in o.get("data", {}) and "<iframe" in o["data"]["text/html"]
    ]
    assert len(pages) == 1, "the gap map is shown inline once"
    assert "leaflet" in pages[0].lower()
    assert "cdn.jsdelivr" not in pages[0] and "unpkg.com" not in pages[0]


# ---------------------------------------------------------------------------- 02 what if


def test_what_if(tmp_path):
    nb = execute("02_what_if", tmp_path)
    assert_clean(nb)
    head = headline(nb)
    assert head["radius_m"] == sorted(head["radius_m"])
    assert np.all(np.diff(head["village_covered"]) >= 0), "coverage cannot fall as radius grows"
    assert head["budgets"] == sorted(head["budgets"])
    optimal, greedy = np.array(head["optimal"]), np.array(head["greedy"])
    assert np.all(np.diff(optimal) >= 0)
    assert np.all(optimal >= greedy - 1e-6), "the exact optimum is never below greedy"
    assert optimal[0] == greedy[0], "with no new station both are the existing coverage"
    figures = [
        o for c in nb.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})
    ]
    assert len(figures) == 2


# ---------------------------------------------------------------------------- 03 grids


def test_grids(tmp_path):
    nb = execute("03_grids", tmp_path)
    assert_clean(nb)
    head = headline(nb)
    ledger = demo_ledger()
    target = np.where(ledger["城乡"] == "城镇", 250.0, 30.0)
    expected = int(np.maximum(1, np.rint(ledger["户数"].to_numpy(float) / target)).sum())
    assert head["grids"] == expected
    assert set(head["features_per_format"]) == {
        "gpkg", "geojson", "shp", "kml", "fgb", "parquet", "shp (GBK)"
    }  # fmt: skip
    assert set(head["features_per_format"].values()) == {expected}
    assert head["renumbered_same"] is True
    assert head["gap_area_m2"] == pytest.approx(head["dropped_area_m2"], rel=1e-6)
    assert {"gap", "code", "overlap"} <= set(head["issue_kinds"])
    assert head["pipeline_issues"] >= 3

    exported = pyogrio.read_dataframe(tmp_path / "03_grids" / "grids" / "grids.gpkg")
    ids = exported["id"].astype(str)
    assert ids.str.fullmatch(r"\d{15}").all() and ids.is_unique
    assert (ids.str.slice(0, 12) == exported["village_id"].astype(str)).all()
    numbered = exported.groupby("village_id")["seq"].agg(
        lambda s: sorted(s) == [*range(1, len(s) + 1)]
    )
    assert numbered.all(), "grids of a village are numbered 1, 2, … without holes"
    gbk = tmp_path / "03_grids" / "grids" / "grids_gbk.shp"
    assert "网格".encode("gbk") in gbk.with_suffix(".dbf").read_bytes()
    names = pyogrio.read_dataframe(gbk, encoding="gbk", read_geometry=False)
    assert names["name"].str.contains("网格").all()


# ---------------------------------------------------------------------------- 04 own data


def adcode_villages_with_points() -> int:
    with (ADCODE / "adcode_2016" / "150521.csv").open(encoding="utf-8") as f:
        return sum(row[3] == "village" and row[12] != "" and row[13] != "" for row in csv.reader(f))


def check_own_data(nb: nbformat.NotebookNode, out: Path, *, located: int, source: str) -> None:
    assert_clean(nb)
    head = headline(nb)
    assert head["source"] == source
    assert head["villages_located"] == located
    written = pd.read_excel(out / "04_your_own_data" / "ledger.xlsx", sheet_name="村（社区）")
    assert len(written) == located
    assert written["经度"].notna().all()
    assert head["population_total"] == pytest.approx(written["人口（虚构）"].sum())
    assert 0 < head["township_population_covered"] <= head["population_total"]
    # GCJ-02 is offset from WGS84 by roughly 300–700 m across north-east China
    assert 300 < head["gcj02_shift_m_median"] < 800
    assert head["county_audit"]["ok"] == 1


@pytest.mark.skipif(not (ADCODE / "adcode_2016" / "150521.csv").is_file(), reason="no adcode data")
def test_own_data_from_adcode(tmp_path):
    nb = execute("04_your_own_data", tmp_path)
    check_own_data(nb, tmp_path, located=adcode_villages_with_points(), source="adcode")
    assert headline(nb)["villages_in_ledger"] == 555


def test_own_data_from_demo(tmp_path):
    nb = execute("04_your_own_data", tmp_path, PLANNER_CN_ADMIN=str(tmp_path / "absent"))
    located = int(demo_ledger()["编码"].astype(str).str.startswith("150521").sum())
    check_own_data(nb, tmp_path, located=located, source="demo")


# ---------------------------------------------------------------------------- 05 Python API


def demo_points(crs: str) -> tuple[pd.DataFrame, np.ndarray]:
    """Ledger rows in village-area order and a point inside each area, in ``crs``."""
    areas = gpd.read_file(DEMO / "village_areas.shp").to_crs(crs)
    ledger = demo_ledger().set_index(demo_ledger()["编码"].astype(str))
    rows = ledger.loc[areas["编码"].astype(str)]
    inside = areas.representative_point()
    return rows, np.column_stack([inside.x, inside.y])


def within(points: np.ndarray, sites: np.ndarray, radius: float) -> np.ndarray:
    d = np.hypot(points[:, None, 0] - sites[None, :, 0], points[:, None, 1] - sites[None, :, 1])
    return (d <= radius).any(axis=1)


def test_python_api(tmp_path):
    nb = execute("05_python_api", tmp_path)
    assert_clean(nb)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "from planner" not in code and "import planner as pl" in code
    head = headline(nb)
    rows, xy = demo_points(head["crs"])
    assert head["villages"] == len(rows)
    centers = gpd.read_file(DEMO / "centers.gpkg").to_crs(head["crs"])
    center_xy = np.column_stack([centers.geometry.x, centers.geometry.y])
    township = within(xy, center_xy[centers["level"].eq("township").to_numpy()], 12_000)
    assert head["township_covered"] == int(township.sum())
    serving = centers["level"].isin(["village", "station"]).to_numpy()
    assert head["straight_covered"] == int(within(xy, center_xy[serving], 1000).sum())
    assert 0 < head["road_covered"] <= head["straight_covered"], "roads are never shorter"
    table = pd.read_csv(DEMO / "candidates.csv", encoding="utf-8-sig").set_index("id")
    chosen = gpd.GeoSeries(
        gpd.points_from_xy(table.loc[head["chosen"], "lon"], table.loc[head["chosen"], "lat"]),
        crs="EPSG:4326",
    ).to_crs(head["crs"])
    sites = np.vstack([center_xy[serving], np.column_stack([chosen.x, chosen.y])])
    reached = within(xy, sites, 1000)
    assert head["population_covered"] == pytest.approx(rows["人口"].to_numpy(float)[reached].sum())
    assert head["gap"] == 0 and 1 <= head["fewest"] <= len(head["chosen"])
    first = rows[rows["乡镇编码"] == rows["乡镇编码"].iloc[0]]
    assert head["households"] == first["户数"].sum()
    target = np.where(first["城乡"] == "城镇", 250.0, 30.0)
    expected = np.maximum(1, np.rint(first["户数"].to_numpy(float) / target))
    assert head["grids"] == int(expected.sum())
    assert head["issue_kinds"] == ["gap"]
