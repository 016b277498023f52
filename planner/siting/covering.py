"""Covering models on a cost matrix: MCLP and LSCP, the coverage matrix, budget curves.

See :mod:`planner.siting` for the cost conventions, the solution routes and statuses.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

from planner.siting.capacitated import capacitated_mclp
from planner.siting.cover_search import greedy_cover
from planner.siting.inputs import (
    as_cover,
    check_count,
    check_fixed,
    check_min_open,
    check_number,
    check_options,
    check_weights,
    dense_cost,
    sparse_cost,
)
from planner.siting.reduction import (
    CoverModel,
    Limits,
    group_rows,
    members,
    reduce_cover,
    round_bound,
    with_padding,
)
from planner.siting.result import SitingResult
from planner.siting.strategies import (
    reached,
    relative_gap,
    solve_lscp_reduced,
    solve_mclp_min_open,
    solve_mclp_reduced,
)

#: ``method="auto"``: largest reduced coverage matrix (stored pairs) solved as a MIP.
MIP_MAX_PAIRS = 500_000
_BLOCK = 4_000_000  # dense cost cells compared per block in coverage_matrix


def coverage_matrix(cost: np.ndarray | sp.sparray | sp.spmatrix, radius: float) -> sp.csr_matrix:
    """Which sites reach which demand: ``cost <= radius`` as a sparse boolean matrix.

    Only within-radius pairs are stored; a dense ``cost`` is scanned in row blocks so no
    dense boolean matrix is built. For sparse ``cost`` absent pairs are unreachable and
    stored zeros count as zero cost (see :mod:`planner.siting`).

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
        indptr, indices, shape = _sparse_within(sparse_cost(cost), radius)
    else:
        indptr, indices, shape = _dense_within(dense_cost(cost), radius)
    data = np.ones(indices.size, dtype=bool)
    return sp.csr_matrix((data, indices.astype(np.int32), indptr.astype(np.int64)), shape=shape)


def _sparse_within(
    d: sp.csr_array, radius: float
) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """CSR ``indptr`` and ``indices`` of the stored pairs within ``radius``, and the shape."""
    keep = d.data <= radius
    rows = np.repeat(np.arange(d.shape[0]), np.diff(d.indptr))[keep]
    indptr = np.concatenate(([0], np.cumsum(np.bincount(rows, minlength=d.shape[0]))))
    return indptr, d.indices[keep], d.shape


def _dense_within(
    dense: np.ndarray, radius: float
) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """As :func:`_sparse_within` for a dense matrix, compared block by block."""
    shape = dense.shape
    step = max(1, _BLOCK // max(shape[1], 1))
    none = np.zeros(0, dtype=np.int64)
    counts, parts = [none], [none]
    for start in range(0, shape[0], step):
        r, c = np.nonzero(dense[start : start + step] <= radius)
        counts.append(np.bincount(r, minlength=min(step, shape[0] - start)))
        parts.append(c)
    indptr = np.concatenate(([0], np.cumsum(np.concatenate(counts))))
    return indptr, np.concatenate(parts), shape


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
    limits = Limits(time.perf_counter(), time_limit, mip_gap, method)
    check_options(method, time_limit, mip_gap)
    cover = as_cover(coverage_matrix(cost, radius))
    n, m = cover.shape
    w = check_weights(weights, n)
    fixed_mask = check_fixed(fixed, m)
    check_count(p, m, fixed_mask)
    model = CoverModel(cover, w, fixed_mask, p, check_min_open(min_open, m, fixed_mask, p))
    if capacity is not None:
        return capacitated_mclp(model, capacity, limits)
    return _uncapacitated_mclp(model, limits)


def _uncapacitated_mclp(model: CoverModel, limits: Limits) -> SitingResult:
    """MCLP without capacities, on the reduced model; see :func:`mclp`."""
    cover, w, fixed_mask, p, groups = (
        model.cover, model.weights, model.fixed, model.p, model.groups
    )  # fmt: skip
    fixed_cov = cover @ fixed_mask.astype(float) > 0
    keep = ~fixed_cov & (w > 0) & (np.diff(cover.indptr) > 0)
    a, gw, site_ids, _ = reduce_cover(
        cover[np.flatnonzero(keep)], w[keep], ~fixed_mask, merge_sites=not groups,
        keep_sites=members(groups, cover.shape[1]),
    )  # fmt: skip
    k = min(p, site_ids.size)
    use_mip = limits.method == "mip" or (limits.method == "auto" and a.nnz <= MIP_MAX_PAIRS)
    if groups:
        open_red, bound_red, status, used = solve_mclp_min_open(
            a, gw, k, group_rows(groups, site_ids), limits.deadline, limits.mip_gap, use_mip
        )
    else:
        open_red, bound_red, status, used = solve_mclp_reduced(
            a, gw, k, limits.deadline, limits.mip_gap, use_mip
        )
    selected = with_padding(site_ids[open_red], fixed_mask, p)
    covered = reached(cover, selected)
    objective = float(w[covered].sum())
    bound = round_bound(float(w[fixed_cov].sum()) + bound_red, w, objective)
    return SitingResult(
        selected, objective, bound, relative_gap(objective, bound), status,
        time.perf_counter() - limits.start, used, covered=covered,
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
    a, _, site_ids, _ = reduce_cover(
        cover[np.flatnonzero(keep)], np.ones(int(keep.sum())), ~fixed_mask
    )
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
    cols = np.flatnonzero(check_fixed(selected, a.shape[1]) & ~fixed_mask)
    covered = a @ fixed_mask.astype(float) > 0
    sites, gains = greedy_cover(sp.csr_array(a[:, cols]), w, k=cols.size, covered=covered)
    return [(int(cols[s]), float(g)) for s, g in zip(sites, gains, strict=True)]
