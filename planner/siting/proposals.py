"""Where to build next: sub-centers at merged-township seats, then branch stations.

Both steps are maximal-covering problems solved by :mod:`planner.siting` with the existing
centers fixed open. Candidate–village pairs within the radius come from one spatial-index
query (straight line) or bounded road searches (:mod:`planner.siting.cover_sets`); no
all-pairs matrix is built. :func:`propose_for` takes the layers and the step's own
settings; :func:`propose` is the pipeline's adapter from a scenario.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp

from planner.errors import PlannerError, warn
from planner.scenario import LevelSpec, Siting, StationSiting, serving_groups, station_spec
from planner.siting.cover_sets import VillageRoads, cover_costs
from planner.siting.covering import budget_curve, mclp
from planner.siting.expansion_step import EXPANSION_COLUMNS, Served, propose_expansion
from planner.siting.proposal_rows import (
    Solution,
    cover_of,
    empty_proposals,
    proposal_rows,
)
from planner.siting.sites import (
    ServingGroups,
    candidate_points,
    joined,
    open_seats,
    required_sites,
    serving,
    township_groups,
)
from planner.siting.station_objectives import propose_by_objective

logger = logging.getLogger(__name__)

#: Stations proposed when ``[siting.stations]`` gives neither budget nor target.
DEFAULT_STATION_BUDGET = 10
LANGUAGES = ("zh", "en")


@dataclass
class SitingOutcome:
    """Proposals of both steps, their solver certificates and the station budget curve."""

    proposals: gpd.GeoDataFrame
    solver: dict[str, dict[str, Any]] = field(default_factory=dict)
    budget_curve: pd.DataFrame | None = None
    #: steps that could not run (``subcenters``, ``stations``) and why, in one line
    skipped: dict[str, str] = field(default_factory=dict)

    def skip(self, step: str, reason: str) -> None:
        """Record (and warn) that ``step`` could not run."""
        self.skipped[step] = reason
        warn(f"{step} skipped: {reason}")


@dataclass(frozen=True, eq=False)
class _Step:
    """The proposal step's layers (one metric CRS, villages on a fresh index) and settings;
    see :func:`propose_for`."""

    villages: gpd.GeoDataFrame
    centers: gpd.GeoDataFrame | None
    merged_townships: gpd.GeoDataFrame | None
    candidates: gpd.GeoDataFrame | None
    townships: gpd.GeoDataFrame | None
    grids: gpd.GeoDataFrame | None
    siting: Siting
    levels: Mapping[str, LevelSpec]
    roads: VillageRoads | None
    lang: str

    def serving(self, level: str) -> ServingGroups:
        """The existing centers serving ``level``, in groups (see
        :func:`planner.scenario.serving_groups`)."""
        return serving(self.centers, serving_groups(self.levels, self.siting.stations, level))

    def subcenters_blocked(self) -> str | None:
        """Why sub-centers cannot be sited (``None`` when they can)."""
        if "township" not in self.levels:
            return "no [levels.township] for sub-centers to serve"
        if self.merged_townships is None:
            return "no [layers.merged_townships] (former township seats) to place sub-centers at"
        return None

    def stations_blocked(self) -> str | None:
        """Why stations cannot be sited (``None`` when they can)."""
        kind = self.siting.stations.candidates
        if not {"village", "station"} & set(self.levels):
            return "no [levels.village] or [levels.station] for stations to serve"
        if kind == "candidates" and self.candidates is None:
            return 'siting.stations.candidates = "candidates" but there is no [layers.candidates]'
        if kind == "grids" and (self.grids is None or self.grids.empty):
            return (
                'siting.stations.candidates = "grids" but no grids were made: enable [grids] '
                "(with village_areas or townships) or give a [layers.grids] layer"
            )
        return None


def propose_for(
    villages: gpd.GeoDataFrame,
    *,
    levels: Mapping[str, LevelSpec],
    siting: Siting | None = None,
    centers: gpd.GeoDataFrame | None = None,
    merged_townships: gpd.GeoDataFrame | None = None,
    candidates: gpd.GeoDataFrame | None = None,
    townships: gpd.GeoDataFrame | None = None,
    grids: gpd.GeoDataFrame | None = None,
    roads: VillageRoads | None = None,
    lang: str = "zh",
) -> SitingOutcome:
    """Sub-centers first (township level), then stations (village level) on what remains.

    Candidates serve with the radius of the level they are sited for, the same radius the
    coverage and the after-coverage use, so a proposal's gain is what ``after`` counts.
    Existing centers are fixed open; each proposal carries ``rank``,
    ``new_population_covered`` and a ``reason`` in ``lang``. A step that cannot run (no
    level to serve, no seats, candidates or grids) is skipped with a warning and its
    reason in :attr:`SitingOutcome.skipped`.

    Parameters
    ----------
    villages
        Village points with ``population`` (and ``id``, ``name``, ``township_id``), in a
        metric CRS shared by every layer.
    levels
        The service levels (``[levels]``): sub-centers serve ``township``, stations
        ``village`` (else ``station``).
    siting
        The step's settings (``[siting]``); defaults to :class:`~planner.scenario.Siting`.
    centers
        Existing centers with a canonical ``level``; they stay open.
    merged_townships
        Former seats of merged townships: the sub-center candidates.
    candidates
        Station candidates, used when ``siting.stations.candidates = "candidates"``.
    townships
        Township polygons with ``id``, for ``min_per_township``.
    grids
        Governance grids, whose centroids are the candidates when
        ``siting.stations.candidates = "grids"``.
    roads
        Road access of ``villages``; required by levels with ``mode = "network"``.
    lang
        ``"zh"`` or ``"en"``: language of the reasons.
    """
    _check(villages, lang)
    step = _Step(
        villages.reset_index(drop=True), centers, merged_townships, candidates, townships,
        grids, siting or Siting(), levels, roads, lang,
    )  # fmt: skip
    outcome = SitingOutcome(proposals=empty_proposals(step.villages.crs))
    parts = [
        part
        for part in (_propose_subcenters(step, outcome), _propose_stations(step, outcome))
        if part is not None
    ]
    if parts:
        outcome.proposals = gpd.GeoDataFrame(
            pd.concat(parts, ignore_index=True), crs=step.villages.crs
        )
    if step.siting.expansion is not None:
        outcome.proposals = _with_actions(outcome.proposals)
    return outcome


def _with_actions(proposals: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The expansion plan's columns on every proposal: seat sub-centers planned beside it
    are ``new``, their gain what they newly cover."""
    out = proposals.copy()
    for column in EXPANSION_COLUMNS:
        if column not in out:
            numeric = column in ("gain", "cost")
            out[column] = pd.Series(np.nan, index=out.index, dtype=float if numeric else object)
    unplanned = out["action"].isna()
    out.loc[unplanned, "action"] = "new"
    out.loc[unplanned, "gain"] = out.loc[unplanned, "new_population_covered"]
    return out


