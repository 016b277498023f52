"""Input checks and conversions for :mod:`planner.siting` (cost, cover, weights, sites)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from planner.errors import PlannerError

METHODS = ("auto", "mip", "heuristic")


def check_options(method: str, time_limit: float, mip_gap: float) -> None:
    """Validate the solver options shared by the models."""
    if method not in METHODS:
        raise PlannerError(f"method must be one of {METHODS}, got {method!r}")
    if not time_limit > 0:
        raise PlannerError(f"time_limit must be positive seconds, got {time_limit!r}")
    if not 0 <= mip_gap < 1:
        raise PlannerError(f"mip_gap must be in [0, 1), got {mip_gap!r}")


def check_number(value: float, name: str) -> float:
    """A non-negative number (``inf`` allowed)."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise PlannerError(f"{name} must be a number, got {value!r}") from None
    if not value >= 0:
        raise PlannerError(f"{name} must be non-negative, got {value!r}")
    return value


def dense_cost(cost: object) -> np.ndarray:
    """A 2-D float array with no negative entries (``nan``/``inf`` = unreachable)."""
    try:
        dense = np.asarray(cost, dtype=float)
    except (TypeError, ValueError):
        raise PlannerError(f"cost must be a numeric matrix, got {type(cost).__name__}") from None
    if dense.ndim != 2:
        raise PlannerError(f"cost must be 2-D (demand × sites), got shape {dense.shape}")
    if (dense < 0).any():
        raise PlannerError("cost has negative entries; costs must be ≥ 0")
    return dense


def sparse_cost(cost: sp.sparray | sp.spmatrix) -> sp.csr_array:
    """Canonical CSR of the stored costs; stored ``inf`` entries are dropped."""
    d = sp.csr_array(cost, dtype=float)
    d.sum_duplicates()
    if d.ndim != 2:
        raise PlannerError(f"cost must be 2-D (demand × sites), got shape {d.shape}")
    if np.isnan(d.data).any() or (d.data < 0).any():
        raise PlannerError("cost has negative or nan stored entries; costs must be ≥ 0")
    if np.isinf(d.data).any():
        rows = np.repeat(np.arange(d.shape[0]), np.diff(d.indptr))
        finite = np.isfinite(d.data)
        d = sp.csr_array((d.data[finite], (rows[finite], d.indices[finite])), shape=d.shape)
    return d


def dense_pairs(dense: np.ndarray) -> sp.csr_array:
    """CSR of the finite entries of a dense cost matrix, zeros kept."""
    finite = np.isfinite(dense)
    indptr = np.concatenate(([0], np.cumsum(finite.sum(axis=1))))
    cols = np.broadcast_to(np.arange(dense.shape[1], dtype=np.int32), dense.shape)
    return sp.csr_array((dense[finite], cols[finite], indptr), shape=dense.shape)


def as_cover(cover: object) -> sp.csr_array:
    """Coverage matrix as float CSR with ones at the covering pairs, sorted indices."""
    if sp.issparse(cover):
        a = sp.csr_array(cover)
        a.sum_duplicates()
        a.eliminate_zeros()
    else:
        dense = np.asarray(cover)
        if dense.ndim != 2:
            raise PlannerError(f"cover must be 2-D (demand × sites), got shape {dense.shape}")
        a = sp.csr_array(dense.astype(bool))
    if a.ndim != 2:
        raise PlannerError(f"cover must be 2-D (demand × sites), got shape {a.shape}")
    out = sp.csr_array((np.ones(a.nnz), a.indices, a.indptr), shape=a.shape)
    out.sort_indices()
    return out


def check_weights(weights: object, n: int) -> np.ndarray:
    """Finite non-negative weights, one per demand."""
    w = np.asarray(weights, dtype=float)
    if w.shape != (n,):
        raise PlannerError(f"weights must have one value per demand row ({n}), got {w.shape}")
    if not np.isfinite(w).all() or (w < 0).any():
        raise PlannerError("weights must be finite and ≥ 0")
    return w


