"""Tests of planner.outputs.map_layers (and map_problems): what each layer of the map holds,
checked against an independent count of the plan."""

from __future__ import annotations

import dataclasses

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from conftest import tiny_frames
from map_helpers import (
    SCRIPT,
    XSS,
    coverage_only,
    expected_uncovered,
    payloads,
    run_hostile,
    village_base,
)
from shapely.geometry import Point, box

from planner.levels import normalize_level
from planner.outputs.maps import build_map, render_map
from planner.pipeline import Plan


@pytest.fixture(scope="module")
def plan(tmp_path_factory: pytest.TempPathFactory) -> Plan:
    return coverage_only(run_hostile(tmp_path_factory.mktemp("hostile")))


@pytest.fixture(scope="module")
def map_zh(plan: Plan) -> folium.Map:
    return build_map(plan)  # zh is the scenario's default


@pytest.fixture(scope="module")
def map_en(plan: Plan) -> folium.Map:
    return build_map(plan, lang="en")


def test_layer_sizes_and_coverage_match_an_independent_count(map_zh):
    m = map_zh
    layers, specs = m.data_layers(), payloads(m)
    levels = tiny_frames()["centers"]["level"].map(normalize_level).value_counts()
    assert layers["县级党群服务中心"].size == levels["county"] == 1
    assert layers["乡镇（街道）党群服务中心"].size == levels["township"] == 1
    assert layers["村（社区）党群服务中心"].size == levels["village"] == 2
    for level, name, radius in [
        ("county", "县级", 9500),
        ("township", "乡镇级", 4500),
        ("village", "村级", 500),
    ]:
        spec = specs[f"村（社区）覆盖：{name}"]
        uncovered = np.array(spec["s"]) == 1
        np.testing.assert_array_equal(uncovered, expected_uncovered(level, radius))
    # the heat map weighs the villages not covered at village level by population
    pop = tiny_frames()["villages"]["population"].to_numpy()
    heat = specs["未覆盖人口热力图（村级）"]["points"]
    expected = pop[expected_uncovered("village", 500)]
    weights = sorted(p[2] for p in heat)
    scaled = np.minimum(expected / np.percentile(expected, 90), 1.0)  # 90th percentile = 1
    np.testing.assert_allclose(weights, sorted(scaled), atol=1e-3)


def test_positions_are_wgs84_of_the_input(map_zh):
    base = village_base(map_zh)
    lonlat = tiny_frames()["villages"].geometry
    np.testing.assert_allclose(base["g"], np.column_stack([lonlat.y, lonlat.x]), atol=2e-6)


def test_search_entries_cover_villages_and_centers_uniquely(map_zh):
    m = map_zh
    keys = village_base(m)["k"] + [
        k for spec in payloads(m).values() if spec.get("kind") == "icon" for k in spec["k"]
    ]
    assert len(keys) == len(set(keys)) == 6 + 4
    assert f"{XSS} · 村（社区） 150521100000" in keys
    assert "甲镇中心 · 乡镇（街道）党群服务中心 T1" in keys


def test_popup_values_are_formatted_and_missing_values_dropped(map_en):
    spec = payloads(map_en)["County centers"]
    row = dict(zip(spec["labels"], spec["p"][0], strict=True))
    assert row["code"] == "C1" and row["level"] == "County centers"
    assert row["floor area (m²)"] == 2500.0 and "plaza area (m²)" not in row
    assert row["villages served"] == 6.0


