"""The p-median model on a cost matrix: open sites minimising total weighted cost.

See :mod:`planner.siting` for the cost conventions, the solution routes and statuses.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from planner.siting.inputs import (
    assignment_input,
    check_options,
)
from planner.siting.median_search import Pairs, nearest_two
from planner.siting.result import SitingResult
from planner.siting.strategies import relative_gap, solve_pmedian_pairs

#: ``method="auto"``: largest p-median instance (reachable pairs) solved as a MIP.
MEDIAN_MIP_MAX_PAIRS = 50_000


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
        Cost matrix (see :mod:`planner.siting`).
    weights
        Demand weights, non-negative.
    p
        Number of new sites, on top of ``fixed`` (``p + len(fixed)`` must be ≥ 1).
    fixed
        Indices of sites that are open already.
    time_limit, mip_gap, method
        As for :func:`planner.siting.mclp`.

    Returns
    -------
    SitingResult
        With ``assignment``; ``objective / sum(weights)`` is the mean cost.
    """
    t0 = time.perf_counter()
    check_options(method, time_limit, mip_gap)
    d, w, fixed_mask = assignment_input(cost, weights, p, fixed, "p-median")
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
        used, assignment=np.where(phi1 < d.shape[1], phi1, -1),
    )  # fmt: skip
