"""The vectorised hot paths of national runs against plain per-row references."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import psutil
import shapely
from conftest import tiny_frames
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import Point, box

from planner.audit import full_coverage_audit
from planner.catchment import LevelResult, Nearest, circle_service_areas, nearest_euclidean
from planner.layers import _as_code, _by_distinct, _Collector
from planner.levels import normalize_level, try_normalize_level
from planner.outputs import writers as outputs
from planner.pipeline import run
from planner.scenario import LevelSpec, load_scenario
from planner.schemas import parse_bool
from planner.synth.region import generate_region, write_region

# ---------------------------------------------------------------------------- audit


def reference_audit(frames):
    """The audit written unit by unit with shapely predicates (the definition)."""
    centers = frames["centers"]
    villages = frames["villages"]
    rows = []
    for level, kind, code in (
        ("county", "counties", "county_id"),
        ("township", "townships", "township_id"),
        ("village", "village_areas", "village_id"),
    ):
        mine = [c for c in centers.to_dict("records") if c["level"] == level]
        units = frames.get(kind)
        if units is not None:
            for unit in units.to_dict("records"):
                inside = [c["id"] for c in mine if c["geometry"].within(unit["geometry"])]
                named = [c["id"] for c in mine if c.get(code) == unit["id"]]
                status = "ok" if inside else "outside" if named else "missing"
                rows.append((level, unit["id"], status, ";".join(inside or named)))
        elif level == "village":
            by_code = any(pd.notna(c.get("village_id")) for c in mine)
            owner = [
                c.get("village_id")
                if by_code
                else villages["id"].iloc[int(np.argmin(villages.distance(c["geometry"])))]
                for c in mine
            ]
            for vid in villages["id"]:
                served = [c["id"] for c, o in zip(mine, owner, strict=True) if o == vid]
                rows.append((level, vid, "ok" if served else "missing", ";".join(served)))
    return rows


def audit_rows(frames):
    audit = full_coverage_audit(frames)
    return list(
        zip(audit["level"], audit["unit_id"], audit["status"], audit["center_ids"], strict=True)
    )


def metric(frames):
    frames["centers"]["level"] = frames["centers"]["level"].map(normalize_level)
    return {k: v.to_crs("EPSG:4550") for k, v in frames.items()}


def test_audit_equals_the_reference_on_the_tiny_region():
    frames = metric(tiny_frames())
    assert audit_rows(frames) == reference_audit(frames)
    moved = tiny_frames()
    moved["centers"].loc[1, "geometry"] = moved["centers"].geometry[1].buffer(0).centroid
    moved["centers"].loc[1, "geometry"] = Point(121.9, 43.5)  # outside its township
    moved["centers"]["village_id"] = [None, None, "150521100000", None]
    frames = metric(moved)
    assert audit_rows(frames) == reference_audit(frames)
    assert ("township", "150521100", "outside", "T1") in audit_rows(frames)


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["county", "township", "village"]),
            st.integers(0, 39),
            st.integers(0, 39),
            st.sampled_from([None, "A", "B", "C", "D"]),
        ),
        min_size=1,
        max_size=25,
    ),
    st.booleans(),
)
def test_audit_equals_the_reference_on_random_centers(centers, with_areas):
    """Four township squares in two counties, villages on a grid, centers anywhere (on
    shared edges too), some named by a code that may not match where they lie."""
    squares = [box(x, y, x + 20, y + 20) for x in (0, 20) for y in (0, 20)]
    frames = {
        "townships": gpd.GeoDataFrame(
            {"id": list("ABCD"), "county_id": ["A", "A", "B", "B"]}, geometry=squares
        ),
        "counties": gpd.GeoDataFrame(
            {"id": ["A", "B"]}, geometry=[box(0, 0, 20, 40), box(20, 0, 40, 40)]
        ),
        "villages": gpd.GeoDataFrame(
            {"id": [f"v{i}" for i in range(16)]},
            geometry=[Point(5 + 10 * (i % 4), 5 + 10 * (i // 4)) for i in range(16)],
        ),
        "centers": gpd.GeoDataFrame(
            {
                "id": [f"c{i}" for i in range(len(centers))],
                "level": [c[0] for c in centers],
                "county_id": [c[3] if c[3] in ("A", "B") else None for c in centers],
                "township_id": [c[3] for c in centers],
            },
            geometry=[Point(c[1], c[2]) for c in centers],
        ),
    }
    if with_areas:
        frames["village_areas"] = gpd.GeoDataFrame(
            {"id": frames["villages"]["id"]}, geometry=frames["villages"].buffer(5).envelope
        )
    assert audit_rows(frames) == reference_audit(frames)


# ---------------------------------------------------------------------------- reading


def code_reference(value):
    """The per-cell definition of an identifier cell as text."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value).strip()
    if text.endswith(".0") and text[:-2].isdigit():
        text = text[:-2]
    return text or None


CELLS = st.one_of(
    st.none(),
    st.integers(-(10**12), 10**12),
    st.floats(-1e14, 1e14),
    st.just(float("nan")),
    st.integers(0, 10**12).map(float),
    st.from_regex(r"\s*[0-9]{1,12}(\.0|\.5)?\s*", fullmatch=True),
    st.text(alphabet="村0123456789 .x", max_size=8),
)


def as_list(series):
    return [None if pd.isna(v) else v for v in series]


