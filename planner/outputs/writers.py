"""Write a plan's output files: each one atomically, all into a staging folder that
replaces the output folder only when every file is written (:mod:`planner.outputs.staging`)."""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import pandas as pd

from planner.memory import release_memory
from planner.outputs.atomic import write_bytes
from planner.outputs.staging import staged_output
from planner.outputs.tables import write_csv, write_json
from planner.outputs.vector import FORMATS, write_gpkg, write_vector
from planner.outputs.xlsx import write_xlsx
from planner.plan import peak_memory_mb
from planner.preflight import preflight
from planner.progress import Steps

if TYPE_CHECKING:
    from planner.plan import Plan
    from planner.scenario import Outputs, Scenario
    from planner.steps import GridStep

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
    """The layers of ``coverage.gpkg`` (``grid_issues`` when a user grid layer was checked;
    ``adequacy`` and ``worst_served`` from :mod:`planner.service_load`)."""
    layers = {
        "villages": _for_output(plan.villages),
        "centers": _for_output(plan.centers),
        "gaps": plan.gaps,
        "service_areas": plan.service_areas,
        "audit": plan.audit,
    }
    if plan.grid_issues is not None:
        layers["grid_issues"] = plan.grid_issues
    for name in ("adequacy", "worst_served"):
        if name in plan.tables:
            layers[name] = plan.tables[name]
    return layers


#: Formats whose GDAL drivers are the slowest (LIBKML, GeoJSON): written by a child
#: process (:class:`~planner.outputs.child.ChildCall`) while this one writes the rest.
CHILD_FORMATS = ("kml", "geojson")
#: Fewer grids than this are written here: starting the child (a fresh interpreter that
#: imports geopandas and GDAL, about 1.5 s of CPU) would cost more than it saves.
CHILD_MIN_GRIDS = 50_000


#: Fewer rows than this in all layers of ``coverage.gpkg`` are written by this process, in
#: a worker thread: the child of :class:`~planner.outputs.gpkg_child.GpkgChild` would cost
#: more to start than it saves.
GPKG_CHILD_MIN_ROWS = 200_000


def write_formats(
    grids: gpd.GeoDataFrame, out_dir: Path, formats: Sequence[str], crs: Any, encoding: str
) -> dict[str, Path]:
    """``grids.<ext>`` in each of ``formats``, reprojected once per output CRS (a
    format's own CRS, else ``crs``); keys ``grids_<fmt>``."""
    written = {}
    reprojected: dict[Any, gpd.GeoDataFrame] = {}
    for fmt in formats:
        target = FORMATS[fmt].crs or crs
        if target not in reprojected:
            reprojected[target] = grids.to_crs(target)
        paths = write_vector(
            reprojected[target],
            out_dir / f"grids{FORMATS[fmt].suffix}",
            fmt=fmt,
            crs=target,
            encoding=encoding,
        )
        written[f"grids_{fmt}"] = paths[0]
    return written


class GridFiles:
    """The grid files of :func:`write_grids`: :data:`CHILD_FORMATS` of at least
    :data:`CHILD_MIN_GRIDS` grids start in a child process at once, :meth:`write_here`
    writes the other formats, :meth:`result` waits for the child. A context manager (the
    child is ended on exit)."""

    def __init__(self, grids: gpd.GeoDataFrame | None, out_dir: Path, *, outputs: Outputs):
        from planner.outputs.child import ChildCall

        self._frame = None if grids is None or grids.empty else _for_output(grids)
        self._out_dir, self._outputs = out_dir, outputs
        formats = list(outputs.formats) if self._frame is not None else []
        large = self._frame is not None and len(self._frame) >= CHILD_MIN_GRIDS
        away = [f for f in formats if f in CHILD_FORMATS] if large else []
        self._here = [f for f in formats if f not in away]
        args = (self._frame, out_dir, away, outputs.crs, outputs.shp_encoding)
        self._child = ChildCall(write_formats, *args, what="writing grid files") if away else None

    def write_here(self) -> dict[str, Path]:
        """The formats written in this process."""
        if not self._here:
            return {}
        outputs = self._outputs
        return write_formats(
            self._frame, self._out_dir, self._here, outputs.crs, outputs.shp_encoding
        )

    def result(self) -> dict[str, Path]:
        """The files the child wrote (waits for it)."""
        return {} if self._child is None else self._child.result()

    def __enter__(self) -> GridFiles:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._child is not None:
            self._child.close()


