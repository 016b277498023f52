"""Stations under another objective than maximal covering: p-center or backup coverage.

``[siting.stations] objective = "pcenter"`` opens the stations that bring the farthest
village reached within the radius as near as possible to its nearest center;
``"backup"`` (spopt's LSCP-B) opens them so that as much population as possible has two
centers within reach. Both first reach every village some site can reach: without a
``budget`` they open the fewest stations that do (the LSCP minimum), a smaller budget is
an error, a larger one buys a better worst distance or more backup. Existing centers stay
open and count.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp

from planner.errors import PlannerError
from planner.scenario import LevelSpec, SolverSettings, StationSiting
from planner.siting.backup import lscp_backup
from planner.siting.center import pcenter
from planner.siting.cover_sets import VillageRoads, cover_costs
from planner.siting.covering import budget_curve, lscp, rank_by_marginal_gain
from planner.siting.proposal_rows import Solution, proposal_rows
from planner.siting.sites import ServingGroups

_NOTHING = {
    "zh": "为满足站点数量而设置，当前半径内无新增覆盖或双重覆盖",
    "en": "opened to use the budget; adds no coverage or backup within the radius",
}

_UNIT_ZH = {"m": "米", "min": "分钟"}


@dataclass(frozen=True)
class ObjectiveStations:
    """The stations of one p-center or backup solve: proposal rows (``None`` when no
    station is proposed), the summary entry, the solve itself and the (maximal-covering)
    budget curve."""

    rows: gpd.GeoDataFrame | None
    certificate: dict[str, Any]
    solution: Solution
    curve: pd.DataFrame


def propose_by_objective(
    villages: gpd.GeoDataFrame,
    existing: ServingGroups,
    candidates: gpd.GeoDataFrame,
    spec: LevelSpec,
    level: str,
    *,
    settings: StationSiting,
    solver: SolverSettings,
    roads: VillageRoads | None,
    lang: str,
) -> ObjectiveStations:
    """Stations by ``settings.objective`` (``"pcenter"`` or ``"backup"``); see the module.

    Proposals are ranked, like maximal covering's, by the population each adds in turn;
    every new station is listed, and its ``reason`` says what it does for the objective.
    """
    backup = settings.objective == "backup"
    cost = cover_costs(villages.geometry, existing, candidates, spec, roads=roads,
                       every_pair=backup)  # fmt: skip
    population = villages["population"].fillna(0).to_numpy(dtype=float)
    fixed = np.arange(sum(len(frame) for frame, _ in existing))
    p = _station_count(cost, fixed, settings, len(candidates))
    if backup:
        result = lscp_backup(cost, np.inf, weights=population, fixed=fixed, p=p,
                             time_limit=solver.time_limit_s, mip_gap=solver.mip_gap)  # fmt: skip
    else:
        result = pcenter(cost, p=p, weights=(np.diff(cost.indptr) > 0).astype(float),
                         fixed=fixed, time_limit=solver.time_limit_s)  # fmt: skip
    solution = Solution(result, cost, population, fixed.size)
    new = np.setdiff1d(result.selected, fixed)
    rows = proposal_rows("station", level, solution, candidates, villages, lang, required=new)
    ranked = [s for s, _ in rank_by_marginal_gain(solution.cover, population, result.selected,
                                                  fixed=fixed)]  # fmt: skip
    effect = (_backup_effect if backup else _center_effect)(solution, spec)
    if not rows.empty:
        texts = (_backup_texts if backup else _center_texts)(solution, ranked, spec, lang)
        kept = rows["new_population_covered"].to_numpy() > 0
        rows["reason"] = [
            _join(str(lead) if keep else "", text, lang)
            for lead, keep, text in zip(rows["reason"], kept, texts, strict=True)
        ]
    certificate = solution.certificate(int(new.size)) | {"model": settings.objective} | effect
    k = settings.curve_max if settings.curve_max is not None else max(2 * new.size, 10)
    curve = budget_curve(solution.cover, population, min(k, len(candidates)), fixed=fixed)
    return ObjectiveStations(None if rows.empty else rows, certificate, solution, curve)


def _station_count(
    cost: sp.csr_matrix, fixed: np.ndarray, settings: StationSiting, n_candidates: int
) -> int:
    """The budget, or the fewest new stations reaching every reachable village; a budget
    below that minimum is refused."""
    least = int(lscp(cost, np.inf, fixed=fixed).objective) - fixed.size
    if settings.budget is None:
        return least
    if settings.budget < least:
        raise PlannerError(
            f'siting.stations: objective = "{settings.objective}" first reaches every village '
            f"some site can reach, which needs {least} new station(s); budget = "
            f"{settings.budget}. Raise the budget or leave it out"
        )
    return min(settings.budget, n_candidates)


def _scale(spec: LevelSpec) -> tuple[float, str]:
    """Factor from the cost unit to the reported one, and its name (``m`` or ``min``)."""
    return (1 / 60, "min") if spec.uses_time else (1.0, "m")


def _nearest(cover_cost: sp.csr_matrix, sites: np.ndarray) -> np.ndarray:
    """Cost of every village to its nearest site of ``sites`` (``inf`` if none reaches)."""
    block = sp.csr_matrix(cover_cost[:, sites])
    out = np.full(block.shape[0], np.inf)
    rows = np.repeat(np.arange(block.shape[0]), np.diff(block.indptr))
    np.minimum.at(out, rows, block.data)
    return out


def _center_effect(solution: Solution, spec: LevelSpec) -> dict[str, Any]:
    """Worst cost of the villages some site reaches, before and after, and how many of
    them no center reaches."""
    factor, unit = _scale(spec)
    reach = np.diff(sp.csr_matrix(solution.cost).indptr) > 0
    before = _nearest(solution.cost, np.arange(solution.n_fixed))[reach]
    after = _nearest(solution.cost, solution.result.selected)[reach]
    return {
        "cost_unit": unit,
        "worst_cost_before": _finite(before.max(initial=0.0) * factor),
        "worst_cost_after": _finite(after.max(initial=0.0) * factor),
        "villages_unreached_before": int(np.isinf(before).sum()),
        "villages_unreached_after": int(np.isinf(after).sum()),
        "villages_beyond_every_site": int((~reach).sum()),
    }


def _finite(value: float) -> float | None:
    """``None`` for an infinite cost (some village unreached)."""
    return float(value) if np.isfinite(value) else None


def _twice(solution: Solution, sites: np.ndarray) -> np.ndarray:
    """Villages within reach of at least two of ``sites``."""
    x = np.zeros(solution.cost.shape[1])
    x[sites] = 1.0
    return np.asarray(solution.cover @ x).ravel() >= 2


def _backup_effect(solution: Solution, spec: LevelSpec) -> dict[str, Any]:
    """Villages and population within reach of two centers, before and after."""
    before = _twice(solution, np.arange(solution.n_fixed))
    after = _twice(solution, solution.result.selected)
    w = solution.weights
    return {
        "villages_covered_twice_before": int(before.sum()),
        "villages_covered_twice_after": int(after.sum()),
        "population_covered_twice_before": float(w[before].sum()),
        "population_covered_twice_after": float(w[after].sum()),
    }


def _backup_texts(solution: Solution, ranked: list[int], spec: LevelSpec, lang: str) -> list[str]:
    """Per new site in rank order: the villages it gives a second center, in turn."""
    opened = list(range(solution.n_fixed))
    twice = _twice(solution, np.asarray(opened, dtype=np.int64))
    texts = []
    for site in ranked:
        opened.append(site)
        now = _twice(solution, np.asarray(opened, dtype=np.int64))
        newly = now & ~twice
        twice = now
        texts.append(_backup_text(int(newly.sum()), float(solution.weights[newly].sum()), lang))
    return texts


def _center_texts(solution: Solution, ranked: list[int], spec: LevelSpec, lang: str) -> list[str]:
    """Per new site in rank order: the villages it is nearest to, and the farthest."""
    result = solution.result
    assert result.assignment is not None  # p-center assigns every village
    nearest = _nearest(solution.cost, result.selected)
    factor, unit = _scale(spec)
    texts = []
    for site in ranked:
        served = result.assignment == site
        far = float(nearest[served].max(initial=0.0)) * factor
        texts.append(_center_text(int(served.sum()), far, unit, lang))
    return texts


def _backup_text(villages: int, people: float, lang: str) -> str:
    """The backup part of a reason (empty when the station backs up nobody)."""
    if not villages:
        return ""
    if lang == "zh":
        return f"双重覆盖：使{villages}个村（社区）（{people:,.0f}人）在服务半径内有第二处服务点"
    return (
        f"backup coverage: gives {villages} villages/communities ({people:,.0f} people) a "
        "second center within reach"
    )


def _center_text(villages: int, far: float, unit: str, lang: str) -> str:
    """The p-center part of a reason."""
    if lang == "zh":
        return (
            f"最远距离最小化：为{villages}个村（社区）最近的服务点，"
            f"其中最远{far:,.0f}{_UNIT_ZH[unit]}"
        )
    return (
        f"worst distance minimised: nearest center of {villages} villages/communities, the "
        f"farthest at {far:,.0f} {unit}"
    )


def _join(lead: str, text: str, lang: str) -> str:
    """A coverage reason and the objective's part (either may be empty)."""
    if not (lead and text):
        return lead or text or _NOTHING[lang]
    return f"{lead}；{text}" if lang == "zh" else f"{lead}; {text}"


