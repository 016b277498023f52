"""How each reduced siting model is solved: heuristics, LP, MIPs and bounds, time-boxed.

:mod:`planner.siting` validates and reduces the input, then calls one function here; each
returns the solution, a proven bound, a status and the method that produced them.
"""

from __future__ import annotations

import math
import time

import numpy as np
import scipy.sparse as sp

from planner.errors import PlannerError
from planner.siting.cover_search import (
    cover_interchange,
    greedy_cover,
    lscp_lagrangian,
    mclp_lagrangian,
    prune_redundant,
)
from planner.siting.highs import solve_lscp, solve_mclp, solve_pmedian
from planner.siting.median_search import (
    Pairs,
    greedy_median,
    median_interchange,
    median_lagrangian,
    nearest_two,
    total_cost,
)

#: MCLP kernel MIP: sites kept per site to open, those with the smallest LP reduced costs.
KERNEL_FACTOR = 4

UNREACHED = (
    "p-median: with p={p} new sites no solution reaching every demand was found (none "
    "exists, or time_limit is too short); raise p, add candidate pairs, or find the "
    "minimum number of sites with lscp()"
)


def solve_mclp_reduced(
    a: sp.csr_array, gw: np.ndarray, k: int, deadline: float, mip_gap: float, use_mip: bool
) -> tuple[np.ndarray, float, str, str]:
    """Reduced MCLP: greedy + interchange, then LP/MIPs or a Lagrangian bound.

    Returns (open site positions, upper bound, status, method).
    """
    n_groups, n_sites = a.shape
    if k == 0 or n_groups == 0 or k >= n_sites:
        chosen = np.arange(n_sites) if k >= n_sites else np.empty(0, dtype=np.int64)
        return chosen, float(gw.sum()) if k >= n_sites else 0.0, "optimal", "mip"
    t0 = time.perf_counter()
    sites, _ = greedy_cover(a, gw, k=k)
    share = 0.2 if use_mip else 0.3
    sites = cover_interchange(a, gw, sites, deadline=t0 + share * (deadline - t0))
    if use_mip:
        solved = _mclp_by_mip(a, gw, k, sites, deadline, mip_gap)
        if solved is not None:
            return solved
    bound, sites = mclp_lagrangian(a, gw, k, sites, gap=mip_gap, deadline=deadline)
    return _certified(a, gw, sites, bound, mip_gap)


def solve_mclp_min_open(
    a: sp.csr_array,
    gw: np.ndarray,
    k: int,
    at_least: tuple[sp.csr_array, np.ndarray],
    deadline: float,
    mip_gap: float,
    use_mip: bool,
) -> tuple[np.ndarray, float, str, str]:
    """Reduced MCLP with a minimum of open sites per group (rows of ``at_least``).

    A greedy that meets every minimum first starts a MIP with the group rows; without
    the MIP (or when it finds nothing) the greedy stands, bounded by the Lagrangian bound
    of the model without minimums (which only lower the optimum, so the bound holds).
    Returns (open site positions, upper bound, status, method).
    """
    sites = greedy_min_open(a, gw, k, at_least)
    if use_mip:
        start = np.zeros(a.shape[1], dtype=bool)
        start[sites] = True
        solved = solve_mclp(
            a, gw, k, start=start, time_limit=deadline - time.perf_counter(),
            mip_gap=mip_gap, at_least=at_least,
        )  # fmt: skip
        if solved is not None:
            is_open, outcome = solved
            return np.flatnonzero(is_open), outcome.bound, outcome.status, "mip"
    bound, _ = mclp_lagrangian(a, gw, k, sites, gap=mip_gap, deadline=deadline)
    return _certified(a, gw, sites, bound, mip_gap)


def _certified(
    a: sp.csr_array, gw: np.ndarray, sites: np.ndarray, bound: float, mip_gap: float
) -> tuple[np.ndarray, float, str, str]:
    """A heuristic MCLP solution with its bound (capped at the total weight, never below
    the solution's value) and status (optimal when within ``mip_gap``)."""
    value = cover_value(a, gw, sites)
    bound = max(min(bound, float(gw.sum())), value)
    status = "optimal" if relative_gap(value, bound) <= mip_gap else "heuristic"
    return sites, bound, status, "heuristic"


