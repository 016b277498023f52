"""``run(scenario) -> Plan``: read the scenario's layers and run every step on them.

Nothing is written here: :func:`planner.outputs.writers.write_outputs` writes a plan's
files. :mod:`planner.steps` hands each step its own settings from the scenario; the steps
themselves are functions on GeoDataFrames in their own modules. :func:`grid_plan` and
:func:`inspection_plan` are the two smaller runs behind ``planner grids`` and
``planner inspect``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from functools import partial
from typing import Any, TypeVar

import geopandas as gpd

from planner.audit import full_coverage_audit
from planner.catchment import CoverageLevels, LevelResult, annotate_villages, gaps
from planner.errors import PlannerError, warn
from planner.layers import LayerSet, load_layers
from planner.memory import release_memory
from planner.plan import Plan, peak_memory_mb, proposal_list, solver_summary, summarize
from planner.preflight import preflight
from planner.progress import Steps
from planner.road_coverage import RoadSearch, network_options
from planner.scenario import Scenario
from planner.siting.proposals import SitingOutcome
from planner.steps import (
    GridStep,
    access_scores,
    after_levels,
    build_grids,
    centers_with_catchments,
    check_compliance,
    compute_levels,
    coverage_levels,
    coverage_tables,
    make_grids,
    propose,
    road_search,
    service_areas,
    service_load_step,
    village_units,
)

logger = logging.getLogger(__name__)
T = TypeVar("T")

#: Engines of the coverage step: in this process, or partitioned by county on Dask.
ENGINES = ("inprocess", "dask")

#: The steps of :func:`run`, timed in ``plan.timings``
RUN_STEPS = (
    "read layers", "road network", "coverage", "access", "audit", "standards", "grids", "siting",
    "service areas", "tables",
)  # fmt: skip

#: Levels of a run, computed for a set of centers (the existing ones, or with proposals)
LevelRunner = Callable[[gpd.GeoDataFrame | None, CoverageLevels], dict[str, LevelResult]]


def run(scenario: Scenario, *, engine: str = "inprocess", scheduler: str | None = None) -> Plan:
    """Run every step of the scenario; nothing is written.

    Parameters
    ----------
    scenario
        A validated scenario (:func:`planner.scenario.load_scenario`).
    engine
        ``"inprocess"`` (default) or ``"dask"``: the coverage step partitioned by county
        on a Dask cluster (:mod:`planner.distributed`); same results.
    scheduler
        Address of a running Dask scheduler (``"tcp://host:8786"``) for ``engine="dask"``;
        without it a local cluster sized to the machine is started and closed at the end.

    Returns
    -------
    Plan
        Every result; write its files with :func:`planner.outputs.writers.write_outputs`.

    Raises
    ------
    PlannerError
        An unknown engine, a scheduler without the Dask engine, or a scheduler that
        cannot be reached; :class:`~planner.errors.ValidationError` for bad input.

    Notes
    -----
    The summary records the ``engine``, and ``peak_memory_mb``, the peak resident memory
    of this process so far (Dask workers excluded); ``plan.timings`` holds seconds per
    step. :func:`~planner.outputs.writers.write_outputs` adds its own time and memory.
    """
    preflight(scenario, write=False)  # everything checkable before reading a layer
    if engine not in ENGINES:
        raise PlannerError(f"engine must be one of {', '.join(ENGINES)}; got {engine!r}")
    if scheduler is not None and engine != "dask":
        raise PlannerError("a scheduler address needs the Dask engine (--engine dask)")
    with ExitStack() as stack:
        client = None
        if engine == "dask":
            from planner.distributed import dask_client

            client = stack.enter_context(dask_client(scheduler))
        return _run(scenario, client=client)


def _run(scenario: Scenario, *, client: Any) -> Plan:
    timer = Steps(len(RUN_STEPS) - (scenario.access is None), desc="plan")
    try:
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="planner-step") as background:
            plan = _run_steps(scenario, client, timer, background)
    finally:
        timer.close()
    release_memory()
    plan.timings = {step: timer.seconds[step] for step in RUN_STEPS if step in timer.seconds}
    plan.summary["peak_memory_mb"] = peak_memory_mb()
    return plan


def _in_background(
    background: ThreadPoolExecutor, timer: Steps, name: str, func: Callable[..., T], *args: Any
) -> Future[T]:
    """Run a step that warns of nothing in the worker thread, timed under its own name."""

    def timed() -> T:
        with timer.step(name):
            return func(*args)

    return background.submit(timed)


def _run_steps(
    scenario: Scenario, client: Any, timer: Steps, background: ThreadPoolExecutor
) -> Plan:
    """The steps in order; grids and the service areas are computed in two worker threads,
    beside the road network, coverage and siting and beside each other (GEOS, GDAL and
    most numpy work release the GIL). Their warnings are raised here, in this thread."""
    with timer.step("read layers"):
        layers = load_layers(scenario)
        release_memory()  # reading leaves a third of its peak free but held
    for problem in layers.warnings:
        warn(str(problem))
    grids = _in_background(background, timer, "grids", _grid_step(client), scenario, layers)
    with timer.step("road network"):
        roads = road_search(scenario, layers)
    levels = _level_runner(scenario, layers, roads, client)
    coverage = coverage_levels(scenario)
    with timer.step("coverage"):
        results = levels(layers.get("centers"), coverage)
        villages = annotate_villages(layers["villages"].drop(columns="_row"), results)
        release_memory()
    areas = _in_background(
        background, timer, "service areas", service_areas, results, layers.crs, roads
    )
    access: dict[str, Any] = {}
    if scenario.access is not None:
        from planner.accessibility.results import villages_with_access

        with timer.step("access"):
            access = access_scores(scenario, layers, results, roads)
            villages = villages_with_access(villages, access)
    with timer.step("audit"):
        audit = full_coverage_audit(layers.frames)
    with timer.step("standards"):
        centers = centers_with_catchments(layers, results)
        centers, compliance = check_compliance(scenario, centers)
        release_memory()
    if access:
        from planner.accessibility.results import centers_with_ratios

        centers = centers_with_ratios(centers, access)
    with timer.step("siting"):
        on_grids = _stations_on_grids(scenario)
        grid_result = grids.result().report() if on_grids else None
        siting = propose(
            scenario, layers, roads=roads, grids=grid_result.grids if grid_result else None
        )
        after = after_levels(layers, siting, results, levels, coverage)
    with timer.step("tables"):
        if grid_result is None:
            grid_result = grids.result().report()
        units = village_units(villages, layers)
        plan = Plan(
            scenario=scenario,
            layers=layers,
            levels=results,
            villages=villages,
            centers=centers,
            compliance=compliance,
            service_areas=areas.result(),
            gaps=gaps(villages, results),
            audit=audit,
            tables=coverage_tables(villages, results, units),
            grids=grid_result.grids,
            grid_issues=grid_result.issues,
            proposals=siting.proposals,
            budget_curve=siting.budget_curve,
            after=after,
            access=access,
        )
        _add_tables(plan, grid_result)
        load = service_load_step(scenario, villages, results, units)
        plan.tables.update(load.tables)
        plan.summary = _summary(plan, grid_result, siting, engine="dask" if client else "inprocess")
        plan.summary.update(load.summary)
    return plan


def _grid_step(client: Any) -> Callable[[Scenario, LayerSet], GridStep]:
    """Grids in this process, or partitioned by county on Dask."""
    if client is None:
        return build_grids
    from planner.distributed import build_grids_dask

    return partial(build_grids_dask, client=client)


def _stations_on_grids(scenario: Scenario) -> bool:
    """True when siting needs the grids (stations proposed on them): only then does it
    wait for the grid step, which otherwise runs beside it."""
    stations = scenario.siting.stations
    return stations.enabled and stations.candidates == "grids"


def _level_runner(
    scenario: Scenario, layers: LayerSet, roads: RoadSearch | None, client: Any
) -> LevelRunner:
    """Coverage of the scenario's levels for a set of centers, in this process or on Dask."""
    villages = layers["villages"]
    if client is None:
        return lambda centers, levels: compute_levels(villages, centers, levels, roads=roads)
    from planner.distributed import CoverageSession

    return CoverageSession(
        villages,
        network=scenario.network,
        roads=layers.get("roads"),
        townships=layers.get("townships"),
        client=client,
    )


