"""Samples of centers for an inspection round: stratified, weighted toward problem centers.

:func:`sample_inspection` picks centers so that every county × level stratum is
represented when the sample is large enough and non-compliant and unknown centers are
more likely; :func:`stratified_sample` is its geometry-free core.
:mod:`planner.standards.inspection` routes the sampled centers.
"""

from __future__ import annotations

from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import pandas as pd

from planner.errors import PlannerError

__all__ = ["sample_inspection", "stratified_sample"]


def _weights(centers: pd.DataFrame, weight_noncompliant: float) -> np.ndarray:
    if "compliant" not in centers.columns:
        return np.ones(len(centers))
    compliant = centers["compliant"].astype("boolean").fillna(False).to_numpy(dtype=bool)
    return np.where(compliant, 1.0, float(weight_noncompliant))


def stratified_sample(strata: np.ndarray, weights: np.ndarray, n: int, *, seed: int) -> np.ndarray:
    """Row positions of a stratified weighted sample without replacement (no geometry).

    When ``n`` is at least the number of strata, each stratum gets its first weighted draw
    and the rest come from all remaining rows by weight; otherwise ``n`` strata are drawn
    by total weight and one row from each. Efraimidis–Spirakis keys ``log(u) / w`` make
    every draw successive sampling proportional to weight.

    Parameters
    ----------
    strata
        Stratum label of each row.
    weights
        Positive weight of each row.
    n
        Sample size (all rows when larger than their number).
    seed
        Seed of :func:`numpy.random.default_rng`.

    Returns
    -------
    numpy.ndarray
        Sorted row positions.
    """
    codes, uniq = pd.factorize(np.asarray(strata), sort=True)
    w = np.asarray(weights, dtype=float)
    m = len(w)
    rng = np.random.default_rng(seed)
    keys = np.log(rng.random(m)) / w  # the largest keys are a weighted sample
    stratum_keys = np.log(rng.random(len(uniq))) / np.bincount(codes, weights=w)
    by_stratum = np.lexsort((-keys, codes))
    firsts = by_stratum[np.r_[True, codes[by_stratum][1:] != codes[by_stratum][:-1]]]
    if n >= m:
        chosen = np.arange(m)
    elif n >= len(uniq):
        rest = np.setdiff1d(np.arange(m), firsts)
        extra = rest[np.argsort(-keys[rest], kind="stable")[: n - len(uniq)]]
        chosen = np.concatenate([firsts, extra])
    else:
        picked = np.argsort(-stratum_keys, kind="stable")[:n]
        chosen = firsts[np.isin(codes[firsts], picked)]
    return np.sort(chosen)


def sample_inspection(
    centers: gpd.GeoDataFrame,
    n: int,
    *,
    seed: int,
    weight_noncompliant: float = 3.0,
    strata: Sequence[str] = ("county_id", "level"),
) -> gpd.GeoDataFrame:
    """Draw a stratified random sample of centers, weighted toward problem centers.

    Each center weighs ``weight_noncompliant`` when its ``compliant`` is False or unknown
    (NA) and 1 when True (all weigh 1 without a ``compliant`` column). When ``n`` is at least
    the number of strata, every stratum gets one center (its first weighted draw) and the
    rest are drawn from all remaining centers by weight; otherwise ``n`` strata are drawn,
    weighted by their total weight, and one center from each (:func:`stratified_sample`).
    Draws are weighted sampling without replacement, so the first draw picks a center with
    probability proportional to its weight.

    Parameters
    ----------
    centers
        Centers, typically the ``checked`` output of ``check_centers``.
    n
        Sample size; all centers are returned when ``n`` exceeds their number.
    seed
        Seed of the random generator: the same inputs and seed give the same sample.
    weight_noncompliant
        Weight of non-compliant and unknown centers relative to compliant ones (> 0).
    strata
        Columns whose value combinations form the strata; missing values form their own.

    Returns
    -------
    geopandas.GeoDataFrame
        The sampled rows in input order, with ``stratum`` (values joined by ``/``) and
        ``sample_weight``.
    """
    if int(n) != n or n < 1:
        raise PlannerError(f"inspection sample size must be a positive integer, got {n!r}")
    if not weight_noncompliant > 0:
        raise PlannerError(f"weight_noncompliant must be > 0, got {weight_noncompliant!r}")
    if absent := [col for col in strata if col not in centers.columns]:
        raise PlannerError(f"centers: cannot stratify by missing column(s) {', '.join(absent)}")
    if len(centers) == 0:
        raise PlannerError("no centers to sample for inspection")
    labels = pd.Series("", index=centers.index, dtype="string")
    for i, col in enumerate(strata):
        labels = labels + ("/" if i else "") + centers[col].astype("string").fillna("(none)")
    w = _weights(centers, weight_noncompliant)
    chosen = stratified_sample(labels.to_numpy(), w, int(n), seed=seed)
    sample = centers.iloc[chosen].copy()
    sample["stratum"] = labels.iloc[chosen].to_numpy()
    sample["sample_weight"] = w[chosen]
    return sample
