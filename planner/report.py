"""Summary tables, plots (PNG) and the self-contained HTML report of a plan.

Everything a person reads is offered in Chinese (``zh``) or English (``en``). Plots are
drawn with matplotlib's object API (no pyplot state, Agg rendering) in a CJK font found
among the installed fonts (Debian: ``fonts-noto-cjk``); without one, plots fall back to
English labels and township codes, so no glyph is ever missing. ``report.html`` embeds
its plots as base64 data URIs and makes no network request; every value is HTML-escaped.
"""

from __future__ import annotations

import base64
import functools
import io
import math
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
import numpy as np
import pandas as pd
import pyproj
from matplotlib import colormaps, font_manager
from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.ticker import MaxNLocator

from . import __version__
from .errors import PlannerError
from .export import atomic_path, write_png
from .levels import LEVELS

if TYPE_CHECKING:
    from .pipeline import Plan

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
    "population_rate",
    "render_html",
    "report_html",
    "summary_sheets",
    "use_font",
    "write_plots",
    "write_report",
]

LANGS = ("zh", "en")
#: Rows of one table shown in ``report.html`` (the workbook has them all).
HTML_MAX_ROWS = 200
#: Townships drawn per level in the coverage plot (the lowest rates first).
PLOT_MAX_UNITS = 40

_CJK_FAMILIES = (
    "Noto Sans CJK SC", "Noto Sans CJK JP", "Noto Sans CJK TC", "Source Han Sans SC",
    "Source Han Sans CN", "WenQuanYi Zen Hei", "WenQuanYi Micro Hei", "Microsoft YaHei",
    "SimHei", "PingFang SC", "Hiragino Sans GB", "Heiti SC", "Droid Sans Fallback",
)  # fmt: skip
_CJK_FILE_HINTS = ("notosanscjk", "sourcehansans", "wqy", "wenquanyi", "msyh", "simhei",
                   "pingfang", "droidsansfallback")  # fmt: skip


@functools.cache
def labels(lang: str) -> dict[str, dict[str, str]]:
    """Labels in ``lang``: ``levels``, ``values``, ``headers``, ``sheets`` and ``text``
    (from ``templates/labels.toml``)."""
    if lang not in LANGS:
        raise PlannerError(f"lang must be one of {', '.join(LANGS)}, got {lang!r}")
    with Path(__file__).with_name("templates").joinpath("labels.toml").open("rb") as f:
        return tomllib.load(f)[lang]


def _lang(plan: Plan, lang: str | None) -> str:
    lang = plan.scenario.outputs.lang if lang is None else lang
    labels(lang)  # raises for an unknown language
    return lang


def _level_order(levels: Any) -> list[str]:
    return sorted(levels, key=lambda lvl: LEVELS.index(lvl) if lvl in LEVELS else len(LEVELS))


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


def _unit_names(plan: Plan, unit: str) -> pd.Series:
    """Names of townships or counties by code."""
    townships = plan.layers.get("townships")
    counties = plan.layers.get("counties")
    if unit == "county" and counties is not None and "name" in counties.columns:
        frame = counties[["id", "name"]]
    elif unit == "county" and townships is not None and "county_name" in townships.columns:
        frame = townships[["county_id", "county_name"]].set_axis(["id", "name"], axis=1)
    elif unit == "township" and townships is not None and "name" in townships.columns:
        frame = townships[["id", "name"]]
    else:
        return pd.Series(dtype="string")
    frame = frame.dropna().drop_duplicates("id")
    return pd.Series(frame["name"].to_numpy(), index=frame["id"].astype("string"), dtype="string")


def _coverage_table(plan: Plan, unit: str) -> pd.DataFrame:
    key = f"{unit}_id"
    table = plan.tables[f"coverage_by_{unit}"].copy()
    table[key] = table[key].astype("string")
    table[f"{unit}_name"] = table[key].map(_unit_names(plan, unit))
    table["villages_uncovered"] = table["villages"] - table["villages_covered"]
    for column in ("population_rate", "village_rate"):
        table[column] = (table[column] * 100).round(2)
    rank = table["level"].map({lvl: i for i, lvl in enumerate(_level_order(plan.levels))})
    order = np.lexsort((table[key].fillna("").to_numpy(), rank.to_numpy()))
    columns = ["level", key, f"{unit}_name", "villages", "villages_covered",
               "villages_uncovered", "population", "population_covered", "population_rate",
               "village_rate"]  # fmt: skip
    return table.iloc[order][columns].reset_index(drop=True)