def _check(villages: gpd.GeoDataFrame, lang: str) -> None:
    """Refuse villages without population or measured in degrees, and unknown languages."""
    if lang not in LANGUAGES:
        raise PlannerError(f"lang must be one of {LANGUAGES}, got {lang!r}")
    if "population" not in villages.columns:
        raise PlannerError(
            f"villages need a population column; got columns {list(villages.columns)}"
        )
    if villages.crs is not None and villages.crs.is_geographic:
        raise PlannerError(
            f"villages are in a geographic CRS ({villages.crs.name}); project every layer "
            "to one metric CRS first"
        )


def _propose_subcenters(step: _Step, outcome: SitingOutcome) -> gpd.GeoDataFrame | None:
    """Sub-centers at the open seats of merged townships, serving the township level."""
    settings = step.siting.subcenters
    if not settings.enabled:
        return None
    if reason := step.subcenters_blocked():
        outcome.skip("subcenters", reason)
        return None
    assert step.merged_townships is not None  # subcenters_blocked says why not
    existing = step.serving("township")
    seats = open_seats(step.merged_townships, joined(existing))
    p = len(seats) if settings.max_count is None else settings.max_count
    if not (len(seats) and p):
        return None
    solution = _solve(step, "sub-centers", existing, seats, step.levels["township"], p,
                      target=None, capacity=None)  # fmt: skip
    outcome.solver["subcenters"] = solution.certificate(int(min(p, len(seats))))
    return proposal_rows("subcenter", "township", solution, seats, step.villages, step.lang)


def _propose_stations(step: _Step, outcome: SitingOutcome) -> gpd.GeoDataFrame | None:
    """Stations on the gaps the existing centers leave at the village level (the station
    level when there is no village level), with the station budget curve."""
    settings = step.siting.stations
    if not settings.enabled:
        return None
    if reason := step.stations_blocked():
        outcome.skip("stations", reason)
        return None
    level = "village" if "village" in step.levels else "station"
    existing = step.serving(level)
    n_fixed = len(joined(existing))
    candidates = candidate_points(settings.candidates, step.villages, step.candidates, step.grids)
    if step.siting.expansion is not None:
        return _expansion(step, outcome, level, candidates)
    if settings.objective != "mclp":
        by_objective = propose_by_objective(
            step.villages, existing, candidates, station_spec(step.levels, settings, level),
            level, settings=settings, solver=step.siting.solver, roads=step.roads, lang=step.lang,
        )  # fmt: skip
        outcome.solver["stations"] = by_objective.certificate
        outcome.budget_curve = by_objective.curve
        return by_objective.rows
    groups = (
        township_groups(joined(existing), candidates, step.villages, step.townships,
                        settings.min_per_township)
        if settings.min_per_township
        else None
    )  # fmt: skip
    solution = _solve(
        step, "stations", existing, candidates, station_spec(step.levels, settings, level),
        _station_budget(settings), target=settings.target_coverage,
        capacity=settings.capacity, min_open=groups,
    )  # fmt: skip
    chosen = len(solution.result.selected) - n_fixed
    outcome.solver["stations"] = solution.certificate(chosen)
    k = settings.curve_max if settings.curve_max is not None else max(2 * chosen, 10)
    outcome.budget_curve = budget_curve(
        solution.cover, solution.weights, min(k, len(candidates)), fixed=np.arange(n_fixed)
    )
    return proposal_rows("station", level, solution, candidates, step.villages, step.lang,
                         required=required_sites(solution.result, groups or []))  # fmt: skip


