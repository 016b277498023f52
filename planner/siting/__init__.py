"""Siting: facility location on a cost matrix, without geometry (MCLP, LSCP, p-median,
p-center, backup coverage, expansion planning).

The planner's proposal step, which sites sub-centers and stations on the layers, is
:mod:`planner.siting.proposals` (not imported here, so the solvers stay light).

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

:func:`expand` (expansion planning: new sites, relocations and upgrades under a budget)
takes a coverage matrix instead of costs and returns an :class:`ExpansionResult`; see
:mod:`planner.siting.expansion`.
"""

from planner.siting.backup import lscp_backup
from planner.siting.center import pcenter
from planner.siting.covering import (
    MIP_MAX_PAIRS,
    budget_curve,
    coverage_matrix,
    lscp,
    mclp,
    rank_by_marginal_gain,
)
from planner.siting.expansion import ExpansionResult, expand
from planner.siting.median import MEDIAN_MIP_MAX_PAIRS, pmedian
from planner.siting.result import SitingResult

__all__ = [
    "MEDIAN_MIP_MAX_PAIRS",
    "MIP_MAX_PAIRS",
    "ExpansionResult",
    "SitingResult",
    "budget_curve",
    "coverage_matrix",
    "expand",
    "lscp",
    "lscp_backup",
    "mclp",
    "pcenter",
    "pmedian",
    "rank_by_marginal_gain",
]