def greedy_min_open(
    a: sp.csr_array,
    gw: np.ndarray,
    k: int,
    at_least: tuple[sp.csr_array, np.ndarray],
    *,
    covered: np.ndarray | None = None,
) -> np.ndarray:
    """Greedy meeting the minimums first: each group's best sites in turn, then the best
    of all for the rest of ``k`` (rows ``covered`` count as covered from the start).
    Groups are disjoint, so the picks never exceed ``k`` when the minimums sum to at most
    ``k``."""
    groups, need = at_least
    covered = np.zeros(a.shape[0], dtype=bool) if covered is None else covered.copy()
    taken = np.zeros(a.shape[1], dtype=bool)
    for i in range(groups.shape[0]):
        members = np.zeros(a.shape[1], dtype=bool)
        members[groups.indices[groups.indptr[i] : groups.indptr[i + 1]]] = True
        picked, _ = greedy_cover(a, gw, k=int(need[i]), covered=covered, allowed=members & ~taken)
        taken[picked] = True
        covered |= reached(a, picked)
    rest, _ = greedy_cover(a, gw, k=k - int(taken.sum()), covered=covered, allowed=~taken)
    taken[rest] = True
    return np.flatnonzero(taken)


def _mclp_by_mip(
    a: sp.csr_array, gw: np.ndarray, k: int, sites: np.ndarray, deadline: float, mip_gap: float
) -> tuple[np.ndarray, float, str, str] | None:
    """LP bound, a kernel MIP for a good solution, then an exact MIP on the unfixed sites.

    HiGHS's dual simplex is slow on this model's root LP, so the LP relaxation is solved
    by primal simplex first. Its optimum ``D`` bounds the MCLP, and its reduced costs
    ``s_j`` say that any solution opening site ``j`` covers at most ``D − s_j``. A MIP
    over the kernel (the :data:`KERNEL_FACTOR` ``· p`` sites with the smallest ``s_j``,
    plus the heuristic's) finds a good solution. If that is not yet within ``mip_gap``
    of ``D``, every site with ``D − s_j`` below its value is fixed shut (likewise sites
    the LP opens whose closing costs too much are fixed open) and the MIP on the rest is
    exact: its bound holds for the whole model.
    Returns ``None`` when the LP does not finish in 40 % of the remaining time.
    """
    best, value = sites, cover_value(a, gw, sites)
    remaining = deadline - time.perf_counter()
    relaxed = solve_mclp(a, gw, k, start=None, relax=True, mip_gap=0.0, time_limit=0.4 * remaining)
    if relaxed is None:
        return None
    bound, reduced = relaxed[1].bound, relaxed[1].col_dual
    assert reduced is not None  # an LP (relax=True) has reduced costs
    if relative_gap(value, bound) <= mip_gap:
        return best, bound, "optimal", "mip"
    shut = -np.minimum(reduced[: a.shape[1]], 0.0)
    kernel = np.union1d(np.lexsort((np.arange(shut.size), shut))[: KERNEL_FACTOR * k], best)
    found, _, _, _ = _mclp_restricted(
        a, gw, k, best, kernel, best[:0], time.perf_counter() + 0.5 * remaining, mip_gap
    )
    found = cover_interchange(a, gw, found, deadline=deadline)
    if cover_value(a, gw, found) > value:
        best, value = found, cover_value(a, gw, found)
    if relative_gap(value, bound) <= mip_gap:
        return best, bound, "optimal", "mip"
    margin = value - 1e-6 * max(1.0, abs(bound))
    keep = bound - shut >= margin
    forced = np.flatnonzero(bound - np.maximum(reduced[: a.shape[1]], 0.0) < margin)
    return _mclp_restricted(a, gw, k, best, np.flatnonzero(keep), forced, deadline, mip_gap, bound)


def _mclp_restricted(
    a: sp.csr_array,
    gw: np.ndarray,
    k: int,
    incumbent: np.ndarray,
    cols: np.ndarray,
    forced: np.ndarray,
    deadline: float,
    mip_gap: float,
    bound: float = math.inf,
) -> tuple[np.ndarray, float, str, str]:
    """MIP over the sites ``cols`` with ``forced`` open; keeps ``incumbent`` if better.

    The returned bound is the MIP's bound (plus the forced sites' coverage), floored at
    the incumbent's value (solutions outside ``cols`` are assumed no better, see
    :func:`_mclp_by_mip`) and capped by ``bound``.
    """
    value = cover_value(a, gw, incumbent)
    offset_rows = reached(a, forced)
    free = np.setdiff1d(cols, forced)
    sub = sp.csr_array(a[:, free])
    rows = np.flatnonzero((np.diff(sub.indptr) > 0) & ~offset_rows)
    k_free = k - forced.size
    if k_free >= free.size or rows.size == 0:
        chosen = np.union1d(forced, free[: max(k_free, 0)] if rows.size == 0 else free)
        status, sub_bound = "optimal", cover_value(a, gw, chosen)
    else:
        solved = solve_mclp(
            sp.csr_array(sub[rows]), gw[rows], k_free, start=np.isin(free, incumbent),
            time_limit=deadline - time.perf_counter(), mip_gap=mip_gap,
        )  # fmt: skip
        assert solved is not None  # x = 0 is feasible without at_least
        is_open, outcome = solved
        chosen = np.union1d(forced, free[is_open])
        status, sub_bound = outcome.status, outcome.bound + float(gw[offset_rows].sum())
    if cover_value(a, gw, chosen) >= value:
        incumbent, value = chosen, cover_value(a, gw, chosen)
    bound = min(bound, max(sub_bound, value))
    optimal = status == "optimal" or relative_gap(value, bound) <= mip_gap
    return incumbent, bound, "optimal" if optimal else "time_limit", "mip"