def objective_note(summary: Mapping[str, Any], lang: str) -> str | None:
    """One line on what a p-center or backup station step achieved, for the report's
    proposals section (``None`` under maximal covering)."""
    cert = summary.get("solver", {}).get("steps", {}).get("stations", {})
    model = cert.get("model")
    if model == "backup":
        before, after = cert["villages_covered_twice_before"], cert["villages_covered_twice_after"]
        people = cert["population_covered_twice_before"], cert["population_covered_twice_after"]
        if lang == "zh":
            return (f"双重覆盖（两处服务点在服务半径内）：{before} → {after} 个村（社区），"
                    f"{people[0]:,.0f} → {people[1]:,.0f} 人")  # fmt: skip
        return (f"backup coverage (two centers within reach): {before} → {after} villages/"
                f"communities, {people[0]:,.0f} → {people[1]:,.0f} people")  # fmt: skip
    if model != "pcenter":
        return None
    unit = _UNIT_ZH[cert["cost_unit"]] if lang == "zh" else f" {cert['cost_unit']}"
    worst = [_shown(cert[k], unit) for k in ("worst_cost_before", "worst_cost_after")]
    unreached = cert["villages_unreached_before"], cert["villages_unreached_after"]
    if lang == "zh":
        return (f"最远服务距离最小化（p-中心）：可达村庄的最远距离 {worst[0]} → {worst[1]}，"
                f"未覆盖村（社区） {unreached[0]} → {unreached[1]} 个")  # fmt: skip
    return (f"worst distance minimised (p-center): farthest reachable village {worst[0]} → "
            f"{worst[1]}, villages unreached {unreached[0]} → {unreached[1]}")  # fmt: skip


def _shown(cost: float | None, unit: str) -> str:
    """A worst cost for the note; a dash while some village is unreached."""
    return "—" if cost is None else f"{cost:,.0f}{unit}"
