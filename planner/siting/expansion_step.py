"""``[siting.expansion]``: the stations step as one budgeted plan of new stations,
relocations and upgrades (see :func:`planner.siting.expand`).

The model counts each village twice: once at the stations' level (village, else
station), reached by the centers serving it within their radii and by new stations within
the station radius, and once at the township level, reached by the centers serving it and
by upgraded sites within the township radius (an upgrade is a sub-center at the site; the
site keeps its own service). It maximises the sum: population covered at the stations'
level plus population covered at the township level. Only centers of level ``station``
may be closed; stations and village centers (``upgrade_levels``) may be upgraded. A
relocation's closed station is paired with the opened site nearest to it (straight
line). Proposals carry ``action``, ``gain`` (its ``new_population_covered``: the
population the plan covers with it and would not without it), ``cost`` and, for a
relocation, ``closes`` (the closed center's id).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp

from planner.scenario import LevelSpec, SolverSettings
from planner.scenario.expansion import ExpansionSiting
from planner.siting.cover_sets import VillageRoads, cover_costs
from planner.siting.expansion import ExpansionResult, expand
from planner.siting.proposal_rows import PROPOSAL_COLUMNS, cover_of
from planner.siting.sites import ServingGroups, joined

#: Columns the proposal table gains with ``[siting.expansion]``.
EXPANSION_COLUMNS = ("action", "gain", "cost", "closes")

_KIND = {"new": "station", "relocate": "station", "upgrade": "subcenter"}


@dataclass(frozen=True)
class Served:
    """One level of the model: the centers serving it (in groups) and its spec."""

    existing: ServingGroups
    spec: LevelSpec
    level: str


@dataclass(frozen=True)
class ExpansionStations:
    """The plan's proposal rows (``None`` when nothing is proposed) and summary entry."""

    rows: gpd.GeoDataFrame | None
    certificate: dict[str, Any]


def propose_expansion(
    villages: gpd.GeoDataFrame,
    stations: Served,
    township: Served | None,
    candidates: gpd.GeoDataFrame,
    *,
    settings: ExpansionSiting,
    solver: SolverSettings,
    roads: VillageRoads | None,
    lang: str,
) -> ExpansionStations:
    """The budgeted plan; see the module. ``township`` is ``None`` without a township
    level (then nothing is upgraded)."""
    population = villages["population"].fillna(0).to_numpy(dtype=float)
    centers = joined(stations.existing)
    n_ex = len(centers)
    level = centers["level"].astype(str).to_numpy() if n_ex else np.empty(0, dtype=str)
    upgradable = np.flatnonzero(np.isin(level, settings.upgrade_levels))
    if township is None:
        upgradable = upgradable[:0]
    model = _cover(villages, stations, township, candidates, centers.iloc[upgradable],
                   population, roads)  # fmt: skip
    result = expand(
        model.cover, model.weights, existing=model.existing, budget=settings.budget,
        new_cost=settings.new_cost, relocation_cost=settings.relocation_cost,
        max_relocations=settings.max_relocations,
        closable=np.flatnonzero(level == "station"), upgrades=model.upgrades,
        upgrade_of=upgradable, upgrade_costs=settings.upgrade_cost,
        pair_cost=lambda closed, opened: _distances(centers, candidates, closed, opened - n_ex),
        time_limit=solver.time_limit_s, mip_gap=solver.mip_gap,
    )  # fmt: skip
    up_cols = model.upgrades
    sites = _Sites(
        centers, candidates, n_ex, dict(zip(up_cols.tolist(), upgradable.tolist(), strict=True))
    )
    rows = _rows(result, model.cover, len(villages), sites, villages, stations.level, lang)
    return ExpansionStations(rows, _certificate(result, settings))


class _Model(NamedTuple):
    """The model's coverage, weights, existing columns and upgrade columns."""

    cover: sp.csr_array
    weights: np.ndarray
    existing: np.ndarray
    upgrades: np.ndarray


def _cover(
    villages: gpd.GeoDataFrame,
    stations: Served,
    township: Served | None,
    candidates: gpd.GeoDataFrame,
    upgradable: gpd.GeoDataFrame,
    population: np.ndarray,
    roads: VillageRoads | None,
) -> _Model:
    """Coverage over (villages at the stations' level, then at the township level) ×
    (centers serving the stations' level, candidates, township centers, upgrades)."""
    demand = villages.geometry
    top = cover_of(cover_costs(demand, stations.existing, candidates, stations.spec,
                               roads=roads, every_pair=True))  # fmt: skip
    n, n_ex = len(villages), sum(len(frame) for frame, _ in stations.existing)
    if township is None:
        none = np.empty(0, dtype=np.int64)
        return _Model(sp.csr_array(top), population, np.arange(n_ex), none)
    low = cover_of(cover_costs(demand, township.existing, upgradable, township.spec,
                               roads=roads, every_pair=True))  # fmt: skip
    cover = sp.vstack([
        sp.hstack([top, sp.csr_matrix((n, low.shape[1]))]),
        sp.hstack([sp.csr_matrix((n, top.shape[1])), low]),
    ], format="csr")  # fmt: skip
    n_t = low.shape[1] - len(upgradable)
    existing = np.concatenate((np.arange(n_ex), top.shape[1] + np.arange(n_t)))
    upgrades = top.shape[1] + n_t + np.arange(len(upgradable))
    return _Model(sp.csr_array(cover), np.concatenate((population, population)), existing,
                  upgrades)  # fmt: skip


