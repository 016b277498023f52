"""HiGHS (highspy) models for the siting problems: MCLP, capacitated MCLP, LSCP, p-median.

Builders take the reduced instances prepared by :mod:`planner.siting` and return
:class:`MipOutcome`; HiGHS's own dual bound and status are passed through.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

if TYPE_CHECKING:
    import highspy


@dataclass(frozen=True)
class MipOutcome:
    """What HiGHS returned: column values, objective, proven bound and status."""

    values: np.ndarray
    objective: float
    bound: float
    status: str  # "optimal" or "time_limit"
    col_dual: np.ndarray | None = None  # LP only: reduced costs


def run_highs(
    matrix: sp.sparray,
    *,
    cost: np.ndarray,
    col_upper: np.ndarray,
    row_lower: np.ndarray,
    row_upper: np.ndarray,
    integer: np.ndarray,
    maximize: bool,
    time_limit: float,
    mip_gap: float,
    col_lower: np.ndarray | None = None,
    mip_abs_gap: float = 0.0,
    start: np.ndarray | None = None,
    options: dict[str, bool | int | float | str] | None = None,
) -> MipOutcome | None:
    """Solve ``opt cost·x`` s.t. ``row_lower ≤ matrix·x ≤ row_upper``, bounds, integrality.

    Returns ``None`` when the model is infeasible (or the time ran out before any feasible
    point was found). ``start`` is passed to HiGHS as a MIP start; ``options`` are extra
    HiGHS options.
    """
    a = sp.csc_array(matrix)
    if a.shape[1] == 0:
        return MipOutcome(np.empty(0), 0.0, 0.0, "optimal")
    import highspy  # loaded only when a model is solved

    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("time_limit", max(float(time_limit), 0.01))
    h.setOptionValue("mip_rel_gap", float(mip_gap))
    h.setOptionValue("mip_abs_gap", float(mip_abs_gap))
    for key, value in (options or {}).items():
        h.setOptionValue(key, value)
    lower = np.zeros(a.shape[1]) if col_lower is None else col_lower
    h.passModel(_highs_lp(a, cost, (lower, col_upper), (row_lower, row_upper), integer, maximize))
    if start is not None:
        solution = highspy.HighsSolution()
        solution.col_value = np.asarray(start, dtype=float).tolist()
        h.setSolution(solution)
    h.run()
    return _outcome(h, integer, maximize)


def _highs_lp(
    a: sp.csc_array,
    cost: np.ndarray,
    col_bounds: tuple[np.ndarray, np.ndarray],
    row_bounds: tuple[np.ndarray, np.ndarray],
    integer: np.ndarray,
    maximize: bool,
) -> highspy.HighsLp:
    """The model as HiGHS's column-wise ``HighsLp``."""
    import highspy

    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = a.shape[1], a.shape[0]
    lp.col_cost_ = np.asarray(cost, dtype=float)
    lp.col_lower_ = np.asarray(col_bounds[0], dtype=float)
    lp.col_upper_ = np.asarray(col_bounds[1], dtype=float)
    lp.row_lower_ = np.asarray(row_bounds[0], dtype=float)
    lp.row_upper_ = np.asarray(row_bounds[1], dtype=float)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = a.indptr.astype(np.int32)
    lp.a_matrix_.index_ = a.indices.astype(np.int32)
    lp.a_matrix_.value_ = a.data.astype(float)
    kinds = (highspy.HighsVarType.kContinuous, highspy.HighsVarType.kInteger)
    lp.integrality_ = [kinds[int(flag)] for flag in integer]
    lp.sense_ = highspy.ObjSense.kMaximize if maximize else highspy.ObjSense.kMinimize
    return lp


def _outcome(h: highspy.Highs, integer: np.ndarray, maximize: bool) -> MipOutcome | None:
    """What a finished run found; ``None`` without a feasible point."""
    import highspy

    info = h.getInfo()
    if info.primal_solution_status != highspy.kSolutionStatusFeasible:
        return None
    values = np.asarray(h.getSolution().col_value, dtype=float)
    optimal = h.getModelStatus() == highspy.HighsModelStatus.kOptimal
    bound = info.mip_dual_bound if integer.any() else info.objective_function_value
    if not optimal and not integer.any():
        bound = np.inf if maximize else -np.inf
    col_dual = None if integer.any() else np.asarray(h.getSolution().col_dual, dtype=float)
    return MipOutcome(
        values, float(info.objective_function_value), float(bound),
        "optimal" if optimal else "time_limit", col_dual,
    )  # fmt: skip


