"""The self-contained HTML report of a plan.

Everything a person reads is offered in Chinese (``zh``) or English (``en``). The tables
come from :mod:`planner.outputs.sheets`, the plots from :mod:`planner.outputs.plots` (its
functions are re-exported here). ``report.html`` embeds its plots as base64 data URIs
and makes no network request; every value is HTML-escaped.
"""

from __future__ import annotations

import base64
import functools
import io
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from planner.outputs.access_report import access_sections
from planner.outputs.atomic import atomic_path

# LANGS and PLOT_MAX_UNITS stay importable from here, as before the split.
from planner.outputs.labels import LANGS as LANGS
from planner.outputs.labels import labels, level_order, plan_lang
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
from planner.outputs.service_report import service_sections
from planner.outputs.sheets import localize, summary_sheets
from planner.siting.station_objectives import objective_note
from planner.version import __version__

if TYPE_CHECKING:
    from planner.plan import Plan

__all__ = [
    "cjk_font",
    "data_uri",
    "html_table",
    "labels",
    "plot_budget_curve",
    "plot_coverage_by_township",
    "plot_distance_distribution",
    "plot_lang",
    "population_rate",
    "render_html",
    "report_html",
    "use_font",
    "write_plots",
    "write_report",
]

#: Rows of one table shown in ``report.html`` (the workbook has them all).
HTML_MAX_ROWS = 200


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
        sections.append(_section(t["proposals"], sheets["proposals"], lang,
                                 note=objective_note(plan.summary, lang)))  # fmt: skip
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
    for title, table, remark in [*service_sections(plan, lang), *access_sections(plan, lang)]:
        sections.append(_section(title, table, lang, note=remark))
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
