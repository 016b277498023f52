"""Where to build next: sub-centers at merged-township seats, then branch stations.

Both steps are maximal-covering problems solved by :mod:`planner.siting` with the existing
centers fixed open. Candidate–village pairs within the radius come from one spatial-index
query (straight line) or bounded road searches (:func:`planner.network.sites_within`);
no all-pairs matrix is built.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely

from planner.catchment import centers_serving, township_of
from planner.errors import PlannerError, PlannerWarning
from planner.layers import LayerSet
from planner.network.graph import sites_within, snap
from planner.routing import RoadSearch
from planner.scenario import LevelSpec, Scenario
from planner.siting.solvers import SitingResult, budget_curve, mclp, rank_by_marginal_gain

logger = logging.getLogger(__name__)

#: Stations proposed when ``[siting.stations]`` gives neither budget nor target.
DEFAULT_STATION_BUDGET = 10
#: A merged-township seat with a sub-center within this distance already has one.
SEAT_MATCH_M = 500.0


PROPOSAL_COLUMNS = (
    "kind",
    "rank",
    "level",
    "site_id",
    "name",
    "township_id",
    "new_population_covered",
    "new_villages_covered",
    "reason",
)


def _proposal_rows_empty(crs: Any) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        pd.DataFrame(columns=list(PROPOSAL_COLUMNS)), geometry=gpd.GeoSeries([], crs=crs), crs=crs
    )


@dataclass
class SitingOutcome:
    """Proposals of both steps, their solver certificates and the station budget curve."""

    proposals: gpd.GeoDataFrame
    solver: dict[str, dict[str, Any]] = field(default_factory=dict)
    budget_curve: pd.DataFrame | None = None
    #: steps that could not run (``subcenters``, ``stations``) and why, in one line
    skipped: dict[str, str] = field(default_factory=dict)

    def skip(self, step: str, reason: str) -> None:
        """Record (and log) that ``step`` could not run."""
        self.skipped[step] = reason
        warnings.warn(f"{step} skipped: {reason}", PlannerWarning, stacklevel=2)


def pairs_within(
    demand: gpd.GeoSeries, sites: gpd.GeoSeries, spec: LevelSpec, *, roads: RoadSearch | None
) -> sp.csr_matrix:
    """Sparse demand × site costs for the pairs within the level's radius.

    Straight line: metres from one STRtree ``dwithin`` query. Along roads: metres or
    seconds (``minutes`` levels) from bounded searches. Stored zeros are real zero costs.
    """
    if not len(sites):
        return sp.csr_matrix((len(demand), 0))
    if spec.mode == "network" and roads is not None:
        weight = "time" if spec.uses_time else "length"
        cutoff = float(spec.minutes) * 60.0 if spec.uses_time else spec.cutoff_m
        demand_snap = roads.village_snap(spec.travel)
        site_snap = snap(roads.net, sites, mode=spec.travel)
        return sites_within(
            roads.net, demand_snap, site_snap, cutoff=cutoff, weight=weight, mode=spec.travel
        ).tocsr()
    radius = spec.cutoff_m
    d, s = shapely.STRtree(sites.values).query(demand.values, predicate="dwithin", distance=radius)
    cost = shapely.distance(demand.values[d], sites.values[s])
    return sp.csr_matrix((cost, (d, s)), shape=(len(demand), len(sites)))


def _cover(cost: sp.csr_matrix) -> sp.csr_matrix:
    """Boolean coverage: every stored pair is within the radius (zero costs included,
    which ``astype(bool)`` would drop)."""
    cover = cost.copy()
    cover.data = np.ones(cover.data.shape, dtype=bool)
    return cover


def _candidate_points(
    kind: str, layers: LayerSet, grids: gpd.GeoDataFrame | None
) -> gpd.GeoDataFrame:
    """Station candidates: villages, the user's candidate layer, or grid centroids."""
    if kind == "villages":
        frame = layers["villages"]
    elif kind == "candidates":
        frame = layers["candidates"]
    else:
        assert grids is not None  # _stations_blocked says why not
        frame = grids.set_geometry(grids.geometry.representative_point())
    keep = [c for c in ("id", "name", "township_id") if c in frame.columns]
    return gpd.GeoDataFrame(
        frame[keep].reset_index(drop=True), geometry=frame.geometry.to_numpy(), crs=frame.crs
    )


