"""Greedy, interchange and Lagrangian bounds for the coverage models (MCLP and LSCP).

Every function here works on a *reduced* model: a float CSR matrix ``a`` (demand groups ×
candidate sites, 1.0 where the site covers the group) plus group weights. Fixed sites,
demand already covered by them and demand nobody can reach have been taken out by the
caller (:mod:`planner.siting`). Ties are always broken towards the lowest site index.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

_HASH_SEED = 20240601


@dataclass
class StepSize:
    """The Polyak step factor of a subgradient search: halved after ``patience`` steps in
    a row without progress."""

    patience: int
    theta: float = 1.0
    stall: int = 0

    def record(self, improved: bool) -> None:
        """Count a step that did (or did not) improve the bound."""
        if improved:
            self.stall = 0
            return
        self.stall += 1
        if self.stall >= self.patience:
            self.theta, self.stall = self.theta / 2, 0


def row_entries(csr: sp.csr_array, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column indices of the stored entries of ``rows`` (concatenated) and their counts."""
    starts = csr.indptr[rows]
    lens = csr.indptr[rows + 1] - starts
    total = int(lens.sum())
    offsets = np.arange(total) - np.repeat(np.cumsum(lens) - lens, lens)
    return csr.indices[np.repeat(starts, lens) + offsets], lens


