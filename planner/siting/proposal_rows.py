"""The proposal table: each new site of a solution ranked by the population it adds,
with the reason in the scenario's language, and the solver certificate of a step."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp

from planner.siting.covering import rank_by_marginal_gain
from planner.siting.result import SitingResult

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

_MINIMUM_REASON = {
    "zh": "按每个乡镇（街道）驿站数量下限设置，当前半径内无新增覆盖人口",
    "en": "placed to meet the minimum of stations per township; adds no population "
    "within the radius",
}


@dataclass(frozen=True, eq=False)
class Solution:
    """One maximal-covering solve of the proposal step.

    Attributes
    ----------
    result
        The solver's answer; sites ``0 … n_fixed − 1`` are the existing centers.
    cost
        Demand × site costs of pairs within each site's radius (stored zeros are real
        zero costs): every pair that can change the solution, see
        :func:`planner.siting.cover_sets.cover_costs`.
    weights
        Village populations.
    n_fixed
        Number of existing centers (the first columns of ``cost``).
    """

    result: SitingResult
    cost: sp.csr_matrix
    weights: np.ndarray
    n_fixed: int

    @property
    def cover(self) -> sp.csr_matrix:
        """Boolean coverage of :attr:`cost` (see :func:`cover_of`)."""
        return cover_of(self.cost)

    def certificate(self, p: int) -> dict[str, Any]:
        """The solve's summary entry, ``p`` new sites."""
        result = self.result
        return {
            "objective": result.objective,
            "bound": result.bound,
            "gap": result.gap,
            "seconds": round(result.seconds, 3),
            "status": result.status,
            "method": result.method,
            "new_sites": p,
        }


def cover_of(cost: sp.csr_matrix) -> sp.csr_matrix:
    """Boolean coverage: every stored pair is within the radius (zero costs included,
    which ``astype(bool)`` would drop)."""
    cover = cost.copy()
    cover.data = np.ones(cover.data.shape, dtype=bool)
    return cover


def empty_proposals(crs: Any) -> gpd.GeoDataFrame:
    """A proposal table without rows."""
    return gpd.GeoDataFrame(
        pd.DataFrame(columns=list(PROPOSAL_COLUMNS)), geometry=gpd.GeoSeries([], crs=crs), crs=crs
    )


def proposal_rows(
    kind: str,
    level: str,
    solution: Solution,
    candidates: gpd.GeoDataFrame,
    villages: gpd.GeoDataFrame,
    lang: str,
    required: np.ndarray | None = None,
) -> gpd.GeoDataFrame:
    """The new sites of a solution, ranked by the population each adds in turn (sites
    adding nobody are left out unless ``required`` by a per-township minimum)."""
    cover = sp.csc_matrix(solution.cover)
    n_fixed = solution.n_fixed
    covered = np.diff(sp.csr_matrix(cover[:, :n_fixed]).indptr) > 0
    names = villages["name"].astype(str).to_numpy() if "name" in villages.columns else None
    rows = []
    for rank, (site, gain) in enumerate(_ranked(solution, cover, required), start=1):
        reached = cover.indices[cover.indptr[site] : cover.indptr[site + 1]]
        newly = np.unique(reached[~covered[reached]])
        covered[newly] = True
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
                "new_villages_covered": int(newly.size),
                "reason": _reason(kind, [] if names is None else names[newly].tolist(), gain, lang)
                if gain > 0
                else _MINIMUM_REASON[lang],
                "geometry": cand.geometry,
            }
        )
    if not rows:
        return empty_proposals(villages.crs)
    return gpd.GeoDataFrame(
        pd.DataFrame(rows, columns=[*PROPOSAL_COLUMNS, "geometry"]),
        geometry="geometry",
        crs=villages.crs,
    )


def _ranked(
    solution: Solution, cover: sp.csr_matrix, required: np.ndarray | None
) -> list[tuple[int, float]]:
    """New sites with the population each adds, in rank order; sites adding nobody only
    when ``required``."""
    fixed = np.arange(solution.n_fixed)
    needed = set() if required is None else set(required.tolist())
    return [
        (s, g)
        for s, g in rank_by_marginal_gain(
            cover, solution.weights, solution.result.selected, fixed=fixed
        )
        if s >= solution.n_fixed and (g > 0 or s in needed)
    ]


def _reason(kind: str, names: list[str], gain: float, lang: str) -> str:
    """Which gap a proposal closes (``names``: the villages it newly reaches), in the
    scenario's language."""
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