def _add_tables(plan: Plan, grid_step: GridStep) -> None:
    """Tables beside the coverage rates: grids per village, compliance per unit."""
    if grid_step.by_village is not None:
        plan.tables["grids_by_village"] = grid_step.by_village
    if plan.compliance is not None:
        from planner.standards.summary import summarize_compliance

        centers = plan.centers  # units completed from the polygons when the layers were read
        scopes = [
            c for c in ("county_id", "township_id") if c in centers and centers[c].notna().any()
        ]
        plan.tables["compliance_by_township"] = summarize_compliance(
            plan.compliance, centers, by=scopes
        )


def _summary(
    plan: Plan, grid_step: GridStep, siting: SitingOutcome, *, engine: str
) -> dict[str, Any]:
    """``summary.json`` but for the timings and memory of the run."""
    return {
        **summarize(plan),
        "grids": grid_step.stats,
        "after": {"levels": plan.after},
        "proposals": proposal_list(siting.proposals),
        "solver": solver_summary(siting.solver),
        "skipped": _skipped(plan.scenario, plan.centers, grid_step, siting),
        "engine": engine,
    }


def _skipped(
    scenario: Scenario, centers: gpd.GeoDataFrame, grid_step: GridStep, siting: SitingOutcome
) -> dict[str, str]:
    """Steps the scenario asks for that could not run on this input, each with its reason
    in one line (already logged as a warning, but for the standards named here)."""
    skipped = {}
    if (scenario.standards.file or scenario.standards.profile) and centers.empty:
        skipped["standards"] = "no centers to check (no [layers.centers], or it is empty)"
        warn(f"standards skipped: {skipped['standards']}")
    if "skipped" in grid_step.stats:
        skipped["grids"] = str(grid_step.stats["skipped"])
    return skipped | siting.skipped