def merge_identical_rows(a: sp.csr_array) -> tuple[np.ndarray, np.ndarray]:
    """Group the rows of ``a`` that have identical sparsity patterns.

    Rows are hashed with two independent random 64-bit keys per column and the grouping
    is then verified entry by entry, so it is exact (a hash collision only costs a missed
    merge, never a wrong one).

    Returns
    -------
    group
        Group number of every row, groups numbered by first occurrence.
    first
        The first row of every group.
    """
    a = a.copy()
    a.sort_indices()
    n_rows, n_cols = a.shape
    keys = np.random.default_rng(_HASH_SEED).integers(
        0, np.iinfo(np.uint64).max, size=(2, n_cols), dtype=np.uint64, endpoint=True
    )
    lens = np.diff(a.indptr)
    table = np.empty((n_rows, 3), dtype=np.uint64)
    table[:, 0] = lens
    for h in range(2):
        cum = np.concatenate(([np.uint64(0)], np.cumsum(keys[h][a.indices], dtype=np.uint64)))
        table[:, h + 1] = cum[a.indptr[1:]] - cum[a.indptr[:-1]]
    _, first, inverse = np.unique(table, axis=0, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    group = rank[inverse.ravel()]
    first = first[order]
    # Exact check: every row must equal its group's first row.
    row_of_entry = np.repeat(np.arange(n_rows), lens)
    offset = np.arange(a.indices.size) - a.indptr[row_of_entry]
    rep_pos = a.indptr[first[group[row_of_entry]]] + offset
    bad = np.unique(row_of_entry[a.indices != a.indices[rep_pos]])
    if bad.size:  # hash collision: give those rows groups of their own
        group[bad] = first.size + np.arange(bad.size)
        first = np.concatenate((first, bad))
    return group, first


def greedy_cover(
    a: sp.csr_array,
    weights: np.ndarray,
    *,
    k: int | None,
    covered: np.ndarray | None = None,
    allowed: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Pick sites one at a time, each time the one adding the most uncovered weight.

    Parameters
    ----------
    a
        Coverage matrix (rows × sites), float CSR.
    weights
        Row weights.
    k
        Number of picks; ``None`` picks until no site adds positive weight.
    covered
        Rows covered before the first pick.
    allowed
        Sites that may be picked (default: all).

    Returns
    -------
    sites, gains
        The picked sites in order and the weight each one added.
    """
    n_rows, n_sites = a.shape
    covered = np.zeros(n_rows, dtype=bool) if covered is None else covered.copy()
    allowed = np.ones(n_sites, dtype=bool) if allowed is None else allowed.copy()
    a_csc = a.tocsc()
    gains = np.asarray(a.T @ np.where(covered, 0.0, weights), dtype=float)
    tol = 1e-12 * max(float(weights.sum()), 1.0)
    limit = int(allowed.sum()) if k is None else min(k, int(allowed.sum()))
    sites: list[int] = []
    added: list[float] = []
    for _ in range(limit):
        j = int(np.argmax(np.where(allowed, gains, -np.inf)))
        if k is None and gains[j] <= tol:
            break
        col = a_csc.indices[a_csc.indptr[j] : a_csc.indptr[j + 1]]
        newly = col[~covered[col]]
        covered[newly] = True
        allowed[j] = False
        sites.append(j)
        added.append(float(weights[newly].sum()))
        cols, lens = row_entries(a, newly)
        gains -= np.bincount(cols, weights=np.repeat(weights[newly], lens), minlength=n_sites)
    return np.asarray(sites, dtype=np.int64), np.asarray(added, dtype=float)


def best_swap(
    gain: np.ndarray, loss: np.ndarray, k_e: np.ndarray, o_e: np.ndarray, v_e: np.ndarray
) -> tuple[int, int, float]:
    """Best (in, out) pair for ``delta = gain[in] - loss[out] + extra[in, out]``.

    ``extra`` is given sparsely by entries ``(k_e, o_e, v_e)`` (duplicates summed);
    ``gain`` is ``-inf`` at sites that cannot come in, ``loss`` ``+inf`` at those that
    cannot go out. Pairs without an ``extra`` entry are dominated by the best-gain,
    least-loss pair, which is always evaluated. Ties go to the lowest in-site, then the
    lowest out-site.
    """
    n = gain.size
    extra = sp.csr_array((v_e, (k_e, o_e)), shape=(n, n))
    extra.sum_duplicates()
    k0, o0 = int(np.argmax(gain)), int(np.argmin(loss))
    ks = np.append(np.repeat(np.arange(n), np.diff(extra.indptr)), k0)
    os_ = np.append(extra.indices, o0)
    delta = gain[ks] - loss[os_] + np.append(extra.data, extra[k0, o0])
    top = np.flatnonzero(delta == delta.max())
    top = top[ks[top] == ks[top].min()]
    best = top[np.argmin(os_[top])]
    return int(ks[best]), int(os_[best]), float(delta[best])


def cover_interchange(
    a: sp.csr_array,
    weights: np.ndarray,
    open_sites: np.ndarray,
    *,
    deadline: float,
    max_iter: int = 10_000,
) -> np.ndarray:
    """Best-improvement 1-opt interchange (swap one open site for a closed one) for MCLP.

    Evaluates every swap exactly from per-site gains, per-site losses and the weight of
    demand that an out-site covers alone and the in-site also covers; stops at a local
    optimum, at ``max_iter`` swaps or at ``deadline`` (``time.perf_counter`` value).
    Returns the new sorted open-site indices.
    """
    n_sites = a.shape[1]
    a_csc = a.tocsc()
    is_open = np.zeros(n_sites, dtype=bool)
    is_open[open_sites] = True
    if is_open.all() or not is_open.any():
        return np.flatnonzero(is_open)
    counts = np.rint(a @ is_open.astype(float)).astype(np.int64)
    tol = 1e-9 * max(float(weights.sum()), 1.0)
    for _ in range(max_iter):
        if time.perf_counter() > deadline:
            break
        gain = np.asarray(a.T @ np.where(counts == 0, weights, 0.0), dtype=float)
        gain[is_open] = -np.inf
        rows1 = np.flatnonzero(counts == 1)
        cols, lens = row_entries(a, rows1)
        owner_e = is_open[cols]
        owner = cols[owner_e]  # exactly one open site per row of rows1
        loss = np.bincount(owner, weights=weights[rows1], minlength=n_sites).astype(float)
        loss[~is_open] = np.inf
        rep = np.repeat(np.arange(rows1.size), lens)[~owner_e]
        k_in, k_out, delta = best_swap(gain, loss, cols[~owner_e], owner[rep], weights[rows1][rep])
        if delta <= tol:
            break
        is_open[k_in], is_open[k_out] = True, False
        counts[a_csc.indices[a_csc.indptr[k_in] : a_csc.indptr[k_in + 1]]] += 1
        counts[a_csc.indices[a_csc.indptr[k_out] : a_csc.indptr[k_out + 1]]] -= 1
    return np.flatnonzero(is_open)


def prune_redundant(a: sp.csr_array, sites: np.ndarray) -> np.ndarray:
    """Drop sites whose rows are all covered by other sites, latest pick first (LSCP)."""
    a_csc = a.tocsc()
    counts = np.rint(a_csc[:, sites].sum(axis=1)).astype(np.int64).ravel()
    keep = np.ones(sites.size, dtype=bool)
    for pos in range(sites.size - 1, -1, -1):
        j = sites[pos]
        col = a_csc.indices[a_csc.indptr[j] : a_csc.indptr[j + 1]]
        if np.all(counts[col] >= 2):
            counts[col] -= 1
            keep[pos] = False
    return np.sort(sites[keep])


def mclp_lagrangian(
    a: sp.csr_array,
    weights: np.ndarray,
    p: int,
    sites: np.ndarray,
    *,
    gap: float,
    deadline: float,
    max_iter: int = 1000,
    patience: int = 40,
    polish_every: int = 250,
) -> tuple[float, np.ndarray]:
    """Upper bound on the reduced MCLP by subgradient on the coverage-constraint duals.

    With multipliers ``λ`` (``0 ≤ λ ≤ w``) on ``y_g ≤ Σ_j a_gj x_j`` the relaxation
    separates: ``L(λ) = Σ_g max(0, w_g − λ_g) + (sum of the p largest (Aᵀλ)_j)``, an upper
    bound for every ``λ``; its minimum equals the LP-relaxation bound. It starts from
    ``λ = w`` on the rows ``sites`` leave uncovered (the classic submodular bound) and
    takes Polyak steps towards the incumbent's value. Every ``polish_every`` steps the
    relaxation's ``p`` sites are improved by :func:`cover_interchange` and replace
    ``sites`` when they cover more. Stops when the bound is within ``gap`` of the
    incumbent, when the step collapses (halved after ``patience`` steps without
    progress), at ``max_iter`` or at ``deadline``.

    Returns
    -------
    bound, sites
        The best bound and the best solution seen.
    """
    covered = _covered_by(a, sites)
    value = float(weights[covered].sum())
    lam = np.where(covered, 0.0, weights)
    best = np.inf
    size = StepSize(patience)
    for it in range(1, max_iter + 1):
        bound, top = _mclp_relaxation(a, weights, lam, p)
        improved = bound < best - 1e-12 * abs(best if np.isfinite(best) else bound)
        best = bound if improved else best
        size.record(improved)
        if it % polish_every == 0:
            polished = cover_interchange(a, weights, np.sort(top), deadline=deadline)
            if float(weights[_covered_by(a, polished)].sum()) > value:
                sites, value = polished, float(weights[_covered_by(a, polished)].sum())
        if best <= value * (1 + gap) or size.theta < 1e-5 or time.perf_counter() > deadline:
            break
        x = np.zeros(a.shape[1])
        x[top] = 1.0
        grad = np.asarray(a @ x, dtype=float) - (weights > lam)
        norm = float(grad @ grad)
        if norm == 0.0:
            break
        step = size.theta * max(bound - value, 1e-9 * max(abs(bound), 1.0)) / norm
        lam = np.clip(lam - step * grad, 0.0, weights)
    return best, sites


def _mclp_relaxation(
    a: sp.csr_array, weights: np.ndarray, lam: np.ndarray, p: int
) -> tuple[float, np.ndarray]:
    """``L(λ)`` of :func:`mclp_lagrangian` and the ``p`` sites of largest ``(Aᵀλ)_j``."""
    reduced = np.asarray(a.T @ lam, dtype=float)
    top = np.argpartition(-reduced, p - 1)[:p] if p else np.empty(0, dtype=np.int64)
    return float(np.maximum(weights - lam, 0.0).sum() + reduced[top].sum()), top


def lscp_lagrangian(
    a: sp.csr_array,
    sites: np.ndarray,
    *,
    deadline: float,
    max_iter: int = 1000,
    patience: int = 40,
    every: int = 10,
) -> tuple[int, np.ndarray]:
    """Lower bound for the reduced LSCP (every row covered), and a Lagrangian heuristic.

    With multipliers ``λ ≥ 0`` on ``Σ_j a_gj x_j ≥ 1``:
    ``L(λ) = Σ_g λ_g + Σ_j min(0, 1 − (Aᵀλ)_j)``, a lower bound for every ``λ`` whose
    maximum is the LP bound. Starts from the dual-feasible ``λ_g = min_j 1/|col j|`` over
    the sites covering ``g`` and takes Polyak steps towards the incumbent. Every
    ``every`` steps the sites with negative reduced cost ``1 − (Aᵀλ)_j`` are opened, the
    rest covered greedily and the result pruned; the best cover replaces ``sites``.

    Returns
    -------
    bound, sites
        The bound rounded up (the objective is integral) and the best cover found.
    """
    n_rows = a.shape[0]
    col_size = np.asarray(a.sum(axis=0)).ravel()
    inv_size = sp.csr_array((1.0 / col_size[a.indices], a.indices, a.indptr), shape=a.shape)
    lam = np.asarray(inv_size.min(axis=1).toarray()).ravel()
    best = -np.inf
    size = StepSize(patience)
    for it in range(max_iter):
        reduced = np.asarray(a.T @ lam, dtype=float)
        value = float(lam.sum() + np.minimum(0.0, 1.0 - reduced).sum())
        improved = value > best + 1e-12
        best = value if improved else best
        size.record(improved)
        if it % every == 0:
            chosen = np.flatnonzero(reduced > 1.0)
            more, _ = greedy_cover(a, np.ones(n_rows), k=None, covered=_covered_by(a, chosen))
            cover = prune_redundant(a, np.concatenate((chosen, more)))
            if cover.size < sites.size:
                sites = cover
        done = np.ceil(best - 1e-6) >= sites.size or size.theta < 1e-5
        if done or time.perf_counter() > deadline:
            break
        grad = 1.0 - np.asarray(a @ (reduced > 1.0).astype(float), dtype=float)
        grad[(lam <= 0.0) & (grad < 0.0)] = 0.0
        norm = float(grad @ grad)
        if norm == 0.0:
            break
        step = size.theta * max(sites.size - value, 1e-9) / norm
        lam = np.maximum(lam + step * grad, 0.0)
    return int(np.ceil(best - 1e-6)), sites


def _covered_by(a: sp.csr_array, sites: np.ndarray) -> np.ndarray:
    """Rows of ``a`` covered by ``sites``."""
    x = np.zeros(a.shape[1])
    x[sites] = 1.0
    return np.asarray(a @ x) > 0
