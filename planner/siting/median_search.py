"""Greedy, fast interchange and a Lagrangian bound for the p-median model.

Distances are a CSR matrix ``d`` (demand × site) whose stored entries are the reachable
pairs (a stored zero is a zero distance). A demand with no open reachable site is charged
``penalty`` per unit weight, a number larger than any distance, so the searches first
make every demand reachable and then shorten distances. Ties go to the lowest site index.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from planner.siting.cover_search import StepSize, best_swap


@dataclass(frozen=True)
class Pairs:
    """The reachable pairs of a p-median instance, in CSR order."""

    d: sp.csr_array
    rows: np.ndarray  # row of every stored entry
    weights: np.ndarray
    penalty: float

    @classmethod
    def build(cls, d: sp.csr_array, weights: np.ndarray) -> Pairs:
        """Wrap ``d`` (canonical CSR) and ``weights``.

        The penalty is large enough that leaving the lightest demand unreached costs more
        than serving all demand at the largest distance.
        """
        rows = np.repeat(np.arange(d.shape[0]), np.diff(d.indptr))
        top = float(d.data.max()) if d.data.size else 0.0
        positive = weights[weights > 0]
        ratio = float(positive.sum() / positive.min()) if positive.size else 1.0
        return cls(d, rows, weights, (ratio + 1.0) * (top + 1.0))


def _row_min(values: np.ndarray, indptr: np.ndarray, empty: float) -> np.ndarray:
    """Minimum of ``values`` per CSR row; ``empty`` for rows without stored entries."""
    out = np.full(indptr.size - 1, empty, dtype=values.dtype)
    nonempty = np.diff(indptr) > 0
    if nonempty.any():
        out[nonempty] = np.minimum.reduceat(values, indptr[:-1][nonempty])
    return out


def nearest_two(pairs: Pairs, is_open: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distance to the nearest open site, that site (``n_sites`` if none), second distance."""
    d, rows, pen = pairs.d, pairs.rows, pairs.penalty
    n_sites = d.shape[1]
    open_e = is_open[d.indices]
    val = np.where(open_e, d.data, pen)
    d1 = _row_min(val, d.indptr, pen)
    phi1 = _row_min(np.where(open_e & (val == d1[rows]), d.indices, n_sites), d.indptr, n_sites)
    d2 = _row_min(np.where(d.indices == phi1[rows], pen, val), d.indptr, pen)
    return d1, phi1, d2


def total_cost(pairs: Pairs, is_open: np.ndarray) -> float:
    """Weighted distance to the nearest open site (unreachable demand at the penalty)."""
    return float(pairs.weights @ nearest_two(pairs, is_open)[0])


def greedy_median(pairs: Pairs, fixed: np.ndarray, p: int) -> np.ndarray:
    """Add sites one at a time, each time the one that most reduces the total cost.

    ``fixed`` (boolean mask) starts open; returns the open mask after ``p`` additions.
    """
    d, rows, w = pairs.d, pairs.rows, pairs.weights
    n_sites = d.shape[1]
    d_csc = d.tocsc()
    rows_csc = d_csc.indices
    is_open = fixed.copy()
    d1 = nearest_two(pairs, is_open)[0]
    gain = np.bincount(
        d.indices, weights=w[rows] * np.maximum(d1[rows] - d.data, 0.0), minlength=n_sites
    ).astype(float)
    for _ in range(p):
        k = int(np.argmax(np.where(is_open, -np.inf, gain)))
        is_open[k] = True
        span = slice(d_csc.indptr[k], d_csc.indptr[k + 1])
        better = d_csc.data[span] < d1[rows_csc[span]]
        changed = rows_csc[span][better]
        new_d1 = d_csc.data[span][better]
        starts, ends = d.indptr[changed], d.indptr[changed + 1]
        lens = ends - starts
        pos = np.repeat(starts, lens) + (
            np.arange(int(lens.sum())) - np.repeat(np.cumsum(lens) - lens, lens)
        )
        r = np.repeat(changed, lens)
        old = np.maximum(d1[r] - d.data[pos], 0.0)
        new = np.maximum(np.repeat(new_d1, lens) - d.data[pos], 0.0)
        gain -= np.bincount(d.indices[pos], weights=w[r] * (old - new), minlength=n_sites)
        d1[changed] = new_d1
    return is_open