def test_missing_and_empty_layers_still_render_and_are_noted(plan):
    crs = plan.villages.crs
    empty = gpd.GeoDataFrame({"kind": pd.Series(dtype="string")}, geometry=[], crs=crs)
    bare = dataclasses.replace(
        plan,
        centers=plan.centers.iloc[0:0],
        service_areas=plan.service_areas.iloc[0:0],
        gaps=plan.gaps.iloc[0:0],
        audit=plan.audit.iloc[0:0],
        proposals=empty.assign(rank=pd.Series(dtype=int)),
        grids=empty,
        grid_issues=empty,
        compliance=pd.DataFrame({"center_id": [], "verdict": [], "rule": []}),
    )
    m = build_map(bare, lang="en")
    render_map(m)
    notes = set(m.notes)
    for level in ("county", "township", "village"):
        assert f"no centers of level {level}" in notes
    assert {
        "Service areas: no data",
        "Proposed sub-centers: no data",
        "Proposed stations: no data",
        "Grids: no data",
        "grid issues: none found",
        "standards check: every center passes",
        "full-coverage audit: every unit has a center of its level",
    } <= notes
    assert any(n.startswith("uncovered population heat map") for n in notes)
    assert [n for n in m.data_layers() if "centers" in n] == []
    # villages still show, every one uncovered (no centers)
    spec = payloads(m)["Village coverage: village level"]
    assert spec["s"] == [0, 1, 1, 0, 1, 1]  # coverage columns of the plan are kept


def test_no_villages_at_all(plan):
    m = build_map(dataclasses.replace(plan, villages=plan.villages.iloc[0:0]), lang="en")
    render_map(m)
    assert "Village coverage: no data" in m.notes
    assert not any(n.startswith("Village coverage:") for n in m.data_layers())


def test_proposals_grids_issues_and_compliance(plan):
    crs = plan.villages.crs
    x0, y0 = plan.villages.geometry.x.min(), plan.villages.geometry.y.min()
    proposals = gpd.GeoDataFrame(
        {
            "kind": ["station", "subcenter", "station"],
            "rank": [2, 1, 1],
            "site_id": ["S2", "B1", "S1"],
            "name": ["二号站", "分中心", "一号站"],
            "new_population_covered": [300.0, 900.0, 1200.0],
            "reason": ["uncovered", "merged township", "uncovered"],
        },
        geometry=[Point(x0 + d, y0) for d in (100, 200, 300)],
        crs=crs,
    )
    grids = gpd.GeoDataFrame(
        {"id": ["150521100000001", "150521100000002"], "village_id": ["150521100000"] * 2},
        geometry=[box(x0, y0, x0 + 100, y0 + 100), box(x0 + 100, y0, x0 + 200, y0 + 100)],
        crs=crs,
    )
    issues = gpd.GeoDataFrame(
        {"kind": ["gap"], "grid_id": [None], "village_id": ["150521100000"], "message": ["gap"]},
        geometry=[box(x0 + 200, y0, x0 + 210, y0 + 10)],
        crs=crs,
    )
    compliance = pd.DataFrame(
        {
            "center_id": ["C1", "C1", "T1", "V1"],
            "rule": ["area", "rooms", "area", "area"],
            "verdict": ["pass", "fail", "unknown", "pass"],
            "issue": ["", "缺少图书室", "面积未知", ""],
        }
    )
    full = dataclasses.replace(
        plan, proposals=proposals, grids=grids, grid_issues=issues, compliance=compliance
    )
    m = build_map(full)
    specs, layers = payloads(m), m.data_layers()
    assert specs["拟建驿站"]["n"] == ["1", "2"] and specs["拟建驿站"]["t"] == ["一号站", "二号站"]
    assert specs["拟建分中心"]["n"] == ["1"]
    assert layers["网格"].size == 2 and layers["网格问题"].size == 1
    flagged = specs["不达标或待核实的中心"]
    assert flagged["t"] == [SCRIPT, "甲镇中心"] and flagged["s"] == [0, 1]
    row = dict(zip(flagged["labels"], flagged["p"][0], strict=True))
    assert row["状态"] == "不达标" and row["问题"] == "缺少图书室"
    centers = specs["县级党群服务中心"]
    assert dict(zip(centers["labels"], centers["p"][0], strict=True))["标准核查"] == "不达标"
    village = specs["村（社区）党群服务中心"]
    verdicts = [dict(zip(village["labels"], p, strict=True)).get("标准核查") for p in village["p"]]
    assert verdicts == ["达标", None]
    render_map(m)