@settings(max_examples=60, deadline=None)
@given(st.lists(CELLS, max_size=30))
def test_as_code_equals_the_per_cell_definition(cells):
    expected = [code_reference(v) for v in cells]
    assert as_list(_as_code(pd.Series(cells, dtype=object))) == expected
    floats = [v for v in cells if isinstance(v, float)]
    assert as_list(_as_code(pd.Series(floats, dtype=float))) == [code_reference(v) for v in floats]


YES_NO = st.sampled_from(
    [None, True, False, 1, 0, 1.0, 0.0, "是", "否", "城镇", "社区", "村", "yes", "N", " true ", "x",
     "2", np.nan]
)  # fmt: skip


@settings(max_examples=40, deadline=None)
@given(st.lists(YES_NO, max_size=30))
def test_distinct_parsing_equals_per_cell_parsing(cells):
    values = pd.Series(cells, dtype=object)
    assert as_list(_by_distinct(values, parse_bool)) == [
        None if pd.isna(v) else parse_bool(v) for v in cells
    ]
    levels = pd.Series([str(v) for v in cells], dtype="string")
    assert as_list(_by_distinct(levels, try_normalize_level)) == [
        try_normalize_level(v) for v in levels
    ]


def test_collector_lists_twenty_rows_and_counts_the_rest(tmp_path):
    out = _Collector("villages", tmp_path / "v.gpkg")
    mask = np.zeros(1000, dtype=bool)
    mask[::10] = True
    out.rows("error", mask, np.arange(1000) + 2, "bad {value}", values=pd.Series(range(1000)))
    out.add("error", "bad {value}", row=5000)
    problems = out.finish()
    listed = [p for p in problems if p.row is not None]
    assert [p.row for p in listed] == list(range(2, 202, 10))
    assert listed[3].problem == "bad 30"
    assert problems[-1].problem == "... and 81 more rows with: bad …"


# ---------------------------------------------------------------------------- coverage


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 6), st.integers(0, 6)), min_size=1, max_size=12),
    st.lists(st.tuples(st.integers(0, 6), st.integers(0, 6)), min_size=1, max_size=25),
)
def test_nearest_points_break_ties_to_the_lowest_position(sources, targets):
    """On an integer grid many centers are equally near: brute force decides."""
    s, t = np.array(sources, float), np.array(targets, float)
    found = nearest_euclidean(gpd.GeoSeries(shapely.points(t)), gpd.GeoSeries(shapely.points(s)))
    d = np.sqrt(((t[:, None, :] - s[None, :, :]) ** 2).sum(axis=2))
    assert np.array_equal(found.index, np.argmax(d == d.min(axis=1, keepdims=True), axis=1))
    np.testing.assert_allclose(found.dist_m, d.min(axis=1), rtol=0, atol=1e-12)
    stubs = gpd.GeoSeries(shapely.linestrings(np.stack([s, s], axis=1)))  # the STRtree path
    other = nearest_euclidean(gpd.GeoSeries(shapely.points(t)), stubs)
    assert np.array_equal(other.index, found.index)


def test_circles_equal_shapely_buffers():
    rng = np.random.default_rng(3)
    pts = shapely.points(rng.uniform(0, 1e5, (40, 2)))
    centers = gpd.GeoDataFrame({"id": [f"c{i}" for i in range(40)]}, geometry=pts, crs=4550)
    nearest = Nearest(np.zeros(0, int), np.zeros(0), np.zeros(0))
    res = LevelResult("village", LevelSpec(radius_m=1234.5), centers, nearest, np.zeros(0, bool))
    for quad_segs in (4, 8, 16):
        circles = circle_service_areas(res, quad_segs=quad_segs).geometry.values
        expected = shapely.buffer(pts, 1234.5, quad_segs=quad_segs)
        assert shapely.equals_exact(circles, expected, tolerance=1e-6).all()


# ---------------------------------------------------------------------------- outputs


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
    out = tiny_region.parent / "out"
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["peak_memory_mb"] >= before
    assert summary["engine"] == "inprocess"
    steps = {"read layers", "coverage", "audit", "standards", "siting", "tables", "write outputs"}
    assert steps <= set(summary["timings"]) and min(summary["timings"].values()) >= 0
    sheets = pd.read_excel(out / "summary.xlsx", sheet_name=None)
    assert len(pd.read_csv(out / "uncovered_villages.csv")) == len(plan.gaps) > 2
    note = sheets["说明"]
    assert "uncovered_villages.csv" in set(note["完整数据"])
    for title, rows, shown, csv in note[["工作表", "总行数", "表中行数", "完整数据"]].to_numpy():
        assert len(sheets[title]) == shown < rows == len(pd.read_csv(out / csv))


# ---------------------------------------------------------------------------- synth


def test_national_scenario_measures_straight_lines_and_skips_heavy_steps(tmp_path):
    region = generate_region(villages=120, townships=10, seed=2, village_areas=False)
    scenario = load_scenario(write_region(region, tmp_path, national=True))
    assert {spec.mode for spec in scenario.levels.values()} == {"euclidean"}
    assert not (scenario.siting.subcenters.enabled or scenario.siting.stations.enabled)
    assert not (scenario.grids.enabled or scenario.outputs.map or scenario.outputs.report)
    assert set(scenario.layers) == {
        "centers", "villages", "townships", "counties", "merged_townships",
        "merged_township_areas",
    }  # fmt: skip
    assert not Path(tmp_path / "roads.gpkg").exists()
    plan = run(scenario)
    assert set(plan.summary["levels"]) == set(scenario.levels)
    assert (Path(scenario.out_dir) / "summary.json").exists()
