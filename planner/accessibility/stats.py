"""Population-weighted summaries of accessibility scores: mean, percentiles, Gini."""

from __future__ import annotations

from typing import Any

import numpy as np

#: Percentiles of ``summary.json`` ``access.<level>``.
PERCENTILES = (10, 50, 90)


def weighted_gini(values: np.ndarray, weights: np.ndarray) -> float:
    """Gini coefficient of ``values`` over a population of ``weights`` per value.

    ``G = Σ_i Σ_j w_i w_j |v_i − v_j| / (2 W² μ)`` with ``W = Σ w`` and ``μ`` the
    weighted mean, computed in O(n log n) on the sorted values. 0 when everyone has the
    same value (also when all are 0); ``nan`` without population.
    """
    v = np.asarray(values, dtype=float)
    w = np.asarray(weights, dtype=float)
    total = w.sum()
    if total <= 0:
        return float("nan")
    order = np.argsort(v, kind="stable")
    v, w = v[order], w[order]
    if v[-1] > 0:  # scale-free: keeps tiny (subnormal) values exact
        v = v / v[-1]
    mass = float((w * v).sum())
    if mass <= 0:
        return 0.0
    below = np.cumsum(w) - w  # population with a smaller value
    below_mass = np.cumsum(w * v) - w * v
    return float((w * (v * below - below_mass)).sum() / (total * mass))


def weighted_percentiles(
    values: np.ndarray, weights: np.ndarray, q: tuple[float, ...] = PERCENTILES
) -> list[float]:
    """Percentiles of ``values`` over the population ``weights`` (the value of the
    resident at that rank: the inverted CDF); ``nan`` without population."""
    w = np.asarray(weights, dtype=float)
    if w.sum() <= 0:
        return [float("nan")] * len(q)
    found = np.percentile(np.asarray(values, float), q, weights=w, method="inverted_cdf")
    return [float(x) for x in found]


def access_summary(access: np.ndarray, population: np.ndarray) -> dict[str, Any]:
    """``mean`` (supply per resident over everyone), ``p10``, ``p50``, ``p90`` and
    ``gini``, all over residents; ``None`` without population."""
    pop = np.asarray(population, dtype=float)
    if pop.sum() <= 0:
        return {"mean": None, **{f"p{q}": None for q in PERCENTILES}, "gini": None}
    mean = float((np.asarray(access, float) * pop).sum() / pop.sum())
    quantiles = weighted_percentiles(access, pop)
    return {
        "mean": mean,
        **{f"p{q}": value for q, value in zip(PERCENTILES, quantiles, strict=True)},
        "gini": weighted_gini(access, pop),
    }
