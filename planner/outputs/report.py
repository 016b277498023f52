"""Summary tables and the self-contained HTML report of a plan.

Everything a person reads is offered in Chinese (``zh``) or English (``en``). The plots
are drawn by :mod:`planner.plots` (its functions are re-exported here). ``report.html``
embeds its plots as base64 data URIs and makes no network request; every value is
HTML-escaped.
"""

from __future__ import annotations

import base64
import functools
import io
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import jinja2
import numpy as np
import pandas as pd
import pyproj
from matplotlib.figure import Figure

from planner.crs import wgs84_to_bd09, wgs84_to_gcj02
from planner.outputs.atomic import atomic_path

# LANGS and PLOT_MAX_UNITS stay importable from here, as before the split.
from planner.outputs.labels import LANGS as LANGS
from planner.outputs.labels import labels, level_order, plan_lang, unit_names
from planner.outputs.plots import PLOT_MAX_UNITS as PLOT_MAX_UNITS
from planner.outputs.plots import (
    cjk_font,
    draw_plots,
    plot_budget_curve,
    plot_coverage_by_township,
    plot_distance_distribution,
    plot_lang,
    use_font,
    write_plots,
)
from planner.version import __version__

if TYPE_CHECKING:
    from planner.plan import Plan

__all__ = [
    "cjk_font",
    "data_uri",
    "html_table",
    "labels",
    "localize",
    "plot_budget_curve",
    "plot_coverage_by_township",
    "plot_distance_distribution",
    "plot_lang",
    "point_columns",
    "population_rate",
    "render_html",
    "report_html",
    "summary_sheets",
    "use_font",
    "write_plots",
    "write_report",
]

#: Rows of one table shown in ``report.html`` (the workbook has them all).
HTML_MAX_ROWS = 200
#: Decimal places of longitudes and latitudes in tables (about 1 cm).
LONLAT_DIGITS = 7
#: Offset coordinate systems of Chinese web maps, with their forward transform from WGS84.
_OFFSET_SYSTEMS = {"gcj02": wgs84_to_gcj02, "bd09": wgs84_to_bd09}
#: Layer kinds whose coordinates a kind of proposal was placed at (stations: as the
#: scenario's ``siting.stations.candidates`` says; grid centroids count as villages).
_PROPOSAL_SOURCES = {"villages": "villages", "candidates": "candidates", "grids": "villages"}


# ---------------------------------------------------------------------------- tables


def localize(table: pd.DataFrame, lang: str) -> pd.DataFrame:
    """Translate level, kind, status, verdict and mode values and the column headers."""
    lab = labels(lang)
    out = table.copy()
    if "level" in out.columns:
        out["level"] = out["level"].map(lambda v: lab["levels"].get(v, v))
    for column in ("kind", "status", "verdict", "mode"):
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
                        "township_id") if c in props.columns]  # fmt: skip
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


# ---------------------------------------------------------------------------- images


def data_uri(png: Figure | bytes | str | os.PathLike[str]) -> str:
    """A ``data:image/png;base64,…`` URI of a figure, PNG bytes or a PNG file."""
    if isinstance(png, Figure):
        buffer = io.BytesIO()
        png.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
        png = buffer.getvalue()
    elif not isinstance(png, bytes):
        png = Path(png).read_bytes()
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


# ---------------------------------------------------------------------------- HTML


def _cell(value: Any, lang: str, decimals: int | None) -> tuple[str, bool]:
    """Display text of one value and whether it is a number. Floats get ``decimals``
    places (default: none when whole, else one)."""
    if isinstance(value, bool | np.bool_):
        return labels(lang)["text"]["yes" if value else "no"], False
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "–", False
    if isinstance(value, int | np.integer):
        return f"{int(value):,}", True
    if isinstance(value, float | np.floating):
        places = decimals if decimals is not None else int(float(value) != round(value))
        return f"{float(value):,.{places}f}", True
    return str(value), False


def _decimals(column: pd.Series) -> int | None:
    """Decimal places for a float column: the fewest (up to 6) that show every value."""
    if not pd.api.types.is_float_dtype(column):
        return None
    values = column.to_numpy(dtype=float, na_value=np.nan)
    values = values[np.isfinite(values)]
    tolerance = 1e-9 * np.maximum(1.0, np.abs(values))
    return next((d for d in range(6) if (np.abs(values - values.round(d)) <= tolerance).all()), 6)


