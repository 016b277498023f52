"""Writing a synthetic region: its layers in several formats and a ready scenario.toml.

Besides the plain vector formats, two ledger styles exercise the readers the way real
data does: an XLSX sheet with Chinese headers and GCJ-02 (Amap) coordinates, and a
GBK-encoded shapefile with Chinese field names (each at most 10 bytes in GBK).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio

from planner.crs import wgs84_to_gcj02
from planner.errors import PlannerError
from planner.outputs.atomic import atomic_path
from planner.outputs.tables import write_csv
from planner.outputs.vector import write_vector
from planner.outputs.xlsx import write_xlsx
from planner.scenario import LAYER_KINDS
from planner.schemas import SCHEMAS

#: Formats of the committed demo region; kinds not listed are written as GeoPackage.
DEMO_FORMATS: dict[str, str] = {
    "villages": "xlsx",
    "village_areas": "shp",
    "candidates": "csv",
    "townships": "geojson",
}

#: Chinese column headers of ledgers (XLSX) and shapefiles; all fit 10 bytes in GBK.
ZH_HEADERS: dict[str, str] = {
    "id": "编码",
    "name": "名称",
    "level": "级别",
    "population": "人口",
    "households": "户数",
    "township_id": "乡镇编码",
    "county_id": "区县编码",
    "county_name": "区县名称",
    "village_id": "村编码",
    "urban": "城乡",
    "area_m2": "面积",
    "plaza_m2": "广场面积",
    "rooms": "功能室",
    "windows": "窗口",
    "zones": "功能区",
    "built_year": "建成年份",
    "with_gov_center": "政务合建",
    "demo_area": "示范区",
    "kind": "类型",
    "capacity": "容量",
    "highway": "道路等级",
    "maxspeed": "限速",
    "oneway": "单行",
}
_VECTOR = ("gpkg", "geojson", "fgb", "parquet")
_POINT_ONLY = ("csv", "xlsx")

# How each level is measured in the written scenario (radii come from the region).
_LEVEL_MODES: dict[str, dict[str, str]] = {
    "city": {},
    "county": {},
    "township": {"mode": "network", "travel": "drive"},
    "village": {"mode": "network", "travel": "walk"},
    "station": {},
}
#: Layer kinds of a region, in writing order: every kind a scenario reads but grids.
KINDS: tuple[str, ...] = tuple(kind for kind in LAYER_KINDS if kind != "grids")
#: Layer kinds a national scenario reads (straight-line coverage, audit, summary).
NATIONAL_KINDS = tuple(kind for kind in KINDS if kind not in ("roads", "candidates"))


def write_layers(
    frames: dict[str, gpd.GeoDataFrame],
    out_dir: Path,
    *,
    formats: dict[str, str],
    name: str,
    outputs_dir: str,
    radii: dict[str, int],
    national: bool = False,
) -> Path:
    """Write every layer in its format and a scenario.toml; return the scenario path.

    ``radii`` gives the service radius in metres of each level in :data:`_LEVEL_MODES`.
    ``national`` writes only the layers of
    :data:`NATIONAL_KINDS` and a scenario for province or national runs (see
    :func:`scenario_text`).
    """
    if national:
        frames = {k: f for k, f in frames.items() if k in NATIONAL_KINDS}
    unknown = set(formats.values()) - {*_VECTOR, *_POINT_ONLY, "shp"}
    if unknown:
        raise PlannerError(
            f"unknown format(s) {sorted(unknown)}; use gpkg, geojson, fgb, parquet, shp, "
            "csv or xlsx"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    specs: dict[str, dict[str, Any]] = {}
    for kind, frame in frames.items():
        fmt = formats.get(kind, "gpkg")
        if fmt in _POINT_ONLY and not (frame.geom_type == "Point").all():
            raise PlannerError(f"{kind}: {fmt} holds points only; choose a vector format")
        writer = {"csv": _write_csv, "xlsx": _write_xlsx, "shp": _write_shapefile}.get(fmt)
        if writer is None:
            specs[kind] = _write_vector(frame, out_dir / kind, fmt)
        else:
            specs[kind] = writer(frame, out_dir / kind)
            zh = {c: ZH_HEADERS[c] for c in SCHEMAS[kind].names if c in frame.columns}
            specs[kind] |= zh if fmt != "csv" else {}
    path = out_dir / "scenario.toml"
    text = scenario_text(name, specs, outputs_dir=outputs_dir, radii=radii, national=national)
    path.write_text(text, "utf-8")
    return path


def _write_vector(frame: gpd.GeoDataFrame, stem: Path, fmt: str) -> dict[str, Any]:
    written = write_vector(frame, stem, fmt=fmt, crs=frame.crs)
    return {"path": written[0].name}


def _write_csv(frame: gpd.GeoDataFrame, stem: Path) -> dict[str, Any]:
    """Points as a CSV table with WGS84 ``lon``/``lat`` columns."""
    wgs = frame.to_crs("EPSG:4326")
    table = pd.DataFrame(frame.drop(columns=frame.geometry.name))
    table["lon"], table["lat"] = np.round(wgs.geometry.x, 7), np.round(wgs.geometry.y, 7)
    path = write_csv(stem.with_suffix(".csv"), table)
    return {"path": path.name, "coords": "wgs84", "lon": "lon", "lat": "lat"}


def _write_xlsx(frame: gpd.GeoDataFrame, stem: Path) -> dict[str, Any]:
    """Points as an Excel ledger: Chinese headers, GCJ-02 longitude/latitude."""
    wgs = frame.to_crs("EPSG:4326")
    lon, lat = wgs84_to_gcj02(wgs.geometry.x.to_numpy(), wgs.geometry.y.to_numpy())
    table = _zh_table(frame)
    table["经度"], table["纬度"] = np.round(lon, 7), np.round(lat, 7)
    path = write_xlsx(stem.with_suffix(".xlsx"), {stem.name: table})
    return {"path": path.name, "coords": "gcj02", "lon": "经度", "lat": "纬度"}


def _write_shapefile(frame: gpd.GeoDataFrame, stem: Path) -> dict[str, Any]:
    """A GBK shapefile with Chinese field names and a ``.cpg`` naming the code page."""
    table = _zh_table(frame)
    out = gpd.GeoDataFrame(table, geometry=frame.geometry.values, crs=frame.crs)
    target = stem.with_suffix(".shp")
    with atomic_path(target) as tmp:
        pyogrio.write_dataframe(out, tmp, driver="ESRI Shapefile", encoding="GBK")
        tmp.with_suffix(".cpg").write_text("GBK", encoding="ascii")
    return {"path": target.name}


def _zh_table(frame: gpd.GeoDataFrame) -> pd.DataFrame:
    """Attributes with Chinese headers; yes/no as 城镇/乡村 (urban) or 是/否."""
    table = pd.DataFrame(frame.drop(columns=frame.geometry.name))
    for col in table.columns:
        if pd.api.types.is_bool_dtype(table[col]):
            yes, no = ("城镇", "乡村") if col == "urban" else ("是", "否")
            table[col] = np.where(table[col].astype(bool), yes, no)
    return table.rename(columns=ZH_HEADERS)


def scenario_text(
    name: str,
    specs: dict[str, dict[str, Any]],
    *,
    outputs_dir: str,
    radii: dict[str, int],
    national: bool = False,
) -> str:
    """The scenario.toml of a synthetic region (paths relative to the scenario file).

    With ``national``, every level is measured in a straight line and the steps that do
    not scale to a whole province or country are off: siting, grids, the map and the
    report (coverage, audit, tables and ``summary.json`` remain).
    """
    lines = [
        "# Written by planner.synth; paths are relative to this file.",
        "[scenario]",
        f"name = {_toml(name)}",
        'crs = "auto"',
        f"out_dir = {_toml(outputs_dir)}",
    ]
    for kind, spec in specs.items():
        lines += ["", f"[layers.{kind}]", *(f"{k} = {_toml(v)}" for k, v in spec.items())]
    for level, modes in _LEVEL_MODES.items():
        values = {"radius_m": radii[level], **({} if national else modes)}
        lines += ["", f"[levels.{level}]", *(f"{k} = {_toml(v)}" for k, v in values.items())]
    lines += ["", *(_NATIONAL_STEPS if national else _county_steps())]
    return "\n".join(lines) + "\n"


def _county_steps() -> list[str]:
    """Siting, grids and outputs of a county scenario."""
    return [
        "[siting.subcenters]",
        "max_count = 6",
        "",
        "[siting.stations]",
        "budget = 15",
        "",
        "[grids]",
        "households_per_grid = 60",
        "",
        "[outputs]",
        'formats = ["gpkg", "geojson", "shp", "kml", "fgb", "parquet"]',
        'crs = "EPSG:4490"',
        'lang = "zh"',
    ]


#: Steps of a national scenario: siting, grids, map and report off.
_NATIONAL_STEPS = [
    "[siting.subcenters]",
    "enabled = false",
    "",
    "[siting.stations]",
    "enabled = false",
    "",
    "[grids]",
    "enabled = false",
    "",
    "[outputs]",
    'formats = ["gpkg"]',
    'crs = "EPSG:4490"',
    'lang = "zh"',
    "map = false",
    "report = false",
]


def _toml(value: Any) -> str:
    """A TOML literal for a string or number (JSON string escapes are valid TOML)."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return str(value)