def median_interchange(
    pairs: Pairs,
    is_open: np.ndarray,
    fixed: np.ndarray,
    *,
    deadline: float,
    max_iter: int = 10_000,
) -> np.ndarray:
    """Best-improvement swap search (fast interchange) on the open mask.

    The saving of swapping in ``k`` and out ``o`` is
    ``gain[k] − loss[o] + extra[k, o]``, where ``gain[k]`` is the saving of adding ``k``,
    ``loss[o]`` the cost of closing ``o`` (its demand moves to the second-nearest site) and
    ``extra[k, o]`` sums ``w·(d2 − max(d_k, d1))`` over demand served by ``o`` that ``k``
    reaches closer than its second-nearest site. Fixed sites never leave.
    """
    d, rows, w = pairs.d, pairs.rows, pairs.weights
    n_sites = d.shape[1]
    is_open = is_open.copy()
    tol = 1e-12 * max(float(w @ nearest_two(pairs, is_open)[0]), 1.0)
    for _ in range(max_iter):
        if time.perf_counter() > deadline or is_open.all():
            break
        d1, phi1, d2 = nearest_two(pairs, is_open)
        gain = np.bincount(
            d.indices, weights=w[rows] * np.maximum(d1[rows] - d.data, 0.0), minlength=n_sites
        ).astype(float)
        gain[is_open] = -np.inf
        served = phi1 < n_sites
        loss = np.bincount(phi1[served], weights=(w * (d2 - d1))[served], minlength=n_sites).astype(
            float
        )
        loss[~is_open | fixed] = np.inf
        if np.isinf(loss).all():
            break
        near = (d.data < d2[rows]) & ~is_open[d.indices] & served[rows]
        r = rows[near]
        extra = w[r] * (d2[r] - np.maximum(d.data[near], d1[r]))
        k_in, k_out, delta = best_swap(gain, loss, d.indices[near], phi1[r], extra)
        if delta <= tol:
            break
        is_open[k_in], is_open[k_out] = True, False
    return is_open


def median_lagrangian(
    pairs: Pairs,
    fixed: np.ndarray,
    p: int,
    *,
    incumbent: np.ndarray,
    multipliers: np.ndarray,
    gap: float,
    deadline: float,
    max_iter: int = 1000,
    patience: int = 40,
    every: int = 10,
) -> tuple[float, np.ndarray]:
    """Lower bound on the p-median cost by relaxing "each demand is assigned once".

    With free multipliers ``λ_i``: ``L(λ) = Σ_i λ_i + Σ_i min(0, w_i·penalty − λ_i)
    + Σ_{j open} ρ_j`` where ``ρ_j = Σ_i min(0, w_i d_ij − λ_i)`` and the open sites are
    the fixed ones plus the ``p`` others with the smallest ``ρ``. Every ``L(λ)`` is a lower
    bound (the penalty option only relaxes further); Polyak subgradient steps towards the
    incumbent's cost raise it. Every ``every`` steps the relaxation's open sites are
    costed as a solution and replace the ``incumbent`` mask when cheaper. Stops when the
    bound is within ``gap`` of the incumbent, when the step collapses (halved after
    ``patience`` steps without progress), at ``max_iter`` or at ``deadline``.

    Returns
    -------
    bound, incumbent
        The best bound and the cheapest open mask seen.
    """
    wd = pairs.weights[pairs.rows] * pairs.d.data
    w_pen = pairs.weights * pairs.penalty
    lam = multipliers.astype(float).copy()
    free = np.flatnonzero(~fixed)
    upper = total_cost(pairs, incumbent)
    best = -np.inf
    size = StepSize(patience)
    for it in range(max_iter):
        below, is_open, rho_open = _median_relaxation(pairs, lam, wd, fixed, free, p)
        value = float(lam.sum() + np.minimum(0.0, w_pen - lam).sum() + rho_open)
        improved = value > best + 1e-12 * abs(value)
        best = value if improved else best
        size.record(improved)
        if it % every == 0 and total_cost(pairs, is_open) < upper:
            incumbent, upper = is_open, total_cost(pairs, is_open)
        if best >= upper * (1 - gap) or size.theta < 1e-5 or time.perf_counter() > deadline:
            break
        assigned = np.bincount(
            pairs.rows, weights=(below & is_open[pairs.d.indices]).astype(float),
            minlength=pairs.weights.size,
        )  # fmt: skip
        grad = 1.0 - assigned - (w_pen < lam)
        norm = float(grad @ grad)
        if norm == 0.0:
            break
        step = size.theta * max(upper - value, 1e-9 * max(abs(value), 1.0)) / norm
        lam = lam + step * grad
    return best, incumbent


def _median_relaxation(
    pairs: Pairs, lam: np.ndarray, wd: np.ndarray, fixed: np.ndarray, free: np.ndarray, p: int
) -> tuple[np.ndarray, np.ndarray, float]:
    """The relaxed problem of :func:`median_lagrangian` at ``λ``: the pairs with
    ``w_i d_ij < λ_i``, the open mask (fixed sites plus the ``p`` free ones of smallest
    ``ρ``) and ``Σ_{j open} ρ_j``."""
    below = wd < lam[pairs.rows]
    rho = np.bincount(
        pairs.d.indices, weights=np.where(below, wd - lam[pairs.rows], 0.0),
        minlength=pairs.d.shape[1],
    ).astype(float)  # fmt: skip
    is_open = fixed.copy()
    if p:
        is_open[free[np.argsort(rho[free], kind="stable")[:p]]] = True
    return below, is_open, float(rho[is_open].sum())
