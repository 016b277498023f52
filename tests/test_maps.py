"""Tests of planner.outputs.maps: overlays, legend and notes, tiles, writing, languages; and
the map in headless Chromium (marked ``browser``)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import folium
import numpy as np
import pytest
from conftest import tiny_frames
from map_helpers import (
    OVERLAYS_EN,
    OVERLAYS_ZH,
    XSS,
    coverage_only,
    expected_uncovered,
    legend_spec,
    run_hostile,
)
from matplotlib.image import imread

from planner.errors import PlannerError
from planner.levels import normalize_level
from planner.outputs.maps import build_map, render_map, write_map
from planner.pipeline import run
from planner.plan import Plan
from planner.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="module")
def raw_plan(tmp_path_factory: pytest.TempPathFactory) -> Plan:
    return run_hostile(tmp_path_factory.mktemp("hostile"))


@pytest.fixture(scope="module")
def plan(raw_plan: Plan) -> Plan:
    return coverage_only(raw_plan)


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


def test_overlay_names_and_order_follow_language(map_zh, map_en):
    assert list(map_zh.data_layers()) == OVERLAYS_ZH
    assert list(map_en.data_layers()) == OVERLAYS_EN


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
