"""The answer every siting model returns: a solution with its certificate."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class SitingResult:
    """A siting solution with its certificate.

    Attributes
    ----------
    selected
        Sorted indices of all open sites, fixed ones included.
    objective
        MCLP: covered (served) weight, fixed sites' coverage included. LSCP: number of
        open sites, fixed ones included. p-median: total weighted cost.
    bound
        Best proven bound on ``objective`` (upper for MCLP, lower for LSCP/p-median).
    gap
        ``|bound − objective| / |objective|`` (0 when both are 0, ``inf`` if only the
        objective is 0).
    status
        ``"optimal"``, ``"time_limit"`` or ``"heuristic"`` (see :mod:`planner.siting`).
    seconds
        Wall time of the call.
    method
        ``"mip"`` or ``"heuristic"``: what produced the solution and the bound.
    covered
        MCLP/LSCP: per demand, reached by an open site (capacitated MCLP: fully served).
    assignment
        p-median: the open site serving each demand (nearest, lowest index on ties; ``-1``
        for zero-weight demand that reaches no open site). Capacitated MCLP: the site
        serving the largest share (``-1`` if unserved).
    uncoverable
        LSCP: per demand, no candidate site at all within the radius.
    served
        Capacitated MCLP: served share of each demand's weight, in [0, 1].
    """

    selected: np.ndarray
    objective: float
    bound: float
    gap: float
    status: str
    seconds: float
    method: str
    covered: np.ndarray | None = None
    assignment: np.ndarray | None = None
    uncoverable: np.ndarray | None = None
    served: np.ndarray | None = None