def _uncovered(plan: Plan) -> pd.DataFrame:
    gaps = pd.DataFrame(plan.gaps.drop(columns=plan.gaps.geometry.name))
    if gaps.empty:
        return gaps
    if "township_id" in gaps.columns:
        names = _unit_names(plan, "township")
        gaps.insert(gaps.columns.get_loc("township_id") + 1, "township_name",
                    gaps["township_id"].astype("string").map(names))  # fmt: skip
    gaps["beyond_m"] = (gaps["dist_m"] - gaps["radius_m"]).round(1)
    rank = gaps["level"].map({lvl: i for i, lvl in enumerate(_level_order(plan.levels))})
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
    if props.crs is not None:
        crs = pyproj.CRS.from_user_input(plan.scenario.outputs.crs)
        points = props.geometry.to_crs(crs)
        (cx, cy), digits = (("lon", "lat"), 6) if crs.is_geographic else (("x", "y"), 1)
        table[cx] = np.round(points.x.to_numpy(), digits)
        table[cy] = np.round(points.y.to_numpy(), digits)
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
        "grids": _plain(plan.grids, ("id", "name", "village_id", "households", "workers")),
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
    lang = _lang(plan, lang)
    return {key: localize(table, lang) for key, table in canonical_sheets(plan).items()}


# ---------------------------------------------------------------------------- fonts


@functools.cache
def cjk_font() -> str | None:
    """Name of an installed font family with Chinese glyphs, or ``None``.

    Looks in matplotlib's font list, then (its cache may predate a font install) among the
    system font files, which are added to the font list when found.
    """
    manager = font_manager.fontManager

    def first() -> str | None:
        names = {f.name for f in manager.ttflist}
        return next((name for name in _CJK_FAMILIES if name in names), None)

    if (found := first()) is not None:
        return found
    for path in font_manager.findSystemFonts():
        stem = Path(path).name.lower().replace("-", "").replace("_", "")
        if any(hint in stem for hint in _CJK_FILE_HINTS):
            try:
                manager.addfont(path)
            except (OSError, RuntimeError, ValueError):
                continue
    return first()


def use_font(fig: Figure) -> Figure:
    """Set every text of ``fig`` to the CJK font (it has Latin glyphs too)."""
    family = cjk_font()
    if family is not None:
        for text in fig.findobj(Text):
            text.set_fontfamily(family)
    return fig


def plot_lang(lang: str) -> str:
    """The language plots are drawn in: ``lang``, or English when no CJK font is installed."""
    return lang if lang == "en" or cjk_font() is not None else "en"


def _label(text: object) -> str:
    """Data text for a plot: literal dollar signs (no mathtext)."""
    return str(text).replace("$", r"\$")


def _renderable(text: str) -> bool:
    return cjk_font() is not None or text.isascii()


def _distance(metres: float) -> str:
    return f"{metres / 1000:g} km" if metres >= 1000 else f"{metres:g} m"


# ---------------------------------------------------------------------------- plots


