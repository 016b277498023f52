"""Write a plan's output files; each one atomically, all after every step has succeeded."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd

from .export import FORMATS, write_csv, write_gpkg, write_json, write_vector, write_xlsx
from .progress import log

if TYPE_CHECKING:
    from .pipeline import Plan
    from .scenario import Outputs


def _for_output(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Drop helper columns; nullable text stays text."""
    return frame.drop(columns=[c for c in frame.columns if str(c).startswith("_")])


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
    for fmt in outputs.formats:
        paths = write_vector(
            _for_output(grids),
            out_dir / f"grids{FORMATS[fmt].suffix}",
            fmt=fmt,
            crs=outputs.crs,
            encoding=outputs.shp_encoding,
        )
        written[f"grids_{fmt}"] = paths[0]
    return written


def write_outputs(plan: Plan, out_dir: Path, *, timings: dict[str, float]) -> dict[str, Path]:
    """Write every output file of a plan.

    ``coverage.gpkg`` (layers per :func:`coverage_layers`), ``summary.xlsx`` (sheets and
    headers in the scenario's language), one CSV per table (English headers, for
    machines), PNG plots, ``report.html`` and ``summary.json``. Returns paths by name.
    """
    from .maps import write_map
    from .report import canonical_sheets, labels, localize, write_plots, write_report

    out_dir.mkdir(parents=True, exist_ok=True)
    lang = plan.scenario.outputs.lang
    crs: Any = plan.scenario.outputs.crs
    written = {"coverage": write_gpkg(out_dir / "coverage.gpkg", coverage_layers(plan), crs=crs)}
    written |= write_grids(plan.grids, out_dir, outputs=plan.scenario.outputs)
    written["proposals"] = write_gpkg(
        out_dir / "proposals.gpkg", {"proposals": plan.proposals}, crs=crs
    )
    tables = canonical_sheets(plan)
    titles = labels(lang)["sheets"]
    written["xlsx"] = write_xlsx(
        out_dir / "summary.xlsx",
        {titles.get(name, name): localize(table, lang) for name, table in tables.items()},
    )
    for name, table in tables.items():
        written[name] = write_csv(out_dir / f"{name}.csv", table)
    if plan.scenario.outputs.report:
        plots = write_plots(plan, out_dir)
        written |= plots
        written["report"] = write_report(plan, out_dir, plots=plots)
    if plan.scenario.outputs.map:
        written["map"] = write_map(plan, out_dir / "map.html")
    written["summary"] = write_json(out_dir / "summary.json", {**plan.summary, "timings": timings})
    log(f"wrote {len(written)} files to {out_dir}")
    return written