#: Existing centers serving a level, in groups that serve with one set of settings each.
ServingGroups = list[tuple[gpd.GeoDataFrame, LevelSpec]]


def _serving(scenario: Scenario, centers: gpd.GeoDataFrame | None, level: str) -> ServingGroups:
    """The centers serving ``level``, grouped as :meth:`Scenario.serving_groups` says."""
    return [
        (centers_serving(centers, levels).reset_index(drop=True), spec)
        for levels, spec in scenario.serving_groups(level)
    ]


def _joined(groups: ServingGroups) -> gpd.GeoDataFrame:
    """The centers of every group, one group after the other (the fixed sites' order)."""
    frames = [frame for frame, _ in groups]
    return gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=frames[0].crs)


def _runs(
    groups: list[tuple[gpd.GeoDataFrame, LevelSpec]], crs: Any
) -> list[tuple[gpd.GeoSeries, LevelSpec]]:
    """Site points of consecutive groups with the same settings joined, so each run of
    sites needs one search."""
    runs: list[tuple[list[Any], LevelSpec]] = []
    for frame, spec in groups:
        if runs and runs[-1][1] == spec:
            runs[-1][0].append(frame.geometry.to_numpy())
        else:
            runs.append(([frame.geometry.to_numpy()], spec))
    return [(gpd.GeoSeries(np.concatenate(parts), crs=crs), spec) for parts, spec in runs]


def _solve(
    step: str,
    existing: ServingGroups,
    candidates: gpd.GeoDataFrame,
    villages: gpd.GeoDataFrame,
    spec: LevelSpec,
    p: int | None,
    *,
    target: float | None,
    capacity: float | None,
    scenario: Scenario,
    roads: RoadSearch | None,
    min_open: list[tuple[np.ndarray, int]] | None = None,
) -> tuple[SitingResult, sp.csr_matrix, np.ndarray]:
    """One maximal-covering solve: existing centers fixed (each group within its own
    radius), ``p`` new candidates serving with ``spec`` (or the fewest that reach
    ``target``), with ``min_open`` sites per group (see :func:`planner.siting.mclp`).

    Every stored pair is within the radius of its site, so the model's radius is
    unbounded: sites of different radii (and units) share one coverage matrix.
    """
    blocks = [
        pairs_within(villages.geometry, points, s, roads=roads)
        for points, s in _runs([*existing, (candidates, spec)], villages.crs)
    ]
    cost = sp.hstack(blocks, format="csr")
    weights = villages["population"].fillna(0).to_numpy(dtype=float)
    fixed = np.arange(sum(len(frame) for frame, _ in existing))
    solver = scenario.siting.solver
    radius = np.inf
    required = _required(min_open, fixed)
    if p is None:
        p = _fewest_for_target(cost, weights, fixed, target or 1.0, len(candidates), min_open)
    elif required > p:
        raise PlannerError(
            f"siting.stations: min_per_township needs {required} new station(s) in "
            f"townships without enough, but budget = {p}; raise the budget or lower "
            "min_per_township"
        )
    p = min(p, len(candidates))
    result = mclp(
        cost,
        weights,
        radius,
        p,
        fixed=fixed,
        capacity=capacity,
        min_open=min_open,
        time_limit=solver.time_limit_s,
        mip_gap=solver.mip_gap,
    )
    logger.info(
        f"{step}: {p} new site(s), objective {result.objective:,.0f}, gap "
        f"{result.gap:.2%} ({result.status}, {result.seconds:.1f} s)"
    )
    return result, cost, weights


def _required(min_open: list[tuple[np.ndarray, int]] | None, fixed: np.ndarray) -> int:
    """New sites the minimums need beyond the fixed sites they hold."""
    return sum(max(0, count - int(np.isin(sites, fixed).sum())) for sites, count in min_open or [])