def html_table(
    table: pd.DataFrame, lang: str, *, max_rows: int = HTML_MAX_ROWS, per_column: bool = True
) -> dict[str, Any]:
    """A table for the report template: header texts and rows of (text, is_number) cells.

    With ``per_column``, all floats of a column get the same number of decimals (the
    fewest that show every value, at most 6); else each float shows one decimal place
    unless it is whole.
    """
    shown = table.head(max_rows)
    places = [_decimals(shown[c]) if per_column else None for c in shown.columns]
    rows = [
        [_cell(v, lang, p) for v, p in zip(row, places, strict=True)]
        for row in shown.itertuples(index=False)
    ]
    return {"columns": [str(c) for c in table.columns], "rows": rows}


def _section(title: str, table: pd.DataFrame | None, lang: str, **extra: Any) -> dict[str, Any]:
    section: dict[str, Any] = {"title": title, **extra}
    if table is not None:
        section["table"] = html_table(table, lang)
        if len(table) > HTML_MAX_ROWS:
            section["note"] = labels(lang)["text"]["rows_cut"].format(
                shown=HTML_MAX_ROWS, total=len(table)
            )
    return section


def _headline(plan: Plan) -> pd.DataFrame:
    levels = plan.summary["levels"]
    after = plan.after
    rows = []
    for level in level_order(levels):
        s = levels[level]
        row = {"level": level, "radius_m": s["radius_m"], "mode": s["mode"],
               "centers": s["centers"], "population_total": s["population_total"],
               "population_covered": s["population_covered"],
               "population_rate": round(100 * population_rate(s), 1),
               "villages_uncovered": s["villages_uncovered"]}  # fmt: skip
        if level in after:
            row["population_covered_after"] = after[level]["population_covered"]
            row["population_rate_after"] = round(100 * population_rate(after[level]), 1)
            row["villages_uncovered_after"] = after[level]["villages_uncovered"]
        rows.append(row)
    return pd.DataFrame(rows)


def population_rate(level_summary: Mapping[str, Any]) -> float:
    """Population covered / total of one level's summary (0 when nobody lives there)."""
    total = float(level_summary["population_total"])
    return float(level_summary["population_covered"]) / total if total else 0.0


def _cards(plan: Plan, lang: str) -> list[dict[str, str]]:
    t = labels(lang)["text"]
    levels = plan.summary["levels"]
    cards = [{"label": t["villages_total"], "value": f"{len(plan.villages):,}"}]
    if levels:
        total = next(iter(levels.values()))["population_total"]
        cards.insert(0, {"label": t["population_total"], "value": f"{total:,.0f}"})
    for level in level_order(levels):
        value = f"{100 * population_rate(levels[level]):.1f}%"
        if level in plan.after:
            value += f" → {100 * population_rate(plan.after[level]):.1f}%"
        cards.append(
            {"label": f"{labels(lang)['levels'].get(level, level)} {t['rate']}", "value": value}
        )
    return cards


def _audit_counts(plan: Plan) -> pd.DataFrame | None:
    if plan.audit is None or plan.audit.empty:
        return None
    counts = pd.crosstab(plan.audit["level"], plan.audit["status"])
    counts = counts.reindex(columns=["ok", "outside", "missing"], fill_value=0)
    counts["units"] = counts.sum(axis=1)
    counts = counts.reindex(level_order(counts.index)).reset_index()
    counts.columns.name = None
    return counts


def _center_verdicts(results: pd.DataFrame) -> dict[str, int]:
    """Centers checked, and how many fail a rule, else have an unknown rule, else pass."""
    verdicts = results.groupby("center_id")["verdict"].agg(set)
    fail = verdicts.map(lambda v: "fail" in v)
    unknown = verdicts.map(lambda v: "unknown" in v) & ~fail
    return {"centers": len(verdicts), "fail": int(fail.sum()), "unknown": int(unknown.sum()),
            "pass": int((~fail & ~unknown).sum())}  # fmt: skip


def _grid_counts(plan: Plan, lang: str) -> pd.DataFrame | None:
    grids = plan.grids
    if grids is None or grids.empty:
        return None
    t = labels(lang)["text"]
    villages = grids["village_id"].nunique() if "village_id" in grids.columns else 0
    workers = float(grids["workers"].sum()) if "workers" in grids.columns else float("nan")
    issues = 0 if plan.grid_issues is None else len(plan.grid_issues)
    return pd.DataFrame(
        {
            t["grids_total"]: [len(grids)],
            t["workers_total"]: [workers],
            t["grid_villages"]: [villages],
            t["grids_per_village"]: [round(len(grids) / villages, 2) if villages else np.nan],
            t["workers_per_grid"]: [round(workers / len(grids), 2)],
            t["grid_issues"]: [issues],
        }
    )


