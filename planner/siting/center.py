"""The p-center model on a cost matrix: open sites minimising the worst (weighted) cost.

The optimum is one of the stored costs ``w_i · d_ij``. A threshold ``t`` is feasible when
``p`` new sites, with the fixed ones, reach every demand within ``t``: a set-covering
question. :func:`pcenter` bisects the sorted distinct costs between a lower bound (every
site open) and a farthest-first greedy solution's value. Each threshold is decided on
the reduced covering model (rows the fixed sites reach and duplicate rows and sites
dropped): a greedy cover with at most ``p`` sites says yes; otherwise a HiGHS set-cover
MIP with at most ``p`` sites either finds a cover (it stops at the first) or proves there
is none (``method="heuristic"``: a Lagrangian bound instead, which may leave the question
open). See :mod:`planner.siting` for the cost conventions.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from planner.errors import PlannerError
from planner.siting.cover_search import greedy_cover, lscp_lagrangian, prune_redundant
from planner.siting.covering import coverage_matrix
from planner.siting.highs import _highs_lp
from planner.siting.inputs import (
    as_cover,
    assignment_input,
    check_options,
)
from planner.siting.median_search import Pairs, nearest_two
from planner.siting.reduction import reduce_cover, with_padding
from planner.siting.result import SitingResult
from planner.siting.strategies import relative_gap

#: Largest reduced cover (stored pairs) whose decision MIP HiGHS presolves: on larger
#: ones its presolve can overrun the time limit many times over.
PRESOLVE_MAX_PAIRS = 200_000

_UNREACHED = (
    "p-center: with p={p} new sites no solution reaching every demand was found (none "
    "exists, or time_limit is too short); raise p or add candidate pairs"
)


def pcenter(
    cost: np.ndarray | sp.sparray | sp.spmatrix,
    *,
    p: int,
    weights: Sequence[float] | np.ndarray | None = None,
    fixed: Sequence[int] | np.ndarray | None = None,
    time_limit: float = 60.0,
    method: str = "auto",
) -> SitingResult:
    """p-center: open ``p`` new sites minimising the worst cost to the nearest open site.

    With ``weights`` the worst of ``w_i · cost_i`` is minimised (population-weighted
    p-center); zero-weight demand is ignored. Every counted demand must reach an open site.

    Parameters
    ----------
    cost
        Cost matrix (see :mod:`planner.siting`).
    p
        Number of new sites, on top of ``fixed`` (``p + len(fixed)`` must be ≥ 1).
    weights
        Optional non-negative demand weights; ``None`` counts every demand alike.
    fixed
        Indices of sites that are open already.
    time_limit
        Seconds for the whole call; when the bisection is cut short, ``bound`` is the
        smallest threshold not yet proven infeasible.
    method
        How the set-covering questions the greedy cannot settle are decided: ``"auto"``
        or ``"mip"`` by a HiGHS MIP; ``"heuristic"`` by a Lagrangian bound, which may
        leave a question open (the bound then stays lower).

    Returns
    -------
    SitingResult
        ``objective`` is the worst (weighted) cost, ``bound`` a proven lower bound on it;
        ``assignment`` the nearest open site of each demand (lowest index on ties, ``-1``
        when none is reachable), ``covered`` the demands reaching an open site.
    """
    t0 = time.perf_counter()
    check_options(method, time_limit, 0.0)
    d, w, fixed_mask = assignment_input(cost, weights, p, fixed, "p-center")
    keep = np.flatnonzero(w > 0)
    scaled = sp.csr_array(d[keep]) if keep.size < d.shape[0] else d.copy()
    scaled.data = scaled.data * np.repeat(w[keep], np.diff(scaled.indptr))
    selected, bound, status = _solve(scaled, fixed_mask, p, t0 + time_limit, method)
    d1, phi1, _ = nearest_two(Pairs.build(d, np.ones(d.shape[0])), _mask(selected, d.shape[1]))
    reached = phi1 < d.shape[1]
    if not reached[keep].all():
        raise PlannerError(_UNREACHED.format(p=p))
    objective = float((w[keep] * d1[keep]).max(initial=0.0))
    bound = min(bound, objective)
    return SitingResult(
        selected, objective, bound, relative_gap(objective, bound), status,
        time.perf_counter() - t0, "mip" if method != "heuristic" else "heuristic",
        covered=reached, assignment=np.where(reached, phi1, -1),
    )  # fmt: skip


def _solve(
    c: sp.csr_array, fixed: np.ndarray, p: int, deadline: float, method: str
) -> tuple[np.ndarray, float, str]:
    """Bisect the distinct costs of ``c`` for the least feasible threshold: the open
    sites, a proven lower bound on the worst cost and the status."""
    if c.shape[0] == 0 or p == 0:
        return with_padding(np.empty(0, dtype=np.int64), fixed, p), np.inf, "optimal"
    lower = float(np.minimum.reduceat(c.data, c.indptr[:-1]).max())
    best = _farthest_first(c, fixed, p)
    upper = _worst(c, best)
    if np.isfinite(upper):  # pairs dearer than a known solution never matter
        c = _within(c, upper)
    values = np.unique(c.data[c.data >= lower])
    lo, hi, proven, status = -1, values.size - 1, -1, "optimal"
    if not np.isfinite(upper):
        hi = values.size  # no greedy solution reaches everybody: the last value decides
        values = np.append(values, np.inf)
    while hi - lo > 1:
        left = deadline - time.perf_counter()
        if left <= 0:
            status = "time_limit"
            break
        mid = (lo + hi) // 2
        share = left / max(1.0, math.log2(hi - lo))  # time for every remaining question
        answer, sites = _feasible(c, float(values[mid]), fixed, p,
                                  time.perf_counter() + share, method)  # fmt: skip
        if answer is True:
            hi, best = mid, sites
            continue
        lo = mid
        if answer is False:
            proven = mid
        else:
            status = "time_limit"
    if not np.isfinite(_worst(c, best)):
        raise PlannerError(_UNREACHED.format(p=p))
    bound = float(values[proven + 1]) if proven + 1 < values.size else lower
    return np.flatnonzero(best), max(bound, lower), status


def _feasible(
    c: sp.csr_array, t: float, fixed: np.ndarray, p: int, deadline: float, method: str
) -> tuple[bool | None, np.ndarray]:
    """Can ``p`` new sites with the fixed ones reach every row within ``t``? ``True`` with
    an open mask, ``False`` when proven impossible, ``None`` when the time ran out."""
    cover = as_cover(coverage_matrix(c, t))
    if (np.diff(cover.indptr) == 0).any():
        return False, fixed
    rows = np.flatnonzero(~(cover @ fixed.astype(float) > 0))
    a, _, site_ids, _ = reduce_cover(cover[rows], np.ones(rows.size), ~fixed)
    sites = prune_redundant(a, greedy_cover(a, np.ones(a.shape[0]), k=None)[0])
    answer: bool | None = True
    if sites.size > p:
        answer, sites = _decide(a, sites, p, deadline, method)
    if not answer:
        return answer, fixed
    return True, _mask(with_padding(site_ids[sites], fixed, p), c.shape[1])


def _decide(
    a: sp.csr_array, greedy: np.ndarray, p: int, deadline: float, method: str
) -> tuple[bool | None, np.ndarray]:
    """Does a cover of the rows of ``a`` with at most ``p`` sites exist (the greedy's
    ``greedy`` has more)? A Lagrangian bound with ``method="heuristic"``, else a HiGHS
    set-cover MIP with ``Σ x ≤ p`` that stops at its first cover."""
    if method == "heuristic":
        bound, better = lscp_lagrangian(a, greedy, deadline=deadline)
        if better.size <= p:
            return True, better
        return (False if bound > p else None), greedy
    import highspy

    h = highspy.Highs()
    n_rows, n_sites = a.shape
    for key, value in (
        ("output_flag", False),
        ("mip_max_improving_sols", 1),
        ("presolve", "off" if a.nnz > PRESOLVE_MAX_PAIRS else "choose"),
        ("time_limit", max(deadline - time.perf_counter(), 0.01)),
    ):
        h.setOptionValue(key, value)  # fmt: skip
    rows = sp.vstack([a, sp.csr_array(np.ones((1, n_sites)))])
    bounds = (np.ones(n_rows + 1), np.concatenate((np.full(n_rows, np.inf), [p])))
    bounds[0][-1] = 0.0
    h.passModel(_highs_lp(
        sp.csc_array(rows), np.ones(n_sites), (np.zeros(n_sites), np.ones(n_sites)), bounds,
        np.ones(n_sites, dtype=bool), False,
    ))  # fmt: skip
    h.run()
    if h.getInfo().primal_solution_status == highspy.kSolutionStatusFeasible:
        return True, np.flatnonzero(np.asarray(h.getSolution().col_value) > 0.5)
    return (False if h.getModelStatus() == highspy.HighsModelStatus.kInfeasible else None), greedy


def _farthest_first(c: sp.csr_array, fixed: np.ndarray, p: int) -> np.ndarray:
    """Greedy start: ``p`` times, open the site nearest to the worst-served row."""
    is_open = fixed.copy()
    by_site = sp.csc_array(c)
    d1 = _nearest(c, is_open)
    for _ in range(p):
        worst = int(np.argmax(d1))
        lo, hi = c.indptr[worst], c.indptr[worst + 1]
        free = ~is_open[c.indices[lo:hi]]
        if not free.any():
            break
        cols, vals = c.indices[lo:hi][free], c.data[lo:hi][free]
        site = int(cols[np.lexsort((cols, vals))[0]])
        is_open[site] = True
        rows = by_site.indices[by_site.indptr[site] : by_site.indptr[site + 1]]
        np.minimum.at(d1, rows, by_site.data[by_site.indptr[site] : by_site.indptr[site + 1]])
    return _mask(with_padding(np.flatnonzero(is_open & ~fixed), fixed, p), c.shape[1])


def _within(c: sp.csr_array, limit: float) -> sp.csr_array:
    """The pairs of ``c`` costing at most ``limit`` (zeros kept)."""
    keep = c.data <= limit
    rows = np.repeat(np.arange(c.shape[0]), np.diff(c.indptr))[keep]
    indptr = np.concatenate(([0], np.cumsum(np.bincount(rows, minlength=c.shape[0]))))
    return sp.csr_array((c.data[keep], c.indices[keep], indptr), shape=c.shape)


def _nearest(c: sp.csr_array, is_open: np.ndarray) -> np.ndarray:
    """Cost of every row to its nearest open site (``inf`` if none); rows are non-empty."""
    return np.minimum.reduceat(np.where(is_open[c.indices], c.data, np.inf), c.indptr[:-1])


def _worst(c: sp.csr_array, is_open: np.ndarray) -> float:
    """The worst row cost of the open mask."""
    return float(_nearest(c, is_open).max(initial=0.0))


def _mask(sites: np.ndarray, m: int) -> np.ndarray:
    """Boolean mask of ``sites`` among ``m``."""
    mask = np.zeros(m, dtype=bool)
    mask[sites] = True
    return mask
