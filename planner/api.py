"""The public functions of :mod:`planner`: each step on GeoDataFrames, safe in any CRS.

Every function checks its input with :mod:`planner.validate` (GeoDataFrame, CRS,
columns, options) and raises :class:`~planner.errors.PlannerError` naming the argument;
geographic layers are projected to a metric working CRS, so nothing is measured in
degrees. Results are aligned on the input index.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pydantic

from planner import validate as v
from planner.catchment import level_coverage
from planner.errors import PlannerError, warn
from planner.grids import (
    RURAL_HOUSEHOLDS_PER_GRID,
    RURAL_WORKERS_PER_GRID,
    URBAN_HOUSEHOLDS_PER_GRID,
    URBAN_WORKERS_PER_GRID,
    GridResult,
)
from planner.grids import check_grids as _check_grids
from planner.grids import generate_grids as _generate_grids
from planner.network import MODES, RoadNetwork
from planner.network import build_network as _build_network
from planner.road_coverage import RoadSearch
from planner.scenario import NOMINAL_SPEED_KPH, LevelSpec, NetworkSettings
from planner.siting.site_choice import ChosenSite, SitingCertificate, choose_sites, reach_matrix

__all__ = [
    "SitingCertificate",
    "build_network",
    "check_grids",
    "coverage",
    "generate_grids",
    "propose_sites",
]

COVERAGE_MODES = ("euclidean", "network")


def coverage(
    villages: gpd.GeoDataFrame,
    centers: gpd.GeoDataFrame,
    *,
    radius_m: float | None = None,
    minutes: float | None = None,
    mode: str = "euclidean",
    travel: str = "walk",
    network: RoadNetwork | None = None,
) -> gpd.GeoDataFrame:
    """Nearest center of every village, its distance, and whether it is within reach.

    Parameters
    ----------
    villages
        Village points (polygons stand for a point inside each), any CRS.
    centers
        Center points (or polygons); ``id`` names them, else their index labels do.
    radius_m, minutes
        The service radius: give exactly one. ``minutes`` along roads is travel time at
        the network's speeds for ``travel``; by straight line it is distance at the
        nominal speed of ``travel`` (walk 5, bike 15, drive 40 km/h).
    mode
        ``"euclidean"`` (straight line) or ``"network"`` (along roads; needs ``network``).
    travel
        ``"walk"``, ``"bike"`` or ``"drive"``: the roads usable and their speeds.
    network
        A road network from :func:`build_network`; its CRS is then the working CRS.

    Returns
    -------
    geopandas.GeoDataFrame
        On the villages' index, with their geometry: ``center_id`` (missing when no
        center was found), ``distance_m`` (metres, along roads for ``"network"``),
        ``minutes`` (when ``minutes`` is given) and ``covered``. Road searches stop at
        twice the radius, as in :func:`planner.run`; beyond it ``center_id`` and the
        distance are missing.

    Raises
    ------
    PlannerError
        A layer without CRS or geometry, neither or both of ``radius_m`` and ``minutes``,
        an unknown ``mode``/``travel``, ``mode="network"`` without ``network``.

    Examples
    --------
    >>> import geopandas as gpd, planner as pl
    >>> from shapely.geometry import Point
    >>> villages = gpd.GeoDataFrame(geometry=[Point(122.0, 43.6), Point(123.0, 43.6)],
    ...                             index=["near", "far"], crs="EPSG:4326")
    >>> centers = gpd.GeoDataFrame({"id": ["C1"]}, geometry=[Point(122.01, 43.6)],
    ...                            crs="EPSG:4326")
    >>> result = pl.coverage(villages, centers, radius_m=5000)
    >>> result["covered"].to_dict()
    {'near': True, 'far': False}
    >>> round(result.loc["near", "distance_m"])
    807
    """
    which = v.one_of({"radius_m": radius_m, "minutes": minutes})
    limit = v.positive(radius_m if which == "radius_m" else minutes, which)
    mode = v.choice(mode, COVERAGE_MODES, "mode")
    travel = v.choice(travel, MODES, "travel")
    net = v.network_for(mode, network)
    layers = {"villages": v.layer(villages, "villages"), "centers": v.layer(centers, "centers")}
    spec = _level_spec(which, limit, mode, travel)
    if not len(centers):
        warn("centers is empty: no village is covered")
    if not len(villages) or not len(centers):
        n = len(villages)
        none = np.full(n, None, dtype=object)
        return _coverage_frame(villages, none, np.full(n, np.nan), np.full(n, np.nan), spec)
    work = v.to_common_crs(layers, crs=None if net is None else net.crs)
    center_id, dist_m, time_s, covered = _nearest(work, spec, net)
    return _coverage_frame(villages, center_id, dist_m, time_s, spec, covered)


def _nearest(
    work: Mapping[str, gpd.GeoDataFrame], spec: LevelSpec, net: RoadNetwork | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Nearest center id, metres, seconds and whether covered, of every village."""
    here = v.point_frame(work["villages"], "villages")
    there = v.point_frame(work["centers"], "centers")
    search = None if net is None else RoadSearch(net, here, NetworkSettings().max_access_m)
    res = level_coverage(here, there, "coverage", spec, network=search)
    found = res.nearest.index
    ids = there["id"].to_numpy(dtype=object)[np.maximum(found, 0)]
    center_id = np.asarray(np.where(found >= 0, ids, None), dtype=object)
    time_s = res.nearest.time_s
    if not spec.uses_time:
        time_s = res.nearest.dist_m / (NOMINAL_SPEED_KPH[spec.travel] / 3.6)
    return center_id, res.nearest.dist_m, time_s, res.covered