def _sections(
    plan: Plan, lang: str, sheets: dict[str, pd.DataFrame], images: dict[str, str]
) -> list[dict[str, Any]]:
    t = labels(lang)["text"]
    sections = [_section(t["headline"], localize(_headline(plan), lang), lang)]
    sections.append(_section(t["by_township"], None, lang,
                             image=images["coverage_by_township"]))  # fmt: skip
    sections.append(_section(t["distances"], None, lang,
                             image=images["distance_distribution"]))  # fmt: skip
    if "proposals" in sheets:
        sections.append(_section(t["proposals"], sheets["proposals"], lang))
    if "budget_curve" in images:
        sections.append(_section(t["budget"], sheets["budget_curve"], lang,
                                 image=images["budget_curve"], image_width="60%"))  # fmt: skip
    sections.append(_section(t["coverage_by_county"], sheets["coverage_by_county"], lang))
    sections.append(_section(t["coverage_by_township"], sheets["coverage_by_township"], lang))
    if "uncovered_villages" in sheets and not sheets["uncovered_villages"].empty:
        sections.append(_section(t["uncovered"], sheets["uncovered_villages"], lang))
    if (audit := _audit_counts(plan)) is not None:
        sections.append(_section(t["audit"], localize(audit, lang), lang))
    if "compliance" in sheets and plan.compliance is not None:
        note = t["checked"].format(**_center_verdicts(plan.compliance))
        sections.append(_section(t["compliance"], sheets["compliance"], lang, note=note))
    if (grids := _grid_counts(plan, lang)) is not None:
        sections.append(_section(t["grids"], grids, lang))
    return sections


@functools.cache
def _environment() -> jinja2.Environment:
    loader = jinja2.FileSystemLoader(Path(__file__).with_name("templates"))
    return jinja2.Environment(loader=loader, autoescape=True)


def render_html(
    *,
    lang: str,
    title: str,
    meta: list[tuple[str, str]],
    sections: list[dict[str, Any]],
    cards: list[dict[str, str]] | None = None,
) -> str:
    """Render the self-contained report page (every value HTML-escaped).

    ``sections`` are dicts with ``title`` and any of ``note``, ``image`` (a data URI),
    ``image_width`` (CSS width) and ``table`` (from :func:`html_table`).
    """
    template = _environment().get_template("report.html.j2")
    footer = labels(lang)["text"]["footer"].format(v=__version__)
    return template.render(
        lang=lang, title=title, meta=meta, cards=cards or [], sections=sections, footer=footer
    )


def report_html(
    plan: Plan,
    *,
    lang: str | None = None,
    plots: Mapping[str, bytes | str | os.PathLike[str]] | None = None,
) -> str:
    """The report page of a plan as HTML text.

    Parameters
    ----------
    plan
        The result of :func:`planner.pipeline.run`.
    lang
        ``"zh"`` or ``"en"``; default: the scenario's ``outputs.lang``.
    plots
        PNG files or bytes by plot name, as :func:`write_plots` returns them, to embed
        instead of drawing the plots again.
    """
    lang = plan_lang(plan, lang)
    t = labels(lang)["text"]
    if plots is None:
        images = {name: data_uri(fig) for name, fig in draw_plots(plan, lang).items()}
    else:
        images = {name: data_uri(png) for name, png in plots.items()}
    name = plan.scenario.scenario.name
    meta = [(t["scenario"], name), (t["crs"], str(plan.summary.get("crs") or "")),
            (t["version"], __version__)]  # fmt: skip
    return render_html(
        lang=lang,
        title=t["title"].format(name=name),
        meta=meta,
        sections=_sections(plan, lang, summary_sheets(plan, lang=lang), images),
        cards=_cards(plan, lang),
    )


def write_report(
    plan: Plan,
    out_dir: str | os.PathLike[str],
    *,
    plots: Mapping[str, bytes | str | os.PathLike[str]] | None = None,
) -> Path:
    """Write ``report.html`` into ``out_dir``, atomically, in the scenario's
    ``outputs.lang``; ``plots`` as for :func:`report_html`. Returns the path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / "report.html"
    text = report_html(plan, plots=plots)
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return target