def _expansion(
    step: _Step, outcome: SitingOutcome, level: str, candidates: gpd.GeoDataFrame
) -> gpd.GeoDataFrame | None:
    """Stations by the budgeted expansion model (:mod:`planner.siting.expansion_step`)."""
    assert step.siting.expansion is not None
    spec = station_spec(step.levels, step.siting.stations, level)
    township = step.levels.get("township")
    planned = propose_expansion(
        step.villages, Served(step.serving(level), spec, level),
        None if township is None else Served(step.serving("township"), township, "township"),
        candidates, settings=step.siting.expansion, solver=step.siting.solver,
        roads=step.roads, lang=step.lang,
    )  # fmt: skip
    outcome.solver["stations"] = planned.certificate
    return planned.rows


def _station_budget(settings: StationSiting) -> int | None:
    """The stations' budget: as given, none when a target coverage is, else the default."""
    if settings.budget is None and settings.target_coverage is None:
        return DEFAULT_STATION_BUDGET
    return settings.budget


def _solve(
    step: _Step,
    name: str,
    existing: ServingGroups,
    candidates: gpd.GeoDataFrame,
    spec: LevelSpec,
    p: int | None,
    *,
    target: float | None,
    capacity: float | None,
    min_open: list[tuple[np.ndarray, int]] | None = None,
) -> Solution:
    """One maximal-covering solve: existing centers fixed (each group within its own
    radius), ``p`` new candidates serving with ``spec`` (or the fewest that reach
    ``target``), with ``min_open`` sites per group (see :func:`planner.siting.mclp`).

    Every stored pair is within the radius of its site, so the model's radius is
    unbounded: sites of different radii (and units) share one coverage matrix, built by
    :func:`planner.siting.cover_sets.cover_costs` (every pair only with capacities).
    """
    villages = step.villages
    cost = cover_costs(villages.geometry, existing, candidates, spec, roads=step.roads,
                       every_pair=capacity is not None)  # fmt: skip
    weights = villages["population"].fillna(0).to_numpy(dtype=float)
    fixed = np.arange(sum(len(frame) for frame, _ in existing))
    p = _budget(cost, weights, fixed, p, target, len(candidates), min_open)
    solver = step.siting.solver
    result = mclp(cost, weights, np.inf, p, fixed=fixed, capacity=capacity, min_open=min_open,
                  time_limit=solver.time_limit_s, mip_gap=solver.mip_gap)  # fmt: skip
    logger.info(
        f"{name}: {p} new site(s), objective {result.objective:,.0f}, gap "
        f"{result.gap:.2%} ({result.status}, {result.seconds:.1f} s)"
    )
    return Solution(result, cost, weights, fixed.size)


def _budget(
    cost: sp.csr_matrix,
    weights: np.ndarray,
    fixed: np.ndarray,
    p: int | None,
    target: float | None,
    n_candidates: int,
    min_open: list[tuple[np.ndarray, int]] | None,
) -> int:
    """New sites to open: ``p`` (at least what the minimums need), or the fewest for
    ``target``; never more than the candidates."""
    required = _required(min_open, fixed)
    if p is None:
        p = _fewest_for_target(cost, weights, fixed, target or 1.0, n_candidates, min_open)
    elif required > p:
        raise PlannerError(
            f"siting.stations: min_per_township needs {required} new station(s) in "
            f"townships without enough, but budget = {p}; raise the budget or lower "
            "min_per_township"
        )
    return min(p, n_candidates)


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
    forced = np.empty(0, dtype=np.int64)
    if required := _required(min_open, fixed):
        solved = mclp(cost, weights, np.inf, required, fixed=fixed,
                      min_open=min_open, method="heuristic", time_limit=1.0)  # fmt: skip
        forced = np.setdiff1d(solved.selected, fixed)
    start = np.union1d(fixed, forced)
    curve = budget_curve(cover_of(cost), weights, n_candidates - forced.size, fixed=start)
    reached = curve.index[curve["coverage_share"] >= target - 1e-12]
    more = int(curve.loc[reached[0], "sites"]) if len(reached) else n_candidates
    return min(forced.size + more, n_candidates)


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
