"""Maximal covering with site capacities: demand may be split between sites (MIP only)."""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from planner.errors import PlannerError
from planner.siting.highs import solve_capacitated_mclp
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
from planner.siting.strategies import greedy_min_open, reached, relative_gap


def capacitated_mclp(
    model: CoverModel, capacity: float | Sequence[float] | np.ndarray, limits: Limits
) -> SitingResult:
    """MCLP with site capacities (MIP only), and minimums per group; see
    :func:`planner.siting.mclp`."""
    if limits.method == "heuristic":
        raise PlannerError("mclp: capacity= is solved by MIP only; use method='auto' or 'mip'")
    cover, w, fixed_mask, groups = model.cover, model.weights, model.fixed, model.groups
    m = cover.shape[1]
    cap = _capacities(capacity, m)
    keep = np.flatnonzero((w > 0) & (np.diff(cover.indptr) > 0))
    a, gw, site_ids, group = reduce_cover(
        cover[keep], w[keep], np.ones(m, dtype=bool), merge_sites=False,
        keep_sites=members(groups, m),
    )  # fmt: skip
    fixed_red = fixed_mask[site_ids]
    k = min(model.p, int((~fixed_red).sum()))
    start = _greedy_start(a, gw, k, fixed_red, groups, site_ids)
    solved = solve_capacitated_mclp(
        a, gw, cap[site_ids], fixed_red, k, start=start,
        time_limit=limits.deadline - time.perf_counter(), mip_gap=limits.mip_gap,
        at_least=group_rows(groups, site_ids) if groups else None,
    )  # fmt: skip
    if solved is None:
        raise PlannerError("mclp: no solution meets the minimum of open sites per group")
    is_open, share, outcome = solved
    served_group, main = _service(a, site_ids, share)
    served = np.zeros(cover.shape[0])
    served[keep] = served_group[group]
    assignment = np.full(cover.shape[0], -1)
    assignment[keep] = main[group]
    objective = float(w @ served)
    bound = round_bound(outcome.bound, w, objective)
    selected = with_padding(site_ids[is_open & ~fixed_red], fixed_mask, model.p)
    return SitingResult(
        selected, objective, bound, relative_gap(objective, bound), outcome.status,
        time.perf_counter() - limits.start, "mip", covered=served >= 1 - 1e-6,
        assignment=assignment, served=served,
    )  # fmt: skip


def _capacities(capacity: float | Sequence[float] | np.ndarray, m: int) -> np.ndarray:
    """One capacity per site (``inf`` = no limit), checked."""
    cap = np.asarray(capacity, dtype=float)
    if cap.ndim == 0:
        cap = np.full(m, float(cap))
    if cap.shape != (m,) or np.isnan(cap).any() or (cap < 0).any():
        raise PlannerError(
            f"mclp: capacity must be one non-negative number or {m} of them (inf = no limit); "
            f"got shape {cap.shape}"
        )
    return cap


def _greedy_start(
    a: sp.csr_array,
    gw: np.ndarray,
    k: int,
    fixed_red: np.ndarray,
    groups: list[tuple[np.ndarray, int]],
    site_ids: np.ndarray,
) -> np.ndarray:
    """MIP start: the greedy (minimums first) over the free sites on top of the fixed
    ones' coverage, as a mask over the model's columns."""
    free = np.flatnonzero(~fixed_red)
    by_fixed = reached(a, np.flatnonzero(fixed_red))
    start = free[
        greedy_min_open(sp.csr_array(a[:, free]), gw, k, group_rows(groups, site_ids[free]),
                        covered=by_fixed)
    ]  # fmt: skip
    start_mask = np.zeros(site_ids.size, dtype=bool)
    start_mask[start] = True
    return start_mask


def _service(
    a: sp.csr_array, site_ids: np.ndarray, share: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per demand group: the served share of its weight and the site serving the largest
    share (lowest site on ties, ``-1`` when unserved)."""
    rows_e = np.repeat(np.arange(a.shape[0]), np.diff(a.indptr))
    served_group = np.minimum(np.bincount(rows_e, weights=share, minlength=a.shape[0]), 1.0)
    top = np.lexsort((a.indices, -share, rows_e))  # per group: largest share, lowest site
    first = top[np.concatenate(([True], np.diff(rows_e[top]) > 0))] if top.size else top
    main = np.where(share[first] > 1e-9, site_ids[a.indices[first]], -1)
    return served_group, main
