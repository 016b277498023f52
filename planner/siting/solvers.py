"""Facility location on a cost matrix, without geometry: MCLP, LSCP and p-median.

Every model takes ``cost``, an ``(n_demand × n_sites)`` matrix of travel costs
(metres, minutes, …):

* a dense numpy array — ``nan`` or ``inf`` marks an unreachable pair;
* or a scipy.sparse matrix/array — **the stored entries are the costs**, an absent pair is
  unreachable and an explicitly stored ``0`` is a zero cost (build it from COO triplets or
  e.g. ``cKDTree.sparse_distance_matrix(..., output_type="ndarray")``; never call
  ``eliminate_zeros`` on it). Duplicate entries are summed, as scipy does.

MCLP and LSCP only ever materialise the pairs within the radius (a sparse coverage
matrix, built block by block from a dense input). ``fixed`` are the indices of sites that
are open already (existing centers); ``p`` always counts the *new* sites opened on top of
them. Results report the solution, HiGHS's (or our Lagrangian) proven bound, the relative
gap and a status:

* ``"optimal"`` — proven within ``mip_gap`` (LSCP: proven minimal);
* ``"time_limit"`` — the MIP stopped at ``time_limit``; ``bound``/``gap`` still hold;
* ``"heuristic"`` — greedy + interchange with a Lagrangian bound, gap above ``mip_gap``.

Every model first runs a heuristic: greedy, then best-improvement swap (1-opt
interchange) search. ``method="mip"`` then solves with HiGHS (highspy), warm-started;
for MCLP the LP relaxation is solved first (its optimum is a bound), a MIP over the
sites with the smallest LP reduced costs finds a near-optimal solution, and only if that
is not within ``mip_gap`` does an exact MIP run on the sites reduced-cost fixing leaves
free. ``method="heuristic"`` instead bounds the heuristic by Lagrangian relaxation
(subgradient; it converges towards the LP bound) whose relaxed solutions also seed more
swap searches. ``method="auto"`` takes the MIP route when the reduced model is small
enough (:data:`MIP_MAX_PAIRS`, :data:`MEDIAN_MIP_MAX_PAIRS` stored pairs), otherwise the
heuristic one; for p-median it tries the Lagrangian certificate before any MIP. Same
input and options give the same answer (HiGHS is deterministic; heuristics break ties
towards the lowest site index) unless a time limit cuts a search short.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from planner.errors import PlannerError
from planner.siting.cover_search import greedy_cover, merge_identical_rows
from planner.siting.highs import solve_capacitated_mclp
from planner.siting.inputs import (
    as_cover,
    check_count,
    check_fixed,
    check_min_open,
    check_number,
    check_options,
    check_weights,
    dense_cost,
    dense_pairs,
    sparse_cost,
)
from planner.siting.median_search import Pairs, nearest_two
from planner.siting.strategies import (
    greedy_min_open,
    reached,
    relative_gap,
    solve_lscp_reduced,
    solve_mclp_min_open,
    solve_mclp_reduced,
    solve_pmedian_pairs,
)

__all__ = [
    "MEDIAN_MIP_MAX_PAIRS",
    "MIP_MAX_PAIRS",
    "SitingResult",
    "budget_curve",
    "coverage_matrix",
    "lscp",
    "mclp",
    "pmedian",
    "rank_by_marginal_gain",
]

#: ``method="auto"``: largest reduced coverage matrix (stored pairs) solved as a MIP.
MIP_MAX_PAIRS = 500_000
#: ``method="auto"``: largest p-median instance (reachable pairs) solved as a MIP.
MEDIAN_MIP_MAX_PAIRS = 50_000
_BLOCK = 4_000_000  # dense cost cells compared per block in coverage_matrix


@dataclass(frozen=True, eq=False)
class SitingResult:
    """A siting solution with its certificate.

    Attributes
    ----------
    selected
        Sorted indices of all open sites, fixed ones included.
    objective
        MCLP: covered (served) weight, fixed sites' coverage included. LSCP: number of
        open sites, fixed ones included. p-median: total weighted cost.
    bound
        Best proven bound on ``objective`` (upper for MCLP, lower for LSCP/p-median).
    gap
        ``|bound − objective| / |objective|`` (0 when both are 0, ``inf`` if only the
        objective is 0).
    status
        ``"optimal"``, ``"time_limit"`` or ``"heuristic"`` (see the module docstring).
    seconds
        Wall time of the call.
    method
        ``"mip"`` or ``"heuristic"``: what produced the solution and the bound.
    covered
        MCLP/LSCP: per demand, reached by an open site (capacitated MCLP: fully served).
    assignment
        p-median: the open site serving each demand (nearest, lowest index on ties; ``-1``
        for zero-weight demand that reaches no open site). Capacitated MCLP: the site
        serving the largest share (``-1`` if unserved).
    uncoverable
        LSCP: per demand, no candidate site at all within the radius.
    served
        Capacitated MCLP: served share of each demand's weight, in [0, 1].
    """

    selected: np.ndarray
    objective: float
    bound: float
    gap: float
    status: str
    seconds: float
    method: str
    covered: np.ndarray | None = None
    assignment: np.ndarray | None = None
    uncoverable: np.ndarray | None = None
    served: np.ndarray | None = None


def coverage_matrix(cost: np.ndarray | sp.sparray | sp.spmatrix, radius: float) -> sp.csr_matrix:
    """Which sites reach which demand: ``cost <= radius`` as a sparse boolean matrix.

    Only within-radius pairs are stored; a dense ``cost`` is scanned in row blocks so no
    dense boolean matrix is built. For sparse ``cost`` absent pairs are unreachable and
    stored zeros count as zero cost (see the module docstring).

    Parameters
    ----------
    cost
        ``(n_demand × n_sites)`` costs, dense or sparse.
    radius
        Service radius in the unit of ``cost``; pairs with ``cost <= radius`` are covered.

    Returns
    -------
    scipy.sparse.csr_matrix
        Boolean ``(n_demand × n_sites)`` matrix with sorted indices.
    """
    radius = check_number(radius, "radius")
    if sp.issparse(cost):
        d = sparse_cost(cost)
        keep = d.data <= radius
        rows = np.repeat(np.arange(d.shape[0]), np.diff(d.indptr))[keep]
        indptr = np.concatenate(([0], np.cumsum(np.bincount(rows, minlength=d.shape[0]))))
        indices = d.indices[keep]
        shape = d.shape
    else:
        dense = dense_cost(cost)
        shape = dense.shape
        step = max(1, _BLOCK // max(shape[1], 1))
        counts, parts = [], []
        for start in range(0, shape[0], step):
            r, c = np.nonzero(dense[start : start + step] <= radius)
            counts.append(np.bincount(r, minlength=min(step, shape[0] - start)))
            parts.append(c)
        indptr = np.concatenate(([0], np.cumsum(np.concatenate(counts or [[]]))))
        indices = np.concatenate(parts or [[]])
    data = np.ones(indices.size, dtype=bool)
    return sp.csr_matrix((data, indices.astype(np.int32), indptr.astype(np.int64)), shape=shape)


def mclp(
    cost: np.ndarray | sp.sparray | sp.spmatrix,
    weights: Sequence[float] | np.ndarray,
    radius: float,
    p: int,
    *,
    fixed: Sequence[int] | np.ndarray | None = None,
    capacity: float | Sequence[float] | np.ndarray | None = None,
    min_open: Sequence[tuple[Sequence[int] | np.ndarray, int]] | None = None,
    time_limit: float = 60.0,
    mip_gap: float = 1e-4,
    method: str = "auto",
) -> SitingResult:
    """Maximal covering location: open ``p`` new sites to cover the most weight.

    The model is reduced before solving: demand already covered by ``fixed`` sites, with
    zero weight or out of every site's reach drops out, and demands with identical sets
    of covering sites are merged (weights summed).

    Parameters
    ----------
    cost, radius
        Cost matrix and service radius (see :func:`coverage_matrix`).
    weights
        Demand weights (population), non-negative.
    p
        Number of new sites, on top of ``fixed``.
    fixed
        Indices of sites that are open already.
    capacity
        Optional maximum weight one site can serve (a number or one per site; ``inf`` for
        no limit). Demand may then be split between sites; assignment variables exist only
        for within-radius pairs. Solved by MIP only.
    min_open
        Optional ``(sites, count)`` pairs over disjoint groups of sites: at least
        ``count`` sites of each group are open, fixed ones included (e.g. one station per
        township). The greedy start meets them first; the MIP carries them as rows; the
        heuristic route's bound is that of the model without them, still valid.
    time_limit
        Seconds for the whole call.
    mip_gap
        Relative gap at which the search stops.
    method
        ``"auto"``, ``"mip"`` or ``"heuristic"``.

    Returns
    -------
    SitingResult
        With ``covered`` (and ``served``/``assignment`` when capacitated).
    """
    t0 = time.perf_counter()
    check_options(method, time_limit, mip_gap)
    cover = as_cover(coverage_matrix(cost, radius))
    n, m = cover.shape
    w = check_weights(weights, n)
    fixed_mask = check_fixed(fixed, m)
    check_count(p, m, fixed_mask)
    groups = check_min_open(min_open, m, fixed_mask, p)
    if capacity is not None:
        return _capacitated_mclp(
            cover, w, p, fixed_mask, capacity, groups, t0, time_limit, mip_gap, method
        )
    fixed_cov = cover @ fixed_mask.astype(float) > 0
    keep = ~fixed_cov & (w > 0) & (np.diff(cover.indptr) > 0)
    a, gw, site_ids, _ = _reduce(
        cover[np.flatnonzero(keep)], w[keep], ~fixed_mask, merge_sites=not groups,
        keep_sites=_members(groups, m),
    )  # fmt: skip
    k = min(p, site_ids.size)
    use_mip = method == "mip" or (method == "auto" and a.nnz <= MIP_MAX_PAIRS)
    if groups:
        open_red, bound_red, status, used = solve_mclp_min_open(
            a, gw, k, _group_rows(groups, site_ids), t0 + time_limit, mip_gap, use_mip
        )
    else:
        open_red, bound_red, status, used = solve_mclp_reduced(
            a, gw, k, t0 + time_limit, mip_gap, use_mip
        )
    selected = _with_padding(site_ids[open_red], fixed_mask, p)
    covered = reached(cover, selected)
    objective = float(w[covered].sum())
    bound = _round_bound(float(w[fixed_cov].sum()) + bound_red, w, objective)
    return SitingResult(
        selected, objective, bound, relative_gap(objective, bound), status,
        time.perf_counter() - t0, used, covered=covered,
    )  # fmt: skip


def lscp(
    cost: np.ndarray | sp.sparray | sp.spmatrix,
    radius: float,
    *,
    fixed: Sequence[int] | np.ndarray | None = None,
    time_limit: float = 60.0,
    method: str = "auto",
) -> SitingResult:
    """Location set covering: the fewest new sites that reach every reachable demand.

    Demand that no site can reach is reported in ``uncoverable`` (never "infeasible");
    everything else is covered. ``objective`` counts all open sites, fixed ones included,
    so the number of new sites is ``objective - len(fixed)``.

    Parameters
    ----------
    cost, radius
        Cost matrix and service radius (see :func:`coverage_matrix`).
    fixed
        Indices of sites that are open already.
    time_limit
        Seconds for the whole call.
    method
        ``"auto"``, ``"mip"`` or ``"heuristic"``.
    """
    t0 = time.perf_counter()
    check_options(method, time_limit, 0.0)
    cover = as_cover(coverage_matrix(cost, radius))
    fixed_mask = check_fixed(fixed, cover.shape[1])
    uncoverable = np.diff(cover.indptr) == 0
    keep = ~(cover @ fixed_mask.astype(float) > 0) & ~uncoverable
    a, _, site_ids, _ = _reduce(cover[np.flatnonzero(keep)], np.ones(int(keep.sum())), ~fixed_mask)
    new, bound_new, status, used = np.empty(0, dtype=np.int64), 0, "optimal", "mip"
    if a.shape[0]:
        use_mip = method == "mip" or (method == "auto" and a.nnz <= MIP_MAX_PAIRS)
        sites, bound_new, status, used = solve_lscp_reduced(a, t0 + time_limit, use_mip)
        new = site_ids[sites]
    selected = np.union1d(np.flatnonzero(fixed_mask), new)
    objective = float(selected.size)
    bound = float(min(int(fixed_mask.sum()) + bound_new, selected.size))
    return SitingResult(
        selected, objective, bound, relative_gap(objective, bound), status,
        time.perf_counter() - t0, used, covered=reached(cover, selected),
        uncoverable=uncoverable,
    )  # fmt: skip


def pmedian(
    cost: np.ndarray | sp.sparray | sp.spmatrix,
    weights: Sequence[float] | np.ndarray,
    p: int,
    *,
    fixed: Sequence[int] | np.ndarray | None = None,
    time_limit: float = 60.0,
    mip_gap: float = 1e-4,
    method: str = "auto",
) -> SitingResult:
    """p-median: open ``p`` new sites minimising total weighted cost to the nearest site.

    Every positive-weight demand must reach an open site. For large instances pass a
    sparse ``cost`` holding only each demand's ``k`` nearest (or within-reach) sites: the
    model, the solution and the bound then refer to that restricted problem, whose optimum
    is never below the full one (the bound certifies the restricted problem only).

    Parameters
    ----------
    cost
        Cost matrix (see the module docstring).
    weights
        Demand weights, non-negative.
    p
        Number of new sites, on top of ``fixed`` (``p + len(fixed)`` must be ≥ 1).
    fixed
        Indices of sites that are open already.
    time_limit, mip_gap, method
        As for :func:`mclp`.

    Returns
    -------
    SitingResult
        With ``assignment``; ``objective / sum(weights)`` is the mean cost.
    """
    t0 = time.perf_counter()
    check_options(method, time_limit, mip_gap)
    d = sparse_cost(cost) if sp.issparse(cost) else dense_pairs(dense_cost(cost))
    n, m = d.shape
    w = check_weights(weights, n)
    fixed_mask = check_fixed(fixed, m)
    check_count(p, m, fixed_mask)
    if p + fixed_mask.sum() == 0:
        raise PlannerError("p-median needs at least one open site: got p=0 and no fixed sites")
    lonely = np.flatnonzero((np.diff(d.indptr) == 0) & (w > 0))
    if lonely.size:
        raise PlannerError(
            f"p-median: {lonely.size} demand row(s) reach no site at all (rows "
            f"{lonely[:10].tolist()}); give them a cost or drop them"
        )
    keep = np.flatnonzero(w > 0)
    pairs = Pairs.build(d[keep], w[keep])
    if method == "auto" and pairs.d.nnz > MEDIAN_MIP_MAX_PAIRS:
        method = "heuristic"
    is_open, bound, status, used = solve_pmedian_pairs(
        pairs, fixed_mask, p, t0 + time_limit, mip_gap, method
    )
    full_d1, phi1, _ = nearest_two(Pairs.build(d, w), is_open)
    objective = float(w[keep] @ full_d1[keep])
    bound = min(float(bound), objective)
    gap = relative_gap(objective, bound)
    return SitingResult(
        np.flatnonzero(is_open), objective, bound, gap, status, time.perf_counter() - t0,
        used, assignment=np.where(phi1 < m, phi1, -1),
    )  # fmt: skip


def budget_curve(
    cover: np.ndarray | sp.sparray | sp.spmatrix,
    weights: Sequence[float] | np.ndarray,
    k: int,
    *,
    fixed: Sequence[int] | np.ndarray | None = None,
) -> pd.DataFrame:
    """Covered weight against the number of new sites, 0 to ``k``, by greedy steps.

    Row ``s`` is the greedy solution after ``s`` steps: each step adds the site with the
    largest marginal gain (lowest index on ties) to those of the previous row, so the rows
    are nested and the gains non-increasing. The greedy value is at least ``1 − 1/e`` of
    the optimum for every ``s``; use :func:`mclp` for a certified value at one budget.

    Parameters
    ----------
    cover
        Coverage matrix (demand × site), e.g. from :func:`coverage_matrix`.
    weights
        Demand weights.
    k
        Largest number of new sites.
    fixed
        Sites open already (row 0 is their coverage).

    Returns
    -------
    pandas.DataFrame
        Columns ``sites``, ``site`` (the site added at that step, -1 in row 0),
        ``covered_weight``, ``coverage_share`` (of the total weight), ``marginal_gain``
        and ``method`` (``"greedy"``).
    """
    a = as_cover(cover)
    w = check_weights(weights, a.shape[0])
    fixed_mask = check_fixed(fixed, a.shape[1])
    check_count(k, a.shape[1], fixed_mask, name="k")
    covered = a @ fixed_mask.astype(float) > 0
    sites, gains = greedy_cover(a, w, k=k, covered=covered, allowed=~fixed_mask)
    covered_weight = float(w[covered].sum()) + np.concatenate(([0.0], np.cumsum(gains)))
    total = float(w.sum())
    return pd.DataFrame(
        {
            "sites": np.arange(sites.size + 1),
            "site": np.concatenate(([-1], sites)),
            "covered_weight": covered_weight,
            "coverage_share": covered_weight / total if total > 0 else 0.0 * covered_weight,
            "marginal_gain": np.concatenate(([0.0], gains)),
            "method": "greedy",
        }
    )


def rank_by_marginal_gain(
    cover: np.ndarray | sp.sparray | sp.spmatrix,
    weights: Sequence[float] | np.ndarray,
    selected: Sequence[int] | np.ndarray,
    *,
    fixed: Sequence[int] | np.ndarray | None = None,
) -> list[tuple[int, float]]:
    """Order a solution's new sites by the weight each adds when added greedily.

    Starting from the coverage of ``fixed``, repeatedly take the site of ``selected`` (not
    fixed) that adds the most still-uncovered weight (lowest index on ties).

    Returns
    -------
    list of (site, added_weight)
        In rank order; the added weights sum to the solution's coverage gain.
    """
    a = as_cover(cover)
    w = check_weights(weights, a.shape[0])
    fixed_mask = check_fixed(fixed, a.shape[1])
    allowed = check_fixed(selected, a.shape[1]) & ~fixed_mask
    covered = a @ fixed_mask.astype(float) > 0
    sites, gains = greedy_cover(a, w, k=int(allowed.sum()), covered=covered, allowed=allowed)
    return [(int(s), float(g)) for s, g in zip(sites, gains, strict=True)]


def _capacitated_mclp(
    cover: sp.csr_array,
    w: np.ndarray,
    p: int,
    fixed_mask: np.ndarray,
    capacity: float | Sequence[float] | np.ndarray,
    groups: list[tuple[np.ndarray, int]],
    t0: float,
    time_limit: float,
    mip_gap: float,
    method: str,
) -> SitingResult:
    """MCLP with site capacities (MIP only), and minimums per group; see :func:`mclp`."""
    if method == "heuristic":
        raise PlannerError("mclp: capacity= is solved by MIP only; use method='auto' or 'mip'")
    m = cover.shape[1]
    cap = np.asarray(capacity, dtype=float)
    if cap.ndim == 0:
        cap = np.full(m, float(cap))
    if cap.shape != (m,) or np.isnan(cap).any() or (cap < 0).any():
        raise PlannerError(
            f"mclp: capacity must be one non-negative number or {m} of them (inf = no limit); "
            f"got shape {cap.shape}"
        )
    keep = np.flatnonzero((w > 0) & (np.diff(cover.indptr) > 0))
    a, gw, site_ids, group = _reduce(
        cover[keep], w[keep], np.ones(m, dtype=bool), merge_sites=False,
        keep_sites=_members(groups, m),
    )  # fmt: skip
    fixed_red = fixed_mask[site_ids]
    k = min(p, int((~fixed_red).sum()))
    free = np.flatnonzero(~fixed_red)
    by_fixed = reached(a, np.flatnonzero(fixed_red))
    start = free[
        greedy_min_open(sp.csr_array(a[:, free]), gw, k, _group_rows(groups, site_ids[free]),
                        covered=by_fixed)
    ]  # fmt: skip
    start_mask = np.zeros(site_ids.size, dtype=bool)
    start_mask[start] = True
    solved = solve_capacitated_mclp(
        a, gw, cap[site_ids], fixed_red, k, start=start_mask,
        time_limit=t0 + time_limit - time.perf_counter(), mip_gap=mip_gap,
        at_least=_group_rows(groups, site_ids) if groups else None,
    )  # fmt: skip
    if solved is None:
        raise PlannerError("mclp: no solution meets the minimum of open sites per group")
    is_open, share, outcome = solved
    rows_e = np.repeat(np.arange(a.shape[0]), np.diff(a.indptr))
    served_group = np.minimum(np.bincount(rows_e, weights=share, minlength=a.shape[0]), 1.0)
    top = np.lexsort((a.indices, -share, rows_e))  # per group: largest share, lowest site
    first = top[np.concatenate(([True], np.diff(rows_e[top]) > 0))] if top.size else top
    main = np.where(share[first] > 1e-9, site_ids[a.indices[first]], -1)
    served = np.zeros(cover.shape[0])
    served[keep] = served_group[group]
    assignment = np.full(cover.shape[0], -1)
    assignment[keep] = main[group]
    objective = float(w @ served)
    bound = _round_bound(outcome.bound, w, objective)
    selected = _with_padding(site_ids[is_open & ~fixed_red], fixed_mask, p)
    return SitingResult(
        selected, objective, bound, relative_gap(objective, bound), outcome.status,
        time.perf_counter() - t0, "mip", covered=served >= 1 - 1e-6,
        assignment=assignment, served=served,
    )  # fmt: skip


def _reduce(
    sub: sp.csr_array,
    w: np.ndarray,
    allowed: np.ndarray,
    *,
    merge_sites: bool = True,
    keep_sites: np.ndarray | None = None,
) -> tuple[sp.csr_array, np.ndarray, np.ndarray, np.ndarray]:
    """Merge identical rows; keep the allowed sites that cover some row (and every site
    of the mask ``keep_sites``, even if it covers none).

    With ``merge_sites``, of several sites covering exactly the same rows only the lowest
    index is kept (valid without capacities or minimums: the others can never do better).

    Returns the reduced matrix (groups × kept sites), group weights, the kept sites'
    original indices and the group of every row of ``sub``.
    """
    group, first = merge_identical_rows(sub)
    gw = np.bincount(group, weights=w, minlength=first.size)
    rows = sub[first]
    useful = np.bincount(rows.indices, minlength=sub.shape[1]) > 0
    if keep_sites is not None:
        useful |= keep_sites
    site_ids = np.flatnonzero(useful & allowed)
    a = sp.csr_array(rows[:, site_ids])
    if merge_sites and site_ids.size:
        _, distinct = merge_identical_rows(sp.csr_array(a.T))
        distinct = np.sort(distinct)
        site_ids, a = site_ids[distinct], sp.csr_array(a[:, distinct])
    return a, gw, site_ids, group


def _members(groups: list[tuple[np.ndarray, int]], m: int) -> np.ndarray:
    """Mask of the sites belonging to some group."""
    mask = np.zeros(m, dtype=bool)
    for sites, _ in groups:
        mask[sites] = True
    return mask


def _group_rows(
    groups: list[tuple[np.ndarray, int]], site_ids: np.ndarray
) -> tuple[sp.csr_array, np.ndarray]:
    """Group × column incidence of the groups' sites among ``site_ids`` (the model's
    columns), with each group's minimum."""
    size = max([int(site_ids.max(initial=-1)), *(int(g.max(initial=-1)) for g, _ in groups)])
    owner = np.full(size + 1, -1, dtype=np.int64)  # group of every original site
    for i, (sites, _) in enumerate(groups):
        owner[sites] = i
    label = owner[site_ids]
    cols = np.flatnonzero(label >= 0)
    incidence = sp.csr_array(
        (np.ones(cols.size), (label[cols], cols)), shape=(len(groups), site_ids.size)
    )
    return incidence, np.array([need for _, need in groups], dtype=float)


def _with_padding(new: np.ndarray, fixed_mask: np.ndarray, p: int) -> np.ndarray:
    """Fixed sites plus ``new``, topped up to ``p`` new sites with the lowest free indices."""
    taken = fixed_mask.copy()
    taken[new] = True
    missing = p - int(np.asarray(new).size)
    if missing > 0:
        taken[np.flatnonzero(~taken)[:missing]] = True
    return np.flatnonzero(taken)


def _round_bound(bound: float, w: np.ndarray, objective: float) -> float:
    """Round an upper bound down when all weights are integers; never below the objective."""
    if np.all(w == np.round(w)):
        bound = math.floor(bound + 1e-9 * max(1.0, abs(bound)))
    return float(max(bound, objective))