def grid_plan(scenario: Scenario) -> GridStep:
    """Generate (or check) grids without the rest of the plan; nothing is written
    (:func:`planner.outputs.writers.write_grid_outputs` writes them)."""
    preflight(scenario, write=False, need_levels=False)
    layers = load_layers(scenario, kinds=("villages", "village_areas", "townships", "grids"))
    return make_grids(scenario, layers)


def inspection_plan(
    scenario: Scenario, *, sample: int, seed: int
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Sample centers for an unannounced inspection round and route them.

    Centers are checked against the scenario's standard first so that non-compliant and
    unknown centers are drawn more often. The visiting order follows driving distances on
    the road network when the scenario has roads, straight lines otherwise. Nothing is
    written (:func:`planner.outputs.writers.write_inspection` writes the round).

    Returns
    -------
    tuple of GeoDataFrame
        The stops in visiting order, and the route through them.
    """
    from planner.network import build_network
    from planner.standards.inspection import inspection_round, road_cost

    preflight(scenario, write=False, need_levels=False)
    layers = load_layers(scenario, kinds=("centers", "townships", "counties", "roads"))
    centers, _ = check_compliance(scenario, layers["centers"].drop(columns="_row"))
    cost = None
    if "roads" in layers:
        roads = layers["roads"].drop(columns="_row")
        cost = road_cost(build_network(roads, **network_options(scenario.network)), mode="drive")
    return inspection_round(centers, sample, seed=seed, cost=cost)