def solve_mclp(
    a: sp.csr_array,
    weights: np.ndarray,
    p: int,
    *,
    start: np.ndarray | None,
    time_limit: float,
    mip_gap: float,
    relax: bool = False,
    at_least: tuple[sp.csr_array, np.ndarray] | None = None,
) -> tuple[np.ndarray, MipOutcome] | None:
    """Reduced MCLP: ``max Σ w_g y_g`` s.t. ``y_g ≤ Σ_j a_gj x_j``, ``Σ x ≤ p``.

    ``y`` is continuous in [0, 1] (integral at any optimum with binary ``x``).
    ``start`` is the open mask of a heuristic solution. ``at_least = (G, need)`` adds
    the rows ``Σ_j G_ij x_j ≥ need_i`` (a minimum of open sites per group of sites).
    Returns the site values (the open mask, or with ``relax`` the LP-relaxation values,
    solved by primal simplex, which is much faster than dual simplex on this model) and
    the outcome; ``None`` if the LP ran out of time or the model is infeasible.
    """
    n_groups, n_sites = a.shape
    blocks = [[-a, sp.eye_array(n_groups)], [sp.csr_array(np.ones((1, n_sites))), None]]
    lower, upper = np.full(n_groups + 1, -np.inf), np.concatenate((np.zeros(n_groups), [p]))
    if at_least is not None:
        blocks.append([at_least[0], None])
        lower = np.concatenate((lower, at_least[1]))
        upper = np.concatenate((upper, np.full(at_least[1].size, np.inf)))
    x0 = np.zeros(n_sites) if start is None else start.astype(float)
    outcome = run_highs(
        sp.block_array(blocks),
        cost=np.concatenate((np.zeros(n_sites), weights)),
        col_upper=np.ones(n_sites + n_groups),
        row_lower=lower,
        row_upper=upper,
        integer=(np.arange(n_sites + n_groups) < n_sites) & (not relax),
        maximize=True,
        time_limit=time_limit,
        mip_gap=mip_gap,
        start=None if relax else np.concatenate((x0, np.minimum(1.0, a @ x0))),
        options={"solver": "simplex", "simplex_strategy": 4} if relax else None,
    )
    if relax:
        if outcome is None or outcome.status != "optimal":
            return None
        return outcome.values[:n_sites], outcome
    if outcome is None:  # only with at_least: x = 0 is feasible otherwise
        return None
    return outcome.values[:n_sites] > 0.5, outcome