def _level_spec(which: str, limit: float, mode: str, travel: str) -> LevelSpec:
    try:
        return LevelSpec.model_validate({which: limit, "mode": mode, "travel": travel})
    except pydantic.ValidationError as exc:  # a limit out of the scenario's range
        raise PlannerError(f"{which}={limit!r}: {exc.errors()[0]['msg']}") from None


def _coverage_frame(
    villages: gpd.GeoDataFrame,
    center_id: np.ndarray,
    dist_m: np.ndarray,
    time_s: np.ndarray,
    spec: LevelSpec,
    covered: np.ndarray | None = None,
) -> gpd.GeoDataFrame:
    columns: dict[str, Any] = {"center_id": center_id, "distance_m": np.asarray(dist_m, float)}
    if spec.minutes is not None:
        columns["minutes"] = np.asarray(time_s, float) / 60.0
    columns["covered"] = np.zeros(len(villages), bool) if covered is None else covered
    frame = pd.DataFrame(columns, index=villages.index)
    return gpd.GeoDataFrame(frame, geometry=villages.geometry.to_numpy(), crs=villages.crs)


def build_network(
    roads: gpd.GeoDataFrame,
    *,
    tolerance_m: float = 1.0,
    min_component_nodes: int = 10,
    speeds: Mapping[str, Mapping[str, float]] | None = None,
) -> RoadNetwork:
    """A routable road network from road lines in any CRS.

    Parameters
    ----------
    roads
        LineStrings/MultiLineStrings; optional ``highway``, ``maxspeed``, ``oneway``,
        ``name``, ``layer`` columns (see :func:`planner.network.build_network`). A
        geographic layer is projected to its metric working CRS first.
    tolerance_m
        Dangling line ends this close to another line are joined to it.
    min_component_nodes
        Connected parts with fewer nodes are dropped.
    speeds
        Overrides of the speed table, ``{mode: {highway class: km/h}}``.

    Returns
    -------
    planner.network.RoadNetwork
        Its ``crs`` is the metric CRS the roads were projected to.

    Examples
    --------
    >>> import geopandas as gpd, planner as pl
    >>> from shapely.geometry import LineString
    >>> roads = gpd.GeoDataFrame(geometry=[LineString([(122.0, 43.6), (122.1, 43.6)])],
    ...                          crs="EPSG:4326")
    >>> net = pl.build_network(roads, min_component_nodes=1)
    >>> net.crs.to_epsg(), round(float(net.edges["length"].sum()))
    (4550, 8075)
    """
    roads = v.layer(roads, "roads", empty_ok=False)
    work = v.to_common_crs({"roads": roads})["roads"]
    return _build_network(
        work, tolerance_m=tolerance_m, min_component_nodes=min_component_nodes, speeds=speeds
    )


