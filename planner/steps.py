"""The scenario's settings handed to each step: the one place that knows the scenario.

Every step is a function on GeoDataFrames with its own settings (coverage per level in
:mod:`planner.catchment`, grids in :mod:`planner.grids`, siting in :mod:`planner.siting`,
standards in :mod:`planner.standards`); the functions here read what each needs from a
:class:`~planner.scenario.Scenario` and the layers it names, so that
:func:`planner.pipeline.run` is a plain sequence of steps.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import pandas as pd

from planner.added_centers import add_centers
from planner.catchment import (
    CoverageLevels,
    LevelResult,
    catchments,
    centers_serving,
    circle_service_areas,
    combine_parts,
    county_of,
    level_coverage,
    level_summary,
    rates,
    township_of,
)
from planner.errors import warn
from planner.layers import LayerSet
from planner.network import RoadNetwork, build_network
from planner.progress import progress
from planner.road_coverage import RoadSearch, network_options
from planner.scenario import Scenario
from planner.service_load import ServiceLoad, service_load
from planner.siting.expansion_step import kept_centers
from planner.siting.proposals import SitingOutcome, propose_for, with_proposals

logger = logging.getLogger(__name__)


def coverage_levels(scenario: Scenario) -> CoverageLevels:
    """The scenario's levels with the center levels serving each."""
    order = scenario.ordered_levels()
    return CoverageLevels(
        specs={level: scenario.levels[level] for level in order},
        serving={level: scenario.serving_groups(level) for level in order},
    )


def compute_levels(
    villages: gpd.GeoDataFrame,
    centers: gpd.GeoDataFrame | None,
    levels: CoverageLevels,
    *,
    roads: RoadSearch | None = None,
) -> dict[str, LevelResult]:
    """Coverage of every level (along ``roads`` for levels measured on the road network)."""
    results = {}
    for level in progress(levels.order, desc="coverage"):
        parts = [
            level_coverage(villages, centers_serving(centers, serving), level, spec, network=roads)
            for serving, spec in levels.serving[level]
        ]
        if not any(len(part.centers) for part in parts):
            warn(f"level {level}: no centers of this level")
        results[level] = (
            parts[0] if len(parts) == 1 else combine_parts(level, levels.specs[level], parts)
        )
    return results


def access_scores(
    scenario: Scenario,
    layers: LayerSet,
    results: dict[str, LevelResult],
    roads: RoadSearch | None,
) -> dict[str, Any]:
    """``[access]``: accessibility of every village at the levels it names (every level
    by default); empty without ``[access]``."""
    settings = scenario.access
    if settings is None:
        return {}
    from planner.accessibility.geo import level_access, require_column

    if settings.supply is not None and (centers := layers.get("centers")) is not None:
        require_column(centers, settings.supply, "[access] supply")
    levels = [lvl for lvl in results if settings.levels is None or lvl in settings.levels]
    return {
        lvl: level_access(layers["villages"], results[lvl], settings, roads=roads)
        for lvl in levels
    }


def road_network(scenario: Scenario, layers: LayerSet) -> RoadNetwork | None:
    """The routable network when a level uses road distances, else ``None``."""
    if not any(spec.mode == "network" for spec in scenario.levels.values()):
        return None
    net = build_network(layers["roads"].drop(columns="_row"), **network_options(scenario.network))
    dropped = "".join(
        f"; {k.replace('_', ' ')} {v:,}"
        for k, v in net.report.items()
        if isinstance(v, int) and v and k.startswith(("dropped", "fragment"))
    )
    logger.info(f"road network: {net.n_nodes:,} nodes, {len(net.edges):,} edges{dropped}")
    return net


def road_search(scenario: Scenario, layers: LayerSet) -> RoadSearch | None:
    """Road distances for the coverage step, when a level is measured along roads."""
    net = road_network(scenario, layers)
    if net is None:
        return None
    return RoadSearch(net, layers["villages"], scenario.network.max_access_m)


def centers_with_catchments(layers: LayerSet, results: dict[str, LevelResult]) -> gpd.GeoDataFrame:
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


def village_units(villages: gpd.GeoDataFrame, layers: LayerSet) -> tuple[pd.Series, pd.Series]:
    """Township and county code of every village (aligned on ``villages``)."""
    townships = layers.get("townships")
    # as stated, else the township polygon, else the first 9 digits of an NBS village code
    township = township_of(villages, townships).fillna(
        villages["id"].astype("string").str.slice(0, 9)
    )
    return township, county_of(villages.assign(township_id=township), townships)


def coverage_tables(
    villages: gpd.GeoDataFrame,
    results: dict[str, LevelResult],
    units: tuple[pd.Series, pd.Series],
) -> dict[str, pd.DataFrame]:
    """Coverage rates per township and per county (``units``: :func:`village_units`), every
    level."""
    township, county = units
    return {
        "coverage_by_township": rates(villages, results, township, "township_id"),
        "coverage_by_county": rates(villages, results, county, "county_id"),
    }


