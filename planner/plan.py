"""``Plan``: everything a run computed, and the summary built from it.

Every output is written from a plan (:func:`planner.outputs.writers.write_outputs`);
``summary.json`` is :func:`summarize` of it plus the run's facts (engine, timings, peak
memory)."""

from __future__ import annotations

import sys
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import pandas as pd

from planner.audit import audit_summary
from planner.catchment import LevelResult, level_summary
from planner.layers import LayerSet
from planner.scenario import Scenario
from planner.version import __version__


@dataclass
class Plan:
    """Everything a run produced; outputs are written from it."""

    scenario: Scenario
    layers: LayerSet
    levels: dict[str, LevelResult]
    villages: gpd.GeoDataFrame
    centers: gpd.GeoDataFrame
    service_areas: gpd.GeoDataFrame
    gaps: gpd.GeoDataFrame
    audit: gpd.GeoDataFrame
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    #: proposed sites: ``kind`` (subcenter|station), ``rank``, ``site_id``, ``name``,
    #: ``new_population_covered``, ``reason``; points in the working CRS
    proposals: gpd.GeoDataFrame | None = None
    #: coverage per level with the proposals built (same shape as ``summary["levels"]``)
    after: dict[str, Any] = field(default_factory=dict)
    #: coverage against the number of new stations: sites, covered_weight, coverage_share,
    #: marginal_gain
    budget_curve: pd.DataFrame | None = None
    #: generated (or checked user) grids: id, name, village_id, households, workers, …
    grids: gpd.GeoDataFrame | None = None
    #: problems found in a user grid layer: kind, grid_id, village_id, message, geometry
    grid_issues: gpd.GeoDataFrame | None = None
    #: per center and rule: center_id, rule, measured, threshold, verdict
    compliance: pd.DataFrame | None = None
    #: ``[access]`` scores per level (:class:`planner.accessibility.LevelAccess`)
    access: dict[str, Any] = field(default_factory=dict)


def summarize(plan: Plan) -> dict[str, Any]:
    """The computed part of ``summary.json``: coverage per level, the audit, rates per
    county and township, and the compliance counts when centers were checked."""
    summary: dict[str, Any] = {
        "scenario": plan.scenario.scenario.name,
        "planner_version": __version__,
        "crs": plan.layers.crs.to_string(),
        "levels": {lvl: level_summary(plan.villages, res) for lvl, res in plan.levels.items()},
        "audit": audit_summary(plan.audit),
        "rates": {
            unit: rate_records(plan.tables[f"coverage_by_{unit}"], f"{unit}_id")
            for unit in ("county", "township")
        },
    }
    if plan.compliance is not None:
        summary["compliance"] = compliance_counts(plan.centers)
    if plan.access and plan.scenario.access is not None:
        from planner.accessibility.results import access_summaries

        summary["access"] = access_summaries(plan.villages, plan.access, plan.scenario.access)
    return summary


#: Units listed per level in ``summary.json`` ``rates``; beyond it see the CSV tables.
SUMMARY_MAX_UNITS = 5_000


def rate_records(table: pd.DataFrame, key: str) -> dict[str, Any]:
    """Coverage rates per unit and level (by population and by village count)."""
    if table[key].nunique() > SUMMARY_MAX_UNITS:
        return {
            "omitted": f"more than {SUMMARY_MAX_UNITS:,} units; see coverage_by_"
            f"{key.removesuffix('_id')}.csv"
        }
    columns = [key, "villages", "villages_covered", "population", "population_covered",
               "population_rate", "village_rate"]  # fmt: skip
    return {
        str(level): group[columns].to_dict(orient="records")
        for level, group in table.groupby("level", sort=False)
    }


def proposal_list(proposals: gpd.GeoDataFrame) -> list[dict[Hashable, Any]]:
    """The proposed sites, one record each, for ``summary.json``."""
    if proposals.empty:
        return []
    keep = ["kind", "rank", "site_id", "name", "new_population_covered",
            "new_villages_covered"]  # fmt: skip
    planned = [c for c in ("action", "gain", "cost", "closes") if c in proposals]  # expansion
    if not planned:
        return pd.DataFrame(proposals[keep]).to_dict(orient="records")
    records = pd.DataFrame(proposals[keep + planned]).astype(object)
    return records.where(records.notna(), None).to_dict(orient="records")


def solver_summary(steps: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Certificates per step, and the whole: the gap and status are the worst of the steps;
    objectives and bounds add up over the steps that maximise covered population (a
    p-center's worst distance or a backup count is read from its own step), ``None`` when
    no step does."""
    if not steps:
        return {
            "objective": None,
            "bound": None,
            "gap": None,
            "seconds": 0.0,
            "status": "not_run",
            "steps": {},
        }
    worst = {"optimal": 0, "heuristic": 1, "time_limit": 2}
    covering = [s for s in steps.values() if s.get("model", "mclp") == "mclp"]
    return {
        "objective": sum(s["objective"] for s in covering) if covering else None,
        "bound": sum(s["bound"] for s in covering) if covering else None,
        "gap": max(s["gap"] for s in steps.values()),
        "seconds": round(sum(s["seconds"] for s in steps.values()), 3),
        "status": max((s["status"] for s in steps.values()), key=lambda x: worst.get(x, 3)),
        "steps": steps,
    }


def compliance_counts(centers: gpd.GeoDataFrame) -> dict[str, int]:
    """Centers by verdict: compliant, non-compliant, unknown."""
    verdict = centers["compliant"]
    return {
        "centers": len(centers),
        "compliant": int((verdict == True).sum()),  # noqa: E712
        "non_compliant": int((verdict == False).sum()),  # noqa: E712
        "unknown": int(verdict.isna().sum()),
    }


def peak_memory_mb() -> float:
    """Peak resident memory of this process so far, in MB (its Dask workers excluded)."""
    try:
        import resource
    except ImportError:  # Windows
        import psutil

        info = psutil.Process().memory_info()
        return round(getattr(info, "peak_wset", info.rss) / 2**20, 1)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (2**20 if sys.platform == "darwin" else 2**10), 1)