def check_fixed(fixed: object, m: int) -> np.ndarray:
    """Boolean mask of the given site indices."""
    idx = np.asarray([] if fixed is None else fixed)
    if idx.size and (idx.ndim != 1 or not np.issubdtype(idx.dtype, np.integer)):
        raise PlannerError(f"site indices must be a 1-D list of integers, got {idx!r}")
    if idx.size and (idx.min() < 0 or idx.max() >= m):
        raise PlannerError(f"site indices must be in 0..{m - 1}, got {sorted(set(idx.tolist()))}")
    mask = np.zeros(m, dtype=bool)
    mask[idx.astype(np.int64)] = True
    return mask


def check_count(p: object, m: int, fixed_mask: np.ndarray, name: str = "p") -> None:
    """``p`` new sites must exist beside the fixed ones."""
    if not isinstance(p, int | np.integer) or isinstance(p, bool) or p < 0:
        raise PlannerError(f"{name} must be a non-negative integer, got {p!r}")
    free = m - int(fixed_mask.sum())
    if p > free:
        raise PlannerError(f"{name}={p} new sites requested but only {free} candidate(s) are free")


def check_min_open(
    min_open: Sequence[tuple[Sequence[int] | np.ndarray, int]] | None,
    m: int,
    fixed_mask: np.ndarray,
    p: int,
) -> list[tuple[np.ndarray, int]]:
    """Groups of sites with a minimum of open sites each, as (free sites, still needed).

    ``min_open`` is a sequence of ``(sites, count)`` pairs over disjoint groups of sites;
    fixed sites of a group count towards its ``count``. Only groups that still need new
    sites are returned.

    Raises
    ------
    PlannerError
        For malformed groups, overlapping groups, or minimums that ``p`` new sites (or
        the group's free sites) cannot meet.
    """
    if min_open is None:
        return []
    seen = np.zeros(m, dtype=bool)
    groups = []
    for i, item in enumerate(min_open):
        try:
            sites, count = item
        except (TypeError, ValueError):
            raise PlannerError(
                f"min_open[{i}] must be a (sites, count) pair, got {item!r}"
            ) from None
        mask = check_fixed(sites, m)
        if not isinstance(count, int | np.integer) or isinstance(count, bool) or count < 0:
            raise PlannerError(
                f"min_open[{i}]: count must be a non-negative integer, got {count!r}"
            )
        if (mask & seen).any():
            raise PlannerError(
                f"min_open[{i}] shares sites with an earlier group; groups must be disjoint"
            )
        seen |= mask
        free = np.flatnonzero(mask & ~fixed_mask)
        need = int(count) - int((mask & fixed_mask).sum())
        if need > free.size:
            raise PlannerError(
                f"min_open[{i}] asks for {count} open site(s) but the group has only "
                f"{int(mask.sum())} site(s)"
            )
        if need > 0:
            groups.append((free, need))
    required = sum(need for _, need in groups)
    if required > p:
        raise PlannerError(
            f"the minimums need {required} new site(s) but p={p}; raise p or lower the minimums"
        )
    return groups


def assignment_input(
    cost: np.ndarray | sp.sparray | sp.spmatrix,
    weights: Sequence[float] | np.ndarray | None,
    p: int,
    fixed: Sequence[int] | np.ndarray | None,
    model: str,
) -> tuple[sp.csr_array, np.ndarray, np.ndarray]:
    """The stored pairs, weights (``None``: 1 each) and fixed mask of an assignment model
    (p-median, p-center), checked: some site opens and every positive-weight demand
    reaches some site."""
    d = sparse_cost(cost) if sp.issparse(cost) else dense_pairs(dense_cost(cost))
    n, m = d.shape
    w = np.ones(n) if weights is None else check_weights(weights, n)
    fixed_mask = check_fixed(fixed, m)
    check_count(p, m, fixed_mask)
    if p + fixed_mask.sum() == 0:
        raise PlannerError(f"{model} needs at least one open site: got p=0 and no fixed sites")
    lonely = np.flatnonzero((np.diff(d.indptr) == 0) & (w > 0))
    if lonely.size:
        raise PlannerError(
            f"{model}: {lonely.size} demand row(s) reach no site at all (rows "
            f"{lonely[:10].tolist()}); give them a cost or drop them"
        )
    return d, w, fixed_mask
