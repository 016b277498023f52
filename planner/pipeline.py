"""``run(scenario) -> Plan``: the one function that wires every step.

Each step is also callable alone on GeoDataFrames (see the modules it calls). Outputs are
written by :func:`write_outputs`, each file atomically.
"""

from __future__ import annotations

import logging
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from planner import __version__
from planner.audit import audit_summary, full_coverage_audit
from planner.catchment import (
    LevelResult,
    annotate_villages,
    catchments,
    centers_serving,
    circle_service_areas,
    combine_parts,
    county_of,
    gaps,
    level_coverage,
    level_summary,
    rates,
    township_of,
)
from planner.errors import PlannerError, PlannerWarning
from planner.layers import LayerSet, load_layers
from planner.plan import Plan
from planner.progress import progress
from planner.routing import RoadSearch, network_of, road_network
from planner.scenario import Scenario
from planner.siting.proposals import SitingOutcome, propose, with_proposals

logger = logging.getLogger(__name__)

#: Engines of the coverage step: in this process, or partitioned by county on Dask.
ENGINES = ("inprocess", "dask")


class _Timer:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        logger.info(f"{name} …")
        start = time.perf_counter()
        yield
        self.seconds[name] = round(time.perf_counter() - start, 3)


def compute_levels(
    scenario: Scenario,
    villages: gpd.GeoDataFrame,
    centers: gpd.GeoDataFrame | None,
    *,
    roads: RoadSearch | None = None,
) -> dict[str, LevelResult]:
    """Coverage of every configured level (along ``roads`` for network levels)."""
    results = {}
    for level in progress(scenario.ordered_levels(), desc="coverage"):
        parts = [
            level_coverage(villages, centers_serving(centers, serving), level, spec, network=roads)
            for serving, spec in scenario.serving_groups(level)
        ]
        if not any(len(part.centers) for part in parts):
            warnings.warn(f"level {level}: no centers of this level", PlannerWarning, stacklevel=2)
        results[level] = (
            parts[0] if len(parts) == 1 else combine_parts(level, scenario.levels[level], parts)
        )
    return results


def _centers_with_catchments(layers: LayerSet, results: dict[str, LevelResult]) -> gpd.GeoDataFrame:
    """Centers with their catchment at the level they serve: their own level when it is
    configured, else the first level that counts them (a sub-center at township level)."""
    centers = layers.get("centers")
    if centers is None:
        return gpd.GeoDataFrame({"id": []}, geometry=[], crs=layers.crs)
    out = centers.drop(columns="_row", errors="ignore").copy()
    tables = [catchments(layers["villages"], res) for res in results.values()]
    if not tables:
        return out
    table = pd.concat(tables, ignore_index=True).rename(columns={"level": "served_level"})
    own = (
        table["served_level"].to_numpy() == table["id"].map(out.set_index("id")["level"]).to_numpy()
    )
    table = table.assign(_own=~own).sort_values("_own", kind="stable")
    table = table.drop_duplicates("id").drop(columns="_own").set_index("id")
    return out.join(table, on="id")


def _coverage_tables(
    villages: gpd.GeoDataFrame, results: dict[str, LevelResult], layers: LayerSet
) -> dict[str, pd.DataFrame]:
    townships = layers.get("townships")
    # as stated, else the township polygon, else the first 9 digits of an NBS village code
    township = township_of(villages, townships).fillna(
        villages["id"].astype("string").str.slice(0, 9)
    )
    county = county_of(villages.assign(township_id=township), townships)
    return {
        "coverage_by_township": rates(villages, results, township, "township_id"),
        "coverage_by_county": rates(villages, results, county, "county_id"),
    }


def _summary(plan: Plan) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "scenario": plan.scenario.scenario.name,
        "planner_version": __version__,
        "crs": plan.layers.crs.to_string(),
        "levels": {lvl: level_summary(plan.villages, res) for lvl, res in plan.levels.items()},
        "audit": audit_summary(plan.audit),
        "rates": {
            unit: _rate_records(plan.tables[f"coverage_by_{unit}"], f"{unit}_id")
            for unit in ("county", "township")
        },
    }
    if plan.compliance is not None:
        from planner.standards.checks import summarize_compliance

        centers = plan.centers  # units completed from the polygons when the layers were read
        scopes = [
            c for c in ("county_id", "township_id") if c in centers and centers[c].notna().any()
        ]
        plan.tables["compliance_by_township"] = summarize_compliance(
            plan.compliance, centers, by=scopes
        )
        summary["compliance"] = _compliance_counts(plan.centers)
    return summary


#: Units listed per level in ``summary.json`` ``rates``; beyond it see the CSV tables.
SUMMARY_MAX_UNITS = 5_000


def _rate_records(table: pd.DataFrame, key: str) -> dict[str, Any]:
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