def propose_sites(
    villages: gpd.GeoDataFrame,
    candidates: gpd.GeoDataFrame,
    *,
    radius_m: float,
    budget: int | None = None,
    target_coverage: float | None = None,
    existing: gpd.GeoDataFrame | None = None,
    network: RoadNetwork | None = None,
    capacity: float | None = None,
    travel: str = "walk",
    weights: str | None = "population",
    time_limit: float = 60.0,
) -> tuple[gpd.GeoDataFrame, SitingCertificate]:
    """Where to build new sites so that more people live within ``radius_m`` of one.

    Parameters
    ----------
    villages
        Demand points (or polygons), weighted by ``weights``.
    candidates
        Places a site could go (points or polygons), with a unique index.
    radius_m
        Service radius of a site, metres (along roads with ``network``).
    budget
        Open at most this many new sites, covering the most population (maximal
        covering). With neither ``budget`` nor ``target_coverage``: the fewest sites
        covering every village any candidate can reach (set covering).
    target_coverage
        Open the fewest sites that bring the covered share of the total population to
        this value (0 < share ≤ 1).
    existing
        Centers open already: villages within their radius need no new site.
    network
        Measure along roads (see :func:`build_network`) with ``travel``'s roads.
    capacity
        Most population one site (existing ones included) can serve; needs ``budget``.
    travel
        ``"walk"``, ``"bike"`` or ``"drive"`` along the roads of ``network``.
    weights
        Column of ``villages`` with their population (blank counts 0, with a warning);
        ``None`` counts every village once.
    time_limit
        Seconds for the solver.

    Returns
    -------
    (geopandas.GeoDataFrame, SitingCertificate)
        The chosen candidates, on their index and in rank order, with ``rank``,
        ``new_population_covered`` and ``new_villages_covered`` (what each adds when
        added in turn; capacitated: what each serves); sites that would add nobody are
        left out. And the solver's certificate.

    Raises
    ------
    PlannerError
        Bad layers or options, ``budget`` with ``target_coverage``, ``capacity`` without
        ``budget``, a target no choice of candidates reaches.

    Examples
    --------
    >>> import geopandas as gpd, planner as pl
    >>> from shapely.geometry import Point
    >>> villages = gpd.GeoDataFrame({"population": [100, 250, 40]},
    ...     geometry=[Point(0, 0), Point(3000, 0), Point(9000, 0)], crs="EPSG:4549")
    >>> sites = gpd.GeoDataFrame(geometry=[Point(1500, 0), Point(8000, 0)],
    ...                          index=["school", "clinic"], crs="EPSG:4549")
    >>> chosen, cert = pl.propose_sites(villages, sites, radius_m=2000, budget=1)
    >>> chosen.index.tolist(), chosen["new_population_covered"].tolist()
    (['school'], [350.0])
    >>> cert.status, cert.objective, cert.gap
    ('optimal', 350.0, 0.0)
    """
    v.siting_options(budget, target_coverage, capacity)
    radius = v.positive(radius_m, "radius_m")
    limit = v.positive(time_limit, "time_limit")
    travel = v.choice(travel, MODES, "travel")
    net = v.network_for("euclidean" if network is None else "network", network)
    layers = {
        "villages": v.layer(villages, "villages", empty_ok=False),
        "candidates": v.layer(candidates, "candidates", empty_ok=False),
    }
    if existing is not None:
        layers["existing"] = v.layer(existing, "existing")
    v.unique_index(candidates, "candidates")
    w = v.weights(villages, "villages", weights)
    work = v.to_common_crs(layers, crs=None if net is None else net.crs)
    n_fixed = len(existing) if existing is not None else 0
    sites = pd.concat(
        [v.points(work[k], k) for k in ("existing", "candidates") if k in work], ignore_index=True
    )
    cost = reach_matrix(v.points(work["villages"], "villages"), sites, radius, net, travel)
    chosen, cert = choose_sites(
        cost, w, n_fixed=n_fixed, budget=budget, target=target_coverage, capacity=capacity,
        time_limit=limit,
    )  # fmt: skip
    return _chosen_frame(candidates, chosen, n_fixed), cert


def _chosen_frame(
    candidates: gpd.GeoDataFrame, chosen: list[ChosenSite], n_fixed: int
) -> gpd.GeoDataFrame:
    out = candidates.iloc[[c.site - n_fixed for c in chosen]].copy()
    out["rank"] = np.arange(1, len(chosen) + 1)
    out["new_population_covered"] = np.array([c.population for c in chosen], dtype=float)
    out["new_villages_covered"] = np.array([c.villages for c in chosen], dtype=np.int64)
    return out


