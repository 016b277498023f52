"""Choosing new sites among candidates for :func:`planner.propose_sites`, with a certificate.

The villages and the sites (existing centers first, then the candidates) come in as
points in one metric CRS; :func:`reach_matrix` stores the pairs within the radius, by
straight line or along roads, and :func:`choose_sites` solves one of three models on it:

* ``budget``: maximal covering (MCLP), capacitated when a site serves at most
  ``capacity``;
* ``target``: the fewest new sites that bring the covered share of the population to
  ``target`` (greedy for a count that suffices, then a bisection of certified MCLP solves);
* neither: the fewest new sites covering every village any site reaches (LSCP).

The answer lists the new sites in the order of what each adds, and a
:class:`SitingCertificate` tells how good it is.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import NamedTuple

import geopandas as gpd
import numpy as np
import scipy.sparse as sp
import shapely

from planner.errors import PlannerError
from planner.network import RoadNetwork, sites_within, snap
from planner.siting.covering import budget_curve, lscp, mclp, rank_by_marginal_gain
from planner.siting.result import SitingResult


@dataclass(frozen=True)
class SitingCertificate:
    """How good a :func:`planner.propose_sites` answer is, and what it covers.

    Attributes
    ----------
    model
        ``"mclp"`` (budget), ``"capacitated mclp"`` (budget and capacity), ``"fewest
        sites"`` (target_coverage) or ``"lscp"`` (neither).
    objective, bound
        mclp: population covered (served, when capacitated), existing centers included,
        and a proven upper bound on it. Fewest sites and lscp: the number of new sites,
        and a proven lower bound on it.
    gap
        ``|bound − objective| / objective`` (0 when proven optimal).
    status
        ``"optimal"``, ``"time_limit"`` or ``"heuristic"``.
    seconds
        Wall time of the solve.
    population_covered, population_total
        Villages' weight within reach of an open site (served, when capacitated) after
        the proposal, and in all.
    """

    model: str
    objective: float
    bound: float
    gap: float
    status: str
    seconds: float
    population_covered: float
    population_total: float


class ChosenSite(NamedTuple):
    """A new site of the answer and what it adds when added in turn (capacitated: serves)."""

    site: int
    """Position among the existing centers followed by the candidates."""
    population: float
    villages: int


def reach_matrix(
    demand: gpd.GeoSeries,
    sites: gpd.GeoSeries,
    radius: float,
    network: RoadNetwork | None = None,
    travel: str = "walk",
) -> sp.csr_matrix:
    """Sparse demand × site metres of the pairs within ``radius`` (zeros stored).

    Parameters
    ----------
    demand, sites
        Points in one metric CRS (that of ``network`` when given), on positions 0…n-1.
    radius
        Metres, by straight line or, with ``network``, along the roads usable by ``travel``.
    """
    if network is not None:
        return sites_within(
            network, snap(network, demand, mode=travel), snap(network, sites, mode=travel),
            cutoff=radius, weight="length", mode=travel,
        ).tocsr()  # fmt: skip
    tree = shapely.STRtree(sites.values)
    d, s = tree.query(demand.values, predicate="dwithin", distance=radius)
    metres = shapely.distance(demand.values[d], sites.values[s])
    return sp.csr_matrix((metres, (d, s)), shape=(len(demand), len(sites)))


def choose_sites(
    cost: sp.csr_matrix,
    weights: np.ndarray,
    *,
    n_fixed: int = 0,
    budget: int | None = None,
    target: float | None = None,
    capacity: float | None = None,
    time_limit: float = 60.0,
) -> tuple[list[ChosenSite], SitingCertificate]:
    """New sites among the columns of ``cost`` after the first ``n_fixed`` (open already).

    Parameters
    ----------
    cost
        From :func:`reach_matrix`: every stored pair is within reach.
    weights
        Population of every demand row.
    n_fixed
        The first columns are existing centers, open already.
    budget, target, capacity
        The model (see the module's description); ``capacity`` needs ``budget``. The
        caller has checked them (:func:`planner.propose_sites`).
    time_limit
        Seconds for the solver.

    Returns
    -------
    (list of ChosenSite, SitingCertificate)
        The new sites in rank order (sites adding nobody left out) and the certificate.

    Raises
    ------
    PlannerError
        When no choice of sites reaches ``target``.
    """
    fixed = np.arange(n_fixed)
    if target is not None:
        return _fewest_sites(cost, weights, n_fixed, target, time_limit)
    if budget is None:
        res = lscp(cost, np.inf, fixed=fixed, time_limit=time_limit)
        ranked = _ranked(cost, weights, res.selected, n_fixed)
        return ranked, _certificate("lscp", res, weights, n_fixed)
    p = min(budget, cost.shape[1] - n_fixed)
    res = mclp(cost, weights, np.inf, p, fixed=fixed, capacity=capacity, time_limit=time_limit)
    if capacity is None:
        return _ranked(cost, weights, res.selected, n_fixed), _certificate("mclp", res, weights)
    return _served(res, weights, n_fixed), _certificate("capacitated mclp", res, weights)


def _cover(cost: sp.csr_matrix) -> sp.csr_matrix:
    """Every stored pair is within reach (zero costs included)."""
    cover = cost.copy()
    cover.data = np.ones(cover.data.shape, dtype=bool)
    return cover


def _served(res: SitingResult, w: np.ndarray, n_fixed: int) -> list[ChosenSite]:
    """New sites of a capacitated solution by the population each serves (the villages
    whose largest share it serves)."""
    assert res.assignment is not None and res.served is not None and res.covered is not None
    served = w * res.served
    chosen = [
        ChosenSite(int(s), float(served[res.assignment == s].sum()),
                   int((res.covered & (res.assignment == s)).sum()))
        for s in res.selected[res.selected >= n_fixed]
    ]  # fmt: skip
    return sorted(
        (c for c in chosen if c.population > 0 or c.villages > 0),
        key=lambda c: (-c.population, c.site),
    )


def _fewest_sites(
    cost: sp.csr_matrix, w: np.ndarray, n_fixed: int, target: float, limit: float
) -> tuple[list[ChosenSite], SitingCertificate]:
    """The fewest new sites reaching ``target``: greedy gives a count that suffices, a
    bisection of certified maximal-covering solves brings it down to the proven least."""
    t0 = time.perf_counter()
    cover, fixed = _cover(cost), np.arange(n_fixed)
    total = float(w.sum())
    need = target * total - 1e-9 * max(total, 1.0)
    reachable = float(w[np.diff(cover.indptr) > 0].sum())
    if reachable < need:
        raise PlannerError(
            f"target_coverage={target!r} cannot be reached: all candidates and existing "
            f"centers together reach {reachable / total:.1%} of the population within radius_m"
        )
    curve = budget_curve(cover, w, cover.shape[1] - n_fixed, fixed=fixed)
    hi = int(curve.loc[curve["covered_weight"] >= need, "sites"].iloc[0])
    greedy = np.union1d(fixed, curve["site"].to_numpy()[1 : hi + 1])
    hi, bound, best, status = _bisect(cost, w, fixed, need, hi, greedy, t0 + limit)
    covered = np.asarray(cover[:, best].sum(axis=1)).ravel() > 0
    cert = SitingCertificate(
        "fewest sites", float(hi), bound, _gap(hi, bound), status, time.perf_counter() - t0,
        float(w[covered].sum()), total,
    )  # fmt: skip
    return _ranked(cost, w, best, n_fixed), cert


def _bisect(
    cost: sp.csr_matrix,
    w: np.ndarray,
    fixed: np.ndarray,
    need: float,
    hi: int,
    best: np.ndarray,
    deadline: float,
) -> tuple[int, float, np.ndarray, str]:
    """Bisect the number of new sites between 0 and ``hi`` (which suffices, with ``best``)
    by maximal-covering solves until ``deadline``; the least count found, its proven lower
    bound, the sites and the status."""
    lo = proven = 0
    status = "optimal"
    while hi - lo > 1 and (left := deadline - time.perf_counter()) > 0:
        mid = (lo + hi) // 2
        res = mclp(cost, w, np.inf, mid, fixed=fixed, mip_gap=0.0, time_limit=left)
        if res.objective >= need:
            hi, best = mid, res.selected
            continue
        lo = mid
        if res.bound < need:
            proven = mid
        else:
            status = res.status
    bound = float(min(proven + 1, hi))
    if bound < hi and status == "optimal":
        status = "time_limit"
    return hi, bound, best, status


def _ranked(
    cost: sp.csr_matrix, w: np.ndarray, selected: np.ndarray, n_fixed: int
) -> list[ChosenSite]:
    """New sites of a solution in the order of what each adds (sites adding no village
    are left out)."""
    cover = sp.csc_matrix(_cover(cost))
    fixed = np.arange(n_fixed)
    covered = np.asarray(cover[:, fixed].sum(axis=1)).ravel() > 0
    chosen = []
    for site, gain in rank_by_marginal_gain(cover, w, selected, fixed=fixed):
        newly = (cover[:, [site]].toarray().ravel() > 0) & ~covered
        covered |= newly
        if newly.any():
            chosen.append(ChosenSite(site, gain, int(newly.sum())))
    return chosen


def _certificate(
    model: str, res: SitingResult, w: np.ndarray, n_fixed: int = 0
) -> SitingCertificate:
    """The certificate of a solve; counts of sites (``lscp``) without the fixed ones."""
    objective, bound = res.objective - n_fixed, res.bound - n_fixed
    served = w * (res.served if res.served is not None else np.asarray(res.covered, bool))
    return SitingCertificate(
        model, float(objective), float(bound), _gap(objective, bound), res.status, res.seconds,
        float(served.sum()), float(w.sum()),
    )  # fmt: skip


def _gap(objective: float, bound: float) -> float:
    """``|bound − objective| / objective``: 0 when equal, ``inf`` when only bound is > 0."""
    if bound == objective:
        return 0.0
    return abs(bound - objective) / objective if objective else float("inf")
