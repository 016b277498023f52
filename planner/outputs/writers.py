"""Write a plan's output files: each one atomically, all into a staging folder that
replaces the output folder only when every file is written (:mod:`planner.staging`)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import pandas as pd

from planner.outputs.files import (
    FORMATS,
    write_csv,
    write_gpkg,
    write_json,
    write_vector,
    write_xlsx,
)
from planner.outputs.staging import staged_output

if TYPE_CHECKING:
    from planner.plan import Plan
    from planner.scenario import Outputs

logger = logging.getLogger(__name__)


def _for_output(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Drop helper columns; nullable text stays text."""
    return frame.drop(columns=[c for c in frame.columns if str(c).startswith("_")])


#: Most rows a sheet of ``summary.xlsx`` gets. Longer tables (a province's uncovered
#: villages, its audit) are shortened there — evenly per level, in table order, so the
#: most populous gaps of every level come first — and a notes sheet says so; the CSV
#: files and ``coverage.gpkg`` keep every row. Excel holds at most 1,048,576 rows a
#: sheet, and writing hundreds of thousands of rows would take minutes.
XLSX_MAX_ROWS = 10_000

_CUT_NOTE = {
    "zh": {
        "sheet": "说明",
        "table": "工作表",
        "rows": "总行数",
        "shown": "表中行数",
        "file": "完整数据",
        "remark": "备注",
        "note": "表格过长，工作簿中只列出每个层级的前若干行；完整数据见 CSV 文件",
    },
    "en": {
        "sheet": "notes",
        "table": "sheet",
        "rows": "rows",
        "shown": "rows shown",
        "file": "every row in",
        "remark": "note",
        "note": "too long for the workbook: the first rows of each level are shown; "
        "the CSV file has every row",
    },
}


def cap_sheets(
    tables: dict[str, pd.DataFrame], *, max_rows: int
) -> tuple[dict[str, pd.DataFrame], dict[str, tuple[int, int]]]:
    """Tables cut to at most ``max_rows`` rows (tables with a ``level`` column keep the
    first rows of every level, an equal share each, when there are fewer levels than
    rows); returns them and, per cut table, its row count and the rows kept."""
    shown, cut = {}, {}
    for name, table in tables.items():
        if len(table) <= max_rows:
            shown[name] = table
            continue
        share = 0
        if "level" in table.columns:
            share = max_rows // max(table["level"].nunique(dropna=False), 1)
        if share:
            kept = table.groupby("level", sort=False, dropna=False).head(share)
        else:
            kept = table.head(max_rows)
        shown[name] = kept.reset_index(drop=True)
        cut[name] = (len(table), len(kept))
    return shown, cut


def cut_note(cut: dict[str, tuple[int, int]], *, lang: str) -> pd.DataFrame:
    """The notes sheet: which tables were shortened and where every row is."""
    from planner.outputs.report import labels

    text, titles = _CUT_NOTE[lang], labels(lang)["sheets"]
    return pd.DataFrame(
        {
            text["table"]: [titles.get(name, name) for name in cut],
            text["rows"]: [rows for rows, _ in cut.values()],
            text["shown"]: [kept for _, kept in cut.values()],
            text["file"]: [f"{name}.csv" for name in cut],
            text["remark"]: text["note"],
        }
    )


def coverage_layers(plan: Plan) -> dict[str, gpd.GeoDataFrame]:
    """The layers of ``coverage.gpkg`` (``grid_issues`` when a user grid layer was checked)."""
    layers = {
        "villages": _for_output(plan.villages),
        "centers": _for_output(plan.centers),
        "gaps": plan.gaps,
        "service_areas": plan.service_areas,
        "audit": plan.audit,
    }
    if plan.grid_issues is not None:
        layers["grid_issues"] = plan.grid_issues
    return layers


def write_grids(
    grids: gpd.GeoDataFrame | None, out_dir: Path, *, outputs: Outputs
) -> dict[str, Path]:
    """``grids.<ext>`` in every format ``outputs`` asks for (its CRS and encoding)."""
    if grids is None or grids.empty:
        return {}
    written = {}
    reprojected: dict[Any, gpd.GeoDataFrame] = {}  # once per output CRS, not per format
    for fmt in outputs.formats:
        crs = FORMATS[fmt].crs or outputs.crs
        if crs not in reprojected:
            reprojected[crs] = _for_output(grids).to_crs(crs)
        paths = write_vector(
            reprojected[crs],
            out_dir / f"grids{FORMATS[fmt].suffix}",
            fmt=fmt,
            crs=crs,
            encoding=outputs.shp_encoding,
        )
        written[f"grids_{fmt}"] = paths[0]
    return written


def write_outputs(plan: Plan, out_dir: Path, *, timings: dict[str, float]) -> dict[str, Path]:
    """Write every output file of a plan.

    ``coverage.gpkg`` (layers per :func:`coverage_layers`), ``summary.xlsx`` (sheets and
    headers in the scenario's language), one CSV per table (English headers, for
    machines), PNG plots, ``report.html`` and ``summary.json``. The files are written
    into a staging folder that replaces ``out_dir`` once all are written
    (:func:`~planner.staging.staged_output`; inside an open staging folder, straight into
    it). Returns the final paths by name.
    """
    with staged_output(out_dir, command="run", scenario=plan.scenario.scenario.name) as folder:
        written = _write_files(plan, folder, timings=timings)
    return {name: Path(out_dir) / path.name for name, path in written.items()}


def _write_files(plan: Plan, out_dir: Path, *, timings: dict[str, float]) -> dict[str, Path]:
    """Every file of :func:`write_outputs`, straight into ``out_dir``."""
    from planner.outputs.maps import write_map
    from planner.outputs.report import canonical_sheets, labels, localize, write_plots, write_report

    lang = plan.scenario.outputs.lang
    crs: Any = plan.scenario.outputs.crs
    written = {"coverage": write_gpkg(out_dir / "coverage.gpkg", coverage_layers(plan), crs=crs)}
    written |= write_grids(plan.grids, out_dir, outputs=plan.scenario.outputs)
    written["proposals"] = write_gpkg(
        out_dir / "proposals.gpkg", {"proposals": plan.proposals}, crs=crs
    )
    tables = canonical_sheets(plan)
    titles = labels(lang)["sheets"]
    shown, cut = cap_sheets(tables, max_rows=XLSX_MAX_ROWS)
    sheets = {titles.get(name, name): localize(table, lang) for name, table in shown.items()}
    if cut:
        logger.info(
            f"summary.xlsx: {len(cut)} long table(s) shortened to about {XLSX_MAX_ROWS:,} "
            "rows; the CSV files hold every row"
        )
        sheets[_CUT_NOTE[lang]["sheet"]] = cut_note(cut, lang=lang)
    written["xlsx"] = write_xlsx(out_dir / "summary.xlsx", sheets)
    for name, table in tables.items():
        written[name] = write_csv(out_dir / f"{name}.csv", table)
    if plan.scenario.outputs.report:
        plots = write_plots(plan, out_dir)
        written |= plots
        written["report"] = write_report(plan, out_dir, plots=plots)
    if plan.scenario.outputs.map:
        written["map"] = write_map(plan, out_dir / "map.html")
    written["summary"] = write_json(out_dir / "summary.json", {**plan.summary, "timings": timings})
    return written