def _fewest_for_target(
    cost: sp.csr_matrix,
    weights: np.ndarray,
    fixed: np.ndarray,
    target: float,
    n_candidates: int,
    min_open: list[tuple[np.ndarray, int]] | None,
) -> int:
    """Smallest budget whose greedy coverage share reaches ``target`` (all candidates when
    none does); the greedy answer is an upper bound on the fewest sites needed. With
    minimums per group, the greedy first meets them (as the solver's start does)."""
    cover = _cover(cost)
    forced = np.empty(0, dtype=np.int64)
    if required := _required(min_open, fixed):
        solved = mclp(cost, weights, np.inf, required, fixed=fixed,
                      min_open=min_open, method="heuristic", time_limit=1.0)  # fmt: skip
        forced = np.setdiff1d(solved.selected, fixed)
    start = np.union1d(fixed, forced)
    curve = budget_curve(cover, weights, n_candidates - forced.size, fixed=start)
    reached = curve.index[curve["coverage_share"] >= target - 1e-12]
    more = int(curve.loc[reached[0], "sites"]) if len(reached) else n_candidates
    return min(forced.size + more, n_candidates)


def _proposal_rows(
    kind: str,
    result: SitingResult,
    cost: sp.csr_matrix,
    weights: np.ndarray,
    n_fixed: int,
    candidates: gpd.GeoDataFrame,
    villages: gpd.GeoDataFrame,
    level: str,
    lang: str,
    required: np.ndarray | None = None,
) -> gpd.GeoDataFrame:
    """The new sites of a solution, ranked by the population each adds in turn (sites
    adding nobody are left out unless ``required`` by a per-township minimum)."""
    cover = _cover(cost)
    fixed = np.arange(n_fixed)
    needed = set() if required is None else set(required.tolist())
    order = [
        (s, g)
        for s, g in rank_by_marginal_gain(cover, weights, result.selected, fixed=fixed)
        if s >= n_fixed and (g > 0 or s in needed)
    ]
    covered = np.asarray(cover[:, fixed].sum(axis=1)).ravel() > 0
    rows = []
    for rank, (site, gain) in enumerate(order, start=1):
        newly = (cover[:, site].toarray().ravel()) & ~covered
        covered |= newly
        cand = candidates.iloc[site - n_fixed]
        rows.append(
            {
                "kind": kind,
                "rank": rank,
                "level": level,
                "site_id": str(cand.get("id", site - n_fixed)),
                "name": cand.get("name", ""),
                "township_id": cand.get("township_id", pd.NA),
                "new_population_covered": float(gain),
                "new_villages_covered": int(newly.sum()),
                "reason": _reason(kind, villages.loc[newly], gain, lang)
                if gain > 0
                else _MINIMUM_REASON[lang],
                "geometry": cand.geometry,
            }
        )
    if not rows:
        return _proposal_rows_empty(villages.crs)
    return gpd.GeoDataFrame(
        pd.DataFrame(rows, columns=[*PROPOSAL_COLUMNS, "geometry"]),
        geometry="geometry",
        crs=villages.crs,
    )


def _reason(kind: str, closed: gpd.GeoDataFrame, gain: float, lang: str) -> str:
    """Which gap a proposal closes, in the scenario's language."""
    names = closed["name"].astype(str).tolist() if "name" in closed.columns else []
    shown = names[:3]
    if lang == "zh":
        what = "乡镇级服务缺口" if kind == "subcenter" else "村（社区）级服务缺口"
        listed = "、".join(shown) + ("等" if len(names) > 3 else "")
        return f"填补{what}，新覆盖{len(names)}个村（社区）：{listed}，新增服务人口{gain:,.0f}人"
    what = "township-level gap" if kind == "subcenter" else "village-level gap"
    listed = ", ".join(shown) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    return (
        f"closes a {what}: newly reaches {len(names)} villages/communities ({listed}), "
        f"{gain:,.0f} more people"
    )


_MINIMUM_REASON = {
    "zh": "按每个乡镇（街道）驿站数量下限设置，当前半径内无新增覆盖人口",
    "en": "placed to meet the minimum of stations per township; adds no population "
    "within the radius",
}


