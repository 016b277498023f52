"""Writing a plan: the workbook's row cap and the run's timings and peak memory."""

from __future__ import annotations

import json

import geopandas as gpd
import pandas as pd
import psutil
import pyogrio
import pytest
from shapely.geometry import box

from planner.errors import PlannerError
from planner.outputs import vector
from planner.outputs import writers as outputs
from planner.outputs.child import ChildCall
from planner.outputs.writers import write_outputs
from planner.pipeline import run
from planner.scenario import Outputs, load_scenario


def test_cap_sheets_keeps_an_equal_share_per_level():
    gaps = pd.DataFrame({"level": ["county"] * 7 + ["village"] * 3, "id": range(10)})
    plain = pd.DataFrame({"x": range(10)})
    shown, cut = outputs.cap_sheets({"gaps": gaps, "plain": plain, "small": gaps[:4]}, max_rows=4)
    assert shown["gaps"]["id"].tolist() == [0, 1, 7, 8]
    assert shown["plain"]["x"].tolist() == [0, 1, 2, 3]
    assert shown["small"] is not None and len(shown["small"]) == 4
    assert cut == {"gaps": (10, 4), "plain": (10, 4)}
    note = outputs.cut_note(cut, lang="en")
    assert note["every row in"].tolist() == ["gaps.csv", "plain.csv"]


def test_run_reports_timings_peak_memory_and_caps_the_workbook(tiny_region, monkeypatch):
    monkeypatch.setattr(outputs, "XLSX_MAX_ROWS", 2)
    before = psutil.Process().memory_info().rss / 2**20
    plan = run(load_scenario(tiny_region))
    write_outputs(plan)
    out = tiny_region.parent / "out"
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["peak_memory_mb"] >= before - 0.05  # rounded to 0.1 MB
    assert summary["engine"] == "inprocess"
    steps = {"read layers", "coverage", "audit", "standards", "siting", "tables", "write outputs"}
    assert steps <= set(summary["timings"]) and min(summary["timings"].values()) >= 0
    sheets = pd.read_excel(out / "summary.xlsx", sheet_name=None)
    assert len(pd.read_csv(out / "uncovered_villages.csv")) == len(plan.gaps) > 2
    note = sheets["说明"]
    assert "uncovered_villages.csv" in set(note["完整数据"])
    for title, rows, shown, csv in note[["工作表", "总行数", "表中行数", "完整数据"]].to_numpy():
        assert len(sheets[title]) == shown < rows == len(pd.read_csv(out / csv))


def _count_children(monkeypatch) -> list[ChildCall]:
    """The child processes started from now on (recorded as they start)."""
    started: list[ChildCall] = []
    real_start = ChildCall._start

    def counted(self: ChildCall) -> None:
        started.append(self)
        real_start(self)

    monkeypatch.setattr(ChildCall, "_start", counted)
    return started


def test_few_grids_are_written_without_a_child_process(tmp_path, monkeypatch):
    started = _count_children(monkeypatch)
    grids = gpd.GeoDataFrame(
        {"id": ["g1"]}, geometry=[box(500_000, 4_000_000, 500_400, 4_000_300)], crs="EPSG:4550"
    )
    settings = Outputs(formats=("kml", "geojson"), crs="EPSG:4490")
    written = outputs.write_grids(grids, tmp_path, outputs=settings)
    assert list(written) == ["grids_kml", "grids_geojson"] and started == []
    assert pyogrio.read_dataframe(written["grids_geojson"])["id"].tolist() == ["g1"]


def test_grid_files_from_the_child_process_equal_those_written_here(tmp_path, monkeypatch):
    """KML and GeoJSON of many grids come from a child process: byte for byte what this
    process writes; an error in the child is raised here."""
    monkeypatch.setattr(outputs, "CHILD_MIN_GRIDS", 3)
    started = _count_children(monkeypatch)
    grids = gpd.GeoDataFrame(
        {"id": ["g1", "g2", None], "households": [60, 58, 61]},
        geometry=[
            box(500_000, 4_000_000, 500_400, 4_000_300),
            box(500_400, 4_000_000, 500_700, 4_000_300),
            box(500_000, 4_000_300, 500_100, 4_000_400),
        ],
        crs="EPSG:4550",
    )
    settings = Outputs(formats=("gpkg", "kml", "geojson"), crs="EPSG:4490")
    (tmp_path / "child").mkdir()
    (tmp_path / "here").mkdir()
    written = outputs.write_grids(grids, tmp_path / "child", outputs=settings)
    assert list(written) == ["grids_gpkg", "grids_kml", "grids_geojson"]
    assert len(started) == 1
    assert all(path.is_file() for path in written.values())
    here = outputs.write_formats(grids, tmp_path / "here", ["kml", "geojson"], "EPSG:4490", "utf-8")
    for path in here.values():
        assert (tmp_path / "child" / path.name).read_bytes() == path.read_bytes()
    back = pyogrio.read_dataframe(written["grids_geojson"])
    assert back["id"].tolist()[:2] == ["g1", "g2"] and back["id"].isna().tolist()[2]
    with pytest.raises(PlannerError, match="cannot tell the format"):
        ChildCall(vector._format_name, "grids.unknown", None, what="testing").result()


@pytest.mark.parametrize("min_rows", [0, 10**9])
def test_coverage_gpkg_from_the_child_process_equals_one_written_here(
    tiny_region, tmp_path, monkeypatch, min_rows
):
    """From ``GPKG_CHILD_MIN_ROWS`` rows ``coverage.gpkg`` is written by a child process
    (below, by this one): every table and row as :func:`write_gpkg` writes them here."""
    from gpkg_helpers import gpkg_dump

    from planner.outputs.gpkg_child import GpkgChild

    monkeypatch.setattr(outputs, "GPKG_CHILD_MIN_ROWS", min_rows)
    monkeypatch.setattr(vector, "CHUNK_ROWS", 7)  # long layers streamed in batches
    children: list[bool] = []
    real_init = GpkgChild.__init__

    def counted(self: GpkgChild, *, start: bool = True) -> None:
        real_init(self, start=start)
        children.append(self._child is not None)

    monkeypatch.setattr(GpkgChild, "__init__", counted)
    plan = run(load_scenario(tiny_region))
    written = write_outputs(plan, tmp_path / "out")
    assert children == [min_rows == 0]
    here = vector.write_gpkg(
        tmp_path / "here.gpkg", outputs.coverage_layers(plan), crs=plan.scenario.outputs.crs
    )
    assert gpkg_dump(written["coverage"]) == gpkg_dump(here)