def solve_capacitated_mclp(
    a: sp.csr_array,
    weights: np.ndarray,
    capacity: np.ndarray,
    fixed: np.ndarray,
    p: int,
    *,
    start: np.ndarray,
    time_limit: float,
    mip_gap: float,
    at_least: tuple[sp.csr_array, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray, MipOutcome] | None:
    """MCLP where site ``j`` serves at most ``capacity[j]`` weight.

    Variables: ``x_j`` (open) and ``z_e ∈ [0, 1]``, the share of group ``g`` served by
    site ``j`` for each within-radius pair ``e = (g, j)`` only. Rows: ``Σ_j z_gj ≤ 1``,
    ``Σ_g w_g z_gj ≤ capacity_j x_j``, ``z_gj ≤ x_j`` and ``Σ_{j not fixed} x_j ≤ p``;
    fixed sites are forced open; ``at_least`` as in :func:`solve_mclp`. Returns the open
    mask, the share of every pair (CSR order of ``a``) and the outcome (``None`` when
    the minimums cannot be met).
    """
    n_sites, n_pairs = a.shape[1], a.nnz
    g_e = np.repeat(np.arange(a.shape[0]), np.diff(a.indptr))
    matrix, row_lower, row_upper = _capacity_rows(a, g_e, weights, capacity, fixed, p)
    if at_least is not None:
        matrix = sp.block_array(
            [[matrix], [sp.hstack((at_least[0], sp.csr_array((at_least[0].shape[0], n_pairs))))]]
        )
        row_lower = np.concatenate((row_lower, at_least[1]))
        row_upper = np.concatenate((row_upper, np.full(at_least[1].size, np.inf)))
    outcome = run_highs(
        matrix,
        cost=np.concatenate((np.zeros(n_sites), weights[g_e])),
        col_lower=np.concatenate((fixed.astype(float), np.zeros(n_pairs))),
        col_upper=np.ones(n_sites + n_pairs),
        row_lower=row_lower,
        row_upper=row_upper,
        integer=np.arange(n_sites + n_pairs) < n_sites,
        maximize=True,
        time_limit=time_limit,
        mip_gap=mip_gap,
        start=np.concatenate(((start | fixed).astype(float), np.zeros(n_pairs))),
    )
    if outcome is None:  # only with at_least: z = 0 is feasible otherwise
        return None
    return outcome.values[:n_sites] > 0.5, np.clip(outcome.values[n_sites:], 0, 1), outcome


def _capacity_rows(
    a: sp.csr_array,
    g_e: np.ndarray,
    weights: np.ndarray,
    capacity: np.ndarray,
    fixed: np.ndarray,
    p: int,
) -> tuple[sp.coo_array, np.ndarray, np.ndarray]:
    """Rows of the capacitated MCLP (see :func:`solve_capacitated_mclp`) over the columns
    ``x`` then ``z``, with their lower and upper bounds; ``g_e`` is the group of each pair."""
    n_groups, n_sites = a.shape
    n_pairs = a.nnz
    j_e = a.indices
    e = np.arange(n_pairs)
    finite = np.isfinite(capacity)
    x_cols, z_cols = np.arange(n_sites), n_sites + e
    r_cap, r_link, r_card = n_groups, n_groups + n_sites, n_groups + n_sites + n_pairs
    free = np.flatnonzero(~fixed)
    rows = np.concatenate((g_e, r_cap + j_e, r_cap + x_cols, r_link + e, r_link + e,
                           np.full(free.size, r_card)))  # fmt: skip
    cols = np.concatenate((z_cols, z_cols, x_cols, z_cols, j_e, free))
    vals = np.concatenate((np.ones(n_pairs), weights[g_e], -np.where(finite, capacity, 0.0),
                           np.ones(n_pairs), -np.ones(n_pairs), np.ones(free.size)))  # fmt: skip
    matrix = sp.coo_array((vals, (rows, cols)), shape=(r_card + 1, n_sites + n_pairs))
    row_lower = np.full(r_card + 1, -np.inf)
    row_upper = np.concatenate((np.ones(n_groups), np.where(finite, 0.0, np.inf),
                                np.zeros(n_pairs), [p]))  # fmt: skip
    return matrix, row_lower, row_upper


def solve_lscp(
    a: sp.csr_array, *, start: np.ndarray, time_limit: float
) -> tuple[np.ndarray, MipOutcome]:
    """Reduced LSCP: ``min Σ x`` s.t. ``Σ_j a_gj x_j ≥ 1`` for every group. Open mask."""
    n_groups, n_sites = a.shape
    outcome = run_highs(
        a,
        cost=np.ones(n_sites),
        col_upper=np.ones(n_sites),
        row_lower=np.ones(n_groups),
        row_upper=np.full(n_groups, np.inf),
        integer=np.ones(n_sites, dtype=bool),
        maximize=False,
        time_limit=time_limit,
        mip_gap=0.0,
        mip_abs_gap=1.0 - 1e-4,  # integral objective: bound ceil(lb - 1e-6) stays valid
        start=start.astype(float),
    )
    assert outcome is not None  # every group has a covering site
    return outcome.values > 0.5, outcome


def solve_pmedian(
    d: sp.csr_array,
    weights: np.ndarray,
    fixed: np.ndarray,
    p: int,
    *,
    start: np.ndarray | None,
    time_limit: float,
    mip_gap: float,
) -> tuple[np.ndarray, MipOutcome] | None:
    """p-median on the stored pairs of ``d``: ``min Σ w_i d_ij z_ij``.

    Rows: ``Σ_j z_ij = 1`` (stored pairs only), ``z_ij ≤ x_j``,
    ``Σ x = p + |fixed|``; fixed sites forced open. ``None`` when infeasible.
    """
    n_dem, n_sites = d.shape
    n_pairs = d.nnz
    rows_e = np.repeat(np.arange(n_dem), np.diff(d.indptr))
    e = np.arange(n_pairs)
    x_cols, z_cols = np.arange(n_sites), n_sites + e
    r_link, r_card = n_dem, n_dem + n_pairs
    rows = np.concatenate((rows_e, r_link + e, r_link + e, np.full(n_sites, r_card)))
    cols = np.concatenate((z_cols, z_cols, d.indices, x_cols))
    vals = np.concatenate((np.ones(n_pairs), np.ones(n_pairs), -np.ones(n_pairs),
                           np.ones(n_sites)))  # fmt: skip
    matrix = sp.coo_array((vals, (rows, cols)), shape=(r_card + 1, n_sites + n_pairs))
    total = p + int(fixed.sum())
    outcome = run_highs(
        matrix,
        cost=np.concatenate((np.zeros(n_sites), weights[rows_e] * d.data)),
        col_lower=np.concatenate((fixed.astype(float), np.zeros(n_pairs))),
        col_upper=np.ones(n_sites + n_pairs),
        row_lower=np.concatenate((np.ones(n_dem), np.full(n_pairs, -np.inf), [total])),
        row_upper=np.concatenate((np.ones(n_dem), np.zeros(n_pairs), [total])),
        integer=np.arange(n_sites + n_pairs) < n_sites,
        maximize=False,
        time_limit=time_limit,
        mip_gap=mip_gap,
        start=None if start is None else _median_start(d, rows_e, start),
    )
    if outcome is None:
        return None
    return outcome.values[:n_sites] > 0.5, outcome


def _median_start(d: sp.csr_array, rows_e: np.ndarray, start: np.ndarray) -> np.ndarray | None:
    """MIP start from the open mask ``start``: each demand assigned to its nearest open
    site (first stored pair on ties); ``None`` when the start leaves a demand unreached."""
    n_sites, n_pairs = d.shape[1], d.nnz
    val = np.where(start[d.indices], d.data, np.inf)
    best = np.minimum.reduceat(val, d.indptr[:-1])
    if not np.isfinite(best).all():
        return None
    x0 = np.zeros(n_sites + n_pairs)
    x0[:n_sites] = start
    first = np.where(val == best[rows_e], np.arange(n_pairs), n_pairs)
    x0[n_sites + np.minimum.reduceat(first, d.indptr[:-1])] = 1.0
    return x0