def _township_groups(
    existing: gpd.GeoDataFrame,
    candidates: gpd.GeoDataFrame,
    layers: LayerSet,
    minimum: int,
) -> list[tuple[np.ndarray, int]]:
    """Per township: its existing stations (site positions ``0…``) and candidates (after
    the existing centers), with ``minimum`` as the count to reach (lowered, with a
    warning, where the township has fewer sites than that)."""
    stations = existing["level"].eq("station").to_numpy()
    units = pd.concat(
        [_township_of(existing, layers).where(stations), _township_of(candidates, layers)],
        ignore_index=True,
    )
    names = (
        layers["townships"]["id"]
        if "townships" in layers
        else township_of(layers["villages"], None).dropna()
    ).astype("string")
    if names.empty:
        warnings.warn(
            "siting.stations: min_per_township not applied: no townships are known (no "
            "[layers.townships] and no township_id on villages)",
            PlannerWarning,
            stacklevel=2,
        )
        return []
    known = units.dropna()
    members = {
        unit: known.index.to_numpy()[pos] for unit, pos in known.groupby(known).indices.items()
    }
    groups, short = [], []
    for unit in sorted(set(names)):
        sites = members.get(unit, np.empty(0, dtype=np.int64))
        if sites.size < minimum:
            short.append(f"{unit} ({sites.size})")
        groups.append((np.asarray(sites, dtype=np.int64), min(minimum, int(sites.size))))
    if short:
        warnings.warn(
            f"siting.stations: {len(short)} township(s) have fewer than {minimum} station(s) "
            f"and candidate(s) in all, so they keep what they have: {', '.join(short[:5])}"
            + (f" and {len(short) - 5} more" if len(short) > 5 else ""),
            PlannerWarning,
            stacklevel=2,
        )
    return [(sites, count) for sites, count in groups if count > 0]


def _township_of(points: gpd.GeoDataFrame, layers: LayerSet) -> pd.Series:
    """Township code of each point: as stated, else the township polygon it lies in."""
    return township_of(points.reset_index(drop=True), layers.get("townships"))


def _required_sites(result: SitingResult, groups: list[tuple[np.ndarray, int]]) -> np.ndarray:
    """New sites of the solution that a group's minimum holds in place."""
    held = [
        sites[np.isin(sites, result.selected)]
        for sites, count in groups
        if np.isin(sites, result.selected).sum() <= count
    ]
    return np.concatenate(held) if held else np.empty(0, dtype=np.int64)


def _certificate(result: SitingResult, p: int) -> dict[str, Any]:
    return {
        "objective": result.objective,
        "bound": result.bound,
        "gap": result.gap,
        "seconds": round(result.seconds, 3),
        "status": result.status,
        "method": result.method,
        "new_sites": p,
    }