def service_load_step(
    scenario: Scenario,
    villages: gpd.GeoDataFrame,
    results: dict[str, LevelResult],
    units: tuple[pd.Series, pd.Series],
) -> ServiceLoad:
    """Adequacy (with the ``m2_per_1000`` of the planner, the profile, then the scenario)
    and equity (``[equity] worst`` villages listed per level) per township and county
    (``units``: :func:`village_units`)."""
    from planner.adequacy import adequacy_rules

    choice = scenario.standards.file or scenario.standards.profile
    profile = None
    if choice is not None:
        from planner.standards.profiles import load_profile

        profile = load_profile(choice, base_dir=scenario.base_dir).adequacy.m2_per_1000
    township, county = units
    return service_load(
        villages,
        results,
        township=township,
        county=county,
        rules=adequacy_rules(profile, scenario.adequacy.m2_per_1000),
        worst=scenario.equity.worst,
    )


def service_areas(
    results: dict[str, LevelResult], crs: Any, roads: RoadSearch | None
) -> gpd.GeoDataFrame:
    """Circles for straight-line levels, reach polygons for road levels (all road groups
    in one :meth:`RoadSearch.service_areas_of`, so their geometry work overlaps)."""
    groups = [group for res in results.values() for group in res.groups if len(group.centers)]
    road = [group.spec.mode == "network" and roads is not None for group in groups]
    by_road = [group for group, on in zip(groups, road, strict=True) if on]
    reach = iter(roads.service_areas_of(by_road) if roads is not None else [])
    parts = [
        next(reach) if on else circle_service_areas(group)
        for group, on in zip(groups, road, strict=True)
    ]
    if not parts:
        return gpd.GeoDataFrame({"center_id": [], "level": []}, geometry=[], crs=crs)
    return gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs=crs)


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
    #: data warnings of the step, raised by :meth:`report` (in the caller's thread)
    notes: list[str] = field(default_factory=list)

    def report(self) -> GridStep:
        """Warn of each of :attr:`notes`; the step itself."""
        for note in self.notes:
            warn(note)
        return self


def make_grids(scenario: Scenario, layers: LayerSet) -> GridStep:
    """:func:`build_grids` with its warnings raised."""
    return build_grids(scenario, layers).report()


def build_grids(scenario: Scenario, layers: LayerSet) -> GridStep:
    """Check the user's grid layer when one is given, else generate grids; nothing is
    warned (the warnings are in ``notes``), so this may run in a worker thread.

    Village polygons come from ``village_areas``; without them they are derived from the
    village points and township polygons (and a warning says so).
    """
    from planner.grids import check_grids, derive_village_areas, generate_grids

    settings = scenario.grids
    areas = layers.get("village_areas")
    if not settings.enabled:
        return GridStep(None, None, None, {})
    if areas is None and layers.get("townships") is None:
        reason = "no [layers.village_areas] or [layers.townships] to take village boundaries from"
        return GridStep(None, None, None, {"skipped": reason}, [f"grids skipped: {reason}"])
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
    stats = {"source": "generated", "derived_village_areas": result.derived_areas, **result.stats}
    notes = [f"grids: {note}" for note in result.warnings]
    return GridStep(result.grids, None, result.villages, stats, notes)


def after_levels(
    layers: LayerSet,
    siting: SitingOutcome,
    before: dict[str, LevelResult],
    levels: Callable[[gpd.GeoDataFrame | None, CoverageLevels], dict[str, LevelResult]],
    coverage: CoverageLevels,
) -> dict[str, Any]:
    """Coverage per level with every proposal built (``before`` when there is none).

    Only the levels that a kind of proposal serves (sub-centers, stations) change: ``levels``
    measures them from the proposed sites alone, and each village keeps the nearer of its
    center ``before`` and its nearest proposal (:func:`planner.added_centers.add_centers`).
    When relocations close stations, those levels are measured again on the centers left
    with the proposals.
    """
    villages = layers["villages"]
    results = dict(before)
    kinds = set(siting.proposals["kind"]) if not siting.proposals.empty else set()
    redo = [
        lvl
        for lvl in coverage.order
        if any(kinds.intersection(group) for group, _ in coverage.serving[lvl])
    ]
    if redo:
        subset = CoverageLevels(
            specs={lvl: coverage.specs[lvl] for lvl in redo},
            serving={lvl: coverage.serving[lvl] for lvl in redo},
        )
        kept = kept_centers(layers.get("centers"), siting.proposals)
        if kept is not None:  # relocations close stations: measure these levels again
            results.update(levels(with_proposals(kept, siting.proposals), subset))
            return {lvl: level_summary(villages, res) for lvl, res in results.items()}
        new = with_proposals(None, siting.proposals)
        added = levels(new, subset)
        for lvl in redo:
            groups = [group for group, _ in coverage.serving[lvl]]
            results[lvl] = add_centers(before[lvl], added[lvl], layers.get("centers"), new, groups)
    return {lvl: level_summary(villages, res) for lvl, res in results.items()}


def propose(
    scenario: Scenario,
    layers: LayerSet,
    *,
    roads: RoadSearch | None,
    grids: gpd.GeoDataFrame | None = None,
) -> SitingOutcome:
    """Sub-centers and stations proposed with the scenario's ``[levels]``, ``[siting]`` and
    language, on its layers (and the generated ``grids`` when stations go on grids)."""
    return propose_for(
        layers["villages"],
        levels=scenario.levels,
        siting=scenario.siting,
        centers=layers.get("centers"),
        merged_townships=layers.get("merged_townships"),
        candidates=layers.get("candidates"),
        townships=layers.get("townships"),
        grids=grids,
        roads=roads,
        lang=scenario.outputs.lang,
    )
