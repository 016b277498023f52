"""Write a plan's output files; each one atomically, all after every step has succeeded."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import pandas as pd

from .export import write_csv, write_gpkg, write_json, write_xlsx
from .progress import log

if TYPE_CHECKING:
    from .pipeline import Plan


def _for_output(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Drop helper columns; nullable text stays text."""
    return frame.drop(columns=[c for c in frame.columns if str(c).startswith("_")])


def coverage_layers(plan: Plan) -> dict[str, gpd.GeoDataFrame]:
    """The layers of ``coverage.gpkg``."""
    return {
        "villages": _for_output(plan.villages),
        "centers": _for_output(plan.centers),
        "gaps": plan.gaps,
        "service_areas": plan.service_areas,
        "audit": plan.audit,
    }


def summary_tables(plan: Plan) -> dict[str, pd.DataFrame]:
    """Tables for ``summary.xlsx`` and the CSV files, in sheet order."""
    uncovered = pd.DataFrame(plan.gaps.drop(columns=plan.gaps.geometry.name))
    audit = pd.DataFrame(plan.audit.drop(columns=plan.audit.geometry.name))
    return {**plan.tables, "uncovered_villages": uncovered, "audit": audit}


def write_outputs(plan: Plan, out_dir: Path, *, timings: dict[str, float]) -> dict[str, Path]:
    """Write ``coverage.gpkg``, ``summary.json``, ``summary.xlsx`` and CSV tables.

    Returns the written paths by name.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    crs: Any = plan.scenario.outputs.crs
    written = {"coverage": write_gpkg(out_dir / "coverage.gpkg", coverage_layers(plan), crs=crs)}
    tables = summary_tables(plan)
    written["xlsx"] = write_xlsx(out_dir / "summary.xlsx", tables)
    for name, table in tables.items():
        written[name] = write_csv(out_dir / f"{name}.csv", table)
    summary = {**plan.summary, "timings": timings}
    written["summary"] = write_json(out_dir / "summary.json", summary)
    log(f"wrote {len(written)} files to {out_dir}")
    return written