def _after(
    scenario: Scenario,
    layers: LayerSet,
    siting: SitingOutcome,
    before: dict[str, LevelResult],
    levels: Callable[[gpd.GeoDataFrame | None], dict[str, LevelResult]],
) -> dict[str, Any]:
    """Coverage per level with every proposal built (``before`` when there is none)."""
    villages = layers["villages"]
    results = before
    if not siting.proposals.empty:
        results = levels(with_proposals(layers.get("centers"), siting.proposals))
    return {lvl: level_summary(villages, res) for lvl, res in results.items()}


def _proposal_list(proposals: gpd.GeoDataFrame) -> list[dict[str, Any]]:
    if proposals.empty:
        return []
    keep = ["kind", "rank", "site_id", "name", "new_population_covered",
            "new_villages_covered"]  # fmt: skip
    return pd.DataFrame(proposals[keep]).to_dict(orient="records")


def _solver_summary(steps: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Certificates per step, and the whole: objectives and bounds add up, the gap and
    status are the worst of the steps."""
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
    return {
        "objective": sum(s["objective"] for s in steps.values()),
        "bound": sum(s["bound"] for s in steps.values()),
        "gap": max(s["gap"] for s in steps.values()),
        "seconds": round(sum(s["seconds"] for s in steps.values()), 3),
        "status": max((s["status"] for s in steps.values()), key=lambda x: worst.get(x, 3)),
        "steps": steps,
    }


def check_compliance(
    scenario: Scenario, centers: gpd.GeoDataFrame
) -> tuple[gpd.GeoDataFrame, pd.DataFrame | None]:
    """Check centers against the scenario's standards profile (when one is chosen)."""
    choice = scenario.standards.file or scenario.standards.profile
    if choice is None or centers.empty:
        return centers, None
    from planner.standards.checks import check_centers
    from planner.standards.profiles import load_profile

    profile = load_profile(choice, base_dir=scenario.base_dir)
    return check_centers(centers, profile, lang=scenario.outputs.lang)


@dataclass
class GridStep:
    """Grids of a run: generated (or the user's, checked) with their tables."""

    grids: gpd.GeoDataFrame | None
    issues: gpd.GeoDataFrame | None
    by_village: pd.DataFrame | None
    stats: dict[str, Any]


def make_grids(scenario: Scenario, layers: LayerSet) -> GridStep:
    """Check the user's grid layer when one is given, else generate grids.

    Village polygons come from ``village_areas``; without them they are derived from the
    village points and township polygons (and a warning says so).
    """
    from planner.grids.generate import check_grids, derive_village_areas, generate_grids

    settings = scenario.grids
    areas = layers.get("village_areas")
    if not settings.enabled:
        return GridStep(None, None, None, {})
    if areas is None and layers.get("townships") is None:
        reason = "no [layers.village_areas] or [layers.townships] to take village boundaries from"
        warnings.warn(f"grids skipped: {reason}", PlannerWarning, stacklevel=2)
        return GridStep(None, None, None, {"skipped": reason})
    user = layers.get("grids")
    if user is not None:
        if areas is None:
            areas = derive_village_areas(layers["villages"], layers["townships"])
        issues = check_grids(user.drop(columns="_row"), areas)
        return GridStep(
            user.drop(columns="_row"),
            issues,
            None,
            {"source": "user", "grids": len(user), "issues": len(issues)},
        )
    result = generate_grids(
        areas.drop(columns="_row") if areas is not None else None,
        layers["villages"].drop(columns="_row"),
        townships=layers.get("townships"),
        households_per_grid=settings.households_per_grid,
        population_per_grid=settings.population_per_grid,
        rural_households_per_grid=settings.rural_households_per_grid,
        urban_households_per_grid=settings.urban_households_per_grid,
        rural_workers_per_grid=settings.workers_per_grid_rural,
        urban_workers_per_grid=settings.workers_per_grid_urban,
        lang=scenario.outputs.lang,
    )
    for note in result.warnings:
        warnings.warn(f"grids: {note}", PlannerWarning, stacklevel=2)
    stats = {"source": "generated", "derived_village_areas": result.derived_areas, **result.stats}
    return GridStep(result.grids, None, result.villages, stats)


def run(
    scenario: Scenario,
    *,
    out_dir: Path | None = None,
    write: bool = True,
    engine: str = "inprocess",
    scheduler: str | None = None,
) -> Plan:
    """Run every step of the scenario and (by default) write the outputs.

    Parameters
    ----------
    scenario
        A validated scenario (:func:`planner.scenario.load_scenario`).
    out_dir
        Overrides the scenario's output folder.
    write
        Write the output files.
    engine
        ``"inprocess"`` (default) or ``"dask"``: the coverage step partitioned by county
        on a Dask cluster (:mod:`planner.distributed`); same results.
    scheduler
        Address of a running Dask scheduler (``"tcp://host:8786"``) for ``engine="dask"``;
        without it a local cluster sized to the machine is started and closed at the end.

    Raises
    ------
    PlannerError
        An unknown engine, a scheduler without the Dask engine, or a scheduler that
        cannot be reached.

    Notes
    -----
    The summary records the ``engine``, ``timings`` (seconds per step, writing the
    outputs included) and ``peak_memory_mb``, the peak resident memory of this process
    (Dask workers excluded); ``summary.json`` is rewritten last so that both cover the
    whole run.
    """
    from planner.preflight import preflight  # everything checkable before reading a layer

    preflight(scenario, out_dir=out_dir, write=write)
    if engine not in ENGINES:
        raise PlannerError(f"engine must be one of {', '.join(ENGINES)}; got {engine!r}")
    if scheduler is not None and engine != "dask":
        raise PlannerError("a scheduler address needs the Dask engine (--engine dask)")
    with ExitStack() as stack:
        if write:  # refuse a concurrent run into the same folder before computing
            from planner.outputs.staging import output_lock

            stack.enter_context(output_lock(out_dir or scenario.out_dir))
        client = None
        if engine == "dask":
            from planner.distributed import dask_client

            client = stack.enter_context(dask_client(scheduler))
        return _run(scenario, out_dir=out_dir, write=write, client=client)


def _run(scenario: Scenario, *, out_dir: Path | None, write: bool, client: Any) -> Plan:
    timer = _Timer()
    with timer.step("read layers"):
        layers = load_layers(scenario)
    for problem in layers.warnings:
        warnings.warn(str(problem), PlannerWarning, stacklevel=2)
    with timer.step("road network"):
        net = road_network(scenario, layers)
        roads = (
            RoadSearch(net, layers["villages"], scenario.network.max_access_m)
            if net is not None
            else None
        )

    def levels(centers: gpd.GeoDataFrame | None) -> dict[str, LevelResult]:
        if client is None:
            return compute_levels(scenario, layers["villages"], centers, roads=roads)
        from planner.distributed import compute_levels_dask

        return compute_levels_dask(
            scenario,
            layers["villages"],
            centers,
            roads=layers.get("roads"),
            townships=layers.get("townships"),
            client=client,
        )

    with timer.step("coverage"):
        results = levels(layers.get("centers"))
        villages = annotate_villages(layers["villages"].drop(columns="_row"), results)
    with timer.step("audit"):
        audit = full_coverage_audit(layers.frames)
    with timer.step("standards"):
        centers = _centers_with_catchments(layers, results)
        centers, compliance = check_compliance(scenario, centers)
    with timer.step("grids"):
        grid_step = make_grids(scenario, layers)
    with timer.step("siting"):
        siting = propose(scenario, layers, roads=roads, grids=grid_step.grids)
        after = _after(scenario, layers, siting, results, levels)
    with timer.step("tables"):
        plan = Plan(
            scenario=scenario,
            grids=grid_step.grids,
            grid_issues=grid_step.issues,
            proposals=siting.proposals,
            budget_curve=siting.budget_curve,
            after=after,
            layers=layers,
            levels=results,
            villages=villages,
            centers=centers,
            compliance=compliance,
            service_areas=_service_areas(results, layers.crs, roads),
            gaps=gaps(villages, results),
            audit=audit,
            tables=_coverage_tables(villages, results, layers),
        )
        if grid_step.by_village is not None:
            plan.tables["grids_by_village"] = grid_step.by_village
        plan.summary = _summary(plan)
        plan.summary["grids"] = grid_step.stats
        plan.summary["after"] = {"levels": after}
        plan.summary["proposals"] = _proposal_list(siting.proposals)
        plan.summary["solver"] = _solver_summary(siting.solver)
        plan.summary["skipped"] = _skipped(scenario, centers, grid_step, siting)
    plan.summary["engine"] = "inprocess" if client is None else "dask"
    plan.timings = timer.seconds
    if write:
        from planner.outputs.files import write_json
        from planner.outputs.staging import staged_output
        from planner.outputs.writers import write_outputs

        folder = out_dir or scenario.out_dir
        # every file, the final summary.json too, lands in a staging folder that replaces
        # the output folder only when all are written
        with staged_output(folder, command="run", scenario=scenario.scenario.name) as staging:
            with timer.step("write outputs"):
                write_outputs(plan, staging, timings=timer.seconds)
            plan.summary["peak_memory_mb"] = peak_memory_mb()
            write_json(staging / "summary.json", {**plan.summary, "timings": timer.seconds})
    else:
        plan.summary["peak_memory_mb"] = peak_memory_mb()
    return plan


def _skipped(
    scenario: Scenario, centers: gpd.GeoDataFrame, grid_step: GridStep, siting: SitingOutcome
) -> dict[str, str]:
    """Steps the scenario asks for that could not run on this input, each with its reason
    in one line (already logged as a warning, but for the standards named here)."""
    skipped = {}
    if (scenario.standards.file or scenario.standards.profile) and centers.empty:
        skipped["standards"] = "no centers to check (no [layers.centers], or it is empty)"
        warnings.warn(f"standards skipped: {skipped['standards']}", PlannerWarning, stacklevel=2)
    if "skipped" in grid_step.stats:
        skipped["grids"] = str(grid_step.stats["skipped"])
    return skipped | siting.skipped


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


def _compliance_counts(centers: gpd.GeoDataFrame) -> dict[str, int]:
    verdict = centers["compliant"]
    return {
        "centers": len(centers),
        "compliant": int((verdict == True).sum()),  # noqa: E712
        "non_compliant": int((verdict == False).sum()),  # noqa: E712
        "unknown": int(verdict.isna().sum()),
    }


def _service_areas(
    results: dict[str, LevelResult], crs: Any, roads: RoadSearch | None
) -> gpd.GeoDataFrame:
    """Circles for straight-line levels, reach polygons for road levels."""
    parts = []
    for res in results.values():
        for group in res.groups:  # each group of centers with its own radius
            if not len(group.centers):
                continue
            if group.spec.mode == "network" and roads is not None:
                parts.append(roads.service_areas(group))
            else:
                parts.append(circle_service_areas(group))
    if not parts:
        return gpd.GeoDataFrame({"center_id": [], "level": []}, geometry=[], crs=crs)
    return gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs=crs)