def _distances(
    centers: gpd.GeoDataFrame, candidates: gpd.GeoDataFrame, closed: np.ndarray, opened: np.ndarray
) -> np.ndarray:
    """Straight-line distances from closed centers to opened candidates."""
    a = centers.geometry.iloc[closed].get_coordinates().to_numpy()
    b = candidates.geometry.iloc[opened].get_coordinates().to_numpy()
    return np.hypot(*(a[:, None, :] - b[None, :, :]).transpose(2, 0, 1))


@dataclass(frozen=True)
class _Sites:
    """What each column of the model is: existing centers, candidates, upgrades."""

    centers: gpd.GeoDataFrame
    candidates: gpd.GeoDataFrame
    n_existing: int
    upgrade_base: dict[int, int]

    def row(self, column: int) -> pd.Series:
        """The center or candidate a column stands for."""
        if column in self.upgrade_base:
            return self.centers.iloc[self.upgrade_base[column]]
        if column < self.n_existing:
            return self.centers.iloc[column]
        return self.candidates.iloc[column - self.n_existing]


def _rows(
    result: ExpansionResult, cover: sp.csr_array, n_top: int, sites: _Sites,
    villages: gpd.GeoDataFrame, level: str, lang: str,
) -> gpd.GeoDataFrame | None:  # fmt: skip
    """One proposal per action, ranked by gain."""
    if result.actions.empty:
        return None
    ac = sp.csc_array(cover)
    counts = ac @ result.open.astype(float)
    names = villages["name"].astype(str).to_numpy() if "name" in villages else None
    table = result.actions
    out = []
    for rank, (action, column, gone, cost, gain) in enumerate(zip(
        table["action"].astype(str).tolist(), table["site"].to_numpy(dtype=np.int64).tolist(),
        table["closed"].to_numpy(dtype=np.int64).tolist(),
        table["cost"].to_numpy(dtype=float).tolist(), table["gain"].to_numpy(dtype=float).tolist(),
        strict=True,
    ), start=1):  # fmt: skip
        without = counts - ac[:, [column]].toarray()[:, 0]
        if gone >= 0:
            without += ac[:, [gone]].toarray()[:, 0]
        reached = np.unique(np.flatnonzero((counts > 0) & (without <= 0)) % n_top)
        site = sites.row(column)
        closes = None if gone < 0 else str(sites.row(gone).get("id", gone))
        listed = [] if names is None else names[reached].tolist()
        out.append({
            "kind": _KIND[action], "rank": rank,
            "level": "township" if action == "upgrade" else level,
            "site_id": str(site.get("id", column)), "name": site.get("name", ""),
            "township_id": site.get("township_id", pd.NA),
            "new_population_covered": gain, "new_villages_covered": reached.size,
            "reason": _reason(action, listed, gain, closes, lang),
            "action": action, "gain": gain, "cost": cost, "closes": closes,
            "geometry": site.geometry,
        })  # fmt: skip
    return gpd.GeoDataFrame(
        pd.DataFrame(out, columns=[*PROPOSAL_COLUMNS, *EXPANSION_COLUMNS, "geometry"]),
        geometry="geometry", crs=villages.crs,
    )  # fmt: skip


def _reason(action: str, names: list[str], gain: float, closes: str | None, lang: str) -> str:
    """What an action does, in the scenario's language."""
    shown = names[:3]
    if lang == "zh":
        listed = "、".join(shown) + ("等" if len(names) > 3 else "")
        lead = {"new": "新建驿站", "relocate": f"迁建：撤并驿站{closes}，在此新建",
                "upgrade": "升级为乡镇分中心"}[action]  # fmt: skip
        return f"{lead}，新覆盖{len(names)}个村（社区）：{listed}，新增服务人口{gain:,.0f}人"
    listed = ", ".join(shown) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    lead = {"new": "new station",
            "relocate": f"relocation: closes station {closes} and opens here",
            "upgrade": "upgrade to a sub-center"}[action]  # fmt: skip
    return (
        f"{lead}; newly reaches {len(names)} villages/communities ({listed}), "
        f"{gain:,.0f} more people"
    )


def _certificate(result: ExpansionResult, settings: ExpansionSiting) -> dict[str, Any]:
    """The step's summary entry."""
    counts = result.actions["action"].value_counts()
    return {
        "objective": result.objective,
        "bound": result.bound,
        "gap": result.gap,
        "seconds": round(result.seconds, 3),
        "status": result.status,
        "method": "mip",
        "new_sites": int(counts.get("new", 0) + counts.get("relocate", 0)),
        "model": "expansion",
        "budget": settings.budget,
        "spent": result.spent,
        "before": result.before,
        "actions": {a: int(counts.get(a, 0)) for a in ("new", "relocate", "upgrade")},
    }


def kept_centers(
    centers: gpd.GeoDataFrame | None, proposals: gpd.GeoDataFrame
) -> gpd.GeoDataFrame | None:
    """The centers without those that relocations close; ``None`` when none is closed."""
    if centers is None or "closes" not in proposals.columns:
        return None
    closed = {str(v) for v in proposals["closes"].dropna()}
    if not closed:
        return None
    return centers[~centers["id"].astype(str).isin(closed)]
