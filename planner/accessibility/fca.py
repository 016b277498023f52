"""Two-step floating catchment accessibility on a demand × supply cost matrix.

2SFCA (Luo & Wang 2003): every supply site ``j`` shares its supply ``S_j`` among the
demand within its catchment, ``R_j = S_j / Σ_i P_i``; every demand point sums the ratios
of the sites that reach it, ``A_i = Σ_j R_j``. The enhanced form (E2SFCA, Luo & Qi
2009) weighs each pair by a distance decay ``W(d_ij)`` in both steps:
``R_j = S_j / Σ_i P_i W(d_ij)`` and ``A_i = Σ_j R_j W(d_ij)``. ``A_i`` is supply per
resident; ``Σ_i P_i A_i`` is the total supply of the sites that reach anyone.

Costs follow :mod:`planner.siting`: a dense array (``nan``/``inf`` unreachable) or a
scipy.sparse matrix whose stored entries are the costs (an explicit ``0`` is a zero cost).
A pair is in the catchment when its cost is at most the catchment (``<=``, as in PySAL
``access``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from planner.errors import PlannerError
from planner.scenario.access import LUO_QI_WEIGHTS
from planner.siting.inputs import dense_cost, sparse_cost

#: Luo & Qi (2009): weights of the travel-time zones 0–10, 10–20 and 20–30 minutes.
LUO_QI_ZONES: tuple[tuple[float, float], ...] = tuple(
    zip((10.0, 20.0, 30.0), LUO_QI_WEIGHTS, strict=True)
)
DECAYS = ("gaussian", "stepped")


@dataclass(frozen=True)
class FcaResult:
    """Scores of a floating catchment run.

    Attributes
    ----------
    access
        Per demand row: supply per resident (0 where no site reaches it).
    supply_ratio
        Per supply column: its supply over the (weighted) demand in its catchment,
        ``nan`` where its catchment holds no demand.
    demand_reached
        Per supply column: the (weighted) demand in its catchment.
    """

    access: np.ndarray
    supply_ratio: np.ndarray
    demand_reached: np.ndarray


def within(cost: object, max_cost: float) -> sp.csr_array:
    """The pairs of ``cost`` (dense or sparse) within ``max_cost``, as CSR of their costs
    (zero costs stored)."""
    if sp.issparse(cost):
        pairs = sparse_cost(cost)
        keep = pairs.data <= max_cost
        rows = np.repeat(np.arange(pairs.shape[0]), np.diff(pairs.indptr))[keep]
        counts = np.bincount(rows, minlength=pairs.shape[0])
        indptr = np.concatenate(([0], np.cumsum(counts)))
        return sp.csr_array((pairs.data[keep], pairs.indices[keep], indptr), shape=pairs.shape)
    dense = dense_cost(cost)
    inside = np.isfinite(dense) & (dense <= max_cost)
    indptr = np.concatenate(([0], np.cumsum(inside.sum(axis=1))))
    cols = np.nonzero(inside)[1].astype(np.int32)
    return sp.csr_array((dense[inside], cols, indptr), shape=dense.shape)


def stepped_weights(cost: np.ndarray, zones: Sequence[tuple[float, float]]) -> np.ndarray:
    """Weight of each cost by zone: ``w_k`` for ``z_{k-1} < d <= z_k``, 0 beyond the last
    zone (as ``access.weights.step_fn``)."""
    bounds = np.array([z for z, _ in zones], dtype=float)
    weights = np.append(np.array([w for _, w in zones], dtype=float), 0.0)
    return weights[np.searchsorted(bounds, cost, side="left")]


def gaussian_weights(cost: np.ndarray, sigma: float) -> np.ndarray:
    """``exp(-d² / 2σ²)``: 1 at the site (as ``access.weights.gaussian``)."""
    return np.exp(-cost * cost / (2.0 * sigma * sigma))


def check_zones(zones: Sequence[tuple[float, float]]) -> tuple[tuple[float, float], ...]:
    """Zones as ``(upper bound, weight)`` pairs: bounds increasing and positive, weights in
    (0, 1]."""
    try:
        pairs = tuple((float(z), float(w)) for z, w in zones)
    except (TypeError, ValueError):
        raise PlannerError(f"zones must be (upper bound, weight) pairs, got {zones!r}") from None
    bounds = np.array([z for z, _ in pairs])
    weights = np.array([w for _, w in pairs])
    if not pairs or not np.isfinite(bounds).all() or (bounds <= 0).any():
        raise PlannerError(f"zones need at least one finite positive bound, got {zones!r}")
    if (np.diff(bounds) <= 0).any():
        raise PlannerError(f"zone bounds must increase, got {bounds.tolist()}")
    if not ((weights > 0) & (weights <= 1)).all():
        raise PlannerError(f"zone weights must be in (0, 1], got {weights.tolist()}")
    return pairs


def _amounts(values: object, n: int, name: str, axis: str) -> np.ndarray:
    """Finite non-negative amounts, one per ``axis`` (row or column) of the cost."""
    try:
        out = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise PlannerError(f"{name} must be numbers, got {type(values).__name__}") from None
    if out.shape != (n,):
        raise PlannerError(f"{name} must have one value per cost {axis} ({n}), got {out.shape}")
    if not np.isfinite(out).all() or (out < 0).any():
        raise PlannerError(f"{name} must be finite and ≥ 0")
    return out


def fca_scores(weights: sp.csr_array, demand: object, supply: object = None) -> FcaResult:
    """Both steps on a matrix of pair weights (demand × supply; absent pairs weigh 0).

    Parameters
    ----------
    weights
        The decay weight of every pair in a catchment (1 for plain 2SFCA).
    demand
        Population (or any demand) per row.
    supply
        Supply per column; ``None`` counts each site as 1.
    """
    w = sp.csr_array(weights, dtype=float)
    n, m = w.shape
    pop = _amounts(demand, n, "demand", "row")
    size = np.ones(m) if supply is None else _amounts(supply, m, "supply", "column")
    reached = w.T @ pop
    ratio = np.divide(size, reached, out=np.full(m, np.nan), where=reached > 0)
    access = w @ np.nan_to_num(ratio, nan=0.0)
    return FcaResult(access=access, supply_ratio=ratio, demand_reached=reached)


def two_sfca(cost: object, demand: object, supply: object = None, *, max_cost: float) -> FcaResult:
    """2SFCA: every pair within ``max_cost`` weighs 1.

    Parameters
    ----------
    cost
        Demand × supply costs (dense or sparse; see the module).
    demand, supply
        Demand per row, supply per column (``None``: 1 per site).
    max_cost
        The catchment, in the unit of ``cost``.

    Examples
    --------
    >>> import numpy as np
    >>> cost = np.array([[1.0, 5.0], [2.0, np.inf]])
    >>> two_sfca(cost, [100, 300], [10, 4], max_cost=3).access.tolist()
    [0.025, 0.025]
    """
    pairs = within(cost, _catchment(max_cost))
    return fca_scores(_with_data(pairs, np.ones(pairs.nnz)), demand, supply)


def e2sfca(
    cost: object,
    demand: object,
    supply: object = None,
    *,
    decay: str = "stepped",
    zones: Sequence[tuple[float, float]] | None = None,
    max_cost: float | None = None,
    sigma: float | None = None,
) -> FcaResult:
    """E2SFCA: pairs weighed by distance decay in both steps.

    Parameters
    ----------
    cost, demand, supply
        As for :func:`two_sfca`.
    decay
        ``"stepped"``: weight per zone; ``"gaussian"``: ``exp(-d² / 2σ²)`` within
        ``max_cost``.
    zones
        Stepped zones as ``(upper bound, weight)`` pairs; the catchment is the last bound.
        Default: :data:`LUO_QI_ZONES` (minutes), or with ``max_cost`` its thirds with the
        same weights.
    max_cost
        The catchment: required for ``"gaussian"``; for ``"stepped"`` instead of ``zones``.
    sigma
        Gaussian width, in the unit of ``cost``; default ``max_cost / 2``.
    """
    if decay == "stepped":
        if sigma is not None:
            raise PlannerError('sigma applies to decay="gaussian" only')
        steps = check_zones(_default_zones(zones, max_cost))
        pairs = within(cost, steps[-1][0])
        return fca_scores(_with_data(pairs, stepped_weights(pairs.data, steps)), demand, supply)
    if decay != "gaussian":
        raise PlannerError(f"decay must be one of {', '.join(DECAYS)}, got {decay!r}")
    if zones is not None or max_cost is None:
        raise PlannerError('decay="gaussian" takes max_cost (and sigma), not zones')
    limit = _catchment(max_cost)
    width = limit / 2.0 if sigma is None else _catchment(sigma, "sigma")
    pairs = within(cost, limit)
    return fca_scores(_with_data(pairs, gaussian_weights(pairs.data, width)), demand, supply)


def _default_zones(
    zones: Sequence[tuple[float, float]] | None, max_cost: float | None
) -> Sequence[tuple[float, float]]:
    if zones is not None and max_cost is not None:
        raise PlannerError('decay="stepped": give zones or max_cost, not both')
    if zones is not None:
        return zones
    if max_cost is None:
        return LUO_QI_ZONES
    limit = _catchment(max_cost)
    return tuple((limit * (k + 1) / 3.0, w) for k, w in enumerate(LUO_QI_WEIGHTS))


def _catchment(value: float, name: str = "max_cost") -> float:
    try:
        limit = float(value)
    except (TypeError, ValueError):
        raise PlannerError(f"{name} must be a number, got {value!r}") from None
    if not (np.isfinite(limit) and limit > 0):
        raise PlannerError(f"{name} must be finite and > 0, got {value!r}")
    return limit


def _with_data(pairs: sp.csr_array, data: np.ndarray) -> sp.csr_array:
    return sp.csr_array((data, pairs.indices, pairs.indptr), shape=pairs.shape)
