"""The tiny region with hostile names, its plan and readers of the map it makes, for the map
tests."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import folium
import geopandas as gpd
import numpy as np
from conftest import SCENARIO, tiny_frames

from planner.levels import normalize_level
from planner.outputs.map_page import Data
from planner.pipeline import run
from planner.plan import Plan
from planner.scenario import load_scenario

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
    "距最近中心最远的村（社区）",
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
    "Villages farthest from their nearest center",
]


def hostile_frames() -> dict[str, gpd.GeoDataFrame]:
    """The tiny region with names that are HTML, quotes, emoji and very long text."""
    frames = tiny_frames()
    frames["villages"]["name"] = [XSS, QUOTES, "三社区", EMOJI, JINJA, LONG]
    frames["centers"]["name"] = [SCRIPT, "甲镇中心", "一村中心", QUOTES]
    return frames


def run_hostile(folder: Path) -> Plan:
    """The plan of the hostile region written to ``folder``, as the pipeline makes it."""
    for kind, frame in hostile_frames().items():
        frame.to_file(folder / f"{kind}.gpkg", driver="GPKG")
    path = folder / "scenario.toml"
    path.write_text(SCENARIO, encoding="utf-8")
    return run(load_scenario(path))


def coverage_only(raw_plan: Plan) -> Plan:
    """Coverage and audit only: the optional steps (grids, siting, standards) are tested
    with hand-made frames, whatever the pipeline adds by default."""
    return dataclasses.replace(
        raw_plan, grids=None, grid_issues=None, proposals=None, compliance=None
    )


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