def write_grids(
    grids: gpd.GeoDataFrame | None, out_dir: Path, *, outputs: Outputs
) -> dict[str, Path]:
    """``grids.<ext>`` in every format ``outputs`` asks for (its CRS and encoding)."""
    with GridFiles(grids, out_dir, outputs=outputs) as files:
        written = files.write_here()
        written |= files.result()
    order = [f"grids_{fmt}" for fmt in outputs.formats]
    return {key: written[key] for key in order if key in written}


def write_outputs(
    plan: Plan, out_dir: str | os.PathLike[str] | None = None, *, scheduler: str | None = None
) -> dict[str, Path]:
    """Write every output file of a plan.

    ``coverage.gpkg`` (layers per :func:`coverage_layers`), ``proposals.gpkg``, the grid
    files, ``summary.xlsx`` (sheets and headers in the scenario's language), one CSV per
    table (English headers, for machines), PNG plots, ``report.html``, ``map.html`` and
    ``summary.json`` (with ``timings`` and ``peak_memory_mb`` covering the writing too).
    The files are written into a staging folder that replaces ``out_dir`` once all are
    written (:func:`~planner.outputs.staging.staged_output`; inside an open staging folder,
    straight into it), so a failed write leaves the previous result as it was.

    Parameters
    ----------
    plan
        The result of :func:`planner.pipeline.run`.
    out_dir
        The output folder; default: the scenario's ``out_dir``.
    scheduler
        For a plan of the Dask engine: the scheduler whose workers write each county's
        share into ``parts/`` (:func:`planner.distributed.parts.write_parts`); default: a
        local cluster.

    Returns
    -------
    dict
        The final paths by name.
    """
    folder = _output_folder(plan.scenario, out_dir)
    start = time.perf_counter()
    with staged_output(folder, command="run", scenario=plan.scenario.scenario.name) as staging:
        written = _write_files(plan, staging)
        if plan.summary.get("engine") == "dask":
            from planner.distributed.parts import write_parts

            parts = write_parts(plan, staging, scheduler=scheduler)
            plan.summary["parts"] = {"counties": parts["counties"], "rows": parts["rows"]}
            written["parts"] = staging / "parts"
        plan.timings["write outputs"] = round(time.perf_counter() - start, 3)
        plan.summary["peak_memory_mb"] = peak_memory_mb()
        summary = {**plan.summary, "timings": plan.timings}
        written["summary"] = write_json(staging / "summary.json", summary)
    return _final_paths(folder, written)


def write_grid_outputs(
    step: GridStep, out_dir: str | os.PathLike[str] | None = None, *, scenario: Scenario
) -> dict[str, Path]:
    """Write the files of ``planner grids``: ``grids.<ext>`` per requested format,
    ``grids_by_village.csv`` and, for a user grid layer, ``grid_issues.gpkg``. They replace
    the grid files of the output folder (default: the scenario's); its other files (a
    ``planner run``'s) are kept (:func:`~planner.outputs.staging.staged_output`)."""
    folder = _output_folder(scenario, out_dir)
    outputs = scenario.outputs
    with staged_output(folder, command="grids", scenario=scenario.scenario.name) as staging:
        written = write_grids(step.grids, staging, outputs=outputs)
        if step.by_village is not None:
            path = staging / "grids_by_village.csv"
            written["grids_by_village"] = write_csv(path, step.by_village)
        if step.issues is not None:
            layers = {"grid_issues": step.issues}
            written["grid_issues"] = write_gpkg(
                staging / "grid_issues.gpkg", layers, crs=outputs.crs
            )
    return _final_paths(folder, written)


