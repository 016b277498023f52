"""Tests for planner.maps: layers, labels, escaping, empty layers, offline page; and the
map in headless Chromium (marked ``browser``)."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import folium.plugins
import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from conftest import SCENARIO, tiny_frames
from matplotlib.image import imread
from shapely.geometry import Point, box

from planner.errors import PlannerError
from planner.levels import normalize_level
from planner.outputs.map_page import Data, check_offline
from planner.outputs.maps import build_map, render_map, write_map
from planner.pipeline import Plan, run
from planner.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
WORK_CRS = "EPSG:4550"  # CGCS2000 3-degree Gauss-Krüger CM 123E, as the pipeline picks
XSS = "<img src=x onerror=alert(1)>"
SCRIPT = "</script><script>alert(2)</script>"
QUOTES = "\"引号\" 'single' & <b>粗</b>"
EMOJI = "🏠幸福村😀"
LONG = "很长的村名" * 400  # 2,000 characters
JINJA = "{{ 7*7 }}{% raw %}{# 模板"  # folium pages pass through Jinja: must stay text

OVERLAYS_ZH = [
    "县界",
    "乡镇（街道）界",
    "县级服务范围",
    "乡镇级服务范围",
    "村级服务范围",
    "未覆盖人口热力图（村级）",
    "村（社区）覆盖：县级",
    "村（社区）覆盖：乡镇级",
    "村（社区）覆盖：村级",
    "县级党群服务中心",
    "乡镇（街道）党群服务中心",
    "村（社区）党群服务中心",
    "缺少本级中心的单元",
]
OVERLAYS_EN = [
    "County boundaries",
    "Township boundaries",
    "Service areas: county level",
    "Service areas: township level",
    "Service areas: village level",
    "Uncovered population heat map (village level)",
    "Village coverage: county level",
    "Village coverage: township level",
    "Village coverage: village level",
    "County centers",
    "Township centers",
    "Village centers",
    "Units without a center of their level",
]


def hostile_frames() -> dict[str, gpd.GeoDataFrame]:
    """The tiny region with names that are HTML, quotes, emoji and very long text."""
    frames = tiny_frames()
    frames["villages"]["name"] = [XSS, QUOTES, "三社区", EMOJI, JINJA, LONG]
    frames["centers"]["name"] = [SCRIPT, "甲镇中心", "一村中心", QUOTES]
    return frames


def _write_region(folder: Path, frames: dict[str, gpd.GeoDataFrame], scenario: str) -> Path:
    for kind, frame in frames.items():
        frame.to_file(folder / f"{kind}.gpkg", driver="GPKG")
    path = folder / "scenario.toml"
    path.write_text(scenario, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def raw_plan(tmp_path_factory: pytest.TempPathFactory) -> Plan:
    folder = tmp_path_factory.mktemp("hostile")
    return run(load_scenario(_write_region(folder, hostile_frames(), SCENARIO)))


@pytest.fixture(scope="module")
def plan(raw_plan: Plan) -> Plan:
    """Coverage and audit only: the optional steps (grids, siting, standards) are tested
    with hand-made frames, whatever the pipeline adds by default."""
    return dataclasses.replace(
        raw_plan, grids=None, grid_issues=None, proposals=None, compliance=None
    )


@pytest.fixture(scope="module")
def plan_without_townships(plan: Plan) -> Plan:
    """A configured level (township) that has no centers."""
    return dataclasses.replace(
        plan,
        centers=plan.centers[plan.centers["level"] != "township"],
        service_areas=plan.service_areas[plan.service_areas["level"] != "township"],
    )


@pytest.fixture(scope="module")
def map_zh(plan: Plan) -> folium.Map:
    return build_map(plan)  # zh is the scenario's default


@pytest.fixture(scope="module")
def map_en(plan: Plan) -> folium.Map:
    return build_map(plan, lang="en")


@pytest.fixture(scope="module")
def page_zh(map_zh: folium.Map) -> str:
    return render_map(map_zh)


def expected_uncovered(level: str, radius_m: float) -> np.ndarray:
    """Villages farther than ``radius_m`` from every center of ``level`` (brute force)."""
    frames = {k: v.to_crs(WORK_CRS) for k, v in tiny_frames().items()}
    centers = frames["centers"][frames["centers"]["level"].map(normalize_level) == level]
    villages = frames["villages"].geometry
    if centers.empty:
        return np.ones(len(villages), dtype=bool)
    dist = np.array([[v.distance(c) for c in centers.geometry] for v in villages])
    return dist.min(axis=1) > radius_m


def payloads(m: folium.Map) -> dict[str, dict]:
    """Decoded layer specs by overlay name."""
    return {name: json.loads(layer.payload) for name, layer in m.data_layers().items()}


def village_base(m: folium.Map) -> dict:
    (base,) = [c for c in m._children.values() if isinstance(c, Data)]
    return json.loads(base.payload)


def legend_spec(m: folium.Map) -> dict:
    calls = [c for c in m._children.values() if getattr(c, "function", "") == "plannerMap.legend"]
    return calls[0].spec


# ----------------------------------------------------------------------------- layers


def test_overlay_names_and_order_follow_language(map_zh, map_en):
    assert list(map_zh.data_layers()) == OVERLAYS_ZH
    assert list(map_en.data_layers()) == OVERLAYS_EN


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


def test_legend_and_notes_follow_language(plan_without_townships):
    zh = build_map(plan_without_townships)
    en = build_map(plan_without_townships, lang="en")
    assert legend_spec(zh)["title"] == "图例" and legend_spec(en)["title"] == "Legend"
    assert "没有乡镇（街道）党群服务中心" in zh.notes
    assert "no centers of level township" in en.notes
    assert "Township centers" not in en.data_layers()
    assert {"Village boundaries: no data", "Grids: no data"} <= set(en.notes)
    assert "proposals: none (no siting configured)" in en.notes
    assert legend_spec(en)["notes"] == en.notes
    texts = [i["text"] for s in legend_spec(en)["sections"] for i in s["items"]]
    # only the audit statuses that occur are in the legend (every unit lacks, none outside)
    assert any("no center" in x for x in texts) and not any("outside" in x for x in texts)
    assert any(x.startswith("County centers: 1, ") for x in texts)


def test_popup_values_are_formatted_and_missing_values_dropped(map_en):
    spec = payloads(map_en)["County centers"]
    row = dict(zip(spec["labels"], spec["p"][0], strict=True))
    assert row["code"] == "C1" and row["level"] == "County centers"
    assert row["floor area (m²)"] == 2500.0 and "plaza area (m²)" not in row
    assert row["villages served"] == 6.0


def test_every_pipeline_output_reaches_the_map(raw_plan):
    m = build_map(raw_plan, lang="en")
    render_map(m)
    layers = m.data_layers()
    if raw_plan.grids is not None and len(raw_plan.grids):
        assert layers["Grids"].size == len(raw_plan.grids)
    if raw_plan.proposals is not None:
        shown = sum(
            layers[k].size for k in ("Proposed sub-centers", "Proposed stations") if k in layers
        )
        assert shown == len(raw_plan.proposals)
    missing = raw_plan.audit["status"].isin(["missing", "outside"]).sum()
    assert layers["Units without a center of their level"].size == missing


# --------------------------------------------------------------------------- escaping


def test_names_reach_the_page_only_as_escaped_json(map_zh, page_zh):
    page = page_zh
    for raw in (XSS, SCRIPT, "<b>粗</b>", "onerror=alert(1)>"):
        assert raw not in page
    assert page.count("</script>") == page.count("<script")  # no script closed early
    base = village_base(map_zh)
    assert base["t"][:2] == [XSS, QUOTES] and base["t"][3] == EMOJI
    assert EMOJI in page  # written as UTF-8 text, not escaped away
    assert base["t"][4] == JINJA and JINJA in page  # not evaluated as a template


def test_long_text_is_clipped(map_zh):
    base = village_base(map_zh)
    assert base["t"][5] == LONG[:120] + "…"
    assert base["k"][5].startswith(LONG[:120] + "… · ")


def test_layer_names_are_html_escaped_for_the_layer_control(map_zh):
    m = map_zh
    names = [layer.layer_name for layer in m.data_layers().values()]
    assert all("<" not in n and ">" not in n for n in names)


# ---------------------------------------------------------------------- empty layers


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


# -------------------------------------------------------------------- offline, tiles


def test_page_links_nothing_and_a_cdn_element_is_caught(plan, page_zh):
    page = page_zh
    assert not re.search(r"<(script|link)[^>]+(src|href)=", page)
    assert '<html lang="zh-CN">' in page
    m = build_map(plan)
    folium.plugins.Fullscreen().add_to(m)  # links its script on a CDN
    with pytest.raises(RuntimeError, match="external resource"):
        render_map(m)
    with pytest.raises(RuntimeError):
        check_offline('<link rel="stylesheet" href="https://cdn.example/x.css">')


def _with_outputs(plan: Plan, **outputs) -> Plan:
    new = plan.scenario.outputs.model_copy(update=outputs)
    return dataclasses.replace(plan, scenario=plan.scenario.model_copy(update={"outputs": new}))


def test_tiles_only_when_asked(plan, page_zh):
    assert "tile.openstreetmap.org" not in page_zh
    assert "tile.openstreetmap.org" in render_map(build_map(_with_outputs(plan, tiles="osm")))
    page = render_map(build_map(_with_outputs(plan, tiles="tianditu", tianditu_key="k&y")))
    assert "tianditu.gov.cn/vec_w/" in page and "tk=k%26y" in page
    m = build_map(_with_outputs(plan, tiles="tianditu", tianditu_key=" "))
    assert "tianditu.gov.cn" not in render_map(m)
    assert any("tianditu_key" in n for n in m.notes)


def test_write_map_is_atomic_and_checks_its_folder(plan, tmp_path):
    out = write_map(plan, tmp_path / "map.html", lang="en")
    assert out.read_text("utf-8").startswith("<!DOCTYPE html>")
    assert [p.name for p in tmp_path.iterdir()] == ["map.html"]
    with pytest.raises(PlannerError, match="does not exist"):
        write_map(plan, tmp_path / "missing" / "map.html")


def test_unknown_language_is_refused(plan):
    with pytest.raises(PlannerError, match="lang"):
        build_map(plan, lang="fr")


# ------------------------------------------------------------------------- demo size


@pytest.mark.slow
def test_demo_map_stays_small(tmp_path):
    candidates = [ROOT / "scenarios" / "demo.toml", ROOT / "layers" / "demo" / "scenario.toml"]
    scenario = next((p for p in candidates if p.exists()), None)
    if scenario is None:
        pytest.skip("no demo region (scenarios/demo.toml or layers/demo/scenario.toml)")
    m = build_map(run(load_scenario(scenario)))
    path = tmp_path / "map.html"
    path.write_text(render_map(m), encoding="utf-8")
    assert path.stat().st_size < 8_000_000
    assert m.data_layers()  # something to show


# --------------------------------------------------------------------------- browser

LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
COUNT = "(sel) => document.querySelectorAll(sel).length"
TOGGLE = """(name) => {
  const labels = [...document.querySelectorAll('.leaflet-control-layers-overlays label')];
  const label = labels.find(l => l.textContent.trim() === name);
  label.querySelector('input').click();
}"""


def search(page, text: str) -> None:
    """Type into the search box (opening it first) and wait for suggestions."""
    if not page.is_visible("input.search-input"):
        page.click(".search-button")
    page.fill("input.search-input", "")
    page.type("input.search-input", text, delay=10)
    page.wait_for_selector(".search-tip")


@pytest.fixture(scope="module")
def browser_page(plan_without_townships, tmp_path_factory):
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed")
    sync_api = pytest.importorskip("playwright.sync_api")
    path = write_map(plan_without_townships, tmp_path_factory.mktemp("browser") / "map.html")
    events: dict[str, list[str]] = {"errors": [], "requests": [], "dialogs": []}
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.on("pageerror", lambda e: events["errors"].append(str(e)))
        page.on(
            "console",
            lambda m: events["errors"].append(m.text) if m.type == "error" else None,
        )
        page.on("request", lambda r: events["requests"].append(r.url))
        page.on("dialog", lambda d: (events["dialogs"].append(d.message), d.dismiss()))
        page.goto(path.as_uri())
        page.wait_for_function("() => document.querySelector('.planner-legend') !== null")
        yield page, events, path
        browser.close()


@pytest.mark.browser
def test_browser_loads_offline_without_errors(browser_page):
    page, events, _ = browser_page
    page.wait_for_timeout(300)
    assert events["errors"] == []
    assert events["requests"] and all(
        u.startswith(("file:", "data:", "about:")) for u in events["requests"]
    ), events["requests"]
    assert page.title() == "tiny：党群服务中心覆盖地图"


@pytest.mark.browser
def test_browser_markers_and_layers_match_the_plan(browser_page):
    page, _, _ = browser_page
    levels = tiny_frames()["centers"]["level"].map(normalize_level).value_counts()
    levels["township"] = 0  # removed: a level without centers
    for level, n in levels.items():
        assert page.evaluate(COUNT, f".planner-icon.planner-c-{level}") == n
    # village coverage is shown at village level only, at first
    assert page.evaluate(COUNT, "path.planner-v-village") == 6
    assert page.evaluate(COUNT, "path.planner-v-village.planner-uncovered") == int(
        expected_uncovered("village", 500).sum()
    )
    assert page.evaluate(COUNT, "path.planner-v-county") == 0
    labels = page.eval_on_selector_all(
        ".leaflet-control-layers-overlays label", "ls => ls.map(l => l.textContent.trim())"
    )
    assert labels == [
        n for n in OVERLAYS_ZH if n not in ("乡镇级服务范围", "乡镇（街道）党群服务中心")
    ]
    assert "没有乡镇（街道）党群服务中心" in page.inner_text(".planner-legend")


@pytest.mark.browser
def test_browser_layer_control_toggles_layers(browser_page):
    page, events, _ = browser_page
    page.evaluate(TOGGLE, "县级党群服务中心")
    assert page.evaluate(COUNT, ".planner-c-county") == 0
    page.evaluate(TOGGLE, "县级党群服务中心")
    assert page.evaluate(COUNT, ".planner-c-county") == 1
    page.evaluate(TOGGLE, "村（社区）覆盖：县级")
    assert page.evaluate(COUNT, "path.planner-v-county") == 6
    assert page.evaluate(COUNT, "path.planner-v-county.planner-uncovered") == int(
        expected_uncovered("county", 9500).sum()
    )
    page.evaluate(TOGGLE, "村（社区）覆盖：县级")
    assert page.evaluate(COUNT, "path.planner-v-county") == 0
    assert events["errors"] == []


@pytest.mark.browser
def test_browser_search_finds_centers_by_chinese_name(browser_page):
    page, events, _ = browser_page
    search(page, "一村中心")  # typing these characters fires no keyup
    assert page.inner_text(".search-tip") == "一村中心 · 村（社区）党群服务中心 V1"
    page.click(".search-tip")
    page.wait_for_function(
        "() => document.querySelector('.planner-popup-title')?.textContent === '一村中心'"
    )
    assert events["errors"] == []


@pytest.mark.browser
def test_browser_search_shows_hostile_names_as_text(browser_page, tmp_path):
    page, events, _ = browser_page
    search(page, "<img")
    tip = page.inner_text(".search-tip")
    assert tip == f"{XSS} · 村（社区） 150521100000"
    page.click(".search-tip")
    page.wait_for_function(
        "(name) => document.querySelector('.planner-popup-title')?.textContent === name", arg=XSS
    )
    assert page.evaluate(COUNT, 'img[src="x"]') == 0
    assert events["dialogs"] == [] and events["errors"] == []
    page.wait_for_timeout(400)  # let the popup fade in
    shot = tmp_path / "map.png"
    page.screenshot(path=str(shot))
    pixels = (imread(shot)[..., :3] * 255).astype(np.uint32)
    colours = np.unique(pixels[..., 0] << 16 | pixels[..., 1] << 8 | pixels[..., 2])
    assert len(colours) > 50  # something was drawn
    print(f"screenshot: {shot}")
