"""A validated covering instance, its solver limits, and the reductions the covering
models share (merged demand rows, group incidence, padding, bound rounding)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from planner.siting.cover_search import merge_identical_rows


@dataclass(frozen=True)
class CoverModel:
    """An MCLP instance after the input checks.

    Attributes
    ----------
    cover
        Boolean-valued coverage (demand × site), float CSR.
    weights
        Demand weights.
    fixed
        Mask of the sites that are open already.
    p
        Number of new sites.
    groups
        Disjoint ``(sites, count)`` minimums of open sites.
    """

    cover: sp.csr_array
    weights: np.ndarray
    fixed: np.ndarray
    p: int
    groups: list[tuple[np.ndarray, int]]


@dataclass(frozen=True)
class Limits:
    """When a call started (``time.perf_counter``) and the options that bound its search."""

    start: float
    time_limit: float
    mip_gap: float
    method: str

    @property
    def deadline(self) -> float:
        """The ``time.perf_counter`` value at which the call must end."""
        return self.start + self.time_limit


def reduce_cover(
    sub: sp.csr_array,
    w: np.ndarray,
    allowed: np.ndarray,
    *,
    merge_sites: bool = True,
    keep_sites: np.ndarray | None = None,
) -> tuple[sp.csr_array, np.ndarray, np.ndarray, np.ndarray]:
    """Merge identical rows; keep the allowed sites that cover some row (and every site
    of the mask ``keep_sites``, even if it covers none).

    With ``merge_sites``, of several sites covering exactly the same rows only the lowest
    index is kept (valid without capacities or minimums: the others can never do better).

    Returns the reduced matrix (groups × kept sites), group weights, the kept sites'
    original indices and the group of every row of ``sub``.
    """
    group, first = merge_identical_rows(sub)
    gw = np.bincount(group, weights=w, minlength=first.size)
    rows = sub[first]
    useful = np.bincount(rows.indices, minlength=sub.shape[1]) > 0
    if keep_sites is not None:
        useful |= keep_sites
    site_ids = np.flatnonzero(useful & allowed)
    a = sp.csr_array(rows[:, site_ids])
    if merge_sites and site_ids.size:
        _, distinct = merge_identical_rows(sp.csr_array(a.T))
        distinct = np.sort(distinct)
        site_ids, a = site_ids[distinct], sp.csr_array(a[:, distinct])
    return a, gw, site_ids, group


def members(groups: list[tuple[np.ndarray, int]], m: int) -> np.ndarray:
    """Mask of the sites belonging to some group."""
    mask = np.zeros(m, dtype=bool)
    for sites, _ in groups:
        mask[sites] = True
    return mask


def group_rows(
    groups: list[tuple[np.ndarray, int]], site_ids: np.ndarray
) -> tuple[sp.csr_array, np.ndarray]:
    """Group × column incidence of the groups' sites among ``site_ids`` (the model's
    columns), with each group's minimum."""
    size = max([int(site_ids.max(initial=-1)), *(int(g.max(initial=-1)) for g, _ in groups)])
    owner = np.full(size + 1, -1, dtype=np.int64)  # group of every original site
    for i, (sites, _) in enumerate(groups):
        owner[sites] = i
    label = owner[site_ids]
    cols = np.flatnonzero(label >= 0)
    incidence = sp.csr_array(
        (np.ones(cols.size), (label[cols], cols)), shape=(len(groups), site_ids.size)
    )
    return incidence, np.array([need for _, need in groups], dtype=float)


def with_padding(new: np.ndarray, fixed_mask: np.ndarray, p: int) -> np.ndarray:
    """Fixed sites plus ``new``, topped up to ``p`` new sites with the lowest free indices."""
    taken = fixed_mask.copy()
    taken[new] = True
    missing = p - int(np.asarray(new).size)
    if missing > 0:
        taken[np.flatnonzero(~taken)[:missing]] = True
    return np.flatnonzero(taken)


def round_bound(bound: float, w: np.ndarray, objective: float) -> float:
    """Round an upper bound down when all weights are integers; never below the objective."""
    if np.all(w == np.round(w)):
        bound = math.floor(bound + 1e-9 * max(1.0, abs(bound)))
    return float(max(bound, objective))