def write_inspection(
    stops: gpd.GeoDataFrame,
    route: gpd.GeoDataFrame,
    out_dir: str | os.PathLike[str] | None = None,
    *,
    scenario: Scenario,
) -> dict[str, Path]:
    """Write an inspection round: ``inspection.gpkg`` (layers ``stops``, ``route``),
    ``inspection.xlsx`` and ``inspection.csv``, replacing the previous round's and keeping
    the other files of the output folder (default: the scenario's)."""
    from planner.standards.inspection import inspection_table

    folder = _output_folder(scenario, out_dir)
    table = inspection_table(stops, lang=scenario.outputs.lang)
    crs = scenario.outputs.crs
    with staged_output(folder, command="inspect", scenario=scenario.scenario.name) as staging:
        written = {
            "gpkg": write_gpkg(
                staging / "inspection.gpkg", {"stops": stops, "route": route}, crs=crs
            ),
            "xlsx": write_xlsx(staging / "inspection.xlsx", {"inspection": table}),
            "csv": write_csv(staging / "inspection.csv", table),
        }
    return _final_paths(folder, written)


def _output_folder(scenario: Scenario, out_dir: str | os.PathLike[str] | None) -> Path:
    """The output folder (default: the scenario's), checked before anything is written."""
    folder = Path(out_dir) if out_dir is not None else scenario.out_dir
    preflight(scenario, out_dir=folder, need_levels=False)
    return folder


def _final_paths(folder: Path, written: dict[str, Path]) -> dict[str, Path]:
    """Where the files written into the staging folder are once it replaced ``folder``."""
    return {name: folder / path.name for name, path in written.items()}


def _write_files(plan: Plan, out_dir: Path) -> dict[str, Path]:
    """Every file of :func:`write_outputs`, straight into ``out_dir``. Meanwhile the
    plots are drawn in a child process (:class:`~planner.outputs.plots.PlotProcess`), and
    ``coverage.gpkg`` is written by another (:class:`~planner.outputs.gpkg_child.GpkgChild`),
    fed by a thread of this one."""
    from planner.outputs.gpkg_child import GpkgChild
    from planner.outputs.plots import PlotProcess

    outputs = plan.scenario.outputs
    bar = Steps(4 + outputs.report + outputs.map, desc="writing", level=logging.DEBUG)
    with contextlib.ExitStack() as stack:
        stack.callback(bar.close)
        plots = stack.enter_context(PlotProcess(plan)) if outputs.report else None
        grids = stack.enter_context(GridFiles(plan.grids, out_dir, outputs=outputs))
        layers = coverage_layers(plan)
        away = sum(len(layer) for layer in layers.values()) >= GPKG_CHILD_MIN_ROWS
        feeder = stack.enter_context(ThreadPoolExecutor(1, thread_name_prefix="planner-gpkg"))
        gpkg = stack.enter_context(GpkgChild(start=away))  # ended before the feeder is joined
        path = out_dir / "coverage.gpkg"
        coverage = feeder.submit(gpkg.write_gpkg, path, layers, crs=outputs.crs)
        written: dict[str, Path] = {}
        with bar.step("grids and proposals"):
            written |= grids.write_here()
            proposals = {"proposals": plan.proposals}
            written["proposals"] = write_gpkg(
                out_dir / "proposals.gpkg", proposals, crs=outputs.crs
            )
        release_memory()  # the grids reprojected for their files
        with bar.step("tables"):
            written |= _write_tables(plan, out_dir)
        release_memory()
        if outputs.map:
            with bar.step("map"):
                from planner.outputs.maps import write_map

                written["map"] = write_map(plan, out_dir / "map.html")
        if plots is not None:
            with bar.step("report"):
                from planner.outputs.report import write_report

                images = plots.result()
                for name, png in images.items():
                    written[name] = write_bytes(out_dir / f"{name}.png", png)
                written["report"] = write_report(plan, out_dir, plots=images)
        with bar.step("coverage.gpkg"):
            written = {"coverage": coverage.result()} | written
        written |= grids.result()
    return written


def _write_tables(plan: Plan, out_dir: Path) -> dict[str, Path]:
    """``summary.xlsx`` (sheets in the scenario's language, long ones cut) and one CSV per
    table (every row, English headers)."""
    from planner.outputs.labels import labels
    from planner.outputs.sheets import canonical_sheets, localize

    lang = plan.scenario.outputs.lang
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
    written = {"xlsx": write_xlsx(out_dir / "summary.xlsx", sheets)}
    for name, table in tables.items():
        written[name] = write_csv(out_dir / f"{name}.csv", table)
    return written