def plan_inspection(
    scenario: Scenario, *, sample: int, seed: int, out_dir: Path | None = None
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Sample centers for an unannounced inspection round and route them.

    Centers are checked against the scenario's standard first so that non-compliant and
    unknown centers are drawn more often. The visiting order follows driving distances on
    the road network when the scenario has roads, straight lines otherwise. Writes
    ``inspection.gpkg`` (layers ``stops``, ``route``), ``inspection.xlsx`` and
    ``inspection.csv`` into the output folder, replacing the previous round's and keeping
    the other files there (:func:`~planner.staging.staged_output`).
    """
    from planner.outputs.files import write_csv, write_gpkg, write_xlsx
    from planner.outputs.staging import staged_output
    from planner.preflight import preflight
    from planner.standards.inspection import inspection_round, inspection_table

    preflight(scenario, out_dir=out_dir, need_levels=False)
    layers = load_layers(scenario, kinds=("centers", "townships", "counties", "roads"))
    centers, _ = check_compliance(scenario, layers["centers"].drop(columns="_row"))
    cost = None
    if "roads" in layers:
        from planner.standards.inspection import road_cost

        cost = road_cost(network_of(layers["roads"], scenario.network), mode="drive")
    stops, route = inspection_round(centers, sample, seed=seed, cost=cost)
    crs = scenario.outputs.crs
    table = inspection_table(stops, lang=scenario.outputs.lang)
    folder = out_dir or scenario.out_dir
    with staged_output(folder, command="inspect", scenario=scenario.scenario.name) as staging:
        write_gpkg(staging / "inspection.gpkg", {"stops": stops, "route": route}, crs=crs)
        write_xlsx(staging / "inspection.xlsx", {"inspection": table})
        write_csv(staging / "inspection.csv", table)
    return stops, route


def grids_only(scenario: Scenario, *, out_dir: Path | None = None) -> GridStep:
    """Generate (or check) grids without the rest of the plan and write their files:
    ``grids.<ext>`` per requested format, ``grids_by_village.csv`` and, for a user grid
    layer, ``grid_issues.gpkg``. They replace the grid files of the output folder; its
    other files (a ``planner run``'s) are kept (:func:`~planner.staging.staged_output`)."""
    from planner.outputs.files import write_csv, write_gpkg
    from planner.outputs.staging import staged_output
    from planner.outputs.writers import write_grids
    from planner.preflight import preflight

    preflight(scenario, out_dir=out_dir, need_levels=False)
    layers = load_layers(scenario, kinds=("villages", "village_areas", "townships", "grids"))
    step = make_grids(scenario, layers)
    folder = out_dir or scenario.out_dir
    with staged_output(folder, command="grids", scenario=scenario.scenario.name) as staging:
        write_grids(step.grids, staging, outputs=scenario.outputs)
        if step.by_village is not None:
            write_csv(staging / "grids_by_village.csv", step.by_village)
        if step.issues is not None:
            write_gpkg(
                staging / "grid_issues.gpkg", {"grid_issues": step.issues}, crs=scenario.outputs.crs
            )
    return step
