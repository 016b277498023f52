"""Backup coverage (LSCP-B) on a cost matrix: the fewest sites reaching every demand,
then as much demand as possible reached twice.

The model is spopt's ``LSCPB`` (after Church & Murray 2018): first the LSCP minimum
``p`` (:func:`planner.siting.lscp`), then with ``p`` new sites, every coverable demand
still covered, maximise the (weighted) demand covered by at least two open sites:

``max Σ w_i U_i`` s.t. ``Σ_j a_ij x_j ≥ 1`` (coverable ``i``),
``Σ_j a_ij x_j ≥ 1 + U_i`` (``i`` with two or more covering sites), ``Σ x = p``,
``U_i ≤ 1``. spopt also counts ``U_i = 1`` for demand with a single covering site (no
row binds it); here such demand is never counted as covered twice, so spopt's objective
is this one plus the number of those rows. See :mod:`planner.siting` for the cost
conventions.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

from planner.errors import PlannerError
from planner.siting.cover_search import merge_identical_rows
from planner.siting.covering import coverage_matrix, lscp
from planner.siting.highs import run_highs
from planner.siting.inputs import (
    as_cover,
    check_count,
    check_fixed,
    check_options,
    check_weights,
)
from planner.siting.reduction import round_bound, with_padding
from planner.siting.result import SitingResult
from planner.siting.strategies import relative_gap


def lscp_backup(
    cost: np.ndarray | sp.sparray | sp.spmatrix,
    radius: float,
    *,
    weights: Sequence[float] | np.ndarray | None = None,
    fixed: Sequence[int] | np.ndarray | None = None,
    p: int | None = None,
    time_limit: float = 60.0,
    mip_gap: float = 1e-4,
    method: str = "auto",
) -> SitingResult:
    """Backup covering: the LSCP's fewest new sites, placed to cover the most demand twice.

    Parameters
    ----------
    cost, radius
        Cost matrix and service radius (see :func:`planner.siting.coverage_matrix`).
    weights
        Optional non-negative demand weights; ``None`` counts demands (spopt's ``LSCPB``).
    fixed
        Indices of sites that are open already; they count towards both coverages.
    p
        New sites to open; ``None`` takes the LSCP minimum. A larger ``p`` buys more
        backup; a smaller one than the minimum is refused.
    time_limit
        Seconds for the whole call (half for the LSCP stage, the rest for the backup MIP).
    mip_gap
        Relative gap at which the backup MIP stops.
    method
        How the LSCP stage is solved (``"auto"``, ``"mip"``, ``"heuristic"``); the backup
        stage is always a HiGHS MIP.

    Returns
    -------
    SitingResult
        ``objective``: weight (or number) of demands reached by at least two open sites,
        fixed ones included; ``bound`` an upper bound on it. ``covered`` and
        ``uncoverable`` as for :func:`planner.siting.lscp`; every coverable demand is
        covered.
    """
    t0 = time.perf_counter()
    check_options(method, time_limit, mip_gap)
    cover = as_cover(coverage_matrix(cost, radius))
    n, m = cover.shape
    w = np.ones(n) if weights is None else check_weights(weights, n)
    fixed_mask = check_fixed(fixed, m)
    first = lscp(cost, radius, fixed=np.flatnonzero(fixed_mask), time_limit=0.5 * time_limit,
                 method=method)  # fmt: skip
    n_fixed = int(fixed_mask.sum())
    least = int(first.objective) - n_fixed
    if p is None:
        p = least
    check_count(p, m, fixed_mask)
    if p < least and first.status == "optimal":
        raise PlannerError(
            f"lscp_backup: covering every coverable demand needs {least} new site(s); got p={p}"
        )
    start = np.zeros(m, dtype=bool)
    start[first.selected] = True
    new, bound_new, status = _backup_mip(cover, w, fixed_mask, p, start, t0 + time_limit, mip_gap)
    selected = with_padding(new, fixed_mask, p)
    counts = cover @ _mask(selected, m)
    objective = float(w[counts >= 2].sum())
    bound = round_bound(bound_new, w, objective)
    if first.status != "optimal" and status == "optimal" and p == least:
        status = first.status
    return SitingResult(
        selected, objective, bound, relative_gap(objective, bound), status,
        time.perf_counter() - t0, "mip", covered=counts >= 1, uncoverable=first.uncoverable,
    )  # fmt: skip


class _Model(NamedTuple):
    """The backup MIP as HiGHS takes it (see :func:`planner.siting.highs.run_highs`)."""

    matrix: sp.sparray
    cost: np.ndarray
    col_upper: np.ndarray
    row_lower: np.ndarray
    row_upper: np.ndarray
    integer: np.ndarray
    start: np.ndarray


def _backup_mip(
    cover: sp.csr_array,
    w: np.ndarray,
    fixed: np.ndarray,
    p: int,
    start: np.ndarray,
    deadline: float,
    mip_gap: float,
) -> tuple[np.ndarray, float, str]:
    """The backup stage on merged rows: new sites, upper bound on the covered-twice weight
    (fixed sites' share included) and status."""
    free = np.flatnonzero(~fixed)
    by_fixed = np.rint(cover @ fixed.astype(float)).astype(np.int64)
    total = np.diff(cover.indptr)
    always = float(w[by_fixed >= 2].sum())
    must = (total > 0) & (by_fixed == 0)
    can = (total >= 2) & (by_fixed <= 1) & (w > 0)
    rows = np.flatnonzero(must | can)
    b = sp.csr_array(cover[rows][:, free])
    key = sp.hstack([b, sp.csr_array(np.column_stack((by_fixed[rows] == 1, can[rows])))])
    group, first = merge_identical_rows(sp.csr_array(key, dtype=float))
    gw = np.bincount(group, weights=w[rows], minlength=first.size)
    a = sp.csr_array(b[first])
    model = _model(a, gw, must[rows][first], can[rows][first], by_fixed[rows][first], p,
                   start[free])  # fmt: skip
    outcome = run_highs(
        model.matrix, cost=model.cost, col_upper=model.col_upper, row_lower=model.row_lower,
        row_upper=model.row_upper, integer=model.integer, maximize=True,
        time_limit=deadline - time.perf_counter(), mip_gap=mip_gap, start=model.start,
    )  # fmt: skip
    if outcome is None:
        raise PlannerError(
            f"lscp_backup: no choice of p={p} new site(s) covers every coverable demand (or "
            "time_limit is too short)"
        )
    return free[outcome.values[: free.size] > 0.5], always + outcome.bound, outcome.status


def _model(
    a: sp.csr_array,
    gw: np.ndarray,
    must: np.ndarray,
    can: np.ndarray,
    by_fixed: np.ndarray,
    p: int,
    start: np.ndarray,
) -> _Model:
    """HiGHS arrays over the columns ``x`` (free sites) then ``U`` (groups that ``can`` be
    covered twice): coverage rows, backup rows ``U_g − a_g·x ≤ f_g − 1`` and ``Σ x ≤ p``."""
    n_sites = a.shape[1]
    back = np.flatnonzero(can)
    u = sp.csr_array(
        (np.ones(back.size), (np.arange(back.size), np.arange(back.size))),
        shape=(back.size, back.size),
    )
    matrix = sp.vstack([
        sp.hstack([a[np.flatnonzero(must)], sp.csr_array((int(must.sum()), back.size))]),
        sp.hstack([-a[back], u]),
        sp.hstack([sp.csr_array(np.ones((1, n_sites))), sp.csr_array((1, back.size))]),
    ])  # fmt: skip
    x0 = start.astype(float)
    u0 = np.clip(a[back] @ x0 + by_fixed[back] - 1, 0, 1)
    return _Model(
        matrix=matrix,
        cost=np.concatenate((np.zeros(n_sites), gw[back])),
        col_upper=np.ones(n_sites + back.size),
        row_lower=np.concatenate((np.ones(int(must.sum())), np.full(back.size + 1, -np.inf))),
        row_upper=np.concatenate((np.full(int(must.sum()), np.inf), by_fixed[back] - 1.0, [p])),
        integer=np.arange(n_sites + back.size) < n_sites,
        start=np.concatenate((x0, u0)),
    )


def _mask(sites: np.ndarray, m: int) -> np.ndarray:
    """Float indicator of ``sites`` among ``m``."""
    mask = np.zeros(m)
    mask[sites] = 1.0
    return mask
