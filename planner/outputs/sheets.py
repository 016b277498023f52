"""The summary tables of a plan, shared by the workbook, the CSV files and the report.

:func:`canonical_sheets` builds them with canonical (English) column names;
:func:`summary_sheets` localizes headers and category values (:func:`localize`).
Coordinates are given in WGS84 and, where the scenario's layers used them, in the offset
systems of Chinese web maps (:func:`point_columns`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj

from planner.crs import wgs84_to_bd09, wgs84_to_gcj02
from planner.outputs.access_outputs import access_sheet
from planner.outputs.labels import labels, level_order, plan_lang, unit_names
from planner.outputs.service_sheets import service_sheets

if TYPE_CHECKING:
    from planner.plan import Plan

__all__ = [
    "canonical_sheets",
    "input_systems",
    "localize",
    "point_columns",
    "summary_sheets",
]

#: Decimal places of longitudes and latitudes in tables (about 1 cm).
LONLAT_DIGITS = 7
#: Offset coordinate systems of Chinese web maps, with their forward transform from WGS84.
_OFFSET_SYSTEMS = {"gcj02": wgs84_to_gcj02, "bd09": wgs84_to_bd09}
#: Layer kinds whose coordinates a kind of proposal was placed at (stations: as the
#: scenario's ``siting.stations.candidates`` says; grid centroids count as villages).
_PROPOSAL_SOURCES = {"villages": "villages", "candidates": "candidates", "grids": "villages"}


def localize(table: pd.DataFrame, lang: str) -> pd.DataFrame:
    """Translate level, kind, status, verdict and mode values and the column headers."""
    lab = labels(lang)
    out = table.copy()
    if "level" in out.columns:
        out["level"] = out["level"].map(lambda v: lab["levels"].get(v, v))
    for column in ("kind", "status", "verdict", "mode", "action"):
        if column in out.columns:
            out[column] = out[column].map(lambda v: lab["values"].get(v, v))
    return out.rename(columns=lambda c: lab["headers"].get(c, c.replace("_", " ")))


def _coverage_table(plan: Plan, unit: str) -> pd.DataFrame:
    key = f"{unit}_id"
    table = plan.tables[f"coverage_by_{unit}"].copy()
    table[key] = table[key].astype("string")
    table[f"{unit}_name"] = table[key].map(unit_names(plan, unit))
    table["villages_uncovered"] = table["villages"] - table["villages_covered"]
    for column in ("population_rate", "village_rate"):
        table[column] = (table[column] * 100).round(2)
    rank = table["level"].map({lvl: i for i, lvl in enumerate(level_order(plan.levels))})
    order = np.lexsort((table[key].fillna("").to_numpy(), rank.to_numpy()))
    columns = ["level", key, f"{unit}_name", "villages", "villages_covered",
               "villages_uncovered", "population", "population_covered", "population_rate",
               "village_rate"]  # fmt: skip
    return table.iloc[order][columns].reset_index(drop=True)


def point_columns(
    points: gpd.GeoSeries, *, out_crs: Any = None, systems: tuple[str, ...] = ()
) -> pd.DataFrame:
    """Coordinates of points as table columns whose headers name their datum.

    ``lon_wgs84``/``lat_wgs84`` always (CGCS2000 agrees within centimetres); ``x``/``y``
    in ``out_crs`` when it is a projected CRS; ``lon_<system>``/``lat_<system>`` for each
    of ``systems`` (``gcj02`` for Amap/Tencent, ``bd09`` for Baidu), so that the points
    can be pasted back into the map the coordinates came from. Other geometries give a
    point inside them. Aligned on ``points``.
    """
    if not (points.geom_type == "Point").all():
        points = points.representative_point()
    wgs = points.to_crs(4326)
    lon, lat = wgs.x.to_numpy(), wgs.y.to_numpy()
    out = pd.DataFrame(index=points.index)
    out["lon_wgs84"], out["lat_wgs84"] = lon.round(LONLAT_DIGITS), lat.round(LONLAT_DIGITS)
    if out_crs is not None and pyproj.CRS.from_user_input(out_crs).is_projected:
        projected = points.to_crs(out_crs)
        out["x"], out["y"] = projected.x.to_numpy().round(1), projected.y.to_numpy().round(1)
    for system in systems:
        x, y = _OFFSET_SYSTEMS[system](lon, lat)
        out[f"lon_{system}"] = np.round(x, LONLAT_DIGITS)
        out[f"lat_{system}"] = np.round(y, LONLAT_DIGITS)
    return out


def input_systems(plan: Plan, kinds: tuple[str, ...]) -> tuple[str, ...]:
    """Offset systems (``gcj02``, ``bd09``) the scenario declares for any of ``kinds``."""
    found = {
        spec.coords
        for kind, spec in plan.scenario.layers.items()
        if kind in kinds and spec.coords in _OFFSET_SYSTEMS
    }
    return tuple(sorted(found))


def _with_points(
    table: pd.DataFrame, frame: gpd.GeoDataFrame, plan: Plan, kinds: tuple[str, ...]
) -> pd.DataFrame:
    """``table`` (aligned on ``frame``) with the coordinates of ``frame``'s points, also in
    the offset systems declared for the layers of ``kinds``."""
    if frame.crs is None:
        return table
    systems = input_systems(plan, kinds)
    points = point_columns(frame.geometry, out_crs=plan.scenario.outputs.crs, systems=systems)
    return pd.concat([table, points.set_axis(table.index)], axis=1)


def _uncovered(plan: Plan) -> pd.DataFrame:
    gaps = pd.DataFrame(plan.gaps.drop(columns=plan.gaps.geometry.name))
    if gaps.empty:
        return gaps
    gaps = _with_points(gaps, plan.gaps, plan, ("villages",))
    if "township_id" in gaps.columns:
        names = unit_names(plan, "township")
        gaps.insert(list(gaps.columns).index("township_id") + 1, "township_name",
                    gaps["township_id"].astype("string").map(names))  # fmt: skip
    gaps["beyond_m"] = (gaps["dist_m"] - gaps["radius_m"]).round(1)
    rank = gaps["level"].map({lvl: i for i, lvl in enumerate(level_order(plan.levels))})
    pop = gaps["population"].fillna(0).to_numpy() if "population" in gaps else np.zeros(len(gaps))
    order = np.lexsort((-pop, rank.to_numpy()))
    first = [c for c in ("level", "id", "name") if c in gaps.columns]
    return gaps.iloc[order][[*first, *(c for c in gaps.columns if c not in first)]].reset_index(
        drop=True
    )


def _proposals(plan: Plan) -> pd.DataFrame | None:
    props = plan.proposals
    if props is None or props.empty:
        return None
    keep = [c for c in ("kind", "rank", "site_id", "name", "new_population_covered", "reason",
                        "township_id", "action", "gain", "cost", "closes")
            if c in props.columns]  # fmt: skip
    table = pd.DataFrame(props[keep]).reset_index(drop=True)
    kinds = set(props["kind"]) if "kind" in props.columns else set()
    sources = [_PROPOSAL_SOURCES[plan.scenario.siting.stations.candidates]]
    if "station" not in kinds:
        sources = []
    if "subcenter" in kinds:
        sources.append("merged_townships")
    table = _with_points(table, props.reset_index(drop=True), plan, tuple(sources))
    by = [c for c in ("kind", "rank") if c in table.columns]
    return table.sort_values(by, kind="stable").reset_index(drop=True) if by else table


def _budget(plan: Plan) -> pd.DataFrame | None:
    curve = plan.budget_curve
    if curve is None or curve.empty:
        return None
    table = curve[["sites", "coverage_share", "covered_weight", "marginal_gain"]].copy()
    table["coverage_share"] = (table["coverage_share"] * 100).round(2)
    return table


def _compliance(plan: Plan) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    results = plan.compliance
    if results is None or results.empty:
        return None, None
    keys = [c for c in ("level", "rule", "label") if c in results.columns]
    counts = pd.crosstab([results[c] for c in keys], results["verdict"])
    counts = counts.reindex(columns=["pass", "fail", "unknown"], fill_value=0).reset_index()
    counts.columns.name = None
    keep = [c for c in ("center_id", "level", "label", "measured", "required", "verdict",
                        "issue") if c in results.columns]  # fmt: skip
    issues = results.loc[results["verdict"] != "pass", keep].reset_index(drop=True)
    return counts, issues


def _grids(plan: Plan) -> pd.DataFrame | None:
    """Grids with their own code as ``grid_id`` (``id`` means a village code elsewhere)."""
    table = _plain(plan.grids, ("id", "name", "village_id", "households", "population",
                                "workers", "area_m2", "compactness"))  # fmt: skip
    return None if table is None else table.rename(columns={"id": "grid_id"})


def _plain(frame: Any, columns: tuple[str, ...]) -> pd.DataFrame | None:
    if frame is None or frame.empty:
        return None
    return pd.DataFrame(frame[[c for c in columns if c in frame.columns]]).reset_index(drop=True)


def canonical_sheets(plan: Plan) -> dict[str, pd.DataFrame]:
    """Every sheet with canonical (English) column names; absent parts are left out."""
    compliance, issues = _compliance(plan)
    sheets = {
        "coverage_by_township": _coverage_table(plan, "township"),
        "coverage_by_county": _coverage_table(plan, "county"),
        "uncovered_villages": _uncovered(plan),
        "proposals": _proposals(plan),
        "budget_curve": _budget(plan),
        "compliance": compliance,
        "compliance_issues": issues,
        "compliance_by_unit": plan.tables.get("compliance_by_township"),
        "grids": _grids(plan),
        "grids_by_village": plan.tables.get("grids_by_village"),
        "grid_issues": _plain(plan.grid_issues, ("kind", "grid_id", "village_id", "message")),
        "audit": _plain(plan.audit, ("level", "unit_id", "unit_name", "status", "center_ids")),
        **service_sheets(plan, lambda table, at: _with_points(table, at, plan, ("villages",))),
        "access": access_sheet(plan),
    }
    return {key: table for key, table in sheets.items() if table is not None}


def summary_sheets(plan: Plan, *, lang: str | None = None) -> dict[str, pd.DataFrame]:
    """The summary tables with headers and category values in ``lang``.

    Keys (in sheet order, absent parts left out): ``coverage_by_township``,
    ``coverage_by_county`` (level × unit; rates in percent), ``uncovered_villages`` (one row
    per village and level it is not covered at), ``proposals``, ``budget_curve``,
    ``compliance`` (verdict counts per rule), ``compliance_issues``, ``grids``,
    ``grid_issues``, ``audit``. ``labels(lang)["sheets"]`` has localized sheet names.
    """
    lang = plan_lang(plan, lang)
    return {key: localize(table, lang) for key, table in canonical_sheets(plan).items()}