def generate_grids(
    village_areas: gpd.GeoDataFrame | None = None,
    *,
    villages: gpd.GeoDataFrame | None = None,
    townships: gpd.GeoDataFrame | None = None,
    households_per_grid: float | None = None,
    population_per_grid: float | None = None,
    rural_households_per_grid: float = RURAL_HOUSEHOLDS_PER_GRID,
    urban_households_per_grid: float = URBAN_HOUSEHOLDS_PER_GRID,
    rural_workers_per_grid: float = RURAL_WORKERS_PER_GRID,
    urban_workers_per_grid: float = URBAN_WORKERS_PER_GRID,
    points: gpd.GeoDataFrame | None = None,
    lang: str = "zh",
) -> GridResult:
    """Split every village polygon into balanced, compact grids numbered with 15-digit codes.

    Parameters
    ----------
    village_areas
        Village polygons with ``id`` (the 12-digit village code the grid codes extend),
        optional ``name``, ``households``, ``population``, ``urban``. ``None`` derives
        them from ``villages`` and ``townships`` (Voronoi cells clipped to townships).
    villages
        Village points with ``id``; supply attributes the areas lack (joined on ``id``).
    townships
        Township polygons with ``id``, needed when ``village_areas`` is ``None``.
    households_per_grid, population_per_grid
        One target for every village (at most one of them); by default the rural and
        urban household targets apply.
    rural_households_per_grid, urban_households_per_grid
        Default household targets of villages and of urban communities (``urban``).
    rural_workers_per_grid, urban_workers_per_grid
        Grid workers per grid of target size.
    points
        Household or building points that steer where the cuts go.
    lang
        ``"zh"`` or ``"en"`` grid names.

    Returns
    -------
    planner.grids.GridResult
        ``grids`` (in the metric CRS of the first layer given), ``villages`` (one row per
        village), ``stats``; each input problem worked around is also a
        :class:`PlannerWarning`.

    Examples
    --------
    >>> import geopandas as gpd, planner as pl
    >>> from shapely.geometry import box
    >>> areas = gpd.GeoDataFrame({"id": ["150521100201"], "households": [90]},
    ...                          geometry=[box(0, 0, 900, 300)], crs="EPSG:4549")
    >>> result = pl.generate_grids(areas, households_per_grid=30)
    >>> result.grids["id"].tolist()
    ['150521100201001', '150521100201002', '150521100201003']
    """
    given = {"village_areas": village_areas, "villages": villages, "townships": townships}
    layers = {
        name: v.layer(frame, name, columns=("id",), empty_ok=name != "village_areas")
        for name, frame in given.items()
        if frame is not None
    }
    if points is not None:
        layers["points"] = v.layer(points, "points")
    if not layers:
        raise PlannerError("give village_areas, or villages and townships to derive them from")
    work = v.to_common_crs(layers)
    if "villages" in work:
        work["villages"] = work["villages"].set_geometry(v.points(work["villages"], "villages"))
    result = _generate_grids(
        work.get("village_areas"), work.get("villages"), townships=work.get("townships"),
        households_per_grid=households_per_grid, population_per_grid=population_per_grid,
        rural_households_per_grid=rural_households_per_grid,
        urban_households_per_grid=urban_households_per_grid,
        rural_workers_per_grid=rural_workers_per_grid,
        urban_workers_per_grid=urban_workers_per_grid,
        points=work.get("points"), lang=v.choice(lang, ("zh", "en"), "lang"),
    )  # fmt: skip
    for note in result.warnings:
        warn(f"grids: {note}")
    return result


def check_grids(
    grids: gpd.GeoDataFrame,
    village_areas: gpd.GeoDataFrame,
    *,
    sliver_area_m2: float = 100.0,
    sliver_thinness: float = 0.05,
    min_area_m2: float = 1.0,
) -> gpd.GeoDataFrame:
    """Check a grid layer against village polygons: one row per issue, with its place.

    Parameters
    ----------
    grids
        Grid polygons with ``id`` (15 digits) and ``village_id``; missing codes are
        reported as issues.
    village_areas
        Village polygons with ``id``.
    sliver_area_m2, sliver_thinness
        Grids smaller than this area or less compact than this (Polsby-Popper) are slivers.
    min_area_m2
        Gaps, overlaps and crossings smaller than this are measurement noise.

    Returns
    -------
    geopandas.GeoDataFrame
        ``kind`` (``invalid``, ``code``, ``unknown_village``, ``crossing``, ``gap``,
        ``overlap``, ``sliver``, ``no_grid``), ``grid_id``, ``village_id``, ``area_m2``,
        ``message`` and the issue's geometry, in the metric CRS of ``grids``.

    Examples
    --------
    >>> import geopandas as gpd, planner as pl
    >>> from shapely.geometry import box
    >>> areas = gpd.GeoDataFrame({"id": ["150521100201"]}, geometry=[box(0, 0, 100, 100)],
    ...                          crs="EPSG:4549")
    >>> grids = gpd.GeoDataFrame({"id": ["150521100201001"], "village_id": ["150521100201"]},
    ...                          geometry=[box(0, 0, 100, 60)], crs="EPSG:4549")
    >>> issues = pl.check_grids(grids, areas)
    >>> issues["kind"].tolist(), issues["area_m2"].round().tolist()
    (['gap'], [4000.0])
    """
    layers = {
        "grids": v.layer(grids, "grids"),
        "village_areas": v.layer(village_areas, "village_areas", columns=("id",)),
    }
    work = v.to_common_crs(layers)
    return _check_grids(
        work["grids"], work["village_areas"], sliver_area_m2=sliver_area_m2,
        sliver_thinness=sliver_thinness, min_area_m2=min_area_m2,
    )  # fmt: skip