def reached(a: sp.csr_array, sites: np.ndarray) -> np.ndarray:
    """Rows of ``a`` covered by ``sites`` (column positions)."""
    x = np.zeros(a.shape[1])
    x[sites] = 1.0
    return np.asarray(a @ x) > 0


def cover_value(a: sp.csr_array, gw: np.ndarray, sites: np.ndarray) -> float:
    """Weight covered by ``sites``."""
    return float(gw[reached(a, sites)].sum())


def solve_lscp_reduced(
    a: sp.csr_array, deadline: float, use_mip: bool
) -> tuple[np.ndarray, int, str, str]:
    """Reduced LSCP: greedy + pruning, then MIP (70 % of the time) and/or a Lagrangian bound.

    Returns (open site positions, lower bound, status, method).
    """
    sites = prune_redundant(a, greedy_cover(a, np.ones(a.shape[0]), k=None)[0])
    bound, status, used = 0, "heuristic", "heuristic"
    if use_mip:
        start = np.zeros(a.shape[1], dtype=bool)
        start[sites] = True
        is_open, outcome = solve_lscp(
            a, start=start, time_limit=0.7 * (deadline - time.perf_counter())
        )
        sites, used = np.flatnonzero(is_open), "mip"
        bound, status = math.ceil(outcome.bound - 1e-6), outcome.status
        if status == "optimal":
            return sites, bound, status, used
    lagrangian, better = lscp_lagrangian(a, sites, deadline=deadline)
    if better.size < sites.size:
        sites, used = better, "heuristic"
    bound = max(bound, lagrangian)
    return sites, bound, "optimal" if bound >= sites.size else status, used


def solve_pmedian_pairs(
    pairs: Pairs, fixed: np.ndarray, p: int, deadline: float, mip_gap: float, method: str
) -> tuple[np.ndarray, float, str, str]:
    """p-median: greedy + interchange and a Lagrangian bound; MIP if that is not enough.

    ``method="auto"``: the Lagrangian gets 20 % of the time and the MIP (warm-started)
    the rest, unless the bound already certifies the heuristic within ``mip_gap``.
    ``"mip"``: straight to the MIP. ``"heuristic"``: no MIP.
    Returns (open mask, lower bound, status, method); raises when no solution reaching
    every demand is found.
    """
    t0 = time.perf_counter()
    use_mip = method != "heuristic"
    is_open = greedy_median(pairs, fixed, p)
    share = 0.2 if use_mip else 0.5
    is_open = median_interchange(pairs, is_open, fixed, deadline=t0 + share * (deadline - t0))
    d1 = nearest_two(pairs, is_open)[0]
    reached_all = bool((d1 < pairs.penalty).all())
    bound = -math.inf
    if reached_all and method != "mip":
        left = deadline - time.perf_counter()
        bound, start = median_lagrangian(
            pairs, fixed, p, incumbent=is_open, multipliers=pairs.weights * d1, gap=mip_gap,
            deadline=deadline - (0.8 if use_mip else 0.2) * left,
        )  # fmt: skip
        if start is not is_open:  # the relaxation found a cheaper start: polish it
            polished = median_interchange(
                pairs, start, fixed, deadline=deadline - (0.7 * left if use_mip else 0.0)
            )
            if total_cost(pairs, polished) < total_cost(pairs, is_open):
                is_open = polished
        if relative_gap(total_cost(pairs, is_open), bound) <= mip_gap:
            return is_open, bound, "optimal", "heuristic"
    if not use_mip:
        if not reached_all:
            raise PlannerError(UNREACHED.format(p=p))
        return is_open, bound, "heuristic", "heuristic"
    solved = solve_pmedian(
        pairs.d, pairs.weights, fixed, p, start=is_open, mip_gap=mip_gap,
        time_limit=deadline - time.perf_counter(),
    )  # fmt: skip
    if solved is None:
        raise PlannerError(UNREACHED.format(p=p))
    is_open, outcome = solved
    bound = max(bound, outcome.bound)
    optimal = outcome.status == "optimal" or relative_gap(outcome.objective, bound) <= mip_gap
    return is_open, bound, "optimal" if optimal else "time_limit", "mip"


def relative_gap(objective: float, bound: float) -> float:
    """Relative gap ``|bound − objective| / |objective|``."""
    diff = abs(bound - objective)
    if diff == 0:
        return 0.0
    return diff / abs(objective) if objective else math.inf