def _grid(n: int, *, width: float, height: float) -> tuple[Figure, list[Any]]:
    ncols = max(1, min(3, n))
    nrows = max(1, math.ceil(n / ncols))
    fig = Figure(figsize=(width * ncols, height * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel().tolist()
    for extra in axes[n:]:
        extra.set_visible(False)
    return fig, axes[: max(n, 1)]


def _township_ticks(codes: pd.Series, names: pd.Series) -> list[str]:
    """Township names (with the code when a name repeats), or codes where a name is
    missing or cannot be drawn in the available fonts."""
    shown = codes.map(names)
    usable = shown.notna() & shown.fillna("").map(_renderable)
    text = shown.where(usable, codes)
    repeated = text.duplicated(keep=False) & usable
    text = text.where(~repeated, text + " (" + codes + ")")
    return [_label(v) for v in text]


def plot_coverage_by_township(
    plan: Plan, *, lang: str | None = None, max_units: int = PLOT_MAX_UNITS
) -> Figure:
    """Population coverage rate per township, one panel per level, lowest rates on top.

    Each panel has one stacked horizontal bar per township (the ``max_units`` lowest when
    there are more): the covered population share in percent (coloured, the axes'
    first bar container) and the rest (grey, the second).
    """
    lang = plot_lang(_lang(plan, lang))
    t = labels(lang)["text"]
    table = plan.tables["coverage_by_township"]
    names = _unit_names(plan, "township")
    levels = _level_order(plan.levels)
    rows = max((table["level"] == lvl).sum() for lvl in levels) if levels else 1
    fig, axes = _grid(len(levels), width=4.6, height=1.4 + 0.24 * min(rows, max_units))
    cmap = colormaps["RdYlGn"]
    for ax, level in zip(axes, levels, strict=False):
        part = table[table["level"] == level].sort_values(
            ["population_rate", "township_id"], na_position="first", kind="stable"
        )
        shown = part.head(max_units)
        ticks = _township_ticks(shown["township_id"].astype("string").fillna(""), names)
        rates = shown["population_rate"].to_numpy(dtype=float) * 100
        y = np.arange(len(shown))[::-1]
        ax.barh(y, rates, color=cmap(np.nan_to_num(rates) / 100), edgecolor="none")
        ax.barh(y, 100 - rates, left=rates, color="#eeeeee", edgecolor="none")  # uncovered
        ax.set_yticks(y, labels=ticks, fontsize=7)
        ax.set_xlim(0, 100)
        ax.set_xlabel(t["rate_axis"])
        cut = t["lowest"].format(shown=len(shown), total=len(part)) if len(part) > max_units else ""
        ax.set_title(labels(lang)["levels"].get(level, level) + cut, fontsize=10)
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle(t["by_township"])
    return use_font(fig)


def plot_budget_curve(plan: Plan, *, lang: str | None = None) -> Figure | None:
    """Coverage share against the number of new stations (line) with the marginal gain of
    each added station (bars); ``None`` without a budget curve."""
    curve = plan.budget_curve
    if curve is None or curve.empty:
        return None
    lang = plot_lang(_lang(plan, lang))
    t = labels(lang)["text"]
    fig = Figure(figsize=(7.5, 4.2), layout="constrained")
    ax = fig.subplots()
    gains = ax.twinx()
    steps = curve[curve["sites"] > 0]
    gains.bar(steps["sites"], steps["marginal_gain"], color="#95a5a6", alpha=0.6, width=0.7)
    gains.set_ylabel(t["gain_axis"])
    ax.plot(curve["sites"], curve["coverage_share"] * 100, marker="o", color="#c0392b")
    ax.set_zorder(gains.get_zorder() + 1)
    ax.patch.set_visible(False)
    props = plan.proposals
    if props is not None and "kind" in props.columns:
        chosen = int((props["kind"] == "station").sum())
        if chosen:
            ax.axvline(chosen, color="#2c3e50", linestyle="--", linewidth=1)
            ax.annotate(t["chosen"].format(n=chosen), (chosen, 0.02), fontsize=8,
                        xycoords=("data", "axes fraction"), xytext=(4, 0),
                        textcoords="offset points")  # fmt: skip
    ax.set_xlabel(t["sites_axis"])
    ax.set_ylabel(t["share_axis"])
    ax.set_ylim(0, 102)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    fig.suptitle(t["budget"])
    return use_font(fig)


def plot_distance_distribution(plan: Plan, *, lang: str | None = None, bins: int = 30) -> Figure:
    """Histogram of the distance from each village to its nearest center, per level, with
    the service radius marked; bars beyond the radius are orange."""
    lang = plot_lang(_lang(plan, lang))
    t = labels(lang)["text"]
    levels = _level_order(plan.levels)
    fig, axes = _grid(len(levels), width=4.6, height=3.4)
    for ax, level in zip(axes, levels, strict=False):
        radius_km = plan.levels[level].spec.cutoff_m / 1000
        dist = plan.villages[f"{level}_dist_m"].to_numpy(dtype=float) / 1000
        finite = dist[np.isfinite(dist)]
        top = max(float(finite.max()) if finite.size else 0.0, radius_km * 1.1)
        grid = np.linspace(0, top, bins + 1)
        keep = np.abs(grid - radius_km) > top / bins / 4  # no sliver bins beside the radius
        keep[[0, -1]] = True
        edges = np.union1d(grid[keep], [radius_km])  # a bin edge at the radius
        _, edges, patches = ax.hist(finite, bins=edges, color="#2980b9")
        for left, patch in zip(edges[:-1], patches, strict=True):
            if left >= radius_km:
                patch.set_facecolor("#e67e22")
        ax.axvline(radius_km, color="#c0392b", linewidth=1.5,
                   label=t["radius"].format(r=_distance(radius_km * 1000)))  # fmt: skip
        if missing := int(dist.size - finite.size):
            ax.text(0.98, 0.8, t["no_center"].format(n=missing), transform=ax.transAxes,
                    ha="right", fontsize=8)  # fmt: skip
        ax.legend(fontsize=8, loc="upper right")
        ax.set_title(labels(lang)["levels"].get(level, level), fontsize=10)
        ax.set_xlabel(t["dist_axis"])
        ax.set_ylabel(t["count_axis"])
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    fig.suptitle(t["distances"])
    return use_font(fig)


def _figures(plan: Plan, lang: str) -> dict[str, Figure]:
    figures = {
        "coverage_by_township": plot_coverage_by_township(plan, lang=lang),
        "distance_distribution": plot_distance_distribution(plan, lang=lang),
        "budget_curve": plot_budget_curve(plan, lang=lang),
    }
    return {name: fig for name, fig in figures.items() if fig is not None}


def write_plots(plan: Plan, out_dir: str | os.PathLike[str]) -> dict[str, Path]:
    """Write ``coverage_by_township.png``, ``distance_distribution.png`` and (with a budget
    curve) ``budget_curve.png`` into ``out_dir``, atomically. Returns the paths by name."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    figures = _figures(plan, _lang(plan, None))
    return {name: write_png(out_dir / f"{name}.png", fig) for name, fig in figures.items()}


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
    for level in _level_order(levels):
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
    for level in _level_order(levels):
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
    counts = counts.reindex(_level_order(counts.index)).reset_index()
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
    if "compliance" in sheets:
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
    lang = _lang(plan, lang)
    t = labels(lang)["text"]
    if plots is None:
        images = {name: data_uri(fig) for name, fig in _figures(plan, lang).items()}
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