def _open_seats(layers: LayerSet, existing: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Former seats of merged townships that have no sub-center yet."""
    seats = layers["merged_townships"]
    subcenters = existing[existing["level"] == "subcenter"]
    if len(subcenters):
        near = shapely.STRtree(subcenters.geometry.values).query(
            seats.geometry.values, predicate="dwithin", distance=SEAT_MATCH_M
        )[0]
        seats = seats.drop(index=seats.index[np.unique(near)])
    keep = [c for c in ("id", "name", "township_id") if c in seats.columns]
    return gpd.GeoDataFrame(
        seats[keep].reset_index(drop=True), geometry=seats.geometry.to_numpy(), crs=seats.crs
    )


def _subcenters_blocked(scenario: Scenario, layers: LayerSet) -> str | None:
    """Why sub-centers cannot be sited (``None`` when they can)."""
    if "township" not in scenario.levels:
        return "no [levels.township] for sub-centers to serve"
    if "merged_townships" not in layers:
        return "no [layers.merged_townships] (former township seats) to place sub-centers at"
    return None


def _stations_blocked(
    scenario: Scenario, layers: LayerSet, grids: gpd.GeoDataFrame | None
) -> str | None:
    """Why stations cannot be sited (``None`` when they can)."""
    kind = scenario.siting.stations.candidates
    if not {"village", "station"} & set(scenario.levels):
        return "no [levels.village] or [levels.station] for stations to serve"
    if kind == "candidates" and "candidates" not in layers:
        return 'siting.stations.candidates = "candidates" but there is no [layers.candidates]'
    if kind == "grids" and (grids is None or grids.empty):
        return (
            'siting.stations.candidates = "grids" but no grids were made: enable [grids] '
            "(with village_areas or townships) or give a [layers.grids] layer"
        )
    return None


def propose(
    scenario: Scenario,
    layers: LayerSet,
    *,
    roads: RoadSearch | None,
    grids: gpd.GeoDataFrame | None = None,
) -> SitingOutcome:
    """Sub-centers first (township level), then stations (village level) on what remains.

    Candidates serve with the radius of the level they are sited for, the same radius the
    coverage and the after-coverage use, so a proposal's gain is what ``after`` counts.

    Existing centers are fixed; each proposal carries ``rank``,
    ``new_population_covered`` and a ``reason`` in the scenario's language.
    """
    villages = layers["villages"].reset_index(drop=True)
    centers = layers.get("centers")
    lang = scenario.outputs.lang
    settings = scenario.siting
    parts: list[gpd.GeoDataFrame] = []
    outcome = SitingOutcome(proposals=_proposal_rows_empty(villages.crs))
    if settings.subcenters.enabled and (reason := _subcenters_blocked(scenario, layers)):
        outcome.skip("subcenters", reason)
    elif settings.subcenters.enabled:
        serving = _serving(scenario, centers, "township")
        existing = _joined(serving)
        seats = _open_seats(layers, existing)
        spec = scenario.levels["township"]
        p = len(seats) if settings.subcenters.max_count is None else settings.subcenters.max_count
        if len(seats) and p:
            result, cost, weights = _solve(
                "sub-centers",
                serving,
                seats,
                villages,
                spec,
                p,
                target=None,
                capacity=None,
                scenario=scenario,
                roads=roads,
            )
            parts.append(
                _proposal_rows(
                    "subcenter",
                    result,
                    cost,
                    weights,
                    len(existing),
                    seats,
                    villages,
                    "township",
                    lang,
                )
            )
            outcome.solver["subcenters"] = _certificate(result, int(min(p, len(seats))))
    station_level = "village" if "village" in scenario.levels else "station"
    if settings.stations.enabled and (reason := _stations_blocked(scenario, layers, grids)):
        outcome.skip("stations", reason)
    elif settings.stations.enabled:
        stations = settings.stations
        serving = _serving(scenario, centers, station_level)
        existing = _joined(serving)
        spec = scenario.station_spec(station_level)
        candidates = _candidate_points(stations.candidates, layers, grids)
        p = stations.budget
        if p is None and stations.target_coverage is None:
            p = DEFAULT_STATION_BUDGET
        groups = (
            _township_groups(existing, candidates, layers, stations.min_per_township)
            if stations.min_per_township
            else None
        )
        result, cost, weights = _solve(
            "stations",
            serving,
            candidates,
            villages,
            spec,
            p,
            target=stations.target_coverage,
            capacity=stations.capacity,
            scenario=scenario,
            roads=roads,
            min_open=groups,
        )
        chosen = len(result.selected) - len(existing)
        parts.append(
            _proposal_rows(
                "station",
                result,
                cost,
                weights,
                len(existing),
                candidates,
                villages,
                station_level,
                lang,
                required=_required_sites(result, groups or []),
            )
        )
        outcome.solver["stations"] = _certificate(result, chosen)
        cover = _cover(cost)
        k = stations.curve_max if stations.curve_max is not None else max(2 * chosen, 10)
        outcome.budget_curve = budget_curve(
            cover, weights, min(k, len(candidates)), fixed=np.arange(len(existing))
        )
    if parts:
        outcome.proposals = gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs=villages.crs)
    return outcome


def with_proposals(
    centers: gpd.GeoDataFrame | None, proposals: gpd.GeoDataFrame
) -> gpd.GeoDataFrame:
    """The centers as they would be with every proposal built (level = its kind)."""
    built = gpd.GeoDataFrame(
        {
            "id": "proposed-" + proposals["kind"] + "-" + proposals["rank"].astype(str),
            "name": proposals["name"],
            "level": proposals["kind"],
        },
        geometry=proposals.geometry.to_numpy(),
        crs=proposals.crs,
    )
    if centers is None:
        return built
    return gpd.GeoDataFrame(pd.concat([centers, built], ignore_index=True), crs=centers.crs)
